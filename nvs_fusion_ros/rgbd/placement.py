"""Metric placement: the similarity transform from the model's normalised object frame to the camera.

The model's frame (``nvs_fusion_ros.cameras``, the dataset renderer's): z up, the object's AABB
centre at the origin, its bounding radius (largest vertex distance from that centre) equal to
``OBJECT_RADIUS``; an orbit camera at ``azimuth`` (counter-clockwise from +x) and ``elevation``
at ``DEFAULT_DISTANCE`` looks at the origin with a ``DEFAULT_FOV_DEG`` field of view.

From one anchor RGB-D view we fix ``p_camera = scale · R · p_model + t`` (metres, optical frame):

* **up**: the support plane's normal is the model's +z;
* **azimuth**: the horizontal direction from the object to the camera is the model's direction
  of the anchor camera, azimuth ``anchor_azimuth`` (0 for a camera-relative model, whose target
  angles are relative to the anchor view; an estimate for a canonical one);
* **centre**: across the line of sight, the middle of the visible points' extent; vertically, half
  the object's height above the plane (the AABB centre); along the line of sight, where the two
  lateral extremes mirror each other. The extreme points of a centrally symmetric object (a box's
  opposite vertical edges, a cylinder's two tangent lines) lie symmetric about its centre, and both
  are on the silhouette, so seen. Objects that are not symmetric can put that midpoint anywhere, so
  it is kept between the two bounds the visible points allow: no nearer than half the seen depth
  behind the near face (the object is at least as deep as what is seen of it) and no further than
  half the larger of the width and the seen depth (the footprint no deeper than wide, unless more
  depth than width is seen). On the tabletop benchmark's 46 objects this halves the worst errors of
  taking the footprint as deep as wide (a thin cereal box seen face-on: 35 -> 3 mm; mean 10.4 -> 7.7
  mm). A real sensor's flying pixels sit at the silhouette, where the extremes are read, and pull
  the midpoint back (with the benchmark's D435 noise, a plant 92 mm and a toilet brush 29 mm):
  ``depth.remove_flying_pixels`` drops them before segmentation, which brings the validation
  objects' mean error from 12.9 back to 7.8 mm (6.3 noise-free; ``benchmarks/flying_pixels.py``);
* **scale**: the bounding radius is the largest distance of a visible point from that centre
  (a robust 99.5th percentile; the hidden corners of a box or the far rim of a cylinder mirror
  seen ones), so one model unit is ``radius / OBJECT_RADIUS`` metres.

The anchor view is cropped so the object fills the frame as it does in the training images
(:meth:`Placement.view_box`): a square whose half side at the object's depth spans what the
training camera spans at its distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .. import cameras
from .depth import Intrinsics
from .segmentation import Segmentation

BACKGROUND = 255  # white, as the model's training images


@dataclass(frozen=True)
class Placement:
    """``p_camera = scale * rotation @ p_model + translation``; see the module docstring."""

    rotation: np.ndarray
    translation: np.ndarray
    scale: float  # metres per model unit
    anchor_azimuth: float  # radians, the anchor camera's azimuth in the model frame
    anchor_elevation: float  # radians, the real camera's elevation above the plane as seen from the centre

    @property
    def radius_m(self) -> float:
        """The object's bounding radius in metres."""
        return self.scale * cameras.OBJECT_RADIUS

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Model-frame points (N, 3) -> optical-frame metres."""
        return self.scale * points @ self.rotation.T + self.translation

    def to_model(self, points: np.ndarray) -> np.ndarray:
        """Optical-frame metres (N, 3) -> model-frame points."""
        return (points - self.translation) @ self.rotation / self.scale

    def orbit_camera(self, relative_azimuth: float, size: int, elevation: float | None = None) -> cameras.OrbitCamera:
        """The model's camera at ``relative_azimuth`` from the anchor view (radians), ``size`` pixels."""
        elevation = math.radians(cameras.DEFAULT_ELEVATION_DEG) if elevation is None else elevation
        return cameras.OrbitCamera(self.anchor_azimuth + relative_azimuth, elevation, width=size, height=size)

    def orbit_camera_pose(self, camera: cameras.OrbitCamera) -> np.ndarray:
        """4x4 pose of a model orbit camera in the optical frame (columns: x right, y down, z forward, centre)."""
        gl = camera.camera_to_world()
        pose = np.eye(4)
        pose[:3, :3] = self.rotation @ gl[:3, :3] @ np.diag([1.0, -1.0, -1.0])  # OpenGL camera -> optical
        pose[:3, 3] = self.to_camera(gl[:3, 3][None])[0]
        return pose

    def view_box(self, intrinsics: Intrinsics) -> tuple[int, int, int]:
        """Square crop (x0, y0, side) in pixels that frames the object like the training camera frames it."""
        centre = self.translation
        col, row = intrinsics.project(centre[None])[0]
        half_model = cameras.DEFAULT_DISTANCE * math.tan(math.radians(cameras.DEFAULT_FOV_DEG) / 2.0)
        half = intrinsics.fx * half_model * self.scale / centre[2]
        side = max(round(float(2.0 * half)), 2)
        return round(float(col) - side / 2.0), round(float(row) - side / 2.0), side


