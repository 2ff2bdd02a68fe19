"""The composed reverse process on tensors: engine + composition + sampler.

This is the one place where a ``Denoiser`` meets the samplers. It handles a
batch of B targets, each with its own set of conditioning views (the streams
are stacked item after item, ``view_counts`` says how many each has), and
bounds memory by running the network on at most ``max_streams`` streams at a
time. The network treats every stream independently, so chunking the flat
stream batch is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..diffusion.composition import compose_noise, expand_to_streams
from ..diffusion.samplers import Sampler, StepCallback, gaussian_like
from ..diffusion.schedules import NoiseSchedule, prediction_to_eps
from ..engines.base import Denoiser


@dataclass
class DenoiseOutput:
    """Clean targets (B, 3, H, W) in [-1, 1] and the padded weights (B, N_max, H, W).

    The weights are averaged over colour channels and over all denoising steps:
    they explain which view each pixel came from across the whole trajectory,
    and still sum to one over views at every pixel.
    """

    images: torch.Tensor
    weights: torch.Tensor


def run_streams(
    denoiser: Denoiser,
    views: torch.Tensor,
    noisy: torch.Tensor,
    angle: torch.Tensor,
    level: torch.Tensor,
    max_streams: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The network on M streams, ``max_streams`` at a time."""
    if max_streams < 1:
        raise ValueError(f"max_streams must be at least 1, got {max_streams}")
    parts = [
        denoiser(views[i : i + max_streams], noisy[i : i + max_streams], angle[i : i + max_streams], level[i : i + max_streams])
        for i in range(0, views.shape[0], max_streams)
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def denoise_targets(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    sampler: Sampler,
    views: torch.Tensor,
    view_counts: torch.Tensor,
    angles: torch.Tensor,
    generators: Sequence[torch.Generator],
    max_streams: int = 64,
    y_start: torch.Tensor | None = None,
    start_level: int | None = None,
    callback: StepCallback | None = None,
) -> DenoiseOutput:
    """Sample B target views, each composed from its own conditioning views.

    Args:
        views: (M, 3, H, W) conditioning views of all items, stacked item after item.
        view_counts: (B,) views per item, summing to M.
        angles: (B,) target azimuths in radians.
        generators: one per item; the item's starting noise and sampler noise come from it.
        y_start / start_level: start from a given noisy image at a given level
            (SDEdit-style refinement) instead of pure noise at the noisiest level.

    The composite of the network's first head is ε or v (``denoiser.prediction``, from the
    model config); it is turned into ε for the sampler.
    """
    device = denoiser.device
    views = views.to(device)
    view_counts = view_counts.to(device)
    batch = len(view_counts)
    shape = (batch, views.shape[1], views.shape[2], views.shape[3])
    y = gaussian_like(torch.empty(shape, device=device), generators) if y_start is None else y_start.to(device)
    stream_angles = expand_to_streams(angles.to(device).float(), view_counts)
    weight_sum = torch.zeros(batch, int(view_counts.max()), shape[2], shape[3], device=device)
    steps = 0

    def eps_fn(y_t: torch.Tensor, t: int) -> torch.Tensor:
        nonlocal weight_sum, steps
        level = schedule.gamma(t).to(device).expand(views.shape[0])
        noise, logits = run_streams(
            denoiser, views, expand_to_streams(y_t, view_counts), stream_angles, level, max_streams
        )
        composite, weights = compose_noise(noise, logits, view_counts)
        weight_sum += weights.mean(dim=2)
        steps += 1
        return prediction_to_eps(denoiser.prediction, composite, y_t, float(schedule.gammas[t]))

    images = sampler.sample(eps_fn, y, generators, start=start_level, callback=callback)
    return DenoiseOutput(images=images.clamp(-1.0, 1.0), weights=weight_sum / max(steps, 1))
