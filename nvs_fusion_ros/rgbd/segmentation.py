"""Finding the object in a depth image: the support plane, then the cluster above it nearest the image centre.

The plane is fitted with Open3D's RANSAC (``segment_plane``) on a seeded subsample of the valid depth points, on one
thread (its threads draw in whatever order they run, so one frame gave slightly different planes), refitted by least
squares on its inliers (the plane through all of the table's points, not three of them), and oriented so its
normal points to the camera's side (the camera is above the table). **How high is above**
is measured, not fixed: the heights are median-filtered (5x5, so a pixel's noise averages with its
neighbours'), the table's own filtered heights give the plane noise, modelled as a stereo sensor's ``sigma ·
z²`` (robust: 1.4826 x the median absolute height over z², on the pixels within ``plane_distance`` of the
plane), and a pixel is above the plane when its filtered height exceeds ``noise_sigmas`` of that noise at its
depth, and at least ``min_height`` (a floor for noise-free depth), or when its raw height exceeds that many of
the raw noise (the filter drops a silhouette's outer pixels and a two-pixel chair leg into the table). A 3 mm
knife blade on noise-free depth, a 9 mm pen at 0.9 m from a D435, both stand above it; a fixed 10 mm cut them
away.

Points above the plane are voxel-downsampled and clustered with Open3D's DBSCAN; the cluster whose pixel
centroid is nearest the image centre is the object (a camera aims at what it looks at), and every above-plane
pixel within ``cluster_eps`` of one of its points joins the mask. What is still lost is the part of a flat
object that depth cannot tell from the table (a blade, a plate's floor): those pixels join when they differ in
colour from the table by more than the table's own ``table_colour_percentile`` spread (measured away from the
object, so a crate's floor is not the table) and connect in the image to the mask through such pixels, away
from depth edges (where a reading may be the table behind the object's silhouette). A part the object hides
its own link to (a hammer's handle behind its head, a plant's pot below its leaves) is a cluster of its own:
another region standing above the plane joins when it touches the mask in the image and its colour is nearer
the object's than half the object's distance from the table's colour, in RGB or in chromaticity (a face in
shadow keeps its hue); the joins repeat up to ``MAX_GROWTH_ROUNDS`` times. Two touching objects of one colour
are then one (an ROI separates them). The mask is what the key-view buffer paints the background of white
with, so a cluttered image needs no other segmenter.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np
import open3d as o3d
from scipy import ndimage
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
    min_height: float = 0.002  # the least height above the plane that counts as above (noise-free depth)
    noise_sigmas: float = 4.0  # above the plane: more than this many of the plane's measured noise at the pixel's depth
    table_colour_percentile: float = 99.0  # near-plane pixels further from the table's colour than this share of the table's join
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
    """The object: mask (H, W) bool, its optical-frame points (N, 3) and colours (N, 3) uint8, the plane, its ROI, and
    the plane's measured noise (``noise(z)``: the standard deviation of a raw height reading at depth z)."""

    plane: Plane
    mask: np.ndarray
    points: np.ndarray
    colors: np.ndarray
    roi: tuple[int, int, int, int]  # x, y, width, height of the mask's bounding box
    noise_per_m2: float = 0.0  # raw height noise (m) = noise_per_m2 * z²

    def noise(self, z: np.ndarray | float) -> np.ndarray | float:
        """The raw depth noise (m, one standard deviation) measured on the table, at depth ``z`` (m)."""
        return self.noise_per_m2 * np.square(z)


_ONE_THREAD = threading.Lock()
PLANE_REFITS = 3  # least-squares refits on the inliers: the table's noise averages out over all of them


