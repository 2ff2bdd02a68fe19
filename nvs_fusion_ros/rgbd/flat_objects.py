"""Thin and flat grasp targets lying on the table, generated at known metric size: cutlery, pens, a plate, tools.

The household datasets hold few objects a few millimetres tall, and those are what a fixed height
threshold above the table cuts away. Each maker builds one object from trimesh primitives in
metres, z up, lying on z = 0, its sizes drawn from the ranges of real ones (a table knife's blade
2-3 mm thick, a pen 8-12 mm across, a dinner plate 20-27 cm wide and 2 cm deep); a split draws its
own sizes from its own seed, so the validation and test objects differ. Parts touch rather than
overlap where they can, so few true surface points fall inside the solid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh

from .. import cameras

Rng = np.random.Generator
STEEL = (0.72, 0.72, 0.75, 1.0)


@dataclass(frozen=True)
class FlatObject:
    """A generated object: model-frame mesh (radius ``cameras.OBJECT_RADIUS``, z up), its metric radius and colour."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    radius_m: float
    rgba: tuple[float, float, float, float]
    height_m: float


def _box(size: tuple[float, float, float], at: tuple[float, float, float], tilt_deg: float = 0.0) -> trimesh.Trimesh:
    """A box of ``size`` whose bottom-centre is at ``at``, its -x end raised by ``tilt_deg`` about its +x bottom edge."""
    box = trimesh.creation.box(extents=size)
    box.apply_translation([0.0, 0.0, size[2] / 2.0])
    if tilt_deg:
        box.apply_transform(trimesh.transformations.rotation_matrix(math.radians(tilt_deg), [0, 1, 0], [size[0] / 2, 0, 0]))
    box.apply_translation(at)
    return box


def _lying_cylinder(radius: float, length: float, x0: float = 0.0) -> trimesh.Trimesh:
    """A cylinder along x from ``x0`` lying on the table."""
    cylinder = trimesh.creation.cylinder(radius=radius, height=length, sections=24)
    cylinder.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [0, 1, 0]))
    cylinder.apply_translation([x0 + length / 2.0, 0.0, radius])
    return cylinder


def knife(rng: Rng) -> list[trimesh.Trimesh]:
    blade, handle = rng.uniform(0.10, 0.12), rng.uniform(0.085, 0.10)
    return [_box((blade, rng.uniform(0.018, 0.024), rng.uniform(0.002, 0.003)), (blade / 2, 0, 0)),
            _box((handle, 0.016, rng.uniform(0.008, 0.011)), (-handle / 2, 0, 0))]


def spoon(rng: Rng) -> list[trimesh.Trimesh]:
    a, b, c = rng.uniform(0.028, 0.035), rng.uniform(0.018, 0.023), rng.uniform(0.006, 0.008)
    bowl = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    bowl.apply_scale([a, b, c])
    bowl.apply_translation([a, 0.0, c])
    handle = rng.uniform(0.11, 0.13)
    return [bowl, _box((handle, 0.012, 0.003), (-handle / 2, 0, 0), tilt_deg=6.0)]


def fork(rng: Rng) -> list[trimesh.Trimesh]:
    tine, width, thick = rng.uniform(0.035, 0.045), rng.uniform(0.022, 0.027), 0.003
    head = [_box((0.015, width, thick), (0.0075, 0, 0))]
    head += [_box((tine, width / 7, thick), (0.015 + tine / 2, y, 0)) for y in np.linspace(-3, 3, 4) * width / 7]
    handle = rng.uniform(0.11, 0.13)
    return [*head, _box((handle, 0.012, 0.004), (-handle / 2, 0, 0), tilt_deg=7.0)]


def pen(rng: Rng) -> list[trimesh.Trimesh]:
    return [_lying_cylinder(rng.uniform(0.004, 0.006), rng.uniform(0.13, 0.15))]


def marker(rng: Rng) -> list[trimesh.Trimesh]:
    radius, body = rng.uniform(0.008, 0.0095), rng.uniform(0.10, 0.12)
    return [_lying_cylinder(radius, body), _lying_cylinder(radius + 0.001, 0.03, x0=body)]


