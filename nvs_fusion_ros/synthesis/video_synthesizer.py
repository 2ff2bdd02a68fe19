"""Multi-view x multi-frame synthesis of a moving object (Diffusion² score composition), ROS-free.

``VideoSynthesizer`` takes a clip of camera frames (one or more pose-free views per frame) and
returns the object seen from V target azimuths at every frame: a V x F image matrix. Methods:

* ``"per-frame"``: ViewFusion on every cell independently (cell (v, f) is composed from frame
  f's views only). Needs no temporal model; it is the baseline the composition must beat.
* ``"composition"``: Diffusion² Algorithm 1 (``diffusion.score_composition.sample_matrix``):
  D = s·D_view + (1-s)·D_time on the shared noisy matrix, with ``rollback_steps``
  variance-reducing rollbacks. D_time is the temporal model conditioned, per target view, on a
  *reference frame*: frame 0 at that azimuth, synthesized first by ViewFusion from frame 0's
  views (the paper's reference multi-view image; nothing else of the target views is known).

Column v's noise comes from its own generator seeded ``seed + v``, so both methods start from the
same noise and the per-frame matrix's frame 0 *is* the reference row: a paired comparison.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..diffusion.samplers import generators_from_seeds
from ..diffusion.score_composition import sample_matrix
from ..diffusion.stepwise import Progress, Stepwise
from ..model.assets import asset_path
from ..model.checkpoint import Checkpoint, load_checkpoint
from .preprocess import prepare_views, validate_angle
from .synthesizer import NovelViewSynthesizer
from .tensors import to_tensor, to_uint8
from .video import time_denoiser, view_denoiser
from .video_settings import METHODS, CompositionSettings


@dataclass
class VideoResult:
    """What one clip request produced.

    images: (V, F, H, W, 3) uint8, row v = target azimuth ``angles[v]``, column f = input frame f.
    reference: (V, H, W, 3) uint8, the reference frame D_time was conditioned on (composition), or
        frame 0 of ``images`` (per-frame: the same cells, by construction).
    inputs: per frame the views as the model saw them, (N_f, H, W, 3) uint8 each.
    """

    images: np.ndarray
    reference: np.ndarray
    inputs: list[np.ndarray]
    angles: list[float]
    method: str
    seeds: list[int]
    timings: dict[str, float] = field(default_factory=dict)


def check_compatible(view: Checkpoint, temporal: Checkpoint) -> None:
    """The two models must denoise the same state: same image size and the same noise schedule."""
    if temporal.config.image_size != view.config.image_size:
        raise ValueError(f"temporal model is {temporal.config.image_size}px, view model {view.config.image_size}px")
    if temporal.schedule.num_steps != view.schedule.num_steps or not torch.allclose(temporal.schedule.betas,
                                                                                   view.schedule.betas):
        raise ValueError("temporal and view models use different noise schedules; the composition needs one")


class VideoSynthesizer:
    """Synthesize a V x F matrix of a moving object; see the module docstring."""

    def __init__(self, views: NovelViewSynthesizer, temporal: Checkpoint | None = None):
        if temporal is not None:
            check_compatible(views.checkpoint, temporal)
        self.views = views
        self.temporal = temporal

    @classmethod
    def from_checkpoints(cls, view_path: str | Path | None = None, temporal_path: str | Path | None = None,
                         engine: str = "auto", device: str = "auto", **engine_options: object) -> VideoSynthesizer:
        """Load both models (``None``: the shipped ones); the temporal model runs with torch on the view engine's device."""
        synthesizer = NovelViewSynthesizer.from_checkpoint(view_path, engine=engine, device=device, **engine_options)
        path = asset_path("temporal") if temporal_path is None else temporal_path
        temporal = load_checkpoint(path, map_location=synthesizer.runner.device, kind="temporal")
        return cls(synthesizer, temporal)

    @property
    def image_size(self) -> int:
        return self.views.image_size

    def synthesize(self, frames: Sequence[Sequence[np.ndarray]], angles: Sequence[float], method: str = "composition",
                   settings: CompositionSettings | None = None, seed: int | None = None) -> VideoResult:
        """:meth:`synthesize_steps` run to the end."""
        return self.synthesize_steps(frames, angles, method, settings, seed).result

    def synthesize_steps(
        self,
        frames: Sequence[Sequence[np.ndarray]],
        angles: Sequence[float],
        method: str = "composition",
        settings: CompositionSettings | None = None,
        seed: int | None = None,
    ) -> Stepwise[Progress, VideoResult]:
        """The object at every azimuth of ``angles`` (radians) and every frame of ``frames``, one
        ``Progress`` per denoising step over both passes of the composition.

        ``frames[f]`` holds the views observed at frame f (one per camera; at least one each).
        """
        started = time.perf_counter()
        settings = settings or CompositionSettings()
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
        if method == "composition" and self.temporal is None:
            raise ValueError("the composition needs a temporal model; load one or use method='per-frame'")
        if len(frames) < 1 or len(angles) < 1:
            raise ValueError(f"need at least one frame and one target angle, got {len(frames)} and {len(angles)}")
        checked = [validate_angle(a) for a in angles]
        inputs = [prepare_views(views, self.image_size, self.views.max_views) for views in frames]
        base_seed = secrets.randbits(31) if seed is None else int(seed)
        return Stepwise(self._steps(inputs, checked, method, settings, [base_seed + v for v in range(len(checked))],
                                    started))

    def _steps(self, inputs: list[np.ndarray], checked: list[float], method: str, settings: CompositionSettings,
               seeds: list[int], started: float) -> Generator[Progress, None, VideoResult]:
        angle_tensor = torch.tensor(checked, dtype=torch.float32)
        runner = self.views.runner
        d_view = view_denoiser(runner, [to_tensor(v) for v in inputs], angle_tensor)
        size = self.image_size
        prepared = time.perf_counter()
        passes = 1 if method == "per-frame" else 2  # the composition samples the reference row first

        def run(shape: tuple[int, ...], view, time_, weight: float, rollback: int,
                done_passes: int) -> Generator[Progress, None, torch.Tensor]:
            matrix = sample_matrix(view, time_, runner.schedule, shape, generators_from_seeds(seeds),
                                   steps=settings.steps, weight=weight, rollback_steps=rollback,
                                   renoise_mode=settings.renoise_mode, max_cells=runner.max_batch, device=runner.device)
            for state in matrix:  # one count over both passes
                yield Progress(done_passes * state.total + state.done, passes * state.total)
            return matrix.result

        full = (len(checked), len(inputs), 3, size, size)
        if method == "per-frame":
            images = yield from run(full, d_view, None, 1.0, 0, 0)
            reference = images[:, 0]
        else:
            # Frame 0 alone first: the reference row D_time is conditioned on (same noise as frame 0 of the matrix).
            reference = (yield from run((len(checked), 1, 3, size, size), d_view, None, 1.0, 0, 0))[:, 0]
            assert self.temporal is not None
            d_time = time_denoiser(self.temporal.model, runner.schedule, reference, angle_tensor)
            images = yield from run(full, d_view, d_time, settings.weight, settings.rollback_steps, 1)
        done = time.perf_counter()
        return VideoResult(
            images=to_uint8(images.flatten(0, 1)).reshape(len(checked), len(inputs), size, size, 3),
            reference=to_uint8(reference), inputs=inputs, angles=checked, method=method, seeds=seeds,
            timings={"preprocess_s": prepared - started, "denoise_s": done - prepared, "total_s": done - started},
        )