def fit_plane(points: np.ndarray, config: SegmentationConfig) -> Plane:
    """RANSAC plane through (N, 3) finite points, refitted by least squares on its inliers, oriented towards the
    camera at the origin; the same points give the same plane."""
    if len(points) < 3:
        raise DepthError(f"only {len(points)} valid depth points; cannot fit a support plane")
    rng = np.random.default_rng(config.seed)
    if len(points) > config.plane_samples:
        points = points[rng.choice(len(points), config.plane_samples, replace=False)]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    o3d.utility.random.seed(config.seed)
    with _ONE_THREAD:  # Open3D's thread count is the process's: two fits at once must not restore each other's 1
        threads = o3d.utility.get_max_threads()
        o3d.utility.set_max_threads(1)  # its threads draw in whatever order they run: one frame, one plane
        try:
            (a, b, c, d), _ = cloud.segment_plane(config.plane_distance, 3, config.plane_iterations)
        finally:
            o3d.utility.set_max_threads(threads)
    norm = float(np.linalg.norm([a, b, c]))
    normal, offset = np.array([a, b, c]) / norm, d / norm
    for _ in range(PLANE_REFITS):
        inliers = points[np.abs(points @ normal + offset) < config.plane_distance]
        centre = inliers.mean(axis=0)
        normal = np.linalg.svd(inliers - centre, full_matrices=False)[2][-1]
        offset = -float(normal @ centre)
    if offset < 0:
        normal, offset = -normal, -offset
    return Plane(normal=normal, offset=float(offset))


MAX_GROWTH_ROUNDS = 4
FILTER = 5  # median filter side (pixels) of the heights that decide what stands above the plane


def plane_noise(height: np.ndarray, depth: np.ndarray, near: float) -> float:
    """Robust ``sigma`` of ``height / z²`` over the pixels within ``near`` of the plane (1.4826 x MAD)."""
    table = np.isfinite(height) & (np.abs(height) < near)
    if table.sum() < 100:
        return 0.0
    scaled = height[table] / np.square(depth[table])
    return float(1.4826 * np.median(np.abs(scaled - np.median(scaled))))


def filtered_heights(height: np.ndarray) -> np.ndarray:
    """5x5 median of the heights; no reading counts as the table (0), so a hole never raises its neighbours."""
    return cv2.medianBlur(np.nan_to_num(height, nan=0.0).astype(np.float32), FILTER)


def depth_edges(depth: np.ndarray, jump: np.ndarray | float) -> np.ndarray:
    """(H, W) bool: pixels whose 5x5 neighbourhood spans more than ``jump`` of depth (a silhouette: a reading
    there may be the surface behind, in the colour of the object in front); ``jump`` per pixel or one for all."""
    finite = np.isfinite(depth)
    nearest = ndimage.minimum_filter(np.where(finite, depth, np.inf), size=FILTER)
    farthest = ndimage.maximum_filter(np.where(finite, depth, -np.inf), size=FILTER)
    return finite & (farthest - nearest > jump)


def table_colour(colour: np.ndarray, table: np.ndarray, percentile: float) -> tuple[np.ndarray, np.ndarray]:
    """The table's median colour (3,) and (H, W) bool: the pixels further from it than ``percentile`` of the table's are."""
    rgb = colour.astype(np.float32)
    reference = np.median(rgb[table], axis=0)
    distance = np.linalg.norm(rgb - reference, axis=-1)
    return reference, distance > np.percentile(distance[table], percentile)


def _around(mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box grown by half its size each way: where the object's own low parts may lie (a crate's
    floor, a plate's), which must not count as the table when the table's colour is measured."""
    rows, cols = np.nonzero(mask)
    out = np.zeros_like(mask)
    grow_r, grow_c = (rows.max() - rows.min()) // 2 + 1, (cols.max() - cols.min()) // 2 + 1
    out[max(rows.min() - grow_r, 0) : rows.max() + grow_r + 1, max(cols.min() - grow_c, 0) : cols.max() + grow_c + 1] = True
    return out


def _chromaticity(rgb: np.ndarray) -> np.ndarray:
    """Colour with its brightness divided out (r, g, b over their sum, x 255): a face in shadow keeps its object's."""
    return 255.0 * rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1.0)


def _same_object_parts(mask: np.ndarray, above: np.ndarray, colour: np.ndarray, table_rgb: np.ndarray) -> np.ndarray:
    """The other parts that stand above the plane (image regions of ``above`` outside ``mask``: another cluster, a
    chair's leg too thin to be one) that touch ``mask`` in the image and whose median colour is nearer the mask's than
    half the mask's distance from the table's colour, joined to it; in RGB (a black part of a black object on a white
    table) or in chromaticity (a shaded or a lit face of a white object on a brown table)."""
    own = np.median(colour[mask].astype(np.float32), axis=0)
    touching = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool))
    parts, _ = ndimage.label(above & ~mask, structure=np.ones((3, 3), bool))
    out = mask.copy()
    for label in np.unique(parts[touching & (parts > 0)]):
        part = parts == label
        theirs = np.median(colour[part].astype(np.float32), axis=0)
        if any(np.linalg.norm(f(theirs) - f(own)) < 0.5 * np.linalg.norm(f(own) - f(table_rgb))
               for f in (np.asarray, _chromaticity)):
            out |= part
    return out