def fit_placement(segmentation: Segmentation, anchor_azimuth: float = 0.0) -> Placement:
    """Place the model frame on the visible object points and the support plane (module docstring)."""
    points = segmentation.points.astype(np.float64)
    up = segmentation.plane.normal
    foot = -segmentation.plane.offset * up  # the camera's foot on the plane
    to_camera = -(points.mean(axis=0) - foot)
    toward = to_camera - up * (to_camera @ up)
    if np.linalg.norm(toward) < 1e-9:
        raise ValueError("the camera looks straight down on the object; its azimuth is undefined")
    toward /= np.linalg.norm(toward)
    left = np.cross(up, toward)
    rel = points - foot
    t, lat, h = rel @ toward, rel @ left, segmentation.plane.height(points)
    low_l, high_l = np.percentile(lat, [0.5, 99.5])
    near, far_seen = np.percentile(t, [99.5, 0.5])
    top = float(np.percentile(h, 99.5))
    width, seen_depth = high_l - low_l, near - far_seen
    mirrored = 0.5 * (float(np.median(t[lat <= low_l])) + float(np.median(t[lat >= high_l])))
    along = float(np.clip(mirrored, near - max(seen_depth, width) / 2.0, near - seen_depth / 2.0))
    centre = foot + along * toward + (low_l + high_l) / 2.0 * left + top / 2.0 * up
    radius = max(float(np.percentile(np.linalg.norm(points - centre, axis=1), 99.5)), top / 2.0)
    frame = np.stack([toward, left, up], axis=1)  # (toward camera, left, up) -> optical
    c, s = math.cos(anchor_azimuth), math.sin(anchor_azimuth)
    rotation = frame @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])  # model azimuth a0 -> toward camera
    camera_height = segmentation.plane.offset - top / 2.0
    elevation = math.asin(float(np.clip(camera_height / np.linalg.norm(centre), -1.0, 1.0)))
    return Placement(rotation=rotation, translation=centre, scale=radius / cameras.OBJECT_RADIUS,
                     anchor_azimuth=float(anchor_azimuth), anchor_elevation=elevation)


def model_view(colour: np.ndarray, mask: np.ndarray, box: tuple[int, int, int], size: int) -> np.ndarray:
    """The anchor view as the model sees it: background white, cropped to ``box`` (padded white), size x size."""
    x0, y0, side = box
    h, w = mask.shape
    out = np.full((side, side, 3), BACKGROUND, np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    if sx1 <= sx0 or sy1 <= sy0:
        raise ValueError(f"the view box {box} lies outside the {w}x{h} image")
    patch = np.where(mask[sy0:sy1, sx0:sx1, None], colour[sy0:sy1, sx0:sx1], BACKGROUND)
    out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = patch
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(out, (size, size), interpolation=interpolation)


def clipped_roi(box: tuple[int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """The view box clipped to the image, as a RegionOfInterest (x, y, width, height) for the key-view buffer."""
    x0, y0, side = box
    x1, y1 = min(x0 + side, width), min(y0 + side, height)
    x0, y0 = max(x0, 0), max(y0, 0)
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)
