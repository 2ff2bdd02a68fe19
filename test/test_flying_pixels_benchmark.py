"""benchmarks/flying_pixels.py on a one-object dataset: noisy depth leaves stray points, the filter takes them away."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvs_fusion_ros.datasets import tabletop

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "flying_pixels.py"


@pytest.mark.slow
def test_the_filter_removes_the_noisy_depths_stray_points_and_spares_the_noise_free_ones(tmp_path: Path) -> None:
    category = tmp_path / "data" / "boxes"
    (category / "cereal").mkdir(parents=True)
    vertices, faces = tabletop.box_mesh((0.04, 0.18, 0.24))
    np.savez(category / "cereal" / "mesh_normalized.npz", vertices=vertices, faces=faces)
    (category / "softras_test.lst").write_text("cereal\n")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path / "data"), "--split", "test", "--objects", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objects"] == 1 and summary["max_grazing_deg"] == 85.0
    mean = summary["mean"]
    assert mean["noise-free"]["stray_points"] == 0 and mean["noise-free"]["dropped_readings"] == 0
    assert mean["noisy"]["stray_points"] > 20
    assert mean["noisy, filter 85"]["stray_points"] <= mean["noisy"]["stray_points"] // 10
    assert mean["noisy, filter 85"]["precision_10mm"] > mean["noisy"]["precision_10mm"]
    assert mean["noise-free, filter 85"]["centre_error_mm"] < 10.0
    assert (out / "flying_pixels.png").stat().st_size > 10_000
    assert "| noisy, filter 85 |" in done.stdout
