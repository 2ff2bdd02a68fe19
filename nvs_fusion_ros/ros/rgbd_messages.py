"""numpy <-> ROS messages for the metric completion: a PointCloud2 with confidence, a shape_msgs/Mesh,
CameraInfo intrinsics and depth images. ROS-free apart from the message classes.

``~/object_cloud`` layout: one row, little-endian, point_step 20: float32 ``x y z`` at 0, 4, 8
(metres, optical frame), ``rgb`` at 12 (float32 field whose bits are ``0x00RRGGBB``, PCL's
packing, as ``cloud_messages``), float32 ``confidence`` in [0, 1] at 16.
``shape_msgs/Mesh`` has no header: it is published with the same anchor as ``~/object_mesh``,
whose header gives its frame and stamp (MoveIt's CollisionObject carries the header).
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from shape_msgs.msg import Mesh, MeshTriangle
from std_msgs.msg import Header

from ..rgbd.depth import DepthError, Intrinsics, decode_depth
from .image_conversions import ImageConversionError, image_to_numpy

CLOUD_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4"), ("confidence", "<f4")])
CLOUD_FIELDS = (("x", 0), ("y", 4), ("z", 8), ("rgb", 12), ("confidence", 16))


def confidence_cloud(points: np.ndarray, colors: np.ndarray, confidence: np.ndarray, header: Header) -> PointCloud2:
    """N points (N, 3) metres, colours (N, 3) uint8, confidence (N,) in [0, 1] as one PointCloud2."""
    if points.ndim != 2 or points.shape[1] != 3 or colors.shape != points.shape or confidence.shape != (len(points),):
        raise ValueError(f"need points (N, 3), colours (N, 3), confidence (N,); got {points.shape}, {colors.shape}, "
                         f"{confidence.shape}")
    data = np.empty(len(points), CLOUD_DTYPE)
    data["x"], data["y"], data["z"] = points[:, 0], points[:, 1], points[:, 2]
    c = colors.astype(np.uint32)
    data["rgb"] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    data["confidence"] = confidence
    return PointCloud2(
        header=header, height=1, width=len(points), is_bigendian=False, point_step=CLOUD_DTYPE.itemsize,
        row_step=CLOUD_DTYPE.itemsize * len(points), data=data.tobytes(), is_dense=bool(np.isfinite(points).all()),
        fields=[PointField(name=n, offset=o, datatype=PointField.FLOAT32, count=1) for n, o in CLOUD_FIELDS])


def read_confidence_cloud(message: PointCloud2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (N, 3), colours (N, 3) uint8 and confidence (N,) of a cloud in the ``confidence_cloud`` layout."""
    fields = [(f.name, f.offset, f.datatype) for f in message.fields]
    if fields != [(n, o, PointField.FLOAT32) for n, o in CLOUD_FIELDS] or message.point_step != CLOUD_DTYPE.itemsize:
        raise ValueError(f"not the x, y, z, rgb, confidence layout: {fields}, point_step {message.point_step}")
    data = np.frombuffer(bytes(message.data), CLOUD_DTYPE, count=message.width * message.height)
    rgb = data["rgb"]
    colors = np.stack([(rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF], axis=1).astype(np.uint8)
    return np.stack([data["x"], data["y"], data["z"]], axis=1), colors, data["confidence"].copy()


def collision_mesh(vertices: np.ndarray, faces: np.ndarray) -> Mesh:
    """A shape_msgs/Mesh (metres, the anchor's optical frame) for a MoveIt CollisionObject."""
    return Mesh(vertices=[Point(x=x, y=y, z=z) for x, y, z in vertices.astype(float).tolist()],
                triangles=[MeshTriangle(vertex_indices=[int(a), int(b), int(c)]) for a, b, c in faces.tolist()])


def read_collision_mesh(message: Mesh) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.array([[p.x, p.y, p.z] for p in message.vertices], float).reshape(-1, 3)
    return vertices, np.array([list(t.vertex_indices) for t in message.triangles], int).reshape(-1, 3)


def intrinsics_from_info(info: CameraInfo) -> Intrinsics:
    """The pinhole model of a CameraInfo (its K; distortion is assumed rectified away)."""
    if info.width == 0 or info.height == 0 or info.k[0] <= 0 or info.k[4] <= 0:
        raise DepthError(f"CameraInfo has no usable intrinsics (size {info.width}x{info.height}, K {list(info.k)})")
    return Intrinsics.from_k(info.k, info.width, info.height)


def depth_from_image(message: Image) -> np.ndarray:
    """A 16UC1 (mm) or 32FC1 (m) depth image as float32 metres, NaN where there is no reading."""
    if message.encoding not in ("16UC1", "32FC1"):
        raise DepthError(f"depth must be 16UC1 (mm) or 32FC1 (m), got {message.encoding!r}")
    try:
        return decode_depth(image_to_numpy(message), message.encoding)
    except ImageConversionError as exc:
        raise DepthError(str(exc)) from exc
