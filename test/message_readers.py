"""Readers of the nodes' output messages, for the tests: the nodes only write these, a consumer (RViz, a grasp
planner) reads them with its own tools, so the package does not carry them."""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from visualization_msgs.msg import Marker

from nvs_fusion_ros.ros.cloud_messages import POINT_FIELDS


def read_point_cloud2(message: PointCloud2) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) float32 and colours (N, 3) uint8 of a PointCloud2 with float32 x, y, z and packed rgb."""
    offsets = {f.name: f for f in message.fields}
    missing = [name for name, _ in POINT_FIELDS if name not in offsets]
    if missing or any(offsets[name].datatype != PointField.FLOAT32 for name, _ in POINT_FIELDS):
        raise ValueError(f"need float32 fields x, y, z, rgb; missing {missing} or of another type")
    if message.is_bigendian:
        raise ValueError("big-endian point clouds are not supported")
    count = message.width * message.height
    dtype = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": ["<f4", "<f4", "<f4", "<u4"],
                      "offsets": [offsets[name].offset for name, _ in POINT_FIELDS], "itemsize": message.point_step})
    rows = np.frombuffer(bytes(message.data), dtype=np.uint8).reshape(message.height, message.row_step)
    data = np.frombuffer(rows[:, : message.point_step * message.width].tobytes(), dtype=dtype, count=count)
    points = np.stack([data["x"], data["y"], data["z"]], axis=1)
    rgb = data["rgb"]
    colors = np.stack([(rgb >> 16) & 0xFF, (rgb >> 8) & 0xFF, rgb & 0xFF], axis=1).astype(np.uint8)
    return points, colors


def read_triangle_marker(message: Marker) -> tuple[np.ndarray, np.ndarray]:
    """Triangle corners (F, 3, 3) float64 and their colours (F, 3, 4) float (RGBA 0..1) of a TRIANGLE_LIST Marker."""
    if message.type != Marker.TRIANGLE_LIST:
        raise ValueError(f"expected a TRIANGLE_LIST marker (type {Marker.TRIANGLE_LIST}), got type {message.type}")
    if len(message.points) % 3 or len(message.colors) not in (0, len(message.points)):
        raise ValueError(f"{len(message.points)} points / {len(message.colors)} colours do not make whole triangles")
    corners = np.array([[p.x, p.y, p.z] for p in message.points], dtype=np.float64).reshape(-1, 3, 3)
    colors = np.array([[c.r, c.g, c.b, c.a] for c in message.colors], dtype=np.float64).reshape(-1, 3, 4)
    return corners, colors


def display_topics(layout: dict[str, Any]) -> list[str]:
    """The topic of every display that has one, in display order."""
    return [d["Topic"]["Value"] for d in layout["Visualization Manager"]["Displays"] if "Topic" in d]
