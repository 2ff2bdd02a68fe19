"""The ROS test fixture: ``harness.RosSession`` on a domain of this test run, plus a probe node for test traffic.

Domains: ``NVS_ROS_TEST_DOMAINS`` ("62-66") names the ROS_DOMAIN_IDs this run may use; without
it a block of 8 is chosen from the pid. Each session takes the next domain of the block in
turn, so parallel runs with disjoint blocks never cross-talk and consecutive tests of one run do
not see each other's late DDS traffic.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from nvs_fusion_ros.ros.harness import RosSession, wait_until
from nvs_fusion_ros.ros.image_conversions import numpy_to_image
from nvs_fusion_ros.ros.novel_view_node import NovelViewNode
from nvs_fusion_ros.ros.qos import output_qos
from nvs_fusion_ros.ros.video_node import VideoSynthesisNode
from nvs_fusion_ros.ros.view_buffer_node import ViewBufferNode


def _domain_block() -> range:
    spec = os.environ.get("NVS_ROS_TEST_DOMAINS", "")
    if spec:
        first, _, last = spec.partition("-")
        return range(int(first), int(last or first) + 1)
    base = 20 + os.getpid() % 24 * 8
    return range(base, base + 8)


_domains = itertools.cycle(_domain_block())


def next_domain() -> int:
    return next(_domains)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    wait_until(condition, timeout, what, AssertionError)


def as_params(values: dict[str, object]) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in values.items()]


class Ros:
    """A spinning session on the next test domain, with a probe node and factories for the nodes."""

    def __init__(self, checkpoint: Path, domain_id: int | None = None):
        self.checkpoint = checkpoint
        self.domain_id = next_domain() if domain_id is None else domain_id
        self.session = RosSession(domain_id=self.domain_id)
        self.context = self.session.context
        self.probe = self.add(Node("probe", context=self.context))
        self.session.start()

    def add(self, node: Node) -> Node:
        return self.session.add(node)

    def buffer(self, **params: object) -> ViewBufferNode:
        params = {"input_qos": "reliable", "min_view_difference": 0.02, **params}
        return self.add(ViewBufferNode(context=self.context, parameter_overrides=as_params(params)))

    def novel_view(self, **params: object) -> NovelViewNode:
        params = {"model_file_path": str(self.checkpoint), "engine": "torch", "device": "cpu", "steps": 2,
                  "num_hypotheses": 2, "seed": 7, "target_angles": [0.0, math.pi], **params}
        return self.add(NovelViewNode(context=self.context, parameter_overrides=as_params(params)))

    def video(self, **params: object) -> VideoSynthesisNode:
        params = {"model_file_path": str(self.checkpoint), "engine": "torch", "device": "cpu", "steps": 2, "seed": 7,
                  "target_angles": [0.0, math.pi], **params}
        return self.add(VideoSynthesisNode(context=self.context, parameter_overrides=as_params(params)))

    def collect(self, msg_type: type, topic: str, qos: object = None) -> list:
        received: list = []
        self.probe.create_subscription(msg_type, topic, received.append, qos or output_qos(50))
        return received

    def diagnostics(self, node: str = "novel_view") -> list:
        """The /diagnostics arrays of one node (each node publishes its own there), as they arrive."""
        received: list = []

        def keep(array: DiagnosticArray) -> None:
            if array.status and array.status[0].name.startswith(f"/{node}: "):
                received.append(array)

        self.probe.create_subscription(DiagnosticArray, "/diagnostics", keep, output_qos(50))
        return received

    def close(self) -> None:
        self.session.close()


def grey_image(level: int, stamp_sec: int, encoding: str = "rgb8", frame_id: str = "cam") -> Image:
    """A 32x24 image of one grey level with a block of another, so letterboxing and thumbnails matter."""
    header = Header(frame_id=frame_id)
    header.stamp.sec = stamp_sec
    pixels = np.full((24, 32, 3), level, np.uint8)
    pixels[8:16, 8:24] = (level + 128) % 256
    return numpy_to_image(pixels if encoding == "rgb8" else pixels[..., ::-1].copy(), encoding, header)


def publisher_to(ros: Ros, topic: str, qos: object = None, msg_type: type = Image) -> Publisher:
    """A probe publisher on ``topic``, once a subscriber has matched."""
    publisher = ros.probe.create_publisher(msg_type, topic, qos or output_qos(10))
    wait_for(lambda: publisher.get_subscription_count() >= 1, what=f"a subscriber on {topic}")
    return publisher
