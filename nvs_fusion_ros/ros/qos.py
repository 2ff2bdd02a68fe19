"""QoS chosen by parameter: camera inputs as every driver publishes them, reliable out (docs/DESIGN.md §5).

Camera drivers disagree on reliability: realsense-ros publishes with the system default QoS (RELIABLE,
history depth 1 under Fast DDS), many others with the sensor-data profile (BEST_EFFORT). A RELIABLE
subscription never matches a BEST_EFFORT publisher, and a BEST_EFFORT subscription turns a RELIABLE
stream into a best-effort one, which loses most frames of 640x480 images that travel as UDP fragments
(docs/troubleshooting.md). So ``input_qos: auto`` (the default) subscribes twice, RELIABLE and BEST_EFFORT:
each publisher is received at the best reliability it offers, and a message that arrives through both
subscriptions is passed on once (``subscribe_input``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription

INPUT_QOS_CHOICES = ("auto", "sensor_data", "reliable")
#: stamps remembered per topic to recognise a message's second arrival (auto): a second of a 30 Hz camera
SEEN_STAMPS = 32


def input_qos(name: str, depth: int) -> QoSProfile:
    """'sensor_data': best effort, as many camera drivers publish (like rclpy's qos_profile_sensor_data);
    'reliable': as realsense-ros publishes, and for recorded or relayed streams. ('auto' is both: ``input_qos_profiles``.)"""
    if name == "sensor_data":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE,
                          history=HistoryPolicy.KEEP_LAST)
    if name == "reliable":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                          history=HistoryPolicy.KEEP_LAST)
    raise ValueError(f"unknown QoS {name!r}; choose one of {list(INPUT_QOS_CHOICES)}")


def input_qos_profiles(name: str, depth: int) -> tuple[QoSProfile, ...]:
    """The subscriptions an ``input_qos`` value makes: 'auto' = a reliable and a best-effort one."""
    return tuple(input_qos(n, depth) for n in (("reliable", "sensor_data") if name == "auto" else (name,)))


class _FirstArrival:
    """Passes each message on once however many subscriptions deliver it: a message with a header is known by
    its stamp and frame_id among the last ``SEEN_STAMPS`` of the topic; one without a header (RegionOfInterest)
    is state, and a repeat of it changes nothing, so it passes."""

    def __init__(self, callback: Callable[[object], None]):
        self._callback = callback
        self._seen: deque[tuple[int, int, str]] = deque(maxlen=SEEN_STAMPS)

    def __call__(self, msg: object) -> None:
        header = getattr(msg, "header", None)
        if header is not None:
            key = (header.stamp.sec, header.stamp.nanosec, header.frame_id)
            if key in self._seen:
                return
            self._seen.append(key)
        self._callback(msg)


def subscribe_input(node: Node, msg_type: type, topic: str, callback: Callable[[object], None], name: str,
                    depth: int) -> list[Subscription]:
    """Subscribe ``callback`` to a camera-side ``topic`` with the ``input_qos`` value ``name`` (one or two
    subscriptions; with two, each message reaches ``callback`` once). Callbacks of one node run one at a time
    (its default callback group), so the filter needs no lock."""
    profiles = input_qos_profiles(name, depth)
    deliver = _FirstArrival(callback) if len(profiles) > 1 else callback
    return [node.create_subscription(msg_type, topic, deliver, profile) for profile in profiles]


def output_qos(depth: int) -> QoSProfile:
    """Reliable, volatile, keep-last ``depth``: results for live consumers."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                      history=HistoryPolicy.KEEP_LAST)


def latched_qos(depth: int) -> QoSProfile:
    """Reliable + transient-local: a late subscriber gets the last ``depth`` messages (the key-view set)."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                      history=HistoryPolicy.KEEP_LAST)


RESET_DEPTH = 100  # resets are tiny and must not be lost while a busy node catches up (a storm of them is legal)


def reset_qos() -> QoSProfile:
    """Reliable, volatile, keep-last ``RESET_DEPTH``: the ``reset`` subscriptions."""
    return output_qos(RESET_DEPTH)
