"""A rendered tabletop RGB-D scene: one object standing on a table, seen by a D435-like camera.

Used by the tabletop benchmark, by ``nvs-fusion demo --rgbd`` and by the tests, so all three see
the same sensor. pybullet's TinyRenderer draws colour and its z-buffer gives metric depth
(``z = far·near / (far − (far − near)·d)``); depth is registered to colour by construction and
noise-free; :func:`sensor_depth` adds a D435's noise and flying pixels on request. World is z up with the table top at z = 0.
The object is a normalised model-frame mesh (``cameras``: radius 0.5, z up) scaled to a metric
bounding radius, turned by ``yaw`` and set on the table on its lowest vertex.

Intrinsics: 640x480, fx = fy = 615 px (a D435 colour stream at 640x480; its 69°x42° field of
view), principal point at the image centre (OpenCV convention: cx = 319.5, cy = 239.5), because
pybullet's projection is a symmetric frustum.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType

import cv2
import numpy as np
import open3d as o3d
from scipy import ndimage

from .. import cameras
from ..rgbd.depth import Intrinsics

D435 = Intrinsics(fx=615.0, fy=615.0, cx=319.5, cy=239.5, width=640, height=480)
NEAR, FAR = 0.05, 4.0
TABLE_HALF_SIZE = 0.8
TABLE_RGBA = (0.62, 0.52, 0.42, 1.0)
OPENGL_TO_OPTICAL = np.diag([1.0, -1.0, -1.0, 1.0])


def _pybullet() -> ModuleType:
    """Imported on use: pybullet prints a banner on import."""
    return importlib.import_module("pybullet")


@dataclass(frozen=True)
class TabletopObject:
    """A mesh in the model frame (vertices (V, 3), faces (F, 3)) and how it stands on the table."""

    vertices: np.ndarray
    faces: np.ndarray
    radius_m: float
    yaw: float
    rgba: tuple[float, float, float, float] = (0.25, 0.45, 0.8, 1.0)

    def world_vertices(self) -> np.ndarray:
        """Vertices in the world: scaled to ``radius_m``, turned by ``yaw``, lowest vertex on z = 0."""
        scaled = self.vertices * (self.radius_m / cameras.OBJECT_RADIUS)
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        turned = scaled @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T
        return turned - np.array([0.0, 0.0, turned[:, 2].min()])

    def world_centre(self) -> np.ndarray:
        """Where the model frame's origin (the AABB centre, what placement estimates) stands in the world."""
        return np.array([0.0, 0.0, -(self.vertices[:, 2] * (self.radius_m / cameras.OBJECT_RADIUS)).min()])


@dataclass(frozen=True)
class TabletopCamera:
    """Where the camera is: ``distance`` (m) from the object's centre, looking down ``elevation`` (rad)."""

    distance: float
    elevation: float
    azimuth: float = 0.0
    intrinsics: Intrinsics = D435


