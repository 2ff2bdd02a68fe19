"""``nvs-fusion evaluate``: the protocols' draws, the baselines, the ablation, and a real end-to-end run.

The end-to-end run renders a real 4-object dataset at 16x16 with pybullet and
evaluates the tiny random checkpoint with 3 DDIM steps, so it checks plumbing and
report structure, not quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import randomised_tiny_model, torch_runner

from nvs_fusion_ros.cli import main
from nvs_fusion_ros.datasets.render_dataset import render_dataset
from nvs_fusion_ros.diffusion.samplers import DDIMSampler, generators_from_seeds
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.engines.factory import EngineOptions
from nvs_fusion_ros.evaluation.evaluate import (
    METHODS,
    METRICS,
    PER_COUNT,
    SINGLE,
    VARIABLE,
    EvalConfig,
    UniformWeights,
    baseline_images,
    evaluate,
    markdown_report,
    nearest_input_view,
    pack_draws,
    sample_model,
    single_view_draws,
    view_count_draws,
)
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.synthesis.runner import Conditioning, ModelRunner

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 real random_urdfs objects at 16x16: 1 train, 1 val, 2 test."""
    root = tmp_path_factory.mktemp("nmr16")
    report = render_dataset(root, size=16, limit=4, val_count=1, test_count=2)
    assert report.rendered == 4
    return root


def test_single_view_draws_pick_one_other_view_and_differ_between_repeats() -> None:
    draws = single_view_draws(num_objects=5, repeats=3, seed=7)
    assert len(draws) == 15
    assert all(len(d.inputs) == 1 and d.inputs[0] != d.target and 0 <= d.target < 24 for d in draws)
    by_repeat = [[(d.inputs, d.target) for d in draws if d.group == r] for r in range(3)]
    assert by_repeat[0] != by_repeat[1] != by_repeat[2]
    assert draws == single_view_draws(num_objects=5, repeats=3, seed=7)
    assert draws != single_view_draws(num_objects=5, repeats=3, seed=8)


def test_view_count_draws_are_nested_and_exclude_the_target() -> None:
    draws = view_count_draws(num_objects=2, counts=range(1, 24), seed=0)
    for obj in range(2):
        mine = [d for d in draws if d.obj == obj]
        assert [len(d.inputs) for d in mine] == list(range(1, 24))
        assert len({d.target for d in mine}) == 1 and len({d.seed for d in mine}) == 1
        assert sorted((*mine[-1].inputs, mine[0].target)) == list(range(24))  # all 23 others, then the target
        assert all(mine[k].inputs == mine[-1].inputs[: k + 1] for k in range(23))


def test_nearest_view_uses_the_true_azimuth_across_the_wrap() -> None:
    assert nearest_input_view((0, 6, 12), target=23) == 0  # 15 degrees across 0/360
    assert nearest_input_view((0, 6, 12), target=10) == 12
    assert nearest_input_view((5, 18), target=4) == 5
    assert nearest_input_view((3, 9), target=6) == 3  # tie: the first listed


def test_baselines_take_the_nearest_view_and_the_pixel_mean() -> None:
    objects = [np.stack([np.full((4, 4, 3), 10 * v, np.uint8) for v in range(24)])]
    draws = view_count_draws(num_objects=1, counts=range(1, 4), seed=3)
    images = baseline_images(draws, objects)
    for k, draw in enumerate(draws):
        assert images["nearest_view"][k, 0, 0, 0] == 10 * nearest_input_view(draw.inputs, draw.target)
        assert images["mean_view"][k, 0, 0, 0] == round(np.mean([10 * v for v in draw.inputs]))


def test_pack_draws_respects_max_batch() -> None:
    draws = view_count_draws(num_objects=3, counts=range(1, 7), seed=0)
    packs = pack_draws(draws, max_batch=8)
    assert sorted(i for p in packs for i in p) == list(range(len(draws)))
    for pack in packs:
        assert sum(len(draws[i].inputs) for i in pack) <= 8 or len(pack) == 1


