"""numpy <-> ROS messages for the distilled 3D model: PointCloud2 (x, y, z, rgb) and a TRIANGLE_LIST Marker.

ROS-free apart from the message classes (no rclpy, no ``sensor_msgs_py``, which is not
installable here; docs/DESIGN.md §3). The layouts follow what RViz and PCL expect:

* PointCloud2: one row (height 1), little-endian, float32 ``x y z`` at offsets 0, 4, 8
  and ``rgb`` at 12 as a float32 whose bits are the packed ``0x00RRGGBB`` (PCL's
  convention), point_step 16, row_step 16 x width; ``is_dense`` when every point is finite.
* Marker TRIANGLE_LIST: three ``points`` per triangle with one ``colors`` entry per
  point (alpha 1), identity pose and unit scale, so the vertices are taken as given
  in ``header.frame_id``.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker

POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "<u4")])
POINT_FIELDS = (("x", 0), ("y", 4), ("z", 8), ("rgb", 12))


def _check_points_colors(points: np.ndarray, colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(points)
    colors = np.asarray(colors)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {points.shape}")
    if colors.shape != points.shape or colors.dtype != np.uint8:
        raise ValueError(f"colours must be (N, 3) uint8 like the points {points.shape}, got {colors.shape} {colors.dtype}")
    return points, colors


def point_cloud2(points: np.ndarray, colors: np.ndarray, header: Header) -> PointCloud2:
    """A PointCloud2 of N points (N, 3) float with colours (N, 3) uint8 RGB."""
    points, colors = _check_points_colors(points, colors)
    data = np.empty(len(points), dtype=POINT_DTYPE)
    data["x"], data["y"], data["z"] = points[:, 0], points[:, 1], points[:, 2]
    c = colors.astype(np.uint32)
    data["rgb"] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    return PointCloud2(
        header=header,
        height=1,
        width=len(points),
        fields=[PointField(name=name, offset=offset, datatype=PointField.FLOAT32, count=1) for name, offset in POINT_FIELDS],
        is_bigendian=False,
        point_step=POINT_DTYPE.itemsize,
        row_step=POINT_DTYPE.itemsize * len(points),
        data=data.tobytes(),
        is_dense=bool(np.isfinite(points).all()),
    )


def triangle_marker(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray, header: Header,
                    namespace: str = "reconstruction", marker_id: int = 0) -> Marker:
    """A TRIANGLE_LIST Marker of a mesh: vertices (V, 3), faces (F, 3) indices, per-vertex colours (V, 3) uint8."""
    vertices, colors = _check_points_colors(vertices, colors)
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or (faces.size and (faces.min() < 0 or faces.max() >= len(vertices))):
        raise ValueError(f"faces must be (F, 3) indices into {len(vertices)} vertices")
    corners = vertices[faces.reshape(-1)].astype(float)
    rgba = np.concatenate([colors[faces.reshape(-1)] / 255.0, np.ones((faces.size, 1))], axis=1)
    return Marker(
        header=header,
        ns=namespace,
        id=marker_id,
        type=Marker.TRIANGLE_LIST,
        action=Marker.ADD,
        pose=Pose(orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
        scale=Vector3(x=1.0, y=1.0, z=1.0),
        color=ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
        lifetime=Duration(sec=0, nanosec=0),
        frame_locked=False,
        points=[Point(x=x, y=y, z=z) for x, y, z in corners.tolist()],
        colors=[ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in rgba.tolist()],
    )
