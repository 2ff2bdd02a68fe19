"""The two matrix denoisers of the score composition, built from this project's models (ROS-free).

* :func:`view_denoiser` — D_view from the view model's :class:`~.runner.ModelRunner`: cell (v, f)
  is target azimuth ``angles[v]`` composed from frame f's input views (paper §3.1 composition per
  target; in relative mode measured from each frame's anchor view, its newest). All rows of a call
  are one flat batch of streams.
* :func:`time_denoiser` — D_time from a :class:`~nvs_fusion_ros.model.temporal_unet.TemporalUNet`:
  column v is one clip conditioned on its first frame ``first_frames[v]`` and azimuth
  ``angles[v]``. All columns of a call are one batch.

Both return the clean-image prediction for every cell of the block they are given, as
:func:`nvs_fusion_ros.diffusion.score_composition.sample_matrix` expects.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..diffusion.schedules import NoiseSchedule, prediction_to_eps
from ..diffusion.score_composition import MatrixDenoiser, clean_from_eps
from ..model.temporal_unet import TemporalUNet
from .runner import Conditioning, ModelRunner


def view_denoiser(runner: ModelRunner, frame_views: Sequence[torch.Tensor], angles: torch.Tensor) -> MatrixDenoiser:
    """D_view: per frame, the V target azimuths composed from that frame's input views.

    Args:
        frame_views: one tensor (N_f, 3, H, W) in [-1, 1] per frame, the views observed at frame f
            (any N_f >= 1; they carry no pose, as in ViewFusion; the last is the frame's anchor).
        angles: (V,) target azimuths in radians, one per matrix row index v.
    """
    if len(frame_views) == 0 or any(v.dim() != 4 or v.shape[0] < 1 for v in frame_views):
        raise ValueError("frame_views needs one (N, 3, H, W) tensor with N >= 1 per frame")
    views_count = len(angles)
    # Items in frame-major order (f, v); item (f, v) has frame f's views as its streams.
    items = Conditioning.of([v for v in frame_views for _ in range(views_count)])
    item_angles = angles.float().repeat(len(frame_views))

    def denoise(noisy: torch.Tensor, t: int, frames: slice) -> torch.Tensor:
        v, f = noisy.shape[:2]
        if v != views_count or not 0 <= frames.start < frames.stop <= len(frame_views):
            raise ValueError(f"block {tuple(noisy.shape)} at frames {frames} does not fit {views_count} views x "
                             f"{len(frame_views)} frames")
        chosen = range(frames.start * views_count, frames.stop * views_count)
        y_t = noisy.transpose(0, 1).reshape(f * v, *noisy.shape[2:])  # items (f, v), frame-major
        clean = runner.predict_clean(items.select(chosen), y_t, item_angles[frames.start * views_count:
                                                                            frames.stop * views_count], t)
        return clean.reshape(f, v, *noisy.shape[2:]).transpose(0, 1).to(noisy.device)

    return denoise


def time_denoiser(
    model: TemporalUNet, schedule: NoiseSchedule, first_frames: torch.Tensor, angles: torch.Tensor
) -> MatrixDenoiser:
    """D_time: column v is a clip conditioned on ``first_frames[v]`` (V, 3, H, W) at azimuth ``angles[v]``."""
    if first_frames.dim() != 4 or len(first_frames) != len(angles):
        raise ValueError(f"first_frames {tuple(first_frames.shape)} must be (V, 3, H, W) with one per angle ({len(angles)})")
    device = next(model.parameters()).device
    first_frames, angles = first_frames.to(device), angles.to(device).float()
    prediction_kind = model.config.prediction

    @torch.inference_mode()
    def denoise(noisy: torch.Tensor, t: int, views: slice) -> torch.Tensor:
        if not 0 <= views.start < views.stop <= len(first_frames) or noisy.shape[0] != views.stop - views.start:
            raise ValueError(f"block {tuple(noisy.shape)} at views {views} does not fit {len(first_frames)} views")
        y_t = noisy.to(device)
        gamma = float(schedule.gammas[t])
        level = schedule.gamma(t).to(device).expand(y_t.shape[0])
        output = model(y_t, first_frames[views], angles[views], level).float()
        return clean_from_eps(y_t, prediction_to_eps(prediction_kind, output, y_t, gamma), gamma).to(noisy.device)

    return denoise
