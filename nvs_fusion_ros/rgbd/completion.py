"""Completing the hidden side in metres: one carved hull per occlusion hypothesis, confidence from their agreement.

The model gives K hypotheses of the hidden side: for each of A orbit azimuths (relative to the
anchor view) K sampled images. Hypothesis k is the set of its A images. Each is turned into a
3D shape by **space carving** on a voxel grid over the model frame's cube:

* the anchor depth carves the free space it sees: a voxel that projects onto a valid depth pixel
  and lies in front of that reading by more than ``margin`` is empty (that also removes the
  table in front of the object and everything around it);
* voxels below the support plane are empty;
* each synthesized image of hypothesis k carves what projects onto its white background or off
  the image (its silhouette, seen by the model's orbit camera at that azimuth).

What is left is hypothesis k's visual hull, the conservative shape every one of its views and
the depth agree with (a planner would rather avoid a concavity than hit a surface). Its surface
voxels that the anchor depth does *not* already show (not within ``margin`` of a depth reading)
are the completed points.

**Geometric shapes** (:mod:`geometric`: mirror, revolution, hull, rays; already carved by the
depth) are the other kind of evidence: their points are completed points too (at their own
positions, not snapped to the grid), their voxels are their surface, and their solid is what their
surface and the seen surface enclose above the table.

**Confidence** of a completed point weighs two kinds of witness: the share of the model's K
hypotheses whose surface passes within ``agreement_voxels`` voxels of it (Euclidean distance
transform of each surface), and the share of the geometric shapes whose surface does. It is the
larger of the share of its **own kind** (the kind that proposed it: a voxel of a model hypothesis's
surface, or a shape's point) and the **mean of the two kinds' shares**. So a point all K hypotheses
put a surface at scores 1, and so does a shape's point all the shapes agree on; a point one kind
proposes and the other confirms scores their mean. A kind does not confirm the other kind's points
on its own: the model agreeing with a shape's point says no more than the model's own voxel there,
and where the model's hulls are wrong together, the shapes' dense points would repeat the error.
A model voxel's own share counts only where some shape's surface passes within ``confirm_voxels``
of it: the hulls are wrong together in one way, too fat (a silhouette drawn wider than the object
carves too little), and a hull surface far from every shape is where that happens; there the
point scores the mean of the two kinds' shares (measured: docs/rgbd_completion.md). The model
completes what no symmetry explains (a handle, a back unlike the front, within reach of a shape's
surface), the shapes what the model is unsure of (a box's hidden corner). With one kind alone the
confidence is that kind's share. The visible depth points carry confidence 1. With a single
hypothesis every completed point scores 1, so use at least two for a meaningful score.

The mesh is marching cubes at 0.5 on the larger of the two kinds' mean occupancy of their solids
(where at least half of either kind puts matter), so it covers the visible and the hidden side in
one closed surface.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import measure

from .. import cameras
from .depth import Intrinsics, depth_at
from .geometric import Shape
from .placement import Placement
from .segmentation import Plane


class CompletionError(ValueError):
    """Nothing was left to complete (every hypothesis carved the object away)."""


@dataclass(frozen=True)
class CompletionConfig:
    """Grid and tolerances of the carving; lengths in the model frame's voxels unless in metres."""

    resolution: int = 64
    half_extent: float = 1.1 * cameras.OBJECT_RADIUS
    margin_m: float = 0.004  # depth noise allowance on top of half a voxel diagonal
    background_threshold: float = 0.12  # a pixel is background when all channels are within this of white (0..1)
    agreement_voxels: float = 2.0
    confirm_voxels: float = 4.0  # a model voxel is sure only within this of a geometric shape's surface (hybrid)


@dataclass
class Hypotheses:
    """Images (K, A, S, S, 3) uint8 of K hypotheses at A azimuths relative to the anchor (radians), at ``elevation``."""

    images: np.ndarray
    relative_azimuths: list[float]
    elevation: float

    def __post_init__(self) -> None:
        if self.images.ndim != 5 or self.images.shape[1] != len(self.relative_azimuths) or self.images.shape[-1] != 3:
            raise ValueError(f"images must be (K, A, S, S, 3) with A = {len(self.relative_azimuths)}, got {self.images.shape}")