def plate(rng: Rng) -> list[trimesh.Trimesh]:
    """A dish: a flat 4 mm floor, a rim rising to 2 cm at the edge (a surface of revolution)."""
    radius, floor, depth, wall = rng.uniform(0.10, 0.135), rng.uniform(0.6, 0.7), rng.uniform(0.018, 0.024), 0.004
    outline = [[0.0, 0.0], [floor * radius, 0.0], [radius, depth - wall], [radius, depth], [floor * radius - wall, wall],
               [0.0, wall]]
    return [trimesh.creation.revolve(np.array(outline), sections=48)]


def scissors(rng: Rng) -> list[trimesh.Trimesh]:
    thick, blade = rng.uniform(0.006, 0.009), rng.uniform(0.08, 0.10)
    parts = []
    for side in (-1.0, 1.0):
        ring = trimesh.creation.annulus(r_min=0.011, r_max=0.017, height=thick)
        ring.apply_translation([-0.027, side * 0.018, thick / 2.0])
        parts += [ring, _box((blade, 0.010, thick / 2), (blade / 2 - 0.01, side * 0.004, (1 + side) * thick / 4))]
    return parts


def hammer(rng: Rng) -> list[trimesh.Trimesh]:
    handle, head = rng.uniform(0.22, 0.28), rng.uniform(0.09, 0.11)
    tall = rng.uniform(0.024, 0.030)
    return [_box((handle, 0.024, 0.020), (-handle / 2, 0, 0)), _box((0.028, head, tall), (0.014, 0, 0))]


def wrench(rng: Rng) -> list[trimesh.Trimesh]:
    length, thick = rng.uniform(0.14, 0.18), rng.uniform(0.005, 0.007)
    ends = []
    for x in (-length / 2, length / 2):
        ring = trimesh.creation.annulus(r_min=0.008, r_max=0.016, height=thick)
        ring.apply_translation([x, 0.0, thick / 2.0])
        ends.append(ring)
    return [*ends, _box((length - 0.03, 0.014, thick), (0, 0, 0))]


MAKERS: dict[str, tuple[Callable[[Rng], list[trimesh.Trimesh]], tuple[float, float, float, float]]] = {
    "knife": (knife, STEEL), "spoon": (spoon, STEEL), "fork": (fork, STEEL), "pen": (pen, (0.15, 0.25, 0.65, 1.0)),
    "marker": (marker, (0.85, 0.2, 0.15, 1.0)), "plate": (plate, (0.93, 0.93, 0.9, 1.0)),
    "scissors": (scissors, (0.2, 0.45, 0.3, 1.0)), "hammer": (hammer, (0.35, 0.3, 0.3, 1.0)),
    "wrench": (wrench, STEEL),
}
SPLITS = {"val": ("knife", "spoon", "pen", "plate", "scissors", "hammer", "fork"),
          "test": ("fork", "spoon", "knife", "marker", "plate", "wrench", "scissors", "hammer")}


def make(name: str, rng: Rng) -> FlatObject:
    """One object of kind ``name`` with sizes drawn from ``rng``, normalised to the model frame."""
    maker, rgba = MAKERS[name]
    mesh = trimesh.util.concatenate(maker(rng))
    vertices = np.asarray(mesh.vertices, np.float64)
    vertices = vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2.0  # AABB centre at the origin
    radius = float(np.linalg.norm(vertices, axis=1).max())
    return FlatObject(name, vertices * (cameras.OBJECT_RADIUS / radius), np.asarray(mesh.faces, np.int64), radius, rgba,
                      float(np.ptp(mesh.vertices[:, 2])))


def split_objects(split: str, seed: int = 0) -> list[FlatObject]:
    """The split's objects (``SPLITS``); sizes from a generator seeded by the split's name and ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"flat objects exist for the splits {sorted(SPLITS)}, not {split!r}")
    rng = np.random.default_rng([seed, sum(map(ord, split))])
    return [make(name, rng) for name in SPLITS[split]]
