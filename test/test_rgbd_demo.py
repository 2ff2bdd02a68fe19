"""``nvs-fusion demo --rgbd`` end to end over Fast DDS (ROS_DOMAIN_ID 73) with a tiny random model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from nvs_fusion_ros.ros.rgbd_demo import add_rgbd_arguments, run_rgbd

pytestmark = pytest.mark.ros


def test_demo_rgbd_writes_cloud_mesh_picture_and_summary(tiny_checkpoint: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DOMAIN_ID", "73")
    parser = argparse.ArgumentParser()
    add_rgbd_arguments(parser)
    args = parser.parse_args(["--rgbd", "--rgbd-azimuths", "3"])
    args.model, args.engine, args.device, args.steps, args.num_hypotheses = str(tiny_checkpoint), "torch", "cpu", 2, 2
    args.timeout, args.out = 120.0, str(tmp_path / "demo")
    assert run_rgbd(args) == 0
    out = Path(args.out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frame_id"] == "camera_color_optical_frame" and summary["stamp"] == "1.200000000"
    assert summary["visible_points"] > 1000 and summary["points"] == summary["visible_points"] + summary["completed_points"]
    assert summary["scores"]["visible"]["precision_5mm"] > 0.99  # the visible points are in metres where the box is
    assert summary["timings_s"]["cloud_after_request"] > 0
    header = (out / "cloud.ply").read_bytes().split(b"end_header\n")[0].decode()
    assert f"element vertex {summary['points']}" in header and "property float confidence" in header
    body = (out / "cloud.ply").read_bytes().split(b"end_header\n", 1)[1]
    rows = np.frombuffer(body, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3), ("confidence", "<f4")])
    assert len(rows) == summary["points"] and ((rows["confidence"] >= 0) & (rows["confidence"] <= 1)).all()
    assert f"element face {summary['mesh_triangles']}" in (out / "mesh.ply").read_bytes()[:400].decode(errors="ignore")
    for picture in ("rgbd_completion.png", "colour.png"):
        assert (out / picture).stat().st_size > 1000