def segment_object(colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics,
                   config: SegmentationConfig | None = None, roi: tuple[int, int, int, int] | None = None) -> Segmentation:
    """Plane, then the above-plane cluster nearest the image centre (or the ROI's centre, among the
    points inside a given ROI ``(x, y, width, height)``); raises NothingAbovePlaneError if none."""
    config = config or SegmentationConfig()
    points = backproject(depth, intrinsics)
    valid = np.isfinite(depth)
    plane = fit_plane(points[valid], config)
    raw = np.where(valid, plane.height(np.nan_to_num(points)), np.nan)
    smooth = np.where(valid, filtered_heights(raw), np.nan)
    noise_smooth, raw_noise = plane_noise(smooth, depth, config.plane_distance), plane_noise(raw, depth, config.plane_distance)
    with np.errstate(invalid="ignore"):
        threshold = np.maximum(config.min_height, config.noise_sigmas * noise_smooth * np.square(depth))
        table = valid & (np.abs(smooth) <= threshold)
        noise_raw = raw_noise * np.square(depth)
        edges = depth_edges(depth, config.cluster_eps + 2.0 * config.noise_sigmas * noise_raw)
        low = raw <= np.maximum(config.min_height, config.noise_sigmas * noise_raw)
        # the filter lifts the table beside a tall silhouette: there a low reading is the table behind, not the object;
        # and it drops a silhouette's outer two pixels and a thin upright part (a chair's leg) into the table beside
        # it: there the raw reading, above its own noise, decides
        above = valid & ((smooth > threshold) | ~low) & (raw < config.max_height) & ~(low & edges)
    centre = np.array([intrinsics.cx, intrinsics.cy])
    if roi is not None and roi[2] > 0 and roi[3] > 0:
        x, y, w, h = roi
        inside = np.zeros_like(above)
        inside[max(y, 0) : y + h, max(x, 0) : x + w] = True
        above &= inside
        centre = np.array([x + (w - 1) / 2.0, y + (h - 1) / 2.0])
    rows, cols = np.nonzero(above)
    if len(rows) < config.min_cluster_points:
        least = float(np.nanmin(np.where(valid, threshold, np.nan)))
        raise NothingAbovePlaneError(f"nothing stands on the support plane (only {len(rows)} pixels are "
                                     f"{least * 1000:.1f}-{config.max_height * 1000:.0f} mm above it, the least "
                                     f"height {config.noise_sigmas:g} times the plane's noise allows)")
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
    table_rgb, unlike_table = table_colour(colour, table & ~_around(mask), config.table_colour_percentile)
    flat = table & unlike_table & ~edges
    if roi is not None and roi[2] > 0 and roi[3] > 0:
        flat &= inside
    for _ in range(MAX_GROWTH_ROUNDS):  # a flat part may join two parts that stand above it (a spoon's bowl and handle)
        components, _ = ndimage.label(mask | flat, structure=np.ones((3, 3), bool))
        grown = mask | (flat & np.isin(components, np.unique(components[mask])))
        nearest, _ = cKDTree(points[grown]).query(above_points, distance_upper_bound=config.cluster_eps)
        grown[rows[np.isfinite(nearest)], cols[np.isfinite(nearest)]] = True
        grown = _same_object_parts(grown, above, colour, table_rgb)
        if (grown == mask).all():
            break
        mask = grown
    r, c = np.nonzero(mask)
    roi = (int(c.min()), int(r.min()), int(c.max() - c.min() + 1), int(r.max() - r.min() + 1))
    return Segmentation(plane=plane, mask=mask, points=points[mask], colors=colour[mask], roi=roi,
                        noise_per_m2=raw_noise)


def mask_image(mask: np.ndarray) -> np.ndarray:
    """The mask as the key-view buffer reads it: mono8, 255 = object, 0 = background (painted white)."""
    return np.where(mask, 255, 0).astype(np.uint8)
