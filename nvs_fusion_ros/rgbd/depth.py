"""Depth images and pinhole intrinsics: decoding to metres and back-projection to the optical frame.

Depth is assumed *registered to the colour image* (same size, same intrinsics), as RealSense's
``aligned_depth_to_color`` and most RGB-D drivers publish it. The optical frame is ROS's
(REP 103 ``*_optical_frame``): x right, y down, z forward, metres. Pixel centres sit at integer
coordinates, like OpenCV and ``sensor_msgs/CameraInfo``'s K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: flying-pixel filter default: a jump steeper than a surface seen this far from face-on is not a surface
MAX_GRAZING_DEG = 85.0
#: the depth encodings a driver publishes: 16UC1 in millimetres (0 = no reading), 32FC1 in metres (NaN/0 = none)
DEPTH_ENCODINGS = ("16UC1", "32FC1")


class DepthError(ValueError):
    """A depth image that cannot be used (wrong encoding, wrong size, no valid reading)."""


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera: focal lengths and principal point in pixels, image size."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0 and self.width > 0 and self.height > 0):
            raise DepthError(f"intrinsics need positive focal lengths and size, got {self}")

    @classmethod
    def from_k(cls, k: np.ndarray | list[float], width: int, height: int) -> Intrinsics:
        """From a row-major 3x3 K (CameraInfo.k)."""
        m = np.asarray(k, dtype=float).reshape(3, 3)
        return cls(float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2]), int(width), int(height))

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Optical-frame points (N, 3) to pixel coordinates (N, 2) as (column, row); z must be > 0."""
        z = points[:, 2]
        return np.stack([self.fx * points[:, 0] / z + self.cx, self.fy * points[:, 1] / z + self.cy], axis=1)


def decode_depth(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Depth (H, W) in the driver's encoding -> float32 metres, NaN where there is no reading."""
    if encoding not in DEPTH_ENCODINGS:
        raise DepthError(f"depth must be one of {DEPTH_ENCODINGS} (16UC1 = mm, 32FC1 = m), got {encoding!r}")
    if pixels.ndim != 2:
        raise DepthError(f"depth must be a single-channel (H, W) image, got shape {pixels.shape}")
    if encoding == "16UC1":
        metres = pixels.astype(np.float32) / 1000.0
    else:
        metres = pixels.astype(np.float32, copy=True)
    metres[~np.isfinite(metres) | (metres <= 0.0)] = np.nan
    return metres


def check_depth(depth: np.ndarray, intrinsics: Intrinsics, colour_shape: tuple[int, ...]) -> None:
    """Refuse depth that does not match the colour image and intrinsics, or holds no reading at all."""
    if depth.shape[:2] != tuple(colour_shape[:2]):
        raise DepthError(f"depth is {depth.shape[1]}x{depth.shape[0]} but the colour image is "
                         f"{colour_shape[1]}x{colour_shape[0]}; registered depth is required")
    if (intrinsics.height, intrinsics.width) != depth.shape[:2]:
        raise DepthError(f"CameraInfo says {intrinsics.width}x{intrinsics.height} but the depth is "
                         f"{depth.shape[1]}x{depth.shape[0]}")
    if not np.isfinite(depth).any():
        raise DepthError("depth holds no valid reading (all zero or NaN)")


def backproject(depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Per-pixel optical-frame points (H, W, 3) in metres; NaN where depth is NaN."""
    h, w = depth.shape
    cols, rows = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x = (cols - intrinsics.cx) / intrinsics.fx * depth
    y = (rows - intrinsics.cy) / intrinsics.fy * depth
    return np.stack([x, y, depth], axis=-1).astype(np.float32)


def depth_at(points_cam: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """The depth reading at each point's pixel (NaN off the image, behind the camera or without a reading)."""
    out = np.full(len(points_cam), np.nan, np.float32)
    front = points_cam[:, 2] > 1e-6
    pixels = np.rint(intrinsics.project(points_cam[front])).astype(int)
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < depth.shape[1]) & (pixels[:, 1] >= 0) & (pixels[:, 1] < depth.shape[0])
    idx = np.flatnonzero(front)[inside]
    out[idx] = depth[pixels[inside, 1], pixels[inside, 0]]
    return out


def remove_flying_pixels(depth: np.ndarray, intrinsics: Intrinsics, max_grazing_deg: float = MAX_GRAZING_DEG) -> np.ndarray:
    """A copy of ``depth`` with its *flying pixels* set to NaN: readings that jump away from both of their
    neighbours along a row or along a column, and do not stand in front of them.

    At a silhouette a stereo or time-of-flight sensor mixes the object with what is behind it and
    reports depths in between: points floating in the air behind the object's edge, exactly where
    segmentation grows its mask and placement reads the object's extent. A jump counts when the
    surface through the pixel and its neighbour would be seen more than ``max_grazing_deg`` from
    face-on (jump > z tan(angle) / f); so steep a surface gives no trustworthy reading either. The edge
    pixel of a real surface keeps its neighbour on that surface and stays; a pixel nearer than two
    neighbours that agree with each other is a thin structure in front of a background (a handle, a
    leaf) and stays too. ``max_grazing_deg = 90`` keeps every reading.
    """
    if not 0.0 < max_grazing_deg <= 90.0:
        raise DepthError(f"max_grazing_deg must be in (0, 90], got {max_grazing_deg!r}")
    out = depth.copy()
    if max_grazing_deg == 90.0:
        return out
    padded = np.pad(depth, 1, constant_values=np.nan)  # no neighbour beyond the border: never a jump
    tan = math.tan(math.radians(max_grazing_deg))
    flying = np.zeros(depth.shape, bool)
    for focal, before, after in ((intrinsics.fx, padded[1:-1, :-2], padded[1:-1, 2:]),
                                 (intrinsics.fy, padded[:-2, 1:-1], padded[2:, 1:-1])):
        limit = depth * (tan / focal)
        with np.errstate(invalid="ignore"):  # NaN compares false: a missing neighbour is no jump
            jumps = (np.abs(depth - before) > limit) & (np.abs(depth - after) > limit)
            thin = (depth < before) & (depth < after) & (np.abs(after - before) <= limit)
        flying |= jumps & ~thin
    out[flying] = np.nan
    return out
