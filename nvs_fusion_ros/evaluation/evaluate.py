"""``nvs-fusion evaluate``: the paper's evaluation protocols (§4.3, Appendix B.2) on an NMR-layout split.

Protocols, all drawn from generators seeded by ``(seed, protocol, ...)`` so a run is reproducible:

* **single view**: per object a random input view and a random other target view, the whole
  split evaluated ``repeats`` times with fresh draws (the paper's Table 2, three repeats; the
  std over repeats is reported like the paper's ±).
* **per view count** N in ``view_counts`` (default 1..max_views): per object one random target and a random order of the
  other 23 views; N views = the first N of that order, and the same starting noise for every N,
  so the curve over N compares like with like.
* **variable views** (the paper's "up to six"): per object a random N of the evaluated counts; its
  sample *is* the per-view-count sample at that N (same distribution as drawing afresh, at no
  extra cost).

Every method sees the same draws. The model draws K samples per draw (``num_hypotheses``, the
occlusion hypotheses; sample k of a draw is seeded ``seed + k``, so sample 0 is the same whatever K),
scored three ways: one sample (each score averaged over the K: the expected score of a single
hypothesis), the pixel mean of the K samples (the best single estimate, what ``~/mean`` publishes)
and the best of the K by PSNR (an oracle). The set itself is scored by fair CRPS, spread against
skill and whether its uncertainty image ranks the error (``ensemble_metrics``); every deterministic
prediction's CRPS is its mean absolute error, so all rows share that scale. Beside them: the paper's
ablation with uniform weights 1/N (one sample; a denoiser wrapper returning zero logits, so the
softmax is uniform); the model's posterior mean (one DDIM step from the noisiest level: its
clean-image estimate E[target | views], a diagnostic: a calibrated sample's squared error is about
twice the posterior mean's);
the input view nearest to the target by TRUE azimuth (an oracle: it uses the view indices, which
the model never sees); and the pixel mean of the input views. Images are compared at the
model's resolution (the dataset is resized with area interpolation when it differs).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from .. import cameras
from ..datasets.nmr_dataset import VIEW_COUNT, NMRViews
from ..diffusion.samplers import DenoiseStep, Sampler, generators_from_seeds
from ..diffusion.sampling_spec import SamplingSpec
from ..diffusion.stepwise import Stepwise
from ..engines.base import Denoiser
from ..engines.factory import EngineOptions
from ..model.checkpoint import load_checkpoint
from ..synthesis.contact_sheet import contact_sheet, write_png
from ..synthesis.runner import Conditioning, ModelRunner
from ..synthesis.synthesizer import mean_image
from ..synthesis.tensors import to_tensor, to_uint8
from .config import EvalConfig
from .ensemble_metrics import ENSEMBLE_METRICS, calibration, ensemble_scores, fair_crps
from .image_metrics import FOREGROUND_METRICS, LPIPS_UNAVAILABLE, PSNR_CAP_DB, ImageMetrics

IMAGE_METRICS = ("psnr", "ssim", "lpips", *FOREGROUND_METRICS)
METRICS = (*IMAGE_METRICS, *ENSEMBLE_METRICS)
NO_MASKS = "n/a (no masks)"
FOREGROUND_DESCRIPTIONS = {
    "iou": "silhouette IoU: the view's mask against the prediction's non-white pixels, higher is better",
    "psnr_fg": "PSNR (dB) inside the union of true and predicted foreground, higher is better",
    "ssim_fg": "mean SSIM map inside the union of true and predicted foreground, higher is better",
}
METHODS = {
    "viewfusion": "the model, one sample (a hypothesis): each image score averaged over the K samples; "
                  "crps and the calibration scores are the K samples' as a set",
    "mean_of_samples": "the pixel mean of the model's K samples: the best single estimate",
    "best_of_samples": "oracle: of the K samples, the one with the highest PSNR against the truth",
    "uniform_weights": "ablation: the same model with uniform weights 1/N (zero logits), one sample",
    "posterior_mean": "diagnostic: the model's one-step clean estimate from the noisiest level (E[target | views]), "
                      "not a sample",
    "nearest_view": "oracle baseline: the input view nearest to the target by true azimuth",
    "mean_view": "baseline: the pixel mean of the input views",
}
DIFFUSION_METHODS = ("viewfusion", "mean_of_samples", "best_of_samples", "uniform_weights", "posterior_mean")
BASELINES = ("nearest_view", "mean_view")
SINGLE, PER_COUNT, VARIABLE = "single_view", "per_view_count", "variable_views"


@dataclass(frozen=True)
class Draw:
    """One evaluation sample: an object, its input views, the target view and the diffusion seed.

    ``group`` is the repeat index in the single-view protocol and N in the per-view-count one.
    """

    protocol: str
    group: int
    obj: int
    inputs: tuple[int, ...]
    target: int
    seed: int


# --------------------------------------------------------------------------- draws


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31))


def single_view_draws(num_objects: int, repeats: int, seed: int) -> list[Draw]:
    """Per repeat and object: a random target and a random other view as the only input."""
    draws = []
    for repeat in range(repeats):
        for obj in range(num_objects):
            rng = np.random.default_rng([seed, 0, repeat, obj])
            target = int(rng.integers(VIEW_COUNT))
            source = int(rng.choice(np.delete(np.arange(VIEW_COUNT), target)))
            draws.append(Draw(SINGLE, repeat, obj, (source,), target, _seed(rng)))
    return draws


def view_count_draws(num_objects: int, counts: Sequence[int], seed: int) -> list[Draw]:
    """Per object one target and nested input sets of each count's views, sharing the starting noise
    (the set of N views is the same whichever other counts are evaluated)."""
    draws = []
    for obj in range(num_objects):
        rng = np.random.default_rng([seed, 1, obj])
        target = int(rng.integers(VIEW_COUNT))
        order = [int(i) for i in rng.permutation(np.delete(np.arange(VIEW_COUNT), target))]
        noise_seed = _seed(rng)
        draws += [Draw(PER_COUNT, n, obj, tuple(order[:n]), target, noise_seed) for n in counts]
    return draws


def variable_view_counts(num_objects: int, counts: Sequence[int], seed: int) -> list[int]:
    """The paper's "up to six": a random one of the evaluated view counts per object (with 1..6, the
    same draw as a random integer in 1..6)."""
    return [int(counts[np.random.default_rng([seed, 2, obj]).integers(len(counts))]) for obj in range(num_objects)]


# --------------------------------------------------------------------------- methods


class UniformWeights(Denoiser):
    """The paper's ablation: the same network, softmax weights replaced by 1/N.

    Returning zero logits makes the composition's softmax uniform over each item's
    real views (padded slots keep their -inf), so nothing else changes.
    """

    name = "uniform-weights"

    def __init__(self, inner: Denoiser):
        super().__init__(inner.image_size, inner.device, inner.prediction)
        self.inner = inner

    def __call__(self, views, noisy, angle, noise_level):
        noise, _ = self.inner(views, noisy, angle, noise_level)
        return noise, torch.zeros_like(noise)

    def describe(self) -> str:
        return f"{self.inner.describe()}, uniform weights"


def azimuth_gap(view_a: int, view_b: int) -> float:
    """Angle in radians between two NMR views' azimuths, on the circle (0..π)."""
    gap = abs(cameras.view_azimuth(view_a) - cameras.view_azimuth(view_b)) % (2 * math.pi)
    return min(gap, 2 * math.pi - gap)


