"""The synthesis API end to end with a real (tiny, random) model on the torch and ONNX Runtime engines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import torch_runner

from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.synthesis.preprocess import letterbox
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer


@pytest.fixture(scope="module")
def synth(tiny_checkpoint: Path) -> NovelViewSynthesizer:
    """fp32 torch engine: bf16 rounding differs with a stream's position in the batch, which would
    blur the 1e-5 permutation check (the composition itself is exact, see test_composition)."""
    checkpoint = load_checkpoint(tiny_checkpoint)
    return NovelViewSynthesizer(checkpoint, torch_runner(checkpoint.model, checkpoint.schedule))


def _views(n: int, seed: int = 0, size: tuple[int, int] = (20, 28)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("n", [1, 3, 20])
def test_synthesize_any_number_of_views(synth: NovelViewSynthesizer, n: int) -> None:
    result = synth.synthesize(_views(n), math.pi / 2, num_hypotheses=2, sampling=SamplingSpec(steps=4, seed=1))
    assert result.images.shape == (2, 16, 16, 3) and result.images.dtype == np.uint8
    assert result.weights.shape == (n, 16, 16) and result.weights.dtype == np.float32
    np.testing.assert_allclose(result.weights.sum(axis=0), 1.0, atol=1e-5)
    assert result.uncertainty.shape == (16, 16) and float(result.uncertainty.max()) > 0
    assert result.seeds == [1, 2] and result.timings["denoising_steps"] == 4


def test_single_sample_has_zero_uncertainty_and_single_view_full_weight(synth: NovelViewSynthesizer) -> None:
    result = synth.synthesize(_views(1), 0.0, sampling=SamplingSpec(steps=3, seed=0))
    assert not result.uncertainty.any()
    assert bool((result.weights == 1.0).all())


def test_fixed_seed_reproduces_and_view_order_does_not_matter(synth: NovelViewSynthesizer) -> None:
    views = _views(4, seed=5)
    a = synth.synthesize(views, 1.0, num_hypotheses=2, sampling=SamplingSpec(steps=5, seed=11))
    b = synth.synthesize(views[::-1], 1.0, num_hypotheses=2, sampling=SamplingSpec(steps=5, seed=11))
    assert np.abs(a.images.astype(int) - b.images.astype(int)).max() <= 1  # rounding of a 1e-6 float difference
    np.testing.assert_allclose(a.weights[::-1], b.weights, rtol=0, atol=1e-5)
    c = synth.synthesize(views, 1.0, num_hypotheses=2, sampling=SamplingSpec(steps=5, seed=12))
    assert not np.array_equal(a.images, c.images)


def test_hypothesis_k_does_not_depend_on_how_many_are_drawn(synth: NovelViewSynthesizer) -> None:
    views = _views(3, seed=2)
    many = synth.synthesize(views, 2.0, num_hypotheses=3, sampling=SamplingSpec(sampler="ddim", steps=4, eta=1.0, seed=40))
    one = synth.synthesize(views, 2.0, num_hypotheses=1, sampling=SamplingSpec(sampler="ddim", steps=4, eta=1.0, seed=41))
    assert np.abs(many.images[1].astype(int) - one.images[0].astype(int)).max() <= 1


def test_inputs_are_not_modified(synth: NovelViewSynthesizer) -> None:
    views = _views(2, seed=9)
    copies = [v.copy() for v in views]
    synth.synthesize(views, 0.3, sampling=SamplingSpec(steps=2, seed=0))
    assert all(np.array_equal(v, c) for v, c in zip(views, copies, strict=True))


@pytest.mark.parametrize(
    ("views", "angle", "kwargs", "message"),
    [
        ([], 0.0, {}, "non-empty"),
        ([np.zeros((8, 8, 3), np.float32)], 0.0, {}, "dtype float32"),
        ([np.zeros((8, 8), np.uint8)], 0.0, {}, r"shape \(8, 8\)"),
        ([np.zeros((0, 8, 3), np.uint8)], 0.0, {}, "shape"),
        ("not views", 0.0, {}, "non-empty list"),
        ([np.zeros((8, 8, 3), np.uint8)], float("nan"), {}, "not finite"),
        ([np.zeros((8, 8, 3), np.uint8)], float("inf"), {}, "not finite"),
        ([np.zeros((8, 8, 3), np.uint8)], "north", {}, "not a number"),
        ([np.zeros((8, 8, 3), np.uint8)] * 33, 0.0, {}, "exceed max_views=32"),
        ([np.zeros((8, 8, 3), np.uint8)], 0.0, {"num_hypotheses": 0}, "num_hypotheses"),
        ([np.zeros((8, 8, 3), np.uint8)], [], {}, "at least one target angle"),
    ],
)
def test_bad_input_raises_value_error(synth: NovelViewSynthesizer, views, angle, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        synth.synthesize(views, angle, **kwargs)


@pytest.mark.parametrize(("fields", "message"), [({"sampler": "euler"}, "unknown sampler"), ({"steps": 0}, "steps")])
def test_bad_sampling_spec_raises_value_error(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingSpec(**fields)


def test_several_angles_in_one_call_are_the_per_angle_calls(synth: NovelViewSynthesizer) -> None:
    """All angles x hypotheses in one reverse process give each angle exactly its own call's samples."""
    views = _views(3, seed=2)
    together = synth.synthesize(views, [0.4, 2.0, 3.5], num_hypotheses=2, sampling=SamplingSpec(steps=3, seed=5))
    for i, angle in enumerate([0.4, 2.0, 3.5]):
        alone = synth.synthesize(views, angle, num_hypotheses=2, sampling=SamplingSpec(steps=3, seed=5 + 1000 * i))
        np.testing.assert_array_equal(together[i].images, alone.images)
        np.testing.assert_allclose(together[i].weights, alone.weights, atol=1e-6)
        assert together[i].seeds == alone.seeds and together[i].target_angle == alone.target_angle
    steps = synth.synthesize_steps(views, [0.4, 2.0], num_hypotheses=2, sampling=SamplingSpec(steps=3, seed=5))
    assert [(state.done, state.total) for state in steps] == [(1, 3), (2, 3), (3, 3)]
    np.testing.assert_array_equal(steps.result[1].images, together[1].images)


