"""benchmarks/training_progress.py: the forecast reads comparable evaluations and extrapolates the right trend."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "training_progress.py"
CONFIG = {"data": "data/household", "split": "test", "object_ids": ["a", "b"], "seed": 0, "sampler": "ddim",
          "eta": 0.0, "steps": 25, "max_views": 6, "repeats": 1}


def report(samples: float, config: dict = CONFIG) -> dict:
    """An evaluation.json with the mean of the samples at ``samples`` dB and the baselines fixed (mean 19,
    nearest 18.5)."""
    results = {"mean_of_samples": {"psnr": samples}, "viewfusion": {"psnr": samples - 1.5},
               "posterior_mean": {"psnr": samples + 0.7},
               "nearest_view": {"psnr": 18.5}, "mean_view": {"psnr": 19.0}}
    return {"config": config, "protocols": {"per_view_count": {"3": {"results": results}}}}


def run(tmp_path: Path, reports: list[tuple[int, dict]], *extra: str) -> subprocess.CompletedProcess:
    args = []
    for i, (steps, content) in enumerate(reports):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(content))
        args += ["--eval", f"{steps}={path}"]
    out = tmp_path / "progress.png"
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--views", "3", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_a_log_linear_history_is_extrapolated_to_the_bar(tmp_path: Path) -> None:
    # 0.5 dB per doubling from 16 dB at 1000 steps; the target is mean 19 + 2 = 21 dB: 10 doublings, 1 024 000 steps.
    done = run(tmp_path, [(s, report(16.0 + 0.5 * math.log2(s / 1000))) for s in (1000, 2000, 4000, 8000)])
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "progress.json").read_text())["views"]["3"]
    assert summary["bar_psnr"] == 21.0
    assert abs(summary["db_per_doubling"] - 0.5) < 1e-6
    assert abs(summary["steps_to_bar"] - 1_024_000) < 4.0
    assert "reaches the bar at ~1,000,000 steps" in done.stdout
    assert (tmp_path / "progress.png").stat().st_size > 0


def test_evaluations_of_different_draws_are_refused(tmp_path: Path) -> None:
    other = {**CONFIG, "object_ids": ["a", "c"]}
    done = run(tmp_path, [(1000, report(16.0)), (2000, report(16.5, other))])
    assert done.returncode != 0
    assert "differs from the first in ['object_ids']" in done.stderr
    assert not (tmp_path / "progress.png").exists()


@pytest.mark.slow
def test_a_met_bar_and_a_plateau_are_said_as_such_not_forecast(tmp_path: Path) -> None:
    met = run(tmp_path, [(1000, report(19.5)), (2000, report(20.5))], "--margin", "1")  # the shipping bar: 20 dB
    assert met.returncode == 0, met.stderr
    assert "the mean of the samples is at the bar already" in met.stdout
    assert json.loads((tmp_path / "progress.json").read_text())["views"]["3"]["steps_to_bar"] is None
    older = run(tmp_path, [(1000, report(19.5)), (2000, report(20.5))], "--margin", "1", "--row", "viewfusion")
    assert "one sample 19.00 dB at 2000 steps" in older.stdout  # the one-sample row: 1.5 dB below the mean
    # +0.001 dB per doubling: the crossing would be ~2^4000 steps, which must not overflow or be printed as a number
    plateau = run(tmp_path, [(1000, report(16.0)), (2000, report(16.001))])
    assert plateau.returncode == 0, plateau.stderr
    assert "no trend that reaches the bar within 1e+12 steps" in plateau.stdout


def test_arguments_that_make_no_trend_are_refused(tmp_path: Path) -> None:
    history = [(1000, report(16.0)), (2000, report(16.5))]
    assert "--fit must be at least 2" in run(tmp_path, history, "--fit", "1").stderr
    assert "STEPS > 0" in run(tmp_path, [(0, report(16.0)), *history]).stderr
    assert "two evaluations at the same steps" in run(tmp_path, [*history, (2000, report(16.6))]).stderr
    assert not (tmp_path / "progress.png").exists()
