"""Differentiable volume rendering of a :class:`VoxelField` from :class:`cameras.OrbitCamera` views.

Rays come from ``OrbitCamera.rays()``, the same camera model whose
``view_matrix``/``projection_matrix`` the dataset renderer hands to pybullet, so a
field render and a dataset image of the same azimuth line up pixel for pixel.
Samples are spread over the part of each ray inside the field's cube (slab test),
composited front to back (NeRF's quadrature) and laid over a white background,
like the dataset's images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..cameras import OrbitCamera
from .field import VoxelField

BACKGROUND = 1.0  # white, as the dataset renders and the model's training images


@dataclass
class Rendering:
    """What a render produced: rgb (..., 3) in [0, 1] on white, opacity (...) in [0, 1], depth (...)."""

    rgb: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor


def camera_rays(camera: OrbitCamera) -> tuple[torch.Tensor, torch.Tensor]:
    """The camera's per-pixel rays as float32 tensors (H, W, 3), row 0 at the top."""
    origins, directions = camera.rays()
    return torch.from_numpy(origins).float(), torch.from_numpy(directions).float()


def cube_interval(origins: torch.Tensor, directions: torch.Tensor, half_extent: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances of rays (N, 3) through the cube [-h, h]³; exit <= entry where a ray misses."""
    safe = torch.where(directions.abs() < 1e-9, torch.full_like(directions, 1e-9), directions)
    t1 = (-half_extent - origins) / safe
    t2 = (half_extent - origins) / safe
    near = torch.minimum(t1, t2).amax(dim=-1).clamp(min=0.0)
    far = torch.maximum(t1, t2).amin(dim=-1)
    return near, far


def render_rays(
    field: VoxelField,
    origins: torch.Tensor,
    directions: torch.Tensor,
    samples: int = 64,
    generator: torch.Generator | None = None,
) -> Rendering:
    """Composite ``samples`` points per ray (N, 3); with a ``generator`` the points are jittered (stratified)."""
    near, far = cube_interval(origins, directions, field.half_extent)
    hits = far > near
    far = torch.where(hits, far, near)
    steps = torch.arange(samples, dtype=origins.dtype)
    offsets = torch.rand(len(origins), samples, generator=generator) if generator is not None else torch.full((1, samples), 0.5)
    interval = (far - near)[:, None] / samples
    t = near[:, None] + (steps[None, :] + offsets) * interval
    points = origins[:, None, :] + t[..., None] * directions[:, None, :]
    density, color = field.query(points)
    alpha = 1.0 - torch.exp(-density * interval)
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha[:, :-1] + 1e-10], dim=1), dim=1)
    weights = alpha * transmittance
    opacity = weights.sum(dim=1)
    rgb = (weights[..., None] * color).sum(dim=1) + (1.0 - opacity[:, None]) * BACKGROUND
    depth = (weights * t).sum(dim=1) + (1.0 - opacity) * far
    return Rendering(rgb=rgb, opacity=opacity, depth=depth)


def render_view(field: VoxelField, camera: OrbitCamera, samples: int = 64, generator: torch.Generator | None = None) -> Rendering:
    """The field seen by ``camera``: rgb (H, W, 3), opacity and depth (H, W)."""
    origins, directions = camera_rays(camera)
    out = render_rays(field, origins.reshape(-1, 3), directions.reshape(-1, 3), samples, generator)
    h, w = camera.height, camera.width
    return Rendering(rgb=out.rgb.reshape(h, w, 3), opacity=out.opacity.reshape(h, w), depth=out.depth.reshape(h, w))


def render_image(field: VoxelField, camera: OrbitCamera, samples: int = 64) -> np.ndarray:
    """The field seen by ``camera`` as an (H, W, 3) uint8 picture (no gradient)."""
    with torch.no_grad():
        rgb = render_view(field, camera, samples).rgb
    return (rgb.clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
