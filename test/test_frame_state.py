"""rgbd.frame_state without ROS: pairing into the kept frame, its age by the camera's stamps, refusals, reset."""

from __future__ import annotations

from nvs_fusion_ros.rgbd.frame_state import FrameState, stamp_text

S = 1_000_000_000


def test_age_is_measured_against_the_newest_stamp_received_and_a_reset_forgets_everything() -> None:
    state: FrameState[str] = FrameState(slop_ns=20_000_000)
    assert "no paired colour + depth + CameraInfo frame yet" in state.refusal(1.0)
    for stream in ("colour", "depth", "info"):
        state.received(10 * S)
        pair = state.add(stream, 10 * S, stream)
    assert pair is not None
    state.keep(10 * S, "frame 10")
    assert state.refusal(1.0) is None and state.age_s() == 0.0
    state.received(11 * S + 500_000_000)  # colour keeps arriving, nothing pairs
    assert state.age_s() == 1.5 and state.refusal(2.0) is None
    reason = state.refusal(1.0)
    assert reason is not None and "stamped 10.000000000" in reason and "1.500 s older" in reason
    assert "max_frame_age 1 s" in reason and "stamped 10.000000000 (1.500 s older" in state.describe()
    state.add("colour", 12 * S, "colour 12")  # waiting for its depth and CameraInfo
    state.reset()
    assert state.latest is None and state.newest_ns is None and state.pairer.held("colour") == 0
    assert state.add("depth", 12 * S, "depth 12") is None and state.add("info", 12 * S, "info 12") is None


def test_stamps_print_like_ros() -> None:
    assert stamp_text(1_733_581_200_033_000_000) == "1733581200.033000000"
    assert stamp_text(5) == "0.000000005"
