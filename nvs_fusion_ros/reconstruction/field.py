"""The 3D field that synthesized views are distilled into: a dense voxel grid.

Why a dense grid and not SparseFusion's Instant-NGP (hash grid + MLP): at the sizes
this project works at (32x32 / 64x64 views of one object inside a known cube) a
48-64³ grid of density and colour has far fewer parameters than the views have
pixels' worth of constraints, fits in seconds on a CPU with plain ``grid_sample``
(no CUDA kernels), and its density grid *is* the volume that marching cubes needs.
Colour is view-independent (SparseFusion does not feed the view direction either),
so three sigmoid channels per voxel replace the decoder MLP: nothing is gained from
an MLP at this resolution, and an MLP would slow every sample. A total-variation
term (:meth:`VoxelField.total_variation`) plays the smoothness prior an MLP would.

Density is stored as a raw value whose softplus is the optical depth of *one voxel*
(``optical_depth = softplus(raw + bias)``), so a raw value of a few units is opaque
at any grid resolution and Adam's step size means the same thing for every grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import cameras

#: the cube the field lives in: the normalised object (bounding sphere OBJECT_RADIUS) plus a margin
DEFAULT_HALF_EXTENT = 1.05 * cameras.OBJECT_RADIUS
#: initial per-voxel opacity: a faint fog, so early renders are nearly the white background
INITIAL_VOXEL_ALPHA = 0.003


class VoxelField(nn.Module):
    """Density and RGB on a ``resolution``³ grid over the cube [-half_extent, half_extent]³, sampled trilinearly."""

    def __init__(self, resolution: int = 48, half_extent: float = DEFAULT_HALF_EXTENT):
        super().__init__()
        if resolution < 2:
            raise ValueError(f"grid resolution must be at least 2, got {resolution}")
        if not half_extent > 0:
            raise ValueError(f"half_extent must be positive, got {half_extent}")
        self.resolution = int(resolution)
        self.half_extent = float(half_extent)
        # grid_sample layout (1, C, D, H, W) indexes (z, y, x): the last axis is world x.
        self.density_raw = nn.Parameter(torch.zeros(1, 1, resolution, resolution, resolution))
        self.color_raw = nn.Parameter(torch.zeros(1, 3, resolution, resolution, resolution))
        self.density_bias = math.log(math.expm1(-math.log1p(-INITIAL_VOXEL_ALPHA)))

    @property
    def voxel_size(self) -> float:
        """Spacing of grid vertices in world units (vertices sit on the cube's faces)."""
        return 2.0 * self.half_extent / (self.resolution - 1)

    def grid_points(self) -> torch.Tensor:
        """World coordinates of the grid vertices, (R, R, R, 3) indexed [x, y, z]."""
        axis = torch.linspace(-self.half_extent, self.half_extent, self.resolution)
        return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)

    def voxel_optical_depth(self) -> torch.Tensor:
        """Optical depth of one voxel at every grid vertex, (R, R, R) indexed [x, y, z]."""
        return F.softplus(self.density_raw[0, 0] + self.density_bias).permute(2, 1, 0)

    def query(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Density (per world unit) and RGB in [0, 1] at world points (..., 3); zero density outside the cube."""
        shape = points.shape[:-1]
        normalised = (points / self.half_extent).reshape(1, -1, 1, 1, 3).to(self.density_raw.dtype)
        raw = torch.cat([self.density_raw, self.color_raw], dim=1)
        sampled = F.grid_sample(raw, normalised, mode="bilinear", padding_mode="border", align_corners=True)
        sampled = sampled.reshape(4, -1).T
        inside = (points.reshape(-1, 3).abs() <= self.half_extent).all(dim=-1)
        density = F.softplus(sampled[:, 0] + self.density_bias) / self.voxel_size * inside
        color = torch.sigmoid(sampled[:, 1:])
        return density.reshape(shape), color.reshape(*shape, 3)

    def total_variation(self) -> torch.Tensor:
        """Mean squared difference between neighbouring voxels (density and colour): a smoothness prior."""
        raw = torch.cat([self.density_raw, self.color_raw], dim=1)
        return sum(raw.diff(dim=d).pow(2).mean() for d in (2, 3, 4))  # type: ignore[return-value]
