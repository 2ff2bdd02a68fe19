"""rgbd.frame_state without ROS: pairing into the kept frame, its age by the camera's stamps, refusals, reset, and
one segmentation per kept frame and ROI."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.rgbd.depth import Intrinsics
from nvs_fusion_ros.rgbd.frame_state import FrameState, PairedFrame, stamp_text
from nvs_fusion_ros.rgbd.pipeline import CompletionOptions
from nvs_fusion_ros.rgbd.segmentation import NothingAbovePlaneError

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


def test_a_paired_frame_is_segmented_once_per_roi_and_a_failure_is_kept() -> None:
    """The segmentation count of one frame: the mask, the check before a completion and the completion share one."""
    small = Intrinsics(fx=153.75, fy=153.75, cx=79.5, cy=59.5, width=160, height=120)
    camera = tabletop.TabletopCamera(0.7, math.radians(40), intrinsics=small)
    vertices, faces = tabletop.box_mesh((0.08, 0.06, 0.12))
    box = tabletop.render(tabletop.TabletopObject(vertices, faces, 0.075, 0.5), camera)
    frame = PairedFrame("frame 10", box.colour, box.depth, box.intrinsics, CompletionOptions(mode="geometric"))
    first = frame.segmented()
    assert frame.segmented() is first and frame.segmentations == 1
    assert first.segmentation.mask.any() and not np.isnan(first.depth).all()
    roi = (40, 20, 80, 80)
    assert frame.segmented(roi) is frame.segmented(roi) and frame.segmentations == 2  # a new ROI is a new question

    table = tabletop.render(None, camera)
    empty = PairedFrame("frame 11", table.colour, table.depth, table.intrinsics, CompletionOptions(mode="geometric"))
    for _ in range(3):
        with pytest.raises(NothingAbovePlaneError):
            empty.segmented()
    assert empty.segmentations == 1