@dataclass
class Completion:
    """Optical-frame metres: the completed hidden points (N, 3) with colours and confidence, and the mesh."""

    points: np.ndarray
    colors: np.ndarray
    confidence: np.ndarray
    mesh_vertices: np.ndarray
    mesh_faces: np.ndarray
    mesh_colors: np.ndarray


def grid_centres(config: CompletionConfig) -> np.ndarray:
    """Model-frame voxel centres (R³, 3), flattened in [x, y, z] index order."""
    axis = np.linspace(-config.half_extent, config.half_extent, config.resolution)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


def _silhouette_keep(points: np.ndarray, image: np.ndarray, camera: cameras.OrbitCamera, threshold: float) -> np.ndarray:
    """True where a model-frame point projects onto the image's foreground (not near-white, on the image)."""
    size = image.shape[0]
    foreground = (255 - image.astype(np.int16)).max(axis=-1) > threshold * 255
    pix = np.floor(camera.project(points)).astype(int)
    inside = (pix[:, 0] >= 0) & (pix[:, 0] < size) & (pix[:, 1] >= 0) & (pix[:, 1] < size)
    keep = np.zeros(len(points), bool)
    keep[inside] = foreground[pix[inside, 1], pix[inside, 0]]
    return keep


def _surface(occupied: np.ndarray) -> np.ndarray:
    return occupied & ~ndimage.binary_erosion(occupied, border_value=0)


def _colours(points: np.ndarray, hypotheses: Hypotheses, placement: Placement) -> np.ndarray:
    """Each model-frame point's colour in the orbit view facing it most directly, averaged over hypotheses."""
    size = hypotheses.images.shape[2]
    azimuth = np.arctan2(points[:, 1], points[:, 0])
    view_az = np.array([placement.anchor_azimuth + a for a in hypotheses.relative_azimuths])
    nearest = np.abs(np.angle(np.exp(1j * (azimuth[:, None] - view_az[None])))).argmin(axis=1)
    out = np.zeros((len(points), 3), np.float32)
    for j, rel in enumerate(hypotheses.relative_azimuths):
        rows = nearest == j
        if not rows.any():
            continue
        pix = np.clip(np.floor(placement.orbit_camera(rel, size, hypotheses.elevation).project(points[rows])), 0, size - 1)
        pix = pix.astype(int)
        out[rows] = hypotheses.images[:, j, pix[:, 1], pix[:, 0]].astype(np.float32).mean(axis=0)
    return out.round().astype(np.uint8)


def _voxels(model_points: np.ndarray, config: CompletionConfig) -> np.ndarray:
    """Flat grid index of the voxel each model-frame point falls in (clipped to the grid)."""
    r = config.resolution
    spacing = 2.0 * config.half_extent / (r - 1)
    ijk = np.clip(np.rint((model_points + config.half_extent) / spacing).astype(int), 0, r - 1)
    return np.ravel_multi_index(ijk.T, (r, r, r))