def test_letterbox_keeps_aspect_and_centres() -> None:
    tall = np.zeros((40, 20, 3), np.uint8)
    boxed = letterbox(tall, 16)
    assert boxed.shape == (16, 16, 3)
    assert (boxed[:, :3] == 255).all() and (boxed[:, -3:] == 255).all() and (boxed[:, 6:10] == 0).all()


def test_orbit_is_autoregressive(synth: NovelViewSynthesizer) -> None:
    orbit = synth.orbit(_views(2), [0.0, 1.0, 2.0], sampling=SamplingSpec(steps=2, seed=3))
    assert orbit.images.shape == (3, 16, 16, 3)
    assert [len(step.inputs) for step in orbit.steps] == [2, 3, 4]
    np.testing.assert_array_equal(orbit.steps[2].inputs[2], orbit.images[0])
    plain = synth.orbit(_views(2), [0.0, 1.0], autoregressive=False, sampling=SamplingSpec(steps=2, seed=3))
    assert [len(step.inputs) for step in plain.steps] == [2, 2]
    with pytest.raises(ValueError, match="at least one"):
        synth.orbit(_views(1), [])


def test_orbit_samples_with_the_given_eta(synth: NovelViewSynthesizer) -> None:
    views = _views(2, seed=6)
    orbit = synth.orbit(views, [0.5, 1.5], autoregressive=False, sampling=SamplingSpec(steps=4, eta=1.0, seed=8))
    for i, angle in enumerate([0.5, 1.5]):
        alone = synth.synthesize(views, angle, sampling=SamplingSpec(steps=4, eta=1.0, seed=8 + i))
        np.testing.assert_array_equal(orbit.images[i], alone.images[0])
    deterministic = synth.orbit(views, [0.5, 1.5], autoregressive=False, sampling=SamplingSpec(steps=4, seed=8))
    assert not np.array_equal(orbit.images, deterministic.images)


@pytest.mark.slow
def test_onnxruntime_engine_gives_the_same_images(tiny_checkpoint: Path, synth: NovelViewSynthesizer,
                                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    ort = NovelViewSynthesizer.from_checkpoint(tiny_checkpoint, engine="onnxruntime", device="cpu")
    views = _views(3, seed=4)
    a = ort.synthesize(views, 0.5, sampling=SamplingSpec(steps=4, seed=2)).images.astype(int)
    b = synth.synthesize(views, 0.5, sampling=SamplingSpec(steps=4, seed=2)).images.astype(int)
    assert np.abs(a - b).max() <= 1
