"""benchmarks/completion_speed.py end to end on a one-object dataset and a tiny random model: every setting is timed
and scored, a smaller K is scored from a cached larger set without sampling, and the novel_view row is timed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.rgbd.completion import CompletionConfig

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "completion_speed.py"
sys.path.insert(0, str(SCRIPT.parent))

from completion_settings import CARVING_RESOLUTION, Setting  # noqa: E402


def test_a_setting_without_a_grid_carves_at_the_nodes_resolution() -> None:
    assert CARVING_RESOLUTION == CompletionConfig.resolution
    assert Setting.parse("dpmpp2m:8:6:5").options().completion.resolution == CompletionConfig.resolution
    assert Setting.parse("ddim:3:2:4:32").angles(relative=True) == pytest.approx([0.5 * math.pi, math.pi, 1.5 * math.pi])


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_the_benchmark_times_and_scores_each_setting_and_reuses_cached_hypotheses(tmp_path: Path,
                                                                                   tiny_checkpoint: Path) -> None:
    box = tmp_path / "data" / "boxes" / "cereal"
    (box / "image").mkdir(parents=True)
    vertices, faces = tabletop.box_mesh((0.04, 0.18, 0.24))
    np.savez(box / "mesh_normalized.npz", vertices=vertices, faces=faces)
    for i in range(3):
        cv2.imwrite(str(box / "image" / f"{i:04d}.png"), np.full((64, 64, 3), 60 * i, np.uint8))
    (box.parent / "softras_test.lst").write_text("cereal\n")
    common = ["--data", str(tmp_path / "data"), "--objects", "1", "--no-flat", "--model", str(tiny_checkpoint),
              "--engine", "torch", "--cache", str(tmp_path / "cache"), "--view-settings", "ddim:2", "dpmpp2m:1",
              "--repeats", "1"]
    first = run([*common, "--settings", "ddim:3:2:3", "dpmpp2m:2:2:3:32", "--json", str(tmp_path / "first.json")])
    assert first.returncode == 0, first.stderr
    result = json.loads((tmp_path / "first.json").read_text())
    assert result["scenes"] == ["boxes/cereal"] and result["threads"] >= 1 and result["cpu"]
    reference, coarse = (row["summary"] for row in result["completion"])
    for summary in (reference, coarse):
        assert summary["scenes"] == 1 and summary["sampled_scenes"] == 1 and not summary["failed"]
        assert 0 < summary["sample_s"] < summary["total_s"]
        quality = summary["quality"]["1"]
        assert 0.0 <= quality["recall_10mm"] <= 1.0 and quality["precision_drop_points"] >= 0.0
    assert [row["steps"] for row in result["novel_view"]] == [2, 1]
    assert all(row["median_s"] > 0 and row["first_s"] > 0 for row in result["novel_view"])
    assert "| ddim 3, K 2, A 3, grid 64 | 1 | 1 (1) |" in first.stdout

    # K = 1 is the first hypothesis of the cached K = 2 set: scored without sampling, so not timed
    again = run([*common, "--settings", "ddim:3:2:3", "ddim:3:1:3", "--extra-confidence", "0",
                 "--json", str(tmp_path / "again.json")])
    assert again.returncode == 0, again.stderr
    cached_reference, single = (row["summary"] for row in json.loads((tmp_path / "again.json").read_text())["completion"])
    assert cached_reference["sampled_scenes"] == 0 and cached_reference["total_s"] is None
    assert cached_reference["quality"]["1"] == reference["quality"]["1"]
    assert single["sampled_scenes"] == 0 and single["scenes"] == 1
    assert "not timed" in again.stdout

    # --reuse reference: the reference still reads the cache, every other setting samples (and is timed) again
    live = run([*common, "--settings", "ddim:3:2:3", "ddim:3:1:3", "--reuse", "reference", "--json",
                str(tmp_path / "live.json")])
    assert live.returncode == 0, live.stderr
    cached_reference, single = (row["summary"] for row in json.loads((tmp_path / "live.json").read_text())["completion"])
    assert cached_reference["sampled_scenes"] == 0 and single["sampled_scenes"] == 1 and single["total_s"] > 0
