"""Finding the object in a depth image: the support plane, then the cluster above it nearest the image centre.

The plane is fitted with Open3D's RANSAC (``segment_plane``) on a seeded subsample of the valid
depth points and oriented so its normal points to the camera's side (the camera is above the
table). Points higher than ``min_height`` above it are voxel-downsampled and clustered with
Open3D's DBSCAN; the cluster whose pixel centroid is nearest the image centre is the object
(a camera aims at what it looks at), and every above-plane pixel within ``cluster_eps`` of one
of its points joins the mask. The mask is what the key-view buffer paints the background of
white with, so a cluttered image needs no other segmenter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

from .depth import DepthError, Intrinsics, backproject


class NothingAbovePlaneError(ValueError):
    """The depth image shows a support plane but no object standing on it."""


@dataclass(frozen=True)
class SegmentationConfig:
    """Thresholds in metres; defaults suit a tabletop seen from 0.4-1.2 m by a D435-class sensor."""

    plane_distance: float = 0.006  # RANSAC inlier distance
    plane_iterations: int = 500
    plane_samples: int = 20000  # valid points the plane is fitted on (seeded subsample)
    min_height: float = 0.010  # above the plane by at least this to belong to an object
    max_height: float = 0.60  # higher than this is not an object on the table
    cluster_eps: float = 0.012  # DBSCAN neighbourhood
    cluster_voxel: float = 0.005  # downsampling before DBSCAN
    min_cluster_points: int = 20  # downsampled points in a cluster that may be the object
    seed: int = 0


@dataclass(frozen=True)
class Plane:
    """``normal · p + offset = 0`` in the optical frame; unit normal pointing to the camera's side (offset > 0)."""

    normal: np.ndarray
    offset: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed height of points (..., 3) above the plane (positive on the camera's side)."""
        return points @ self.normal + self.offset

    def project(self, points: np.ndarray) -> np.ndarray:
        """The points' feet on the plane."""
        return points - self.height(points)[..., None] * self.normal


@dataclass(frozen=True)
class Segmentation:
    """The object: mask (H, W) bool, its optical-frame points (N, 3) and colours (N, 3) uint8, the plane, its ROI."""

    plane: Plane
    mask: np.ndarray
    points: np.ndarray
    colors: np.ndarray
    roi: tuple[int, int, int, int]  # x, y, width, height of the mask's bounding box


def fit_plane(points: np.ndarray, config: SegmentationConfig) -> Plane:
    """RANSAC plane through (N, 3) finite points, oriented towards the camera at the origin."""
    if len(points) < 3:
        raise DepthError(f"only {len(points)} valid depth points; cannot fit a support plane")
    rng = np.random.default_rng(config.seed)
    if len(points) > config.plane_samples:
        points = points[rng.choice(len(points), config.plane_samples, replace=False)]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    o3d.utility.random.seed(config.seed)
    (a, b, c, d), _ = cloud.segment_plane(config.plane_distance, 3, config.plane_iterations)
    norm = float(np.linalg.norm([a, b, c]))
    normal, offset = np.array([a, b, c]) / norm, d / norm
    if offset < 0:
        normal, offset = -normal, -offset
    return Plane(normal=normal, offset=float(offset))


def segment_object(colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics,
                   config: SegmentationConfig | None = None, roi: tuple[int, int, int, int] | None = None) -> Segmentation:
    """Plane, then the above-plane cluster nearest the image centre (or the ROI's centre, among the
    points inside a given ROI ``(x, y, width, height)``); raises NothingAbovePlaneError if none."""
    config = config or SegmentationConfig()
    points = backproject(depth, intrinsics)
    valid = np.isfinite(depth)
    plane = fit_plane(points[valid], config)
    height = np.where(valid, plane.height(np.nan_to_num(points)), -np.inf)
    above = (height > config.min_height) & (height < config.max_height)
    centre = np.array([intrinsics.cx, intrinsics.cy])
    if roi is not None and roi[2] > 0 and roi[3] > 0:
        x, y, w, h = roi
        inside = np.zeros_like(above)
        inside[max(y, 0) : y + h, max(x, 0) : x + w] = True
        above &= inside
        centre = np.array([x + (w - 1) / 2.0, y + (h - 1) / 2.0])
    rows, cols = np.nonzero(above)
    if len(rows) < config.min_cluster_points:
        raise NothingAbovePlaneError(f"nothing stands on the support plane (only {len(rows)} pixels are "
                                     f"{config.min_height * 1000:.0f}-{config.max_height * 1000:.0f} mm above it)")
    above_points = points[rows, cols].astype(np.float64)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(above_points))
    down = np.asarray(cloud.voxel_down_sample(config.cluster_voxel).points)
    labels = np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(down)).cluster_dbscan(
        config.cluster_eps, min_points=4))
    best, best_distance = -1, np.inf
    for label in range(labels.max() + 1):
        members = down[labels == label]
        if len(members) < config.min_cluster_points:
            continue
        pixel = intrinsics.project(members).mean(axis=0)
        if (distance := float(np.linalg.norm(pixel - centre))) < best_distance:
            best, best_distance = label, distance
    if best < 0:
        raise NothingAbovePlaneError(f"no cluster of at least {config.min_cluster_points} points stands on the support plane")
    nearest, _ = cKDTree(down[labels == best]).query(above_points, distance_upper_bound=config.cluster_eps)
    keep = np.isfinite(nearest)
    mask = np.zeros(depth.shape, bool)
    mask[rows[keep], cols[keep]] = True
    r, c = rows[keep], cols[keep]
    roi = (int(c.min()), int(r.min()), int(c.max() - c.min() + 1), int(r.max() - r.min() + 1))
    return Segmentation(plane=plane, mask=mask, points=points[mask], colors=colour[mask], roi=roi)


def mask_image(mask: np.ndarray) -> np.ndarray:
    """The mask as the key-view buffer reads it: mono8, 255 = object, 0 = background (painted white)."""
    return np.where(mask, 255, 0).astype(np.uint8)
