"""The rgbd_completion node over real rclpy + Fast DDS (domains: ros_testing): mask and ROI per frame, the metric
cloud / meshes of ~/complete on a rendered box, bad depth counted with throttled log lines, refusals."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from message_readers import read_triangle_marker
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_testing import next_domain
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
from shape_msgs.msg import Mesh
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.rgbd import pipeline, segmentation
from nvs_fusion_ros.rgbd.depth import Intrinsics, decode_depth, remove_flying_pixels
from nvs_fusion_ros.ros import rgbd_node
from nvs_fusion_ros.ros.harness import RosSession, wait_until
from nvs_fusion_ros.ros.image_conversions import image_to_numpy, numpy_to_image, reset_marker
from nvs_fusion_ros.ros.node_base import WARN_EVERY_S
from nvs_fusion_ros.ros.qos import latched_qos, output_qos
from nvs_fusion_ros.ros.rgbd_messages import read_collision_mesh, read_confidence_cloud
from nvs_fusion_ros.ros.rgbd_node import RgbdCompletionNode

pytestmark = pytest.mark.ros
SMALL = Intrinsics(fx=307.5, fy=307.5, cx=159.5, cy=119.5, width=320, height=240)
BOX = (0.08, 0.06, 0.12)
FRAME_ID = "camera_color_optical_frame"


def scene(with_box: bool = True) -> tabletop.RGBDFrame:
    vertices, faces = tabletop.box_mesh(BOX)
    obj = tabletop.TabletopObject(vertices, faces, 0.5 * math.hypot(*BOX), math.radians(30)) if with_box else None
    return tabletop.render(obj, tabletop.TabletopCamera(0.7, math.radians(40), intrinsics=SMALL))


class Probe:
    """A session with the node under test and a probe node that publishes inputs and records outputs."""

    def __init__(self, checkpoint: Path, extra: tuple[Parameter, ...] = ()):
        self.session = RosSession(domain_id=next_domain())
        overrides = [Parameter("model_file_path", value=str(checkpoint)), Parameter("engine", value="torch"),
                     Parameter("num_hypotheses", value=2), Parameter("azimuths", value=3), Parameter("steps", value=2),
                     Parameter("resolution", value=32), Parameter("mask_period", value=0.0),
                     Parameter("input_qos", value="reliable"), Parameter("input_qos_depth", value=20), *extra]
        self.node = self.session.add(RgbdCompletionNode(context=self.session.context, parameter_overrides=overrides))
        self.probe = self.session.add(Node("probe", context=self.session.context))
        qos = output_qos(20)
        self.colour = self.probe.create_publisher(Image, "/camera/color/image_raw", qos)
        self.depth = self.probe.create_publisher(Image, "/camera/aligned_depth_to_color/image_raw", qos)
        self.info = self.probe.create_publisher(CameraInfo, "/camera/color/camera_info", qos)
        self.roi = self.probe.create_publisher(RegionOfInterest, "/object_roi", qos)
        self.received: dict[str, list] = {"mask": [], "roi": [], "object_cloud": [], "object_mesh": [], "collision_mesh": []}
        self._lock = threading.Lock()
        for name, kind in (("mask", Image), ("roi", RegionOfInterest), ("object_cloud", PointCloud2),
                           ("object_mesh", Marker), ("collision_mesh", Mesh)):
            self.probe.create_subscription(kind, f"/rgbd_completion/{name}", self._keeper(name), qos)
        self.trigger = self.probe.create_client(Trigger, "/rgbd_completion/complete")
        self.session.start()
        wait_until(lambda: self.colour.get_subscription_count() and self.depth.get_subscription_count()
                   and self.info.get_subscription_count() and self.trigger.service_is_ready(), 20, "discovery")

    def _keeper(self, name: str):
        def keep(msg: object) -> None:
            with self._lock:
                self.received[name].append(msg)
        return keep

    def count(self, name: str) -> int:
        with self._lock:
            return len(self.received[name])

    def send(self, frame: tabletop.RGBDFrame, sec: int, depth: Image | None = None, depth_offset_ns: int = 5_000_000,
             info: bool = True) -> Header:
        header = Header(frame_id=FRAME_ID)
        header.stamp.sec, header.stamp.nanosec = sec, 0
        self.colour.publish(numpy_to_image(frame.colour, "rgb8", header))
        if depth is None:
            depth = numpy_to_image(np.nan_to_num(frame.depth * 1000.0).round().astype(np.uint16), "16UC1")
        depth.header = Header(frame_id=FRAME_ID)
        depth.header.stamp.sec, depth.header.stamp.nanosec = sec, depth_offset_ns
        self.depth.publish(depth)
        if info:
            k = frame.intrinsics.matrix().reshape(-1).tolist()
            self.info.publish(CameraInfo(header=header, width=frame.intrinsics.width, height=frame.intrinsics.height, k=k))
        return header

    def complete(self) -> Trigger.Response:
        future = self.trigger.call_async(Trigger.Request())
        wait_until(future.done, 30, "the ~/complete answer")
        return future.result()

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def ros(tiny_checkpoint: Path) -> Iterator[Probe]:
    probe = Probe(tiny_checkpoint)
    yield probe
    probe.close()


def test_metric_cloud_and_meshes_of_a_box_on_a_table(ros: Probe) -> None:
    frame = scene()
    header = ros.send(frame, sec=10)
    wait_until(lambda: ros.count("mask") and ros.count("roi"), 20, "mask and ROI")
    mask = image_to_numpy(ros.received["mask"][0])
    sent = decode_depth(np.nan_to_num(frame.depth * 1000.0).round().astype(np.uint16), "16UC1")  # what send() publishes
    expected = segmentation.segment_object(frame.colour, remove_flying_pixels(sent, frame.intrinsics), frame.intrinsics)
    assert ros.received["mask"][0].header.stamp == header.stamp and mask.shape == (240, 320)
    assert ((mask > 0) == expected.mask).mean() > 0.999  # Open3D's multithreaded plane fit can move a pixel or two
    answer = ros.complete()
    assert answer.success and "queued" in answer.message, answer.message
    wait_until(lambda: ros.count("object_cloud") and ros.count("object_mesh") and ros.count("collision_mesh"), 120,
               "cloud and meshes")
    cloud = ros.received["object_cloud"][0]
    assert cloud.header.frame_id == FRAME_ID and cloud.header.stamp == header.stamp
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1), ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1), ("confidence", 16, PointField.FLOAT32, 1)]
    assert cloud.point_step == 20 and cloud.row_step == 20 * cloud.width and cloud.height == 1 and not cloud.is_bigendian
    points, colors, confidence = read_confidence_cloud(cloud)
    assert ((confidence >= 0) & (confidence <= 1)).all()
    # units and placement: the visible box surface is there in metres, within 3 mm of the true surface
    from scipy.spatial import cKDTree

    distance = cKDTree(frame.surface_points).query(points)[0]
    assert (distance < 0.003).sum() >= 0.95 * len(expected.points)
    centre = frame.world_to_optical[:3, :3] @ np.array([0, 0, BOX[2] / 2]) + frame.world_to_optical[:3, 3]
    assert np.linalg.norm(points - centre, axis=1).max() < 2.5 * 0.5 * math.hypot(*BOX)  # metres, around the box
    assert (colors[: len(expected.points)] == expected.colors).mean() > 0.95
    marker = ros.received["object_mesh"][0]
    assert marker.header.frame_id == FRAME_ID and marker.header.stamp == header.stamp and marker.type == Marker.TRIANGLE_LIST
    corners, rgba = read_triangle_marker(marker)
    assert rgba.shape == (len(corners), 3, 4) and (rgba[..., 3] == 1).all()
    vertices, faces = read_collision_mesh(ros.received["collision_mesh"][0])
    assert len(faces) == len(corners) > 0 and np.allclose(vertices[faces], corners, atol=1e-6)


def test_the_geometric_mode_completes_without_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """completion_mode 'geometric' loads no model (the path does not exist) and still publishes the box's hidden side;
    the frame is segmented once for its mask, the check before the completion and the completion together."""
    calls: list[tuple[int, int]] = []

    def counted(colour: np.ndarray, *args: object, **kwargs: object) -> segmentation.Segmentation:
        calls.append(colour.shape[:2])
        return segmentation.segment_object(colour, *args, **kwargs)

    monkeypatch.setattr(pipeline, "segment_object", counted)  # the one place the node's segmentations run
    assert not hasattr(rgbd_node, "segment_object")  # the node has no way around it
    probe = Probe(tmp_path / "no_such_model.pt", (Parameter("completion_mode", value="geometric"),))
    try:
        assert probe.node.synthesizer is None
        frame = scene()
        header = probe.send(frame, sec=10)
        wait_until(lambda: probe.count("mask"), 20, "the mask")
        assert probe.complete().success
        wait_until(lambda: probe.count("object_cloud") and probe.count("collision_mesh"), 60, "cloud and mesh")
        assert len(calls) == 1 and probe.node.frames.latest.segmentations == 1, calls  # the mask's, reused twice
        cloud = probe.received["object_cloud"][0]
        assert cloud.header.stamp == header.stamp
        points, _, _ = read_confidence_cloud(cloud)
        from scipy.spatial import cKDTree

        seen = len(segmentation.segment_object(frame.colour, frame.depth, frame.intrinsics).points)
        completed = points[seen:]
        assert len(completed) > 0.3 * seen  # the hidden faces of a box are about as large as the seen ones
        # the hidden faces, in metres: the mirror and the surface of revolution agree on a box's to a few millimetres
        # (the revolution's round profile misses its corners; a box is the hull's case, not a witness's)
        assert np.median(cKDTree(frame.surface_points).query(completed)[0]) < 0.008
        vertices, faces = read_collision_mesh(probe.received["collision_mesh"][0])
        assert len(faces) > 0 and np.median(cKDTree(frame.surface_points).query(vertices)[0]) < 0.01
    finally:
        probe.close()


def throttled_lines(err: str, text: str, started: float, dropped: int) -> bool:
    """True when ``text`` was logged at least once, at most once per WARN_EVERY_S since ``started`` (the throttle's
    promise, which holds however slowly a loaded machine delivers the frames: a slow CI run spread the missing-
    CameraInfo drops over two windows and logged two lines, correctly) and fewer times than ``dropped``."""
    windows = 1 + int((time.monotonic() - started) // WARN_EVERY_S)
    return 1 <= err.count(text) <= windows and err.count(text) < dropped


def test_bad_depth_is_counted_with_few_log_lines_and_the_node_stays_alive(ros: Probe, capfd: pytest.CaptureFixture) -> None:
    started = time.monotonic()
    frame = scene()
    nan_depth = numpy_to_image(np.full((240, 320), np.nan, np.float32), "32FC1")
    zeros = numpy_to_image(np.zeros((240, 320), np.uint16), "16UC1")
    small = numpy_to_image(np.full((120, 160), 700, np.uint16), "16UC1")
    mono = numpy_to_image(np.zeros((240, 320), np.uint8), "mono8")
    for sec, depth in enumerate([nan_depth, zeros, small, nan_depth], start=1):
        ros.send(frame, sec, depth)
    wait_until(lambda: ros.node.dropped["frame"] == 4, 20, "four bad frames counted")
    ros.send(frame, 5, mono)
    wait_until(lambda: ros.node.dropped["depth"] == 1, 20, "the wrong encoding counted")
    for sec in range(6, 20):  # no CameraInfo at all
        ros.send(frame, sec, info=False)
    wait_until(lambda: ros.node.dropped["no_info"] >= 1, 20, "missing CameraInfo noticed")
    for sec in range(20, 40):  # depth 200 ms off: never pairs within the 20 ms slop; 10 fall out of the queue
        ros.send(frame, sec, depth_offset_ns=200_000_000)
    wait_until(lambda: ros.node.dropped["no_depth"] >= 10, 20, "stamps that never pair counted")
    assert ros.node.paired == 0 and ros.count("mask") == 0
    answer = ros.complete()  # alive, and says why it cannot complete
    assert not answer.success and "no paired colour + depth + CameraInfo frame" in answer.message
    err = capfd.readouterr().err
    assert ros.node.dropped["frame"] == 4 and throttled_lines(err, "dropped a paired frame", started, 4), err
    assert "depth holds no valid reading" in err and "16UC1 (mm) or 32FC1 (m)" in err
    assert throttled_lines(err, "find no /camera/color/camera_info message within sync_slop", started,
                           ros.node.dropped["no_info"]), err
    assert throttled_lines(err, "find no /camera/aligned_depth_to_color/image_raw message within sync_slop 0.02 s",
                           started, ros.node.dropped["no_depth"]), err
    ros.send(frame, 50)  # a good frame still goes through
    wait_until(lambda: ros.node.paired == 1 and ros.count("mask") == 1, 20, "a good frame after the bad ones")


def test_an_empty_table_is_refused_and_nothing_is_published(ros: Probe) -> None:
    ros.send(scene(with_box=False), sec=1)
    wait_until(lambda: ros.node.paired == 1, 20, "the empty table paired")
    answer = ros.complete()
    assert not answer.success and "refused: nothing stands on the support plane" in answer.message, answer.message
    wait_until(lambda: ros.node.dropped["segmentation"] == 1, 20, "the mask job's refusal")  # masks run on a thread
    assert ros.count("mask") == 0
    header = ros.send(scene(), sec=2)
    wait_until(lambda: ros.node.paired == 2, 20, "the box paired")
    assert ros.complete().success
    wait_until(lambda: ros.count("object_cloud") == 1, 120, "the box's cloud")
    assert ros.received["object_cloud"][0].header.stamp == header.stamp  # the first cloud is the box's: none came before


def test_a_given_roi_chooses_the_object(tiny_checkpoint: Path) -> None:
    ros = Probe(tiny_checkpoint, (Parameter("roi_topic", value="/object_roi"),))
    try:
        wait_until(lambda: ros.roi.get_subscription_count() > 0, 20, "the ROI subscription")
        ros.roi.publish(RegionOfInterest(x_offset=0, y_offset=0, width=60, height=60))  # a corner: table only
        wait_until(lambda: ros.node._roi == (0, 0, 60, 60), 20, "the ROI")
        ros.send(scene(), sec=1)
        wait_until(lambda: ros.node.paired == 1, 20, "the frame paired")
        answer = ros.complete()
        assert not answer.success and "nothing stands on the support plane" in answer.message
        ros.roi.publish(RegionOfInterest(x_offset=100, y_offset=40, width=120, height=160))  # around the box
        wait_until(lambda: ros.node._roi == (100, 40, 120, 160), 20, "the new ROI")
        assert ros.complete().success
        wait_until(lambda: ros.count("object_cloud") == 1, 120, "the box's cloud")
    finally:
        ros.close()


@pytest.mark.parametrize("grazing", [85.0, 90.0])
def test_the_mask_is_segmented_after_the_flying_pixels_leave(tiny_checkpoint: Path, grazing: float) -> None:
    frame = scene()
    frame.depth = tabletop.sensor_depth(frame.depth, np.random.default_rng(0))
    sent = np.nan_to_num(frame.depth * 1000.0).round().astype(np.uint16)  # what send() publishes
    depth = decode_depth(sent, "16UC1")
    filtered, raw = (segmentation.segment_object(frame.colour, remove_flying_pixels(depth, SMALL, g), SMALL).mask
                     for g in (85.0, 90.0))
    assert (filtered != raw).sum() >= 10  # the filter changes the mask here, so the check below can fail
    ros = Probe(tiny_checkpoint, (Parameter("max_grazing_deg", value=grazing),))
    try:
        ros.send(frame, sec=3)
        wait_until(lambda: ros.count("mask"), 20, "the mask")
        got = image_to_numpy(ros.received["mask"][0]) > 0
        # Open3D's multithreaded plane fit can move a pixel or two between runs
        assert (got != (filtered if grazing == 85.0 else raw)).sum() <= 3
    finally:
        ros.close()


def test_key_views_condition_the_completion_but_not_the_anchors_own_and_a_reset_clears_them(ros: Probe) -> None:
    views = ros.probe.create_publisher(Image, "/views", latched_qos(6))
    wait_until(lambda: views.get_subscription_count() > 0, 20, "the node on views")
    for sec, level in ((3, 40), (5, 200), (10, 120)):  # the last is the anchor frame's own key view
        header = Header(frame_id=FRAME_ID, stamp=Time(sec=sec))
        views.publish(numpy_to_image(np.full((64, 64, 3), level, np.uint8), "rgb8", header))
    wait_until(lambda: len(ros.node.views) == 3, 20, "three key views")
    ros.send(scene(), sec=10)
    wait_until(lambda: ros.node.paired == 1, 20, "the frame paired")
    answer = ros.complete()
    assert answer.success and "with 2 other key view(s)" in answer.message, answer.message
    wait_until(lambda: ros.count("object_cloud") == 1, 120, "the cloud")
    views.publish(reset_marker(Header(stamp=Time(sec=11))))
    wait_until(lambda: len(ros.node.views) == 0, 20, "the reset marker to clear the key views")
    answer = ros.complete()
    assert answer.success and "with 0 other key view(s)" in answer.message, answer.message
    wait_until(lambda: ros.count("object_cloud") == 2, 120, "the second cloud")
