"""How an object is posed for rendering: its orientation, centre and scale.

Sources hand over their objects z-up (each source knows its own up axis). Then

* ``upright`` (default): the object stands as on a table, its up axis vertical, turned by a
  random yaw about it; the support plane is its lowest point (recorded as ``support_z``);
* ``principal-axes``: a canonical frame from the shape alone (ignores gravity, so an object may
  lie on its side: a frame for aligned, NMR-like datasets);
* ``file``: the source's own orientation, untouched.

The rotated object is centred on its bounding-box centre and scaled to the bounding-sphere
radius of :mod:`nvs_fusion_ros.cameras`, as the NMR renders are.
"""

from __future__ import annotations

import math

import numpy as np

from nvs_fusion_ros import cameras

from .meshes import MeshError

ORIENTATIONS = ("upright", "principal-axes", "file")


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation about the vertical (z) axis by ``yaw`` radians."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def principal_axes_rotation(points: np.ndarray) -> np.ndarray:
    """A canonical orientation for objects that have none: rows are the new x, y, z axes.

    NMR's target angle means something because each category has a canonical front; random
    blobs do not, so the azimuth of a view of an unseen blob would be unpredictable. Aligning
    the longest principal axis with x, the shortest with z (up) and choosing each axis' sign
    so the points' third moment along it is positive gives every object the same kind of
    canonical frame (up to symmetric shapes), which a pose-free model can learn.
    """
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    x_axis, y_axis = vectors[:, 2], vectors[:, 1]
    x_axis = x_axis if np.sum((centred @ x_axis) ** 3) >= 0 else -x_axis
    y_axis = y_axis if np.sum((centred @ y_axis) ** 3) >= 0 else -y_axis
    return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)])


def orientation(points: np.ndarray, mode: str, yaw: float) -> np.ndarray:
    """The rotation of one object under an orientation mode (``yaw`` is used by ``upright``)."""
    if mode == "upright":
        return yaw_rotation(yaw)
    if mode == "principal-axes":
        return principal_axes_rotation(points)
    if mode == "file":
        return np.eye(3)
    raise ValueError(f"unknown orientation {mode!r}; choose from {', '.join(ORIENTATIONS)}")


def normalisation(points: np.ndarray, rotation: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Centre and scale that put the AABB centre (of the rotated object) at the origin and the
    bounding radius at OBJECT_RADIUS."""
    rotation = np.eye(3) if rotation is None else rotation
    rotated = points @ rotation.T
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    centre = (low + high) / 2.0
    radius = float(np.linalg.norm(rotated - centre, axis=1).max())
    if not np.isfinite(radius) or radius < 1e-9:
        raise MeshError("zero-size bounding box", "zero size")
    return centre, cameras.OBJECT_RADIUS / radius
