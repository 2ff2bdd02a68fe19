"""QoS chosen by parameter: sensor-data in, reliable out (docs/DESIGN.md §5)."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

INPUT_QOS_CHOICES = ("sensor_data", "reliable")


def input_qos(name: str, depth: int) -> QoSProfile:
    """'sensor_data': best effort, as camera drivers publish (like rclpy's qos_profile_sensor_data);
    'reliable': for recorded or relayed streams."""
    if name == "sensor_data":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE,
                          history=HistoryPolicy.KEEP_LAST)
    if name == "reliable":
        return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                          history=HistoryPolicy.KEEP_LAST)
    raise ValueError(f"unknown QoS {name!r}; choose one of {list(INPUT_QOS_CHOICES)}")


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