def complete(hypotheses: Hypotheses | None, placement: Placement, plane: Plane, depth: np.ndarray, intrinsics: Intrinsics,
             config: CompletionConfig | None = None, shapes: Sequence[Shape] = ()) -> Completion:
    """Carve one hull per model hypothesis, take the geometric ``shapes`` as the other kind of witness, and score the
    hidden surface by their agreement (module docstring)."""
    config = config or CompletionConfig()
    if (hypotheses is None or not len(hypotheses.images)) and not shapes:
        raise ValueError("nothing to complete from: neither model hypotheses nor geometric shapes")
    r = config.resolution
    centres = grid_centres(config)
    centres_cam = placement.to_camera(centres)
    voxel_m = placement.scale * 2.0 * config.half_extent / (r - 1)
    margin = config.margin_m + 0.87 * voxel_m
    reading = depth_at(centres_cam, depth, intrinsics)
    seen = np.isfinite(reading)
    free = seen & (centres_cam[:, 2] < reading - margin)
    on_seen_surface = seen & (np.abs(centres_cam[:, 2] - reading) <= margin)
    shared = ~free & (plane.height(centres_cam) > -margin)
    model_solids: list[np.ndarray] = []
    if hypotheses is not None:
        size = hypotheses.images.shape[2]
        orbit = [placement.orbit_camera(a, size, hypotheses.elevation) for a in hypotheses.relative_azimuths]
        for views in hypotheses.images:
            keep = shared.copy()
            for image, camera in zip(views, orbit, strict=True):
                keep[keep] = _silhouette_keep(centres[keep], image, camera, config.background_threshold)
            model_solids.append(keep.reshape(r, r, r))
    model_surfaces = [_surface(solid) for solid in model_solids]
    model_union = np.logical_or.reduce(model_surfaces).reshape(-1) & ~on_seen_surface if model_surfaces \
        else np.zeros(r**3, bool)
    above = (plane.height(centres_cam) > 0.5 * voxel_m).reshape(r, r, r)
    seen_grid = on_seen_surface.reshape(r, r, r)
    shape_solids, shape_surfaces, shape_index = [], [], []
    for shape in shapes:
        index = _voxels(placement.to_model(shape.points), config)
        marked = np.zeros(r**3, bool)
        marked[index] = True
        marked = marked.reshape(r, r, r)
        shape_solids.append(ndimage.binary_fill_holes(ndimage.binary_closing(marked | seen_grid)) & above)
        shape_surfaces.append(marked)
        shape_index.append(index)
    index = np.concatenate([np.flatnonzero(model_union), *shape_index]).astype(int)
    if not len(index):
        raise CompletionError("every hypothesis carved the object away; nothing to complete")
    shares = [_agreement(surfaces, index, config) for surfaces in (model_surfaces, shape_surfaces) if surfaces]
    from_model = np.arange(len(index)) < model_union.sum()
    own = np.where(from_model, shares[0], shares[-1])
    if model_surfaces and shape_surfaces:
        unconfirmed = from_model & (_distance(np.logical_or.reduce(shape_surfaces), index) > config.confirm_voxels)
        own[unconfirmed] = 0.0
    confidence = np.maximum(own, np.mean(shares, axis=0))
    occupancy = np.maximum(*(np.mean(solids, axis=0) if solids else np.zeros((r, r, r))
                             for solids in (model_solids, shape_solids))).astype(np.float32)
    vertices, faces = _mesh(occupancy, config)
    model_points = centres[model_union]
    points = np.concatenate([placement.to_camera(model_points), *(shape.points for shape in shapes)])
    mesh_vertices_cam = placement.to_camera(vertices)
    if hypotheses is not None:
        colors = np.concatenate([_colours(model_points, hypotheses, placement), *(shape.colors for shape in shapes)])
        mesh_colors = _colours(vertices, hypotheses, placement) if len(vertices) else np.zeros((0, 3), np.uint8)
    else:
        colors = np.concatenate([shape.colors for shape in shapes])
        mesh_colors = colors[cKDTree(points).query(mesh_vertices_cam)[1]] if len(vertices) else np.zeros((0, 3), np.uint8)
    return Completion(
        points=points.astype(np.float32),
        colors=colors.astype(np.uint8),
        confidence=confidence.astype(np.float32),
        mesh_vertices=mesh_vertices_cam.astype(np.float32),
        mesh_faces=faces,
        mesh_colors=mesh_colors,
    )


def _distance(surface: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Voxels from each voxel ``index`` to the nearest voxel of ``surface`` (Euclidean distance transform)."""
    return ndimage.distance_transform_edt(~surface).reshape(-1)[index]


def _agreement(surfaces: list[np.ndarray], index: np.ndarray, config: CompletionConfig) -> np.ndarray:
    """For each voxel ``index``: the share of ``surfaces`` passing within ``agreement_voxels`` of it."""
    agree = np.zeros(len(index), np.float32)
    for surface in surfaces:
        agree += _distance(surface, index) <= config.agreement_voxels
    return agree / len(surfaces)


def _mesh(occupancy: np.ndarray, config: CompletionConfig) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes at 0.5 on the (slightly smoothed) mean occupancy, in model-frame coordinates."""
    padded = np.pad(ndimage.gaussian_filter(occupancy, 0.6), 1)
    if padded.max() <= 0.5:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    spacing = 2.0 * config.half_extent / (config.resolution - 1)
    vertices, faces, _, _ = measure.marching_cubes(padded, 0.5, spacing=(spacing,) * 3)
    return (vertices - spacing - config.half_extent).astype(np.float32), faces.astype(np.int32)
