"""Geometric completions of the hidden side: no model, only the visible points, the table and the free space depth sees.

The shape-completion-for-grasping literature's baselines, each a :class:`Shape` of completed hidden
points (optical-frame metres) and, where one is natural, a closed mesh:

* ``mirror``: Bohg et al. 2011 ("Mind the gap"): many household objects are mirror-symmetric about
  a plane perpendicular to the table. Candidate planes (``mirror_angles`` orientations x
  ``mirror_offsets`` positions within the object's radius of its placed centre) mirror the visible
  points; each candidate is scored by the share of mirrored points that fall into space the depth
  image sees as free (in front of the reading at their pixel by more than the tolerance), which
  ``free_weight`` times outweighs the share that lands in occluded space (behind the reading: the
  hidden side it should fill). The best plane's mirrored points are the completion.
* ``revolution``: a surface of revolution about a vertical axis: the axis position and a radius per
  ``bin_m`` height slice fitted to the visible points by least squares (scipy), revolved (trimesh).
* ``hull``: the convex hull of the visible points and their feet on the table (trimesh / qhull).
* ``rays``: each visible point pushed along its view ray until it leaves the footprint (the convex
  hull of the visible points' feet, extruded upward) or meets the table: the back of the shadow
  volume the object could fill.

Every shape is then carved by what depth knows: its points in free space go, and so do those on
the seen surface (within the tolerance of the reading: the visible points already are there).
The tolerance is ``margin_m`` plus ``noise_sigmas`` of the table's measured depth noise at the
point's depth (``Segmentation.noise``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import trimesh
from scipy.optimize import least_squares
from scipy.spatial import ConvexHull, cKDTree

from .depth import Intrinsics, depth_at
from .placement import Placement
from .segmentation import Segmentation

METHODS = ("mirror", "revolution", "hull", "rays")
#: the shapes the ``geometric`` and ``hybrid`` modes take as witnesses: the two that are scored against what the camera
#: sees (the mirror plane by free space, the profile by the visible points); the hull and the view-ray extrusion only
#: bound the object and, as witnesses, cost precision on the validation scenes (docs/rgbd_completion.md)
WITNESSES = ("mirror", "revolution")


@dataclass(frozen=True)
class GeometricConfig:
    """Which shapes, how dense, and the free-space tolerance; lengths in metres."""

    methods: tuple[str, ...] = WITNESSES
    spacing_m: float = 0.003  # surface sampling of the revolved and hull meshes
    margin_m: float = 0.004  # free-space tolerance on top of the measured noise
    noise_sigmas: float = 3.0
    mirror_angles: int = 36  # plane orientations over 180 degrees
    mirror_offsets: int = 31  # plane positions over [-radius, radius] along its normal
    mirror_points: int = 2000  # visible points each candidate plane is scored on (seeded subsample)
    free_weight: float = 4.0
    bin_m: float = 0.005  # height slices of the surface of revolution
    max_points: int = 20000  # samples of a mesh's surface at most

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"geometric methods are {METHODS}, got {self.methods!r}")


@dataclass
class Shape:
    """One geometric hypothesis of the hidden side: points (N, 3) in the optical frame, their colours (N, 3) uint8 (the
    nearest visible point's), an optional closed mesh (vertices (V, 3), faces (F, 3), optical frame), and ``fit``: the
    method's own score (lower is better)."""

    name: str
    points: np.ndarray
    colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.uint8))
    mesh_vertices: np.ndarray | None = None
    mesh_faces: np.ndarray | None = None
    fit: float = 0.0


