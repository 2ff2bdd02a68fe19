"""The ROS-free synthesis API that every node and CLI uses.

``NovelViewSynthesizer`` takes pose-free user views (any number, any size),
runs the composed ViewFusion reverse process through an engine, and returns
the synthesized target view(s), the per-view weight maps that explain them,
and an uncertainty image over several samples (occlusion hypotheses).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np
import torch

from ..diffusion.samplers import DenoiseStep, generators_from_seeds
from ..diffusion.sampling_spec import SamplingSpec
from ..diffusion.stepwise import Progress, Stepwise
from ..engines.factory import EngineOptions
from ..model.assets import asset_path
from ..model.checkpoint import Checkpoint, load_checkpoint
from .preprocess import prepare_views, validate_angle
from .runner import Conditioning, ModelRunner, Samples
from .tensors import to_tensor, to_uint8

log = logging.getLogger(__name__)

#: hypothesis k at the i-th angle of one call uses seed + ANGLE_SEED_STRIDE * i + k: one angle's
#: hypotheses never share a seed with another's (up to this many hypotheses), and each angle's
#: samples are those of a call for that angle alone with seed + ANGLE_SEED_STRIDE * i
ANGLE_SEED_STRIDE = 1000
@dataclass
class SynthesisResult:
    """What one request produced.

    images: (K, H, W, 3) uint8, one per sample (occlusion hypothesis).
    weights: (N, H, W) float32, per-view weight maps (mean over channels, samples and
        denoising steps), summing to 1 over views at every pixel.
    uncertainty: (H, W) float32, per-pixel standard deviation over the K samples of the
        RGB values in [0, 1], averaged over channels; zeros when K = 1.
    mean: (H, W, 3) uint8, the pixel mean of the K samples: the best single guess of the view (a
        calibrated sample is a plausible alternative, not the most likely image; the mean of K
        samples has about (1 + 1/K) times the posterior mean's squared error, one sample twice it).
    inputs: (N, H, W, 3) uint8, the views as the model saw them (letterboxed, resized).
    """

    images: np.ndarray
    weights: np.ndarray
    uncertainty: np.ndarray
    mean: np.ndarray
    inputs: np.ndarray
    target_angle: float
    seeds: list[int]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class OrbitResult:
    """Views around the object: images (A, H, W, 3) at ``angles``, and each step's full result."""

    images: np.ndarray
    angles: list[float]
    steps: list[SynthesisResult]


def mean_image(images: np.ndarray) -> np.ndarray:
    """The pixel mean of K uint8 samples (K, H, W, 3), rounded to uint8: the best single estimate."""
    return images.astype(np.float64).mean(axis=0).round().astype(np.uint8)


def uncertainty_map(images: np.ndarray) -> np.ndarray:
    """Per-pixel std over samples of RGB in [0, 1], averaged over channels: (K, H, W, 3) -> (H, W)."""
    return (images.astype(np.float32) / 255.0).std(axis=0).mean(axis=-1).astype(np.float32)


class NovelViewSynthesizer:
    """Pose-free novel view synthesis with a composable diffusion model (ViewFusion)."""

    def __init__(self, checkpoint: Checkpoint, runner: ModelRunner, max_views: int = 32):
        if max_views < 1:
            raise ValueError("max_views must be at least 1")
        self.checkpoint = checkpoint
        self.runner = runner
        self.max_views = max_views

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        engine: str = "auto",
        device: str = "auto",
        max_views: int = 32,
        **engine_options: object,
    ) -> NovelViewSynthesizer:
        """Load a checkpoint (``None``: the shipped default model) and build its engine."""
        checkpoint = load_checkpoint(asset_path("view") if path is None else path)
        options = EngineOptions(engine=engine, device=device, **engine_options)  # type: ignore[arg-type]
        return cls(checkpoint, ModelRunner.from_checkpoint(checkpoint, options), max_views=max_views)

    @property
    def image_size(self) -> int:
        return self.checkpoint.config.image_size

    @property
    def angle_reference(self) -> str:
        """What target angles are measured from: ``"relative"`` (the anchor view) or ``"canonical"``."""
        return self.checkpoint.config.angle_reference

    @overload
    def synthesize(self, views: Sequence[np.ndarray], target_angle: float, num_hypotheses: int = 1,
                   sampling: SamplingSpec | None = None, anchor: int = -1) -> SynthesisResult: ...

    @overload
    def synthesize(self, views: Sequence[np.ndarray], target_angle: Sequence[float], num_hypotheses: int = 1,
                   sampling: SamplingSpec | None = None, anchor: int = -1) -> list[SynthesisResult]: ...

    def synthesize(self, views, target_angle, num_hypotheses=1, sampling=None, anchor=-1):
        """:meth:`synthesize_steps` run to the end: one result for one angle, a list for a sequence of angles."""
        if isinstance(target_angle, Sequence | np.ndarray):
            return self.synthesize_steps(views, target_angle, num_hypotheses, sampling, anchor).result
        return self.synthesize_steps(views, [target_angle], num_hypotheses, sampling, anchor).result[0]

    def synthesize_steps(
        self,
        views: Sequence[np.ndarray],
        target_angles: Sequence[float],
        num_hypotheses: int = 1,
        sampling: SamplingSpec | None = None,
        anchor: int = -1,
    ) -> Stepwise[DenoiseStep, list[SynthesisResult]]:
        """The object seen from each of ``target_angles`` (radians; any finite value, wrapped), one
        reverse process for all angles x hypotheses x views streams (``max_batch`` per engine call):
        iterate it for its denoising steps, then ``result`` holds one :class:`SynthesisResult` per angle.

        An angle is measured from the anchor view ``views[anchor]`` (default: the last, newest view;
        0 = the anchor's own viewpoint, π = the side it cannot see) for a relative-mode model, or in
        the object's canonical frame for a canonical-mode one (``anchor`` unused).
        ``num_hypotheses`` samples K are drawn per angle (occlusion hypotheses; K > 1 fills
        ``uncertainty``). Sample k at angle i uses seed ``seed + ANGLE_SEED_STRIDE * i + k`` (a random
        base seed when ``sampling.seed`` is None, reported in the result), so each hypothesis is
        reproducible on its own and in any batch.
        """
        started = time.perf_counter()
        sampling = sampling or SamplingSpec()
        angles = [validate_angle(a) for a in target_angles]
        if not angles:
            raise ValueError("need at least one target angle")
        if not isinstance(num_hypotheses, (int, np.integer)) or num_hypotheses < 1:
            raise ValueError(f"num_hypotheses must be a positive integer, got {num_hypotheses!r}")
        if num_hypotheses > ANGLE_SEED_STRIDE:
            raise ValueError(f"at most {ANGLE_SEED_STRIDE} hypotheses per angle, got {num_hypotheses}")
        sampler = self.runner.sampler(sampling)
        inputs = prepare_views(views, self.image_size, self.max_views)
        if not -len(inputs) <= anchor < len(inputs):
            raise ValueError(f"anchor {anchor} is not one of the {len(inputs)} views")
        base_seed = secrets.randbits(31) if sampling.seed is None else int(sampling.seed)
        seeds = [[base_seed + ANGLE_SEED_STRIDE * i + k for k in range(num_hypotheses)] for i in range(len(angles))]
        items = len(angles) * num_hypotheses
        run = self.runner.denoise(Conditioning.repeated(to_tensor(inputs), items, anchor),
                                  torch.tensor(angles, dtype=torch.float64).repeat_interleave(num_hypotheses),
                                  generators_from_seeds([s for row in seeds for s in row]), sampler)
        return Stepwise(self._results(run, len(sampler.levels()), inputs, angles, seeds, started))

    def _results(self, run: Stepwise[DenoiseStep, Samples], levels: int, inputs: np.ndarray, angles: list[float],
                 seeds: list[list[int]], started: float) -> Generator[DenoiseStep, None, list[SynthesisResult]]:
        prepared = time.perf_counter()
        out = yield from run
        done = time.perf_counter()
        k = len(seeds[0])
        images = to_uint8(out.images).reshape(len(angles), k, *out.images.shape[2:], 3)
        weights = out.weights.reshape(len(angles), k, *out.weights.shape[1:]).mean(dim=1).cpu().numpy()
        timings = {"preprocess_s": prepared - started, "denoise_s": done - prepared, "total_s": done - started,
                   "denoising_steps": float(levels), "step_s": (done - prepared) / max(levels, 1),
                   "angles": float(len(angles))}
        return [SynthesisResult(
            images=images[i],
            weights=weights[i].astype(np.float32),
            uncertainty=uncertainty_map(images[i]) if k > 1 else np.zeros(images.shape[2:4], np.float32),
            mean=mean_image(images[i]),
            inputs=inputs,
            target_angle=angle,
            seeds=seeds[i],
            timings=dict(timings),
        ) for i, angle in enumerate(angles)]

    def orbit(self, views: Sequence[np.ndarray], angles: Sequence[float], autoregressive: bool = True,
              sampling: SamplingSpec | None = None, anchor: int = -1) -> OrbitResult:
        """:meth:`orbit_steps` run to the end."""
        return self.orbit_steps(views, angles, autoregressive, sampling, anchor).result

    def orbit_steps(
        self,
        views: Sequence[np.ndarray],
        angles: Sequence[float],
        autoregressive: bool = True,
        sampling: SamplingSpec | None = None,
        anchor: int = -1,
    ) -> Stepwise[Progress, OrbitResult]:
        """Views at ``angles`` in order, one denoising step at a time (``Progress`` over all of the orbit's
        steps); with ``autoregressive`` each generated view joins the conditioning set of the next
        (paper §4.4). When the set would exceed ``max_views``, the user's views are kept and the oldest
        generated views make room. Angles and ``sampling`` follow :meth:`synthesize_steps` (view i uses
        seed ``sampling.seed + i``); the anchor stays the user's view ``views[anchor]`` throughout.
        """
        sampling = sampling or SamplingSpec()
        if len(angles) == 0:
            raise ValueError("orbit needs at least one target angle")
        checked = [validate_angle(a) for a in angles]
        user_views = list(prepare_views(views, self.image_size, self.max_views))
        if not -len(user_views) <= anchor < len(user_views):
            raise ValueError(f"anchor {anchor} is not one of the {len(user_views)} views")
        anchor %= len(user_views)  # generated views are appended after the user's, so the index stays put
        if autoregressive and len(user_views) >= self.max_views:
            raise ValueError(f"{len(user_views)} views leave no room for generated ones under max_views={self.max_views}")
        base_seed = secrets.randbits(31) if sampling.seed is None else int(sampling.seed)
        total = len(checked) * len(self.runner.sampler(sampling).levels())
        return Stepwise(self._orbit(user_views, checked, autoregressive, sampling.with_seed(base_seed), anchor, total))

    def _orbit(self, user_views: list[np.ndarray], angles: list[float], autoregressive: bool, sampling: SamplingSpec,
               anchor: int, total: int) -> Generator[Progress, None, OrbitResult]:
        assert sampling.seed is not None
        generated: list[np.ndarray] = []
        results = []
        done = 0
        for i, angle in enumerate(angles):
            room = self.max_views - len(user_views)
            conditioning = user_views + (generated[-room:] if autoregressive and generated else [])
            run = self.synthesize_steps(conditioning, [angle], sampling=sampling.with_seed(sampling.seed + i),
                                        anchor=anchor)
            for _ in run:
                done += 1
                yield Progress(done, total, "orbit")
            results.append(run.result[0])
            generated.append(results[-1].images[0])
        log.debug("orbit of %d views done", len(angles))
        return OrbitResult(images=np.stack(generated), angles=angles, steps=results)