def test_uniform_weights_wrapper_composes_with_weights_one_over_n() -> None:
    schedule = linear_schedule(1e-4, 0.1, 100)
    runner = torch_runner(randomised_tiny_model(), schedule)
    views = torch.rand(4, 3, 16, 16) * 2 - 1
    conditioning = Conditioning.of([views[:1], views[1:]])
    angles = torch.tensor([0.5, 2.0])

    def run(r):
        return r.sample(conditioning, angles, generators_from_seeds([1, 2]), DDIMSampler(schedule, steps=3))

    learned, uniform = run(runner), run(runner.with_denoiser(UniformWeights(runner.denoiser)))
    assert torch.allclose(uniform.weights[1], torch.full_like(uniform.weights[1], 1 / 3))
    assert torch.allclose(uniform.weights[0, 0], torch.ones(16, 16)) and not uniform.weights[0, 1:].any()
    assert not torch.allclose(learned.weights[1], uniform.weights[1])  # the random model's weights are not uniform
    assert torch.equal(learned.images[0], uniform.images[0])  # one view: the softmax is 1 whatever the logits


@pytest.mark.slow
def test_evaluate_cli_end_to_end(dataset: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code = main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(dataset), "--steps", "3",
                 "--engine", "torch", "--out", str(out)])
    assert code == 0
    for name in ("evaluation.json", "evaluation.md", "metrics_vs_views.png", "examples.png", "samples.jsonl",
                 "hidden_sides.png"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "evaluation.json").read_text())
    cfg = report["config"]
    assert (cfg["objects"], cfg["split"], cfg["steps"], cfg["sampler"], cfg["resolution"]) == (2, "test", 3, "ddim", 16)
    assert cfg["model"] == str(tiny_checkpoint) and report["timings"]["total_s"] > 0
    protocols = report["protocols"]
    assert protocols[SINGLE]["samples"] == 2 * 3 and len(protocols[SINGLE]["per_repeat"]["viewfusion"]) == 3
    assert sorted(protocols[PER_COUNT], key=int) == [str(n) for n in range(1, 7)]
    assert sum(protocols[VARIABLE]["view_count_histogram"].values()) == 2
    results = [protocols[SINGLE]["results"], protocols[VARIABLE]["results"],
               *(protocols[PER_COUNT][n]["results"] for n in protocols[PER_COUNT])]
    for result in results:
        assert set(result) == set(METHODS)
        for method in METHODS:
            assert result[method]["lpips"] is None
            assert np.isfinite(result[method]["psnr"]) and -1.0 <= result[method]["ssim"] <= 1.0
    # The ablation (one sample) is the model's first sample with one view, and differs with several.
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    evaluation = evaluate(EvalConfig(data=str(dataset), model=str(tiny_checkpoint), sampling=SamplingSpec(steps=3),
                                     engine="torch", examples=0), show_progress=False)
    single = [i for i, d in enumerate(evaluation.draws) if d.protocol == SINGLE]
    several = [i for i, d in enumerate(evaluation.draws) if len(d.inputs) == 6]
    assert np.array_equal(evaluation.predictions["uniform_weights"][single], evaluation.predictions["viewfusion"][single])
    assert not np.array_equal(evaluation.predictions["uniform_weights"][several],
                              evaluation.predictions["viewfusion"][several])
    assert records == evaluation.records
    # Single view: nearest and mean of one view are that view.
    assert protocols[SINGLE]["results"]["nearest_view"] == protocols[SINGLE]["results"]["mean_view"]
    markdown = (out / "evaluation.md").read_text()
    assert "n/a (no VGG weights)" in markdown and "| viewfusion |" in markdown and "| mean_of_samples |" in markdown
    assert "| Spearman ↑ |" in markdown and cfg["num_hypotheses"] == 4
    assert len(records) == 2 * 3 + 2 * 6
    assert all(set(r["scores"][m]) == set(METRICS) for r in records for m in METHODS)


def test_k_samples_per_draw_keep_sample_zero_and_score_their_mean_and_best(dataset: Path, tiny_checkpoint: Path) -> None:
    common = dict(data=str(dataset), model=str(tiny_checkpoint), limit=1, repeats=1, view_counts=(1, 3),
                  sampling=SamplingSpec(steps=2), engine="torch", examples=0)
    one, three = (evaluate(EvalConfig(**common, num_hypotheses=k), show_progress=False) for k in (1, 3))
    assert sorted(three.report["protocols"][PER_COUNT], key=int) == ["1", "3"]
    assert np.array_equal(one.predictions["viewfusion"], three.predictions["viewfusion"])  # sample k is seeded seed + k
    assert np.array_equal(one.predictions["mean_of_samples"], one.predictions["viewfusion"])  # the mean of one sample
    assert not np.array_equal(three.predictions["mean_of_samples"], three.predictions["viewfusion"])
    for result in (three.report["protocols"][p]["results"] for p in (SINGLE, VARIABLE)):
        assert result["best_of_samples"]["psnr"] >= result["viewfusion"]["psnr"]  # the best one beats the average one
        assert result["nearest_view"]["spearman"] is None and result["viewfusion"]["calibration"] is not None
    # a deterministic prediction's CRPS is its mean absolute error
    draw = 0
    mae = np.abs(one.predictions["mean_view"][draw] / 255.0 - one.objects[0][one.draws[draw].target] / 255.0).mean()
    assert one.records[draw]["scores"]["mean_view"]["crps"] == pytest.approx(mae)


