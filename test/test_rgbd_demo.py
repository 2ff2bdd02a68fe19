"""``nvs-fusion demo --rgbd`` end to end over Fast DDS (a domain of this run) with a tiny random model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ros_testing import next_domain

from nvs_fusion_ros.cli import main
from nvs_fusion_ros.rgbd.pipeline import MIN_CONFIDENCE, CompletionOptions


@pytest.mark.ros
def test_demo_rgbd_writes_cloud_mesh_picture_and_summary(tiny_checkpoint: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture) -> None:
    """Through the real command line: ``--rgbd`` must reach ``run_rgbd`` (the RGB demo writes no cloud.ply)."""
    monkeypatch.setenv("ROS_DOMAIN_ID", str(next_domain()))
    out = tmp_path / "demo"
    assert main(["demo", "--rgbd", "--rgbd-azimuths", "3", "--model", str(tiny_checkpoint), "--engine", "torch",
                 "--device", "cpu", "--steps", "2", "--timeout", "120", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    # no --num-hypotheses: the node's own K, the one its min_confidence default is chosen for (not the RGB demo's 4)
    k = CompletionOptions.num_hypotheses
    assert summary["num_hypotheses"] == k and summary["min_confidence"] == MIN_CONFIDENCE
    assert summary["frame_id"] == "camera_color_optical_frame" and summary["stamp"] == "1.200000000"
    # the demo splits the cloud where the node did: its visible count is the one the node logged
    err = capfd.readouterr().err
    assert f"({CompletionOptions.mode}) samples {k} hypotheses at 3 azimuths and publishes the completed points of " \
           f"confidence at least {MIN_CONFIDENCE:g}" in err
    logged = re.findall(r"published (\d+) visible \+ (\d+) completed points \((\d+) below min_confidence", err)
    assert logged and summary["visible_points"] > 1000
    assert [int(n) for n in logged[-1][:2]] == [summary["visible_points"], summary["completed_points"]]
    assert int(logged[-1][2]) > 0  # the random model's hypotheses disagree somewhere: the filter below had work to do
    assert summary["scores"]["visible"]["precision_5mm"] > 0.99  # the visible points are in metres where the box is
    assert summary["timings_s"]["cloud_after_request"] > 0
    header = (out / "cloud.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert f"element vertex {summary['points']}" in header and "property float confidence" in header
    body = (out / "cloud.ply").read_bytes().split(b"end_header\n", 1)[1]
    rows = np.frombuffer(body, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3), ("confidence", "<f4")])
    assert len(rows) == summary["points"] and ((rows["confidence"] >= 0) & (rows["confidence"] <= 1)).all()
    assert (rows["confidence"][:summary["visible_points"]] == 1).all()
    assert (rows["confidence"] >= MIN_CONFIDENCE).all()  # the node's default min_confidence left the unsure points out
    assert f"element face {summary['mesh_triangles']}" in (out / "mesh.ply").read_bytes()[:400].decode(errors="ignore")
    for picture in ("rgbd_completion.png", "colour.png"):
        assert (out / picture).stat().st_size > 1000


def test_the_command_line_does_not_load_ros_or_open3d_for_rgbd_arguments() -> None:
    """``demo`` imports ``rgbd_demo`` for its arguments at every ``nvs-fusion`` start; ROS and Open3D wait for a run."""
    code = ("import sys; from nvs_fusion_ros.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('rclpy', 'open3d', 'sensor_msgs') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