def nearest_input_view(inputs: Sequence[int], target: int) -> int:
    """The input view index closest to the target by true azimuth (the first one on a tie)."""
    return min(inputs, key=lambda i: azimuth_gap(i, target))


def baseline_images(draws: Sequence[Draw], objects: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Nearest-view and mean-view predictions, (K, H, W, 3) uint8 each."""
    nearest = np.stack([objects[d.obj][nearest_input_view(d.inputs, d.target)] for d in draws])
    mean = np.stack([mean_image(objects[d.obj][list(d.inputs)]) for d in draws])
    return {"nearest_view": nearest, "mean_view": mean}


def hypothesis_draws(draws: Sequence[Draw], k: int) -> list[Draw]:
    """Each draw ``k`` times in a row, sample i seeded ``seed + i`` (as the synthesizer seeds its
    hypotheses), so sample 0 is the draw's own and does not depend on ``k``."""
    return [replace(d, seed=(d.seed + i) % 2**31) for d in draws for i in range(k)]


def pack_draws(draws: Sequence[Draw], max_batch: int) -> list[list[int]]:
    """Indices of draws grouped so each denoising call has at most ``max_batch`` streams (one view = one stream)."""
    packs: list[list[int]] = []
    streams = 0
    for i, draw in enumerate(draws):
        if packs and streams + len(draw.inputs) <= max_batch:
            packs[-1].append(i)
            streams += len(draw.inputs)
        else:
            packs.append([i])
            streams = len(draw.inputs)
    return packs


def target_angle(draw: Draw, relative: bool) -> float:
    """The angle the model is asked for: the target's azimuth, measured from the draw's anchor (its
    last input view, the newest) for a relative-mode model, canonical otherwise."""
    target = cameras.view_azimuth(draw.target)
    return target - cameras.view_azimuth(draw.inputs[-1]) if relative else target


def sample_model(runner: ModelRunner, sampler: Sampler, draws: Sequence[Draw],
                 objects: Sequence[np.ndarray]) -> Stepwise[DenoiseStep, np.ndarray]:
    """The composed reverse process for every draw, many objects per denoising call, one step at a time;
    ``result``: (K, H, W, 3) uint8.

    Each draw has its own generator, so its sample does not depend on how draws are packed.
    """
    return Stepwise(_sample_packs(runner, sampler, draws, objects))


def _sample_packs(runner: ModelRunner, sampler: Sampler, draws: Sequence[Draw],
                  objects: Sequence[np.ndarray]) -> Generator[DenoiseStep, None, np.ndarray]:
    results: list[np.ndarray | None] = [None] * len(draws)
    for pack in pack_draws(draws, runner.max_batch):
        chosen = [draws[i] for i in pack]
        out = yield from runner.denoise(
            Conditioning.of([to_tensor(objects[d.obj][list(d.inputs)]) for d in chosen]),
            [target_angle(d, runner.relative) for d in chosen],
            generators_from_seeds([d.seed for d in chosen]),
            sampler,
        )
        for i, image in zip(pack, to_uint8(out.images), strict=True):
            results[i] = image
    return np.stack(results)  # type: ignore[arg-type]


def _counted(run: Stepwise[DenoiseStep, np.ndarray], bar: tqdm) -> np.ndarray:
    """``run`` to the end, one tick of ``bar`` per denoising step."""
    for _ in run:
        bar.update(1)
    return run.result


# --------------------------------------------------------------------------- summaries


def source_names(root: Path, synsets: Sequence[str]) -> list[str]:
    """Each object's source: its synset's name in ``metadata.yaml`` (one synset per rendered
    source), or the synset itself where the file names none."""
    path = root / "metadata.yaml"
    metadata = {str(k): v for k, v in ((yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}).items()}
    return [str(metadata[s].get("name", s)) if isinstance(metadata.get(s), dict) else s for s in synsets]


def per_source(draws: Sequence[Draw], scores: dict[str, dict], variable_counts: Sequence[int],
               sources: Sequence[str]) -> dict:
    """Means of every metric for every method per source (the objects' category) in the single-view
    and the variable-views protocols, so no source's result is hidden in the overall mean."""
    index = {(d.protocol, d.group, d.obj): i for i, d in enumerate(draws)}
    summary = {}
    for source in sorted(set(sources)):
        objects = [o for o, name in enumerate(sources) if name == source]
        single = [i for i, d in enumerate(draws) if d.protocol == SINGLE and sources[d.obj] == source]
        variable = [index[(PER_COUNT, variable_counts[o], o)] for o in objects]
        summary[source] = {"objects": len(objects),
                           SINGLE: {m: mean_scores(scores[m], single) for m in METHODS},
                           VARIABLE: {m: mean_scores(scores[m], variable) for m in METHODS}}
    return summary


def mean_scores(scores: dict[str, list[float | None] | None], rows: Sequence[int]) -> dict[str, float | None]:
    """Mean of each metric over ``rows`` (draws where it is undefined left out); None for a metric that
    is unavailable. The model's row also gets the spread/skill calibration of its samples."""
    means: dict[str, float | None] = {}
    for m in METRICS:
        values = [] if scores.get(m) is None else [v for i in rows if (v := scores[m][i]) is not None]  # type: ignore[index]
        means[m] = float(np.mean(values)) if values else None
    if "num_hypotheses" in scores:
        means.update(calibration(means["variance"], means["mse_of_mean"], int(scores["num_hypotheses"])))  # type: ignore[arg-type]
    return means


def summarise(draws: Sequence[Draw], scores: dict[str, dict], variable_counts: Sequence[int], cfg: EvalConfig) -> dict:
    """Per-protocol means of every metric for every method."""
    index = {(d.protocol, d.group, d.obj): i for i, d in enumerate(draws)}
    num_objects = len(variable_counts)
    single = [[index[(SINGLE, r, o)] for o in range(num_objects)] for r in range(cfg.repeats)]
    per_repeat = {m: [mean_scores(scores[m], rows) for rows in single] for m in METHODS}
    variable = [index[(PER_COUNT, n, o)] for o, n in enumerate(variable_counts)]
    return {
        SINGLE: {
            "description": f"1 random input view, a random other target; the split {cfg.repeats}x with fresh draws",
            "samples": num_objects * cfg.repeats,
            "results": {m: mean_scores(scores[m], [i for rows in single for i in rows]) for m in METHODS},
            "std_over_repeats": {
                m: {k: (None if per_repeat[m][0][k] is None else float(np.std([r[k] for r in per_repeat[m]]))) for k in METRICS}
                for m in METHODS
            },
            "per_repeat": per_repeat,
        },
        VARIABLE: {
            "description": f"a random number ({', '.join(map(str, cfg.view_counts))}) of random input views per object "
                           "(paper's 'up to six')",
            "samples": num_objects,
            "view_count_histogram": {str(n): variable_counts.count(n) for n in cfg.view_counts},
            "results": {m: mean_scores(scores[m], variable) for m in METHODS},
        },
        PER_COUNT: {
            str(n): {
                "samples": num_objects,
                "results": {m: mean_scores(scores[m], [index[(PER_COUNT, n, o)] for o in range(num_objects)]) for m in METHODS},
            }
            for n in cfg.view_counts
        },
    }


def score_methods(metrics: ImageMetrics, samples: np.ndarray, predictions: dict[str, np.ndarray], truths: np.ndarray,
                  truth_masks: np.ndarray | None) -> dict[str, dict]:
    """Per method and metric, one score per draw (None where a score is undefined for that draw).

    ``samples`` (D, K, H, W, 3) are the model's; ``predictions`` gains ``best_of_samples``. Every
    deterministic prediction's CRPS is its mean absolute error (a set of one).
    """
    d, k = samples.shape[:2]
    per_sample = metrics(samples.reshape(d * k, *samples.shape[2:]), np.repeat(truths, k, axis=0),
                         None if truth_masks is None else np.repeat(truth_masks, k, axis=0))
    by_draw = {m: None if v is None else np.asarray(v, dtype=np.float64).reshape(d, k) for m, v in per_sample.items()}
    best = by_draw["psnr"].argmax(axis=1)  # type: ignore[union-attr]
    predictions["best_of_samples"] = samples[np.arange(d), best]
    ensemble = [ensemble_scores(samples[i], truths[i]) for i in range(d)]
    scores: dict[str, dict] = {
        "viewfusion": {**{m: None if v is None else v.mean(axis=1).tolist() for m, v in by_draw.items()},
                       **{e: [row[e] for row in ensemble] for e in ENSEMBLE_METRICS}, "num_hypotheses": k},
        "best_of_samples": {m: None if v is None else v[np.arange(d), best].tolist() for m, v in by_draw.items()},
    }
    for method in METHODS:
        if method not in scores:
            scores[method] = metrics(predictions[method], truths, truth_masks)
        if method != "viewfusion":
            scores[method].update(dict.fromkeys(ENSEMBLE_METRICS))
            scores[method]["crps"] = [fair_crps(p[None], t) for p, t in zip(predictions[method], truths, strict=True)]
    return scores


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """A finished run: the JSON-ready report, one record per draw, and what the pictures need."""

    report: dict
    records: list[dict]
    draws: list[Draw]
    predictions: dict[str, np.ndarray]  # method -> (K, H, W, 3) uint8, aligned with ``draws``
    objects: list[np.ndarray]  # per object its 24 views (24, H, W, 3) uint8
    variable_counts: list[int]
    hidden_sides: np.ndarray | None = None  # the hidden-side example sheet (RGB), when examples were asked for


def evaluate(cfg: EvalConfig, show_progress: bool = True) -> Evaluation:
    """Run every protocol for every method on the same draws."""
    started = time.perf_counter()
    checkpoint = load_checkpoint(cfg.model)
    size = checkpoint.config.image_size
    dataset = NMRViews(cfg.data, cfg.split, max_views=cfg.max_views, image_size=size)
    count = len(dataset) if cfg.limit is None else min(cfg.limit, len(dataset))
    loaded_objects = [dataset.load_object(i) for i in range(count)]
    objects = [views for views, _ in loaded_objects]
    masks = None if any(m is None for _, m in loaded_objects) else [m for _, m in loaded_objects]
    metrics = ImageMetrics(cfg.lpips_weights)
    runner = ModelRunner.from_checkpoint(checkpoint, EngineOptions(engine=cfg.engine, device=cfg.device,
                                                                  max_batch=cfg.max_batch))
    draws = single_view_draws(count, cfg.repeats, cfg.seed) + view_count_draws(count, cfg.view_counts, cfg.seed)
    variable_counts = variable_view_counts(count, cfg.view_counts, cfg.seed)
    truths = np.stack([objects[d.obj][d.target] for d in draws])
    truth_masks = None if masks is None else np.stack([masks[d.obj][d.target] for d in draws])
    loaded = time.perf_counter()

    # With one view the softmax weight is 1 whatever the logits, so the ablation equals the model
    # exactly there: only draws with 2+ views are sampled again with uniform weights.
    multi = [i for i, d in enumerate(draws) if len(d.inputs) > 1]
    sampler = runner.sampler(cfg.sampling)
    levels = len(sampler.levels())
    k = cfg.num_hypotheses
    hypotheses = hypothesis_draws(draws, k)
    packs = len(pack_draws(hypotheses, cfg.max_batch)) + len(pack_draws([draws[i] for i in multi], cfg.max_batch))
    one_step = runner.sampler(SamplingSpec(steps=1))  # the posterior mean: one DDIM step from the noisiest level
    predictions: dict[str, np.ndarray] = {}
    total = packs * levels + len(pack_draws(draws, cfg.max_batch))
    with tqdm(total=total, desc="denoising", unit="step", disable=not show_progress) as bar:
        t0 = time.perf_counter()
        sampled = _counted(sample_model(runner, sampler, hypotheses, objects), bar)
        samples = sampled.reshape(len(draws), k, *sampled.shape[1:])
        predictions["viewfusion"] = samples[:, 0]
        predictions["mean_of_samples"] = np.stack([mean_image(s) for s in samples])
        t1 = time.perf_counter()
        uniform = predictions["viewfusion"].copy()
        if multi:
            uniform[multi] = _counted(sample_model(runner.with_denoiser(UniformWeights(runner.denoiser)), sampler,
                                                   [draws[i] for i in multi], objects), bar)
        predictions["uniform_weights"] = uniform
        t2 = time.perf_counter()
        predictions["posterior_mean"] = _counted(sample_model(runner, one_step, draws, objects), bar)
        t3 = time.perf_counter()
    predictions.update(baseline_images(draws, objects))
    scores = score_methods(metrics, samples, predictions, truths, truth_masks)
    done = time.perf_counter()
    timings = {
        "load_s": loaded - started, "viewfusion_sampling_s": t1 - t0, "uniform_weights_sampling_s": t2 - t1,
        "posterior_mean_s": t3 - t2, "metrics_s": done - t3, "total_s": done - started,
        "seconds_per_object": (done - started) / max(count, 1),
        "diffusion_samples": (k + 1) * len(draws) + len(multi), "denoising_calls": total,
    }
    report = {
        "config": {**cfg.report(), "model": str(cfg.model), "resolution": size, "objects": count,
                   "object_ids": [dataset.objects[i].object_id for i in range(count)], "denoising_levels": levels,
                   "engine_description": runner.describe(), "schedule": {"kind": checkpoint.schedule.kind,
                                                                           "T": checkpoint.schedule.num_steps},
                   "training_metadata": checkpoint.metadata},
        "metrics": {"psnr": f"dB, higher is better; identical images count as {PSNR_CAP_DB:g} dB",
                    "ssim": "scikit-image SSIM, 7x7 window, higher is better",
                    "lpips": "VGG LPIPS v0.1, lower is better" if metrics.lpips_available else LPIPS_UNAVAILABLE,
                    **(FOREGROUND_DESCRIPTIONS if masks is not None else dict.fromkeys(FOREGROUND_METRICS, NO_MASKS))},
        "methods": METHODS,
        "protocols": summarise(draws, scores, variable_counts, cfg),
        "per_source": per_source(draws, scores, variable_counts,
                                 source_names(Path(cfg.data), [dataset.objects[i].synset for i in range(count)])),
        "timings": timings,
    }
    records = [
        {"protocol": d.protocol, "group": d.group, "object": dataset.objects[d.obj].object_id, "inputs": list(d.inputs),
         "target": d.target, "seed": d.seed,
         "scores": {m: {k: (None if scores[m][k] is None else scores[m][k][i]) for k in METRICS} for m in METHODS}}
        for i, d in enumerate(draws)
    ]
    hidden = (hidden_side_sheet(runner, sampler, objects, report["config"]["object_ids"], cfg.examples, cfg.seed)
              if cfg.examples > 0 else None)
    return Evaluation(report, records, draws, predictions, objects, variable_counts, hidden)


# --------------------------------------------------------------------------- outputs


def _fmt(value: float | None, metric: str) -> str:
    return MISSING[metric] if value is None else f"{value:.{DIGITS[metric]}f}"


TABLE_METRICS = (*IMAGE_METRICS, "crps")  # one column each in the tables; crps is MAE for a single image
CALIBRATION = ("spread", "skill", "calibration", "spearman", "ause", "ause_random")
DIGITS = {"psnr": 2, "ssim": 3, "lpips": 3, "iou": 3, "psnr_fg": 2, "ssim_fg": 3, "crps": 4,
          "spread": 4, "skill": 4, "calibration": 2, "spearman": 3, "ause": 3, "ause_random": 3}
ARROWS = {"psnr": "↑", "ssim": "↑", "lpips": "↓", "iou": "↑", "psnr_fg": "↑", "ssim_fg": "↑", "crps": "↓",
          "spread": "", "skill": "↓", "calibration": "→1", "spearman": "↑", "ause": "↓", "ause_random": ""}
LABELS = {"psnr": "PSNR", "ssim": "SSIM", "lpips": "LPIPS", "iou": "IoU", "psnr_fg": "PSNR fg", "ssim_fg": "SSIM fg",
          "crps": "CRPS (MAE)", "spread": "spread", "skill": "skill", "calibration": "spread/skill",
          "spearman": "Spearman", "ause": "AUSE", "ause_random": "AUSE random"}
MISSING = {**dict.fromkeys(DIGITS, "n/a"), "lpips": LPIPS_UNAVAILABLE, **dict.fromkeys(FOREGROUND_METRICS, NO_MASKS)}


def sampler_label(cfg: dict) -> str:
    """The sampler as a reader needs it: DDIM says whether it was deterministic or ancestral."""
    if cfg["sampler"] != "ddim":
        return cfg["sampler"]
    eta = cfg.get("eta", 0.0)
    kind = "deterministic" if eta == 0 else "ancestral" if eta == 1 else "partly stochastic"
    return f"ddim (η={eta:g}, {kind})"


def views_label(cfg: dict) -> str:
    """The variable-views protocol's counts as a reader needs them: "1..6", or "1/3/6" when only some were evaluated."""
    counts = [int(n) for n in cfg.get("view_counts") or range(1, cfg["max_views"] + 1)]
    return f"1..{counts[-1]}" if counts == list(range(1, counts[-1] + 1)) else "/".join(map(str, counts))


def markdown_report(report: dict) -> str:
    """The headline tables: both paper protocols, then each metric per number of input views."""
    cfg, protocols = report["config"], report["protocols"]
    first = TABLE_METRICS[0]
    lines = [
        f"# Evaluation of `{cfg['model']}` on `{cfg['split']}` ({cfg['objects']} objects, {cfg['resolution']}px)",
        "",
        f"Sampler {sampler_label(cfg)}, {cfg['denoising_levels']} steps, K = {cfg.get('num_hypotheses', 1)} samples per "
        f"target, seed {cfg['seed']}, engine {cfg['engine_description']}; "
        f"{report['timings']['seconds_per_object']:.1f} s per object.",
        "",
        f"| method | single view ({cfg['repeats']}x) {LABELS[first]} {ARROWS[first]} | "
        + " | ".join(f"{LABELS[m]} {ARROWS[m]}" for m in TABLE_METRICS[1:])
        + f" | {views_label(cfg)} views {LABELS[first]} {ARROWS[first]} | "
        + " | ".join(f"{LABELS[m]} {ARROWS[m]}" for m in TABLE_METRICS[1:]) + " |",
        "|---|" + "---|" * (2 * len(TABLE_METRICS)),
    ]
    for method in METHODS:
        cells = [_fmt(protocols[p]["results"][method].get(m), m) for p in (SINGLE, VARIABLE) for m in TABLE_METRICS]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    counts = list(protocols[PER_COUNT])
    lines += ["", "The model's K samples as a set, by number of input views (spread: RMS per-pixel std of the samples; "
              "skill: RMS error of their mean; spread/skill: √((K+1)/K)·spread/skill, 1 when calibrated; Spearman and "
              "AUSE: does the uncertainty image rank the error of the mean)", "",
              "| measure | " + " | ".join(f"N={n}" for n in counts) + " |", "|---|" + "---|" * len(counts)]
    for metric in CALIBRATION:
        cells = [_fmt(protocols[PER_COUNT][n]["results"]["viewfusion"].get(metric), metric) for n in counts]
        lines.append(f"| {LABELS[metric]} {ARROWS[metric]} | " + " | ".join(cells) + " |")
    for metric in TABLE_METRICS:
        if protocols[PER_COUNT][counts[0]]["results"]["viewfusion"].get(metric) is None:
            lines += ["", f"{LABELS[metric]} by number of input views: {MISSING[metric]}"]
            continue
        lines += ["", f"{LABELS[metric]} {ARROWS[metric]} by number of input views", "",
                  "| method | " + " | ".join(f"N={n}" for n in counts) + " |", "|---|" + "---|" * len(counts)]
        for method in METHODS:
            cells = [_fmt(protocols[PER_COUNT][n]["results"][method][metric], metric) for n in counts]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    sources = report.get("per_source", {})
    if sources:
        lines += ["", f"Per source, {views_label(cfg)} views (one category per source)", "",
                  "| source (objects) | method | " + " | ".join(f"{LABELS[m]} {ARROWS[m]}" for m in TABLE_METRICS) + " |",
                  "|---|---|" + "---|" * len(TABLE_METRICS)]
        for source, entry in sources.items():
            for method in METHODS:
                cells = [_fmt(entry[VARIABLE][method].get(m), m) for m in TABLE_METRICS]
                lines.append(f"| {source} ({entry['objects']}) | {method} | " + " | ".join(cells) + " |")
    lines += ["", "Rows: " + "; ".join(f"{m}: {d}" for m, d in METHODS.items()) + ".",
              "", "nearest_view and best_of_samples are oracles: they use the truth, which the model never sees."]
    return "\n".join(lines) + "\n"


def plot_view_counts(report: dict, path: Path) -> Path:
    """Each metric against the number of input views, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    per_count = report["protocols"][PER_COUNT]
    counts = [int(n) for n in per_count]
    fig, axes = plt.subplots(1, len(TABLE_METRICS), figsize=(4.2 * len(TABLE_METRICS), 3.4))
    for ax, metric in zip(axes, TABLE_METRICS, strict=True):
        ax.set_title(f"{LABELS[metric]} {ARROWS[metric]}")
        ax.set_xlabel("input views")
        ax.set_xticks(counts)
        values = {m: [per_count[str(n)]["results"][m][metric] for n in counts] for m in METHODS}
        if any(v is None for vs in values.values() for v in vs):
            ax.text(0.5, 0.5, MISSING[metric], ha="center", va="center", transform=ax.transAxes)
            continue
        for method, ys in values.items():
            style = "-o" if method in DIFFUSION_METHODS else "--"
            ax.plot(counts, ys, style, label=method)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_examples(path: Path, evaluation: Evaluation, count: int) -> Path:
    """Contact sheet of the variable-views draws of the first objects: inputs | model | baselines | truth."""
    index = {(d.protocol, d.group, d.obj): i for i, d in enumerate(evaluation.draws)}
    ids = evaluation.report["config"]["object_ids"]
    rows = []
    for obj, views in enumerate(evaluation.objects[:count]):
        i = index[(PER_COUNT, evaluation.variable_counts[obj], obj)]
        draw = evaluation.draws[i]
        label = f"{ids[obj]}: {len(draw.inputs)} inputs | " + " | ".join(METHODS) + " | truth"
        images = [*views[list(draw.inputs)], *(evaluation.predictions[m][i] for m in METHODS), views[draw.target]]
        rows.append((label, images))
    return write_png(path, contact_sheet(rows, tile=64))


HIDDEN_SIDE_INPUTS = (6, 18, 0)  # two side views and the anchor (last): the anchor's back (view 12) is unseen
HIDDEN_SIDE_SAMPLES = 3


def hidden_side_sheet(runner: ModelRunner, sampler: Sampler, objects: Sequence[np.ndarray], object_ids: Sequence[str],
                      count: int, seed: int) -> np.ndarray:
    """Per object: the anchor alone and with two side views, each followed by samples of the side
    180 degrees from the anchor and the truth there: what a grasp planner would be shown."""
    anchor = HIDDEN_SIDE_INPUTS[-1]
    hidden = (anchor + VIEW_COUNT // 2) % VIEW_COUNT
    rows = []
    for obj, views in enumerate(objects[:count]):
        for inputs in ((anchor,), HIDDEN_SIDE_INPUTS):
            draws = [Draw("hidden_side", len(inputs), 0, inputs, hidden, seed + k) for k in range(HIDDEN_SIDE_SAMPLES)]
            samples = sample_model(runner, sampler, draws, [views]).result
            rows.append((f"{object_ids[obj]}: {len(inputs)} input(s), last = anchor | {HIDDEN_SIDE_SAMPLES} samples of "
                         "the hidden side (180 deg) | truth", [*views[list(inputs)], *samples, views[hidden]]))
    return contact_sheet(rows, tile=64)


def write_outputs(out: Path, evaluation: Evaluation, examples: int) -> dict[str, Path]:
    """evaluation.json, samples.jsonl, evaluation.md, metrics_vs_views.png and, with examples, examples.png and
    hidden_sides.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "evaluation.json", "samples": out / "samples.jsonl", "markdown": out / "evaluation.md",
             "plot": out / "metrics_vs_views.png", "examples": out / "examples.png"}
    paths["json"].write_text(json.dumps(evaluation.report, indent=2))
    paths["samples"].write_text("".join(json.dumps(r) + "\n" for r in evaluation.records))
    paths["markdown"].write_text(markdown_report(evaluation.report))
    plot_view_counts(evaluation.report, paths["plot"])
    if examples > 0:
        write_examples(paths["examples"], evaluation, examples)
    else:
        del paths["examples"]
    if evaluation.hidden_sides is not None:
        paths["hidden_sides"] = write_png(out / "hidden_sides.png", evaluation.hidden_sides)
    return paths