class FreeSpace:
    """What the depth image says about points: seen through (free), on the seen surface, or behind it (unknown)."""

    def __init__(self, depth: np.ndarray, intrinsics: Intrinsics, segmentation: Segmentation, config: GeometricConfig):
        self.depth, self.intrinsics, self.segmentation, self.config = depth, intrinsics, segmentation, config

    def reading_and_margin(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        reading = depth_at(points, self.depth, self.intrinsics)
        margin = self.config.margin_m + self.config.noise_sigmas * np.asarray(self.segmentation.noise(points[:, 2]))
        return reading, margin

    def free_and_occluded(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Seen through (in front of the reading by more than the tolerance); hidden (behind it by more)."""
        reading, margin = self.reading_and_margin(points)
        with np.errstate(invalid="ignore"):
            return points[:, 2] < reading - margin, points[:, 2] > reading + margin

    def carve(self, points: np.ndarray) -> np.ndarray:
        """The points neither in free space, nor on the seen surface, nor below the table."""
        reading, margin = self.reading_and_margin(points)
        with np.errstate(invalid="ignore"):
            keep = ~(np.abs(points[:, 2] - reading) <= margin) & ~(points[:, 2] < reading - margin)
        return points[keep & (self.segmentation.plane.height(points) > -margin)]


class LocalFrame:
    """Placement's metric frame: x towards the camera, y left, z up, origin at the placed centre; the table at ``floor``."""

    def __init__(self, placement: Placement, segmentation: Segmentation):
        self.rotation, self.origin = placement.rotation, placement.translation
        self.floor = -float(segmentation.plane.height(self.origin[None])[0])
        self.radius = placement.radius_m

    def to_local(self, points: np.ndarray) -> np.ndarray:
        return (points - self.origin) @ self.rotation

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.origin


def mirror(frame: LocalFrame, visible: np.ndarray, space: FreeSpace, config: GeometricConfig) -> Shape:
    """Bohg et al.'s mirror completion about the best vertical plane (module docstring)."""
    local = frame.to_local(visible)
    rng = np.random.default_rng(0)
    probe = local[rng.choice(len(local), min(len(local), config.mirror_points), replace=False)]
    angles = np.linspace(0.0, np.pi, config.mirror_angles, endpoint=False)
    offsets = np.linspace(-frame.radius, frame.radius, config.mirror_offsets)
    best = (np.inf, 0.0, 0.0)
    for angle in angles:
        normal = np.array([np.cos(angle), np.sin(angle), 0.0])
        along = probe @ normal
        for offset in offsets:
            mirrored = probe - 2.0 * (along - offset)[:, None] * normal
            free, occluded = space.free_and_occluded(frame.to_camera(mirrored))
            score = config.free_weight * free.mean() - occluded.mean()
            if score < best[0]:
                best = (float(score), float(angle), float(offset))
    score, angle, offset = best
    normal = np.array([np.cos(angle), np.sin(angle), 0.0])
    mirrored = local - 2.0 * (local @ normal - offset)[:, None] * normal
    return Shape("mirror", space.carve(frame.to_camera(mirrored)), fit=score)


def revolution(frame: LocalFrame, visible: np.ndarray, space: FreeSpace, config: GeometricConfig) -> Shape:
    """A surface of revolution about a vertical axis fitted to the visible points (module docstring)."""
    local = frame.to_local(visible)
    height = local[:, 2] - frame.floor
    bins = np.minimum((height / config.bin_m).astype(int), int(height.max() / config.bin_m))
    used, index = np.unique(np.clip(bins, 0, None), return_inverse=True)

    def residual(x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(local[:, :2] - x[:2], axis=1) - x[2:][index]

    start = np.concatenate([[0.0, 0.0], np.full(len(used), frame.radius / 2.0)])
    fit = least_squares(residual, start, loss="soft_l1", f_scale=0.002)
    centre = fit.x[:2] if np.linalg.norm(fit.x[:2]) < frame.radius else np.zeros(2)  # a line fits no circle
    radii = np.clip(np.abs(fit.x[2:]), 0.0, frame.radius)
    tops = (used + 1) * config.bin_m
    profile = np.concatenate([[[0.0, 0.0]], np.stack([radii, np.clip(tops - config.bin_m / 2, 0, None)], axis=1),
                              [[radii[-1], tops[-1]], [0.0, tops[-1]]]])
    profile[1, 1] = 0.0  # the lowest slice reaches the table
    mesh = trimesh.creation.revolve(profile, sections=64)
    mesh.apply_translation([centre[0], centre[1], frame.floor])
    return _meshed("revolution", mesh, frame, space, config, fit=float(np.sqrt(np.mean(fit.fun**2))))


def hull(frame: LocalFrame, visible: np.ndarray, space: FreeSpace, config: GeometricConfig) -> Shape:
    """The convex hull of the visible points and their feet on the table."""
    local = frame.to_local(visible)
    feet = local.copy()
    feet[:, 2] = frame.floor
    mesh = trimesh.convex.convex_hull(np.concatenate([local, feet]))
    return _meshed("hull", mesh, frame, space, config)


def rays(frame: LocalFrame, visible: np.ndarray, space: FreeSpace, config: GeometricConfig) -> Shape:
    """Each visible point along its view ray to where it leaves the footprint prism or meets the table."""
    local = frame.to_local(visible)
    direction = (visible / np.linalg.norm(visible, axis=1, keepdims=True)) @ frame.rotation  # away from the camera
    edges = ConvexHull(local[:, :2]).equations  # a x + b y + c <= 0 inside
    with np.errstate(divide="ignore", invalid="ignore"):
        outward = direction[:, :2] @ edges[:, :2].T
        t_edge = np.where(outward > 1e-9, -(local[:, :2] @ edges[:, :2].T + edges[:, 2]) / outward, np.inf)
        t_table = np.where(direction[:, 2] < -1e-9, (frame.floor - local[:, 2]) / direction[:, 2], np.inf)
    t = np.minimum(np.clip(t_edge.min(axis=1), 0.0, None), t_table)
    ends = local + np.where(np.isfinite(t), t, 0.0)[:, None] * direction
    return Shape("rays", space.carve(frame.to_camera(ends[np.isfinite(t)])))


def _meshed(name: str, mesh: trimesh.Trimesh, frame: LocalFrame, space: FreeSpace, config: GeometricConfig,
            fit: float = 0.0) -> Shape:
    """A shape from a closed local-frame mesh: its surface sampled every ``spacing_m``, carved; the mesh in the camera frame."""
    count = int(np.clip(mesh.area / config.spacing_m**2, 100, config.max_points))
    samples, _ = trimesh.sample.sample_surface_even(mesh, count, seed=0)
    vertices = frame.to_camera(np.asarray(mesh.vertices))
    return Shape(name, space.carve(frame.to_camera(np.asarray(samples))), vertices.astype(np.float32),
                 np.asarray(mesh.faces, np.int32), fit)


BUILDERS = {"mirror": mirror, "revolution": revolution, "hull": hull, "rays": rays}


def geometric_shapes(segmentation: Segmentation, placement: Placement, depth: np.ndarray, intrinsics: Intrinsics,
                     config: GeometricConfig | None = None, methods: Sequence[str] | None = None) -> list[Shape]:
    """The configured geometric completions of the segmented object (``config.methods``, or ``methods``)."""
    config = config or GeometricConfig()
    frame = LocalFrame(placement, segmentation)
    space = FreeSpace(depth, intrinsics, segmentation, config)
    visible = segmentation.points.astype(np.float64)
    nearest = cKDTree(visible)
    shapes = [BUILDERS[name](frame, visible, space, config) for name in (methods or config.methods)]
    return [replace(shape, points=shape.points.astype(np.float32), colors=segmentation.colors[nearest.query(shape.points)[1]])
            for shape in shapes]
