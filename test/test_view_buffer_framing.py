"""view_buffer on whole camera frames over real rclpy + Fast DDS: a frame with no mask and no ROI larger than
max_uncropped_size is refused with one throttled warning naming the ways to select the object; crops are taken."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from ros_testing import Ros, publisher_to, wait_for
from sensor_msgs.msg import RegionOfInterest
from std_msgs.msg import Header

from nvs_fusion_ros.ros.image_conversions import numpy_to_image
from nvs_fusion_ros.ros.qos import output_qos
from nvs_fusion_ros.ros.view_buffer_node import WARN_EVERY_S

pytestmark = pytest.mark.ros


@pytest.fixture
def ros(tiny_checkpoint: Path) -> Iterator[Ros]:
    harness = Ros(tiny_checkpoint)
    yield harness
    harness.close()


def scene_frame(sec: int, width: int = 640, height: int = 480, level: int = 90) -> object:
    """A cluttered-looking frame: noise everywhere, no white background to find an object by."""
    pixels = np.random.default_rng(sec).integers(0, 256, (height, width, 3), dtype=np.uint8)
    pixels[height // 3: 2 * height // 3, width // 3: 2 * width // 3] = level
    return numpy_to_image(pixels, "rgb8", Header(stamp=Time(sec=sec), frame_id="cam"))


def test_a_whole_scene_is_refused_with_one_warning_and_a_crop_is_taken(ros: Ros, capfd: pytest.CaptureFixture) -> None:
    buffer = ros.buffer()  # the shipped defaults: no roi_topic, no mask_topic, max_uncropped_size 256
    camera = publisher_to(ros, "/camera/image_raw")
    started = time.monotonic()
    for sec in range(1, 6):
        camera.publish(scene_frame(sec))
    wait_for(lambda: buffer.dropped["uncropped"] == 5, what="five whole frames refused")
    assert buffer.images_received == 5 and len(buffer.key_views) == 0
    camera.publish(scene_frame(6, 200, 150))  # a detector's crop: at most max_uncropped_size, taken whole
    wait_for(lambda: len(buffer.key_views) == 1, what="the crop kept")
    assert buffer.dropped["uncropped"] == 5
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "is a whole scene" in line]
    assert 1 <= len(lines) <= 1 + int((time.monotonic() - started) // WARN_EVERY_S), err  # throttled
    assert "640x480" in lines[0] and "no roi_topic or mask_topic is set" in lines[0]
    assert all(name in lines[0] for name in ("roi_topic", "mask_topic", "rgbd:=true", "max_uncropped_size")), lines[0]


def test_with_roi_topic_a_frame_waits_for_its_roi_and_zero_takes_whole_frames(ros: Ros,
                                                                               capfd: pytest.CaptureFixture) -> None:
    buffer = ros.buffer(roi_topic="roi")
    roi = ros.probe.create_publisher(RegionOfInterest, "roi", output_qos(10))
    camera = publisher_to(ros, "/camera/image_raw")
    wait_for(lambda: roi.get_subscription_count() >= 1, what="view_buffer on roi")
    camera.publish(scene_frame(1))
    wait_for(lambda: buffer.dropped["uncropped"] == 1, what="the frame refused until an ROI arrives")
    assert "no ROI received on roi yet" in capfd.readouterr().err
    roi.publish(RegionOfInterest(x_offset=213, y_offset=160, width=214, height=160))
    wait_for(lambda: buffer._roi is not None, what="the ROI")
    camera.publish(scene_frame(2))
    wait_for(lambda: len(buffer.key_views) == 1, what="the cropped frame kept")
    whole = ros.buffer(max_uncropped_size=0, image_topics=["/other/image_raw"])
    other = publisher_to(ros, "/other/image_raw")
    other.publish(scene_frame(3))
    wait_for(lambda: len(whole.key_views) == 1, what="a whole frame kept with max_uncropped_size 0")
    assert whole.dropped["uncropped"] == 0
