"""PointCloud2 and TRIANGLE_LIST Marker conversions: layout, validity, and round trips through real serialisation."""

from __future__ import annotations

import numpy as np
import pytest
from message_readers import read_point_cloud2, read_triangle_marker
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from nvs_fusion_ros.ros.cloud_messages import point_cloud2, triangle_marker


def header() -> Header:
    message = Header(frame_id="object")
    message.stamp.sec, message.stamp.nanosec = 12, 345
    return message


def random_cloud(count: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, 3)).astype(np.float32), rng.integers(0, 256, (count, 3), dtype=np.uint8)


def test_point_cloud2_layout_and_round_trip() -> None:
    points, colors = random_cloud()
    message = point_cloud2(points, colors, header())
    assert [(f.name, f.offset, f.datatype, f.count) for f in message.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1), ("rgb", 12, PointField.FLOAT32, 1)]
    assert (message.height, message.width, message.point_step, message.row_step) == (1, 50, 16, 800)
    assert len(message.data) == 800 and message.is_dense and not message.is_bigendian
    assert message.header.frame_id == "object" and message.header.stamp.nanosec == 345
    # PCL's packing: the float's bits are 0x00RRGGBB.
    first = np.frombuffer(bytes(message.data[12:16]), "<u4")[0]
    assert first == (int(colors[0, 0]) << 16) | (int(colors[0, 1]) << 8) | int(colors[0, 2])
    wire = deserialize_message(serialize_message(message), PointCloud2)
    read_points, read_colors = read_point_cloud2(wire)
    assert np.array_equal(read_points, points) and np.array_equal(read_colors, colors)


def test_point_cloud2_with_nan_is_not_dense_and_bad_input_is_refused() -> None:
    points, colors = random_cloud(4)
    points[2, 1] = np.nan
    assert not point_cloud2(points, colors, header()).is_dense
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        point_cloud2(points[:, :2], colors, header())
    with pytest.raises(ValueError, match="uint8"):
        point_cloud2(points, colors.astype(np.float32), header())
    wrong = point_cloud2(*random_cloud(3), header())
    wrong.fields = wrong.fields[:3]
    with pytest.raises(ValueError, match="rgb"):
        read_point_cloud2(wrong)


def test_triangle_marker_is_valid_and_round_trips() -> None:
    vertices, colors = random_cloud(8, seed=1)
    faces = np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7], [7, 0, 3]])
    message = triangle_marker(vertices, faces, colors, header(), namespace="mesh", marker_id=3)
    assert message.type == Marker.TRIANGLE_LIST and message.action == Marker.ADD
    assert (message.ns, message.id, message.header.frame_id) == ("mesh", 3, "object")
    assert len(message.points) == 3 * len(faces) == len(message.colors)
    assert all(c.a == 1.0 for c in message.colors)
    assert (message.scale.x, message.scale.y, message.scale.z) == (1.0, 1.0, 1.0)
    pose = message.pose
    assert (pose.position.x, pose.position.y, pose.position.z) == (0.0, 0.0, 0.0)
    assert (pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w) == (0.0, 0.0, 0.0, 1.0)
    wire = deserialize_message(serialize_message(message), Marker)
    corners, corner_colors = read_triangle_marker(wire)
    assert np.allclose(corners, vertices[faces], atol=1e-6)
    assert np.allclose(corner_colors[..., :3], colors[faces] / 255.0) and np.all(corner_colors[..., 3] == 1.0)


def test_triangle_marker_refuses_bad_meshes() -> None:
    vertices, colors = random_cloud(3)
    with pytest.raises(ValueError, match="faces"):
        triangle_marker(vertices, np.array([[0, 1, 5]]), colors, header())
    with pytest.raises(ValueError, match="faces"):
        triangle_marker(vertices, np.array([0, 1, 2]), colors, header())
    broken = triangle_marker(vertices, np.array([[0, 1, 2]]), colors, header())
    broken.points = broken.points[:2]
    broken.colors = broken.colors[:2]
    with pytest.raises(ValueError, match="whole triangles"):
        read_triangle_marker(broken)
    broken.type = Marker.POINTS
    with pytest.raises(ValueError, match="TRIANGLE_LIST"):
        read_triangle_marker(broken)