def test_view_count_is_capped_by_the_23_other_views(dataset: Path, tiny_checkpoint: Path) -> None:
    assert EvalConfig(data=str(dataset), model=str(tiny_checkpoint), max_views=30).max_views == 23


def test_evaluate_is_deterministic_under_a_seed(dataset: Path, tiny_checkpoint: Path) -> None:
    cfg = EvalConfig(data=str(dataset), model=str(tiny_checkpoint), limit=1, repeats=1, max_views=3,
                     sampling=SamplingSpec(steps=2), engine="torch", seed=5)
    first, second = evaluate(cfg, show_progress=False), evaluate(cfg, show_progress=False)
    assert sorted(first.report["protocols"][PER_COUNT], key=int) == ["1", "2", "3"]
    assert first.records == second.records
    for method in METHODS:
        assert np.array_equal(first.predictions[method], second.predictions[method])
    # The posterior mean is the composed clean estimate of one step from the noisiest level, for every draw.
    checkpoint = load_checkpoint(tiny_checkpoint)
    runner = ModelRunner.from_checkpoint(checkpoint, EngineOptions(engine="torch"))
    objects = [first.objects[0]]
    one_step = sample_model(runner, DDIMSampler(checkpoint.schedule, steps=1), first.draws, objects).result
    assert np.array_equal(first.predictions["posterior_mean"], one_step)
    assert not np.array_equal(first.predictions["posterior_mean"], first.predictions["viewfusion"])


def test_ancestral_sampling_is_seeded_and_differs_from_deterministic(dataset: Path, tiny_checkpoint: Path) -> None:
    common = dict(data=str(dataset), model=str(tiny_checkpoint), limit=1, repeats=1, max_views=2, engine="torch")
    ancestral = [evaluate(EvalConfig(**common, sampling=SamplingSpec(steps=3, eta=1.0)), show_progress=False)
                 for _ in range(2)]
    deterministic = evaluate(EvalConfig(**common, sampling=SamplingSpec(steps=3)), show_progress=False)
    assert np.array_equal(ancestral[0].predictions["viewfusion"], ancestral[1].predictions["viewfusion"])
    assert not np.array_equal(ancestral[0].predictions["viewfusion"], deterministic.predictions["viewfusion"])
    # The posterior mean is one deterministic step whatever the sampler.
    assert np.array_equal(ancestral[0].predictions["posterior_mean"], deterministic.predictions["posterior_mean"])
    assert "ddim (η=1, ancestral)" in markdown_report(ancestral[0].report)
    assert "ddim (η=0, deterministic)" in markdown_report(deterministic.report)


def test_evaluate_refuses_bad_input(dataset: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repeats"):
        EvalConfig(data=str(dataset), model=str(tiny_checkpoint), repeats=0)
    with pytest.raises(ValueError, match="eta"):
        EvalConfig(data=str(dataset), model=str(tiny_checkpoint), sampling=SamplingSpec(eta=1.5))
    with pytest.raises(ValueError, match="one seed"):
        EvalConfig(data=str(dataset), model=str(tiny_checkpoint), sampling=SamplingSpec(seed=3))
    assert main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(dataset), "--split", "nope",
                 "--out", str(tmp_path)]) == 2
    assert main(["evaluate", "--model", str(tmp_path / "absent.pt"), "--data", str(dataset), "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_evaluate_without_examples_writes_no_sheets(dataset: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code = main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(dataset), "--steps", "2", "--limit", "1",
                 "--repeats", "1", "--max-views", "2", "--examples", "0", "--engine", "torch", "--out", str(out)])
    assert code == 0 and (out / "evaluation.json").is_file()
    assert not (out / "examples.png").exists() and not (out / "hidden_sides.png").exists()
