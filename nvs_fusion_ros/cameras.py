"""The one definition of the orbit cameras used everywhere.

The dataset renderer, the volume renderer of the 3D reconstruction and the
synthesis API all describe a view by its azimuth on a circle around the object.
Keeping the conventions in one module means they can never disagree.

Conventions (world is z-up, right-handed, like pybullet):

* the object is centred at the origin and scaled so that its bounding sphere has
  radius ``OBJECT_RADIUS``;
* a camera sits at ``distance`` from the origin, at ``elevation`` above the xy
  plane and at ``azimuth`` measured counter-clockwise from +x, and looks at the
  origin with +z up;
* azimuth 0 is the object's canonical front view; NMR view ``i`` of 24 has
  azimuth ``2*pi*i/24`` (the ViewFusion target angle);
* camera frame follows OpenGL: x right, y up, the camera looks along -z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

OBJECT_RADIUS = 0.5
DEFAULT_DISTANCE = 2.0
DEFAULT_ELEVATION_DEG = 30.0
DEFAULT_FOV_DEG = 40.0
NMR_VIEW_COUNT = 24


def view_azimuth(index: int, count: int = NMR_VIEW_COUNT) -> float:
    """Azimuth in radians of view ``index`` of ``count`` evenly spaced views."""
    return 2.0 * math.pi * (index % count) / count


@dataclass(frozen=True)
class OrbitCamera:
    """A pinhole camera on the orbit circle, looking at the origin."""

    azimuth: float
    elevation: float = math.radians(DEFAULT_ELEVATION_DEG)
    distance: float = DEFAULT_DISTANCE
    fov_deg: float = DEFAULT_FOV_DEG
    width: int = 64
    height: int = 64

    def eye(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        ce = math.cos(self.elevation)
        return self.distance * np.array(
            [ce * math.cos(self.azimuth), ce * math.sin(self.azimuth), math.sin(self.elevation)]
        )

    def camera_to_world(self) -> np.ndarray:
        """4x4 pose: columns are the camera's x, y, z axes and centre in world."""
        eye = self.eye()
        back = eye / np.linalg.norm(eye)  # camera +z points away from the target
        right = np.cross(np.array([0.0, 0.0, 1.0]), back)
        right /= np.linalg.norm(right)
        up = np.cross(back, right)
        pose = np.eye(4)
        pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, eye
        return pose

    def view_matrix(self) -> np.ndarray:
        """4x4 world-to-camera matrix (OpenGL convention)."""
        return np.linalg.inv(self.camera_to_world())

    def focal_px(self) -> float:
        """Focal length in pixels for the vertical field of view."""
        return 0.5 * self.height / math.tan(math.radians(self.fov_deg) / 2.0)

    def intrinsics(self) -> np.ndarray:
        """3x3 pinhole matrix K (pixel centres at half-integers, y down)."""
        f = self.focal_px()
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    def projection_matrix(self, near: float = 0.1, far: float = 10.0) -> np.ndarray:
        """4x4 OpenGL perspective projection matching ``intrinsics``."""
        aspect = self.width / self.height
        t = 1.0 / math.tan(math.radians(self.fov_deg) / 2.0)
        proj = np.zeros((4, 4))
        proj[0, 0], proj[1, 1] = t / aspect, t
        proj[2, 2] = (far + near) / (near - far)
        proj[2, 3] = 2.0 * far * near / (near - far)
        proj[3, 2] = -1.0
        return proj

    def rays(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-pixel ray origins and unit directions in world, each (H, W, 3), row 0 at the top."""
        f = self.focal_px()
        cols = (np.arange(self.width) + 0.5 - self.width / 2.0) / f
        rows = (np.arange(self.height) + 0.5 - self.height / 2.0) / f
        x, y = np.meshgrid(cols, -rows)
        dirs_cam = np.stack([x, y, -np.ones_like(x)], axis=-1)
        pose = self.camera_to_world()
        dirs = dirs_cam @ pose[:3, :3].T
        dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
        origins = np.broadcast_to(pose[:3, 3], dirs.shape).copy()
        return origins, dirs

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project world points (N, 3) to pixel coordinates (N, 2) as (column, row)."""
        homo = np.concatenate([points, np.ones((len(points), 1))], axis=1)
        cam = (self.view_matrix() @ homo.T).T[:, :3]
        f = self.focal_px()
        col = f * cam[:, 0] / -cam[:, 2] + self.width / 2.0
        row = -f * cam[:, 1] / -cam[:, 2] + self.height / 2.0
        return np.stack([col, row], axis=1)
