"""rgbd_completion over real rclpy + Fast DDS: a reset forgets the paired frame, the messages waiting to pair and the
queued and running completions; ~/complete refuses a frame older than max_frame_age and names the frame's stamp."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Empty, Header
from test_rgbd_node import FRAME_ID, Probe, scene

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.ros.harness import wait_until
from nvs_fusion_ros.ros.image_conversions import numpy_to_image, stamp_ns
from nvs_fusion_ros.ros.qos import reset_qos

pytestmark = pytest.mark.ros


class ResetProbe(Probe):
    def __init__(self, checkpoint: Path, extra: tuple[Parameter, ...] = ()):
        super().__init__(checkpoint, extra)
        self.reset_pub = self.probe.create_publisher(Empty, "/reset", reset_qos())
        wait_until(lambda: self.reset_pub.get_subscription_count() > 0, 20, "the node on reset")

    def reset(self) -> None:
        resets = self.node.resets
        self.reset_pub.publish(Empty())
        wait_until(lambda: self.node.resets == resets + 1, 20, "the reset")

    def colour_only(self, frame: object, sec: int) -> None:
        header = Header(frame_id=FRAME_ID)
        header.stamp.sec = sec
        self.colour.publish(numpy_to_image(frame.colour, "rgb8", header))
        wait_until(lambda: self.node.frames.newest_ns == stamp_ns(header), 20, f"the colour image stamped {sec}")


@pytest.fixture
def ros(tiny_checkpoint: Path) -> Iterator[ResetProbe]:
    probe = ResetProbe(tiny_checkpoint)
    yield probe
    probe.close()


def paired_scene(ros: ResetProbe, sec: int) -> tabletop.RGBDFrame:
    """Send a box scene stamped ``sec`` and wait until it paired."""
    frame, paired = scene(), ros.node.paired
    ros.send(frame, sec)
    wait_until(lambda: ros.node.paired == paired + 1, 20, f"the frame stamped {sec} paired")
    return frame


def test_a_reset_forgets_the_paired_frame_and_the_messages_waiting_to_pair(ros: ResetProbe) -> None:
    frame = paired_scene(ros, 10)
    ros.reset()
    answer = ros.complete()
    assert not answer.success and "no paired colour + depth + CameraInfo frame yet" in answer.message, answer.message
    # a colour image before the reset must not pair with the depth and CameraInfo of its stamp after it
    ros.colour_only(frame, sec=20)
    ros.reset()
    depth = numpy_to_image(np.nan_to_num(frame.depth * 1000.0).round().astype(np.uint16), "16UC1")
    depth.header = Header(frame_id=FRAME_ID)
    depth.header.stamp.sec, depth.header.stamp.nanosec = 20, 5_000_000
    ros.depth.publish(depth)
    k = frame.intrinsics.matrix().reshape(-1).tolist()
    info_header = Header(frame_id=FRAME_ID)
    info_header.stamp.sec = 20
    ros.info.publish(CameraInfo(header=info_header, width=frame.intrinsics.width, height=frame.intrinsics.height, k=k))
    wait_until(lambda: ros.node.frames.pairer.held("depth") == 1 and ros.node.frames.pairer.held("info") == 1, 20,
               "depth and CameraInfo waiting")
    assert ros.node.paired == 1 and ros.node.frames.pairer.held("colour") == 0  # nothing paired since the first frame
    ros.send(frame, sec=21)
    wait_until(lambda: ros.node.paired == 2, 20, "the new scene's frame paired")
    answer = ros.complete()
    assert answer.success and "stamped 21.000000000" in answer.message, answer.message


def test_a_reset_cancels_the_queued_and_running_completions_and_nothing_of_them_is_published(tiny_checkpoint: Path) -> None:
    slow = (Parameter("steps", value=100), Parameter("azimuths", value=16))  # seconds of sampling: the reset lands inside
    ros = ResetProbe(tiny_checkpoint, slow)
    try:
        paired_scene(ros, 10)
        assert ros.complete().success
        wait_until(lambda: ros.node.worker.busy_with == "complete", 20, "the completion running")
        assert ros.complete().success  # a second one waits behind it
        assert ros.node.worker.waiting() == ["complete"]
        ros.reset()
        wait_until(ros.node.worker.idle, 60, "the running completion to stop at its next step")
        assert ros.node.worker.cancelled == 2 and ros.node.worker.done == 0 and ros.node.completions == 0
        header = ros.send(scene(), sec=30)
        wait_until(lambda: ros.node.paired == 2, 20, "the new scene's frame paired")
        quick = replace(ros.node.options.sampling, steps=2)  # the new scene's completion may be quick
        ros.node.options = replace(ros.node.options, sampling=quick, azimuths=3)
        assert ros.complete().success
        wait_until(lambda: ros.count("object_cloud") == 1, 120, "the new scene's cloud")
        # one reliable publisher delivers in order: a cloud of a cancelled job would have come first
        assert ros.received["object_cloud"][0].header.stamp == header.stamp
        wait_until(lambda: ros.node.completions == 1, 20, "the completion counted")  # counted after it published
    finally:
        ros.close()


def test_complete_refuses_a_frame_older_than_max_frame_age_and_names_its_stamp(ros: ResetProbe) -> None:
    frame = paired_scene(ros, 10)
    answer = ros.complete()
    assert answer.success and "the frame stamped 10.000000000 (0.005 s older" in answer.message, answer.message
    assert "in 'camera_color_optical_frame'" in answer.message
    ros.colour_only(frame, sec=12)  # depth and CameraInfo lost from here on: the paired frame is 2 s old
    answer = ros.complete()
    assert not answer.success, answer.message
    assert "stamped 10.000000000" in answer.message and "2.000 s older" in answer.message
    assert "max_frame_age 1 s" in answer.message
    ros.node.set_parameters([Parameter("max_frame_age", value=5.0)])
    answer = ros.complete()
    assert answer.success and "stamped 10.000000000" in answer.message and "2.000 s older" in answer.message