@dataclass
class RGBDFrame:
    """One rendered view: colour (H, W, 3) uint8, depth (H, W) float32 metres (NaN: no reading),
    intrinsics, ``world_to_optical`` (4x4), the object's true surface points (N, 3), its model frame's
    origin ``centre`` (3,) in the optical frame (None for the empty table) and ``object_mask`` (H, W) bool, the
    pixels the renderer drew the object at (what the camera sees of it, whatever a segmenter finds)."""

    colour: np.ndarray
    depth: np.ndarray
    intrinsics: Intrinsics
    world_to_optical: np.ndarray
    surface_points: np.ndarray
    centre: np.ndarray | None = None
    object_mask: np.ndarray | None = None


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World -> OpenGL camera (x right, y up, looking along -z), z-up world."""
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.cross([0.0, 0.0, 1.0], back)
    right /= np.linalg.norm(right)
    up = np.cross(back, right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, up, back, eye
    return np.linalg.inv(pose)


def _projection(intrinsics: Intrinsics) -> np.ndarray:
    fov_y = 2.0 * math.degrees(math.atan(intrinsics.height / 2.0 / intrinsics.fy))
    t = 1.0 / math.tan(math.radians(fov_y) / 2.0)
    proj = np.zeros((4, 4))
    proj[0, 0], proj[1, 1] = t * intrinsics.height / intrinsics.width, t
    proj[2, 2], proj[2, 3], proj[3, 2] = (FAR + NEAR) / (NEAR - FAR), 2.0 * FAR * NEAR / (NEAR - FAR), -1.0
    return proj


def surface_points(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """``count`` points sampled uniformly by area on a triangle mesh (Open3D)."""
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices.astype(np.float64)),
                                     o3d.utility.Vector3iVector(faces.astype(np.int32)))
    o3d.utility.random.seed(seed)
    return np.asarray(mesh.sample_points_uniformly(count).points)


def render(obj: TabletopObject | None, camera: TabletopCamera, surface_count: int = 20000, seed: int = 0,
           empty_height: float = 0.1) -> RGBDFrame:
    """Render colour and depth of ``obj`` on the table (``None``: the empty table, looked at as if an object
    ``empty_height`` tall stood there), and sample its true surface in the optical frame."""
    p = _pybullet()
    intr = camera.intrinsics
    vertices = obj.world_vertices() if obj is not None else np.zeros((0, 3))
    centre_z = (vertices[:, 2].max() if obj is not None else empty_height) / 2.0
    target = np.array([0.0, 0.0, centre_z])
    ce = math.cos(camera.elevation)
    eye = target + camera.distance * np.array([ce * math.cos(camera.azimuth), ce * math.sin(camera.azimuth),
                                               math.sin(camera.elevation)])
    view = look_at(eye, target)
    client = p.connect(p.DIRECT)
    try:
        table = p.createVisualShape(p.GEOM_BOX, halfExtents=[TABLE_HALF_SIZE, TABLE_HALF_SIZE, 0.01],
                                    rgbaColor=list(TABLE_RGBA), physicsClientId=client)
        p.createMultiBody(baseMass=0, baseVisualShapeIndex=table, basePosition=[0, 0, -0.01], physicsClientId=client)
        if obj is not None:
            normals = np.asarray(o3d.geometry.TriangleMesh(
                o3d.utility.Vector3dVector(vertices), o3d.utility.Vector3iVector(obj.faces.astype(np.int32))
            ).compute_vertex_normals().vertex_normals)
            shape = p.createVisualShape(p.GEOM_MESH, vertices=vertices.tolist(), indices=obj.faces.reshape(-1).tolist(),
                                        normals=normals.tolist(), rgbaColor=list(obj.rgba), physicsClientId=client)
            p.createMultiBody(baseMass=0, baseVisualShapeIndex=shape, physicsClientId=client)
        _, _, rgba, zbuffer, ids = p.getCameraImage(
            intr.width, intr.height, viewMatrix=view.T.flatten().tolist(),
            projectionMatrix=_projection(intr).T.flatten().tolist(), renderer=p.ER_TINY_RENDERER,
            lightDirection=[0.4, -0.3, 1.0], shadow=0, physicsClientId=client)
    finally:
        p.disconnect(client)
    colour = np.asarray(rgba, np.uint8).reshape(intr.height, intr.width, 4)[..., :3].copy()
    object_mask = (np.asarray(ids).reshape(intr.height, intr.width) & ((1 << 24) - 1)) == 1  # body 0: table, 1: object
    d = np.asarray(zbuffer, np.float64).reshape(intr.height, intr.width)
    depth = (FAR * NEAR / (FAR - (FAR - NEAR) * d)).astype(np.float32)
    depth[d >= 1.0 - 1e-7] = np.nan
    world_to_optical = OPENGL_TO_OPTICAL @ view
    truth = surface_points(vertices, obj.faces, surface_count, seed) if obj is not None else np.zeros((0, 3))
    truth = truth @ world_to_optical[:3, :3].T + world_to_optical[:3, 3]
    centre = world_to_optical[:3, :3] @ obj.world_centre() + world_to_optical[:3, 3] if obj is not None else None
    return RGBDFrame(colour=colour, depth=depth, intrinsics=intr, world_to_optical=world_to_optical, surface_points=truth,
                     centre=centre, object_mask=object_mask)


def sensor_depth(depth: np.ndarray, rng: np.random.Generator, mixing: float = 0.5, edge_m: float = 0.02,
                 subpixel: float = 0.08, focal_px: float = 385.0, baseline_m: float = 0.05) -> np.ndarray:
    """The noise-free ``depth`` as a D435-class stereo sensor reports it.

    * **Flying pixels**: at a depth edge (a 3x3 neighbourhood spanning more than ``edge_m``) a share
      ``mixing`` of the pixels read a uniformly random depth between the neighbourhood's nearest and
      farthest, as stereo matching mixes the object with what is behind its silhouette.
    * **Axial noise**: Gaussian with the stereo RMS error ``z² · subpixel / (focal · baseline)`` (Intel's
      formula for the D435's 50 mm baseline and 385 px depth focal length at 640x480: 2 mm at 0.7 m).
    """
    nearest = ndimage.minimum_filter(np.where(np.isfinite(depth), depth, np.inf), size=3)
    farthest = ndimage.maximum_filter(np.where(np.isfinite(depth), depth, -np.inf), size=3)
    edge = np.isfinite(depth) & np.isfinite(farthest - nearest) & (farthest - nearest > edge_m)
    mixed = edge & (rng.random(depth.shape) < mixing)
    out = depth.astype(np.float32, copy=True)
    out[mixed] = nearest[mixed] + rng.random(int(mixed.sum())) * (farthest - nearest)[mixed]
    return (out + rng.normal(0.0, 1.0, depth.shape) * out**2 * (subpixel / (focal_px * baseline_m))).astype(np.float32)


def box_mesh(size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A closed box of ``size`` (x, y, z) centred at the origin, normalised to the model frame (radius 0.5)."""
    box = o3d.geometry.TriangleMesh.create_box(*size)
    vertices = np.asarray(box.vertices) - np.asarray(size) / 2.0
    vertices *= cameras.OBJECT_RADIUS / np.linalg.norm(vertices, axis=1).max()
    return vertices, np.asarray(box.triangles)


def oracle_silhouettes(surface_model: np.ndarray, camera_list: list[cameras.OrbitCamera]) -> np.ndarray:
    """(A, S, S, 3) uint8: the true object (dense model-frame surface points) as grey on white, per camera.

    The ideal hypothesis (what a perfect model would draw at each azimuth, colours aside): the
    benchmark's upper bound of the carving, and the tests' check of its geometry. A 3x3 closing fills
    the gaps between splatted points.
    """
    out = []
    for camera in camera_list:
        size = camera.height
        image = np.zeros((size, size), bool)
        pix = np.floor(camera.project(surface_model)).astype(int)
        inside = (pix[:, 0] >= 0) & (pix[:, 0] < size) & (pix[:, 1] >= 0) & (pix[:, 1] < size)
        image[pix[inside, 1], pix[inside, 0]] = True
        image = cv2.morphologyEx(image.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)).astype(bool)
        out.append(np.where(image[..., None], np.uint8(128), np.uint8(255)).repeat(3, axis=-1))
    return np.stack(out)
