"""input_qos ``auto`` over real rclpy + Fast DDS: RELIABLE and BEST_EFFORT publishers are both received, each message
once although a RELIABLE publisher matches both subscriptions; ``reliable`` alone never hears a BEST_EFFORT one."""

from __future__ import annotations

import pytest
from builtin_interfaces.msg import Time
from rclpy.node import Node
from ros_testing import next_domain
from sensor_msgs.msg import CameraInfo, RegionOfInterest
from std_msgs.msg import Header

from nvs_fusion_ros.ros.harness import RosSession, wait_until
from nvs_fusion_ros.ros.qos import input_qos, subscribe_input

pytestmark = pytest.mark.ros


def test_auto_receives_reliable_and_best_effort_publishers_once_each() -> None:
    with RosSession(domain_id=next_domain()) as session:
        node = session.add(Node("listener", context=session.context))
        got: list[tuple[int, str]] = []
        reliable_only: list[int] = []
        auto = subscribe_input(node, CameraInfo, "stamps", lambda m: got.append((m.header.stamp.sec, m.header.frame_id)),
                               "auto", 10)
        subscribe_input(node, CameraInfo, "stamps", lambda m: reliable_only.append(m.header.stamp.sec), "reliable", 10)
        rois: list[int] = []
        subscribe_input(node, RegionOfInterest, "roi", lambda m: rois.append(m.width), "auto", 10)
        assert len(auto) == 2  # a reliable and a best-effort subscription
        talker = session.add(Node("talker", context=session.context))
        reliable = talker.create_publisher(CameraInfo, "stamps", input_qos("reliable", 10))
        best_effort = talker.create_publisher(CameraInfo, "stamps", input_qos("sensor_data", 10))
        roi = talker.create_publisher(RegionOfInterest, "roi", input_qos("reliable", 10))
        session.start()
        wait_until(lambda: reliable.get_subscription_count() == 3 and best_effort.get_subscription_count() == 1
                   and roi.get_subscription_count() == 2, 20, "the matches")  # reliable-only never matches best effort
        for sec in range(1, 6):
            reliable.publish(CameraInfo(header=Header(frame_id="r", stamp=Time(sec=sec))))
            best_effort.publish(CameraInfo(header=Header(frame_id="b", stamp=Time(sec=sec))))
        roi.publish(RegionOfInterest(width=7))
        wait_until(lambda: len(got) >= 10 and len(reliable_only) >= 5 and len(rois) >= 1, 20, "the messages")
        wait_until(lambda: len(rois) == 2, 5, "the headerless ROI through both subscriptions")  # state: a repeat is harmless
        # each (stamp, frame_id) once, from both publishers; the reliable-only subscription heard the reliable one only
        assert sorted(got) == sorted([(s, f) for s in range(1, 6) for f in ("r", "b")])
        assert sorted(reliable_only) == [1, 2, 3, 4, 5]
