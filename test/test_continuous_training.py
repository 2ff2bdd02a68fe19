"""scripts/continuous_training.py: a background run starts, stops with a checkpoint of the step it was on, and resumes."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.datasets.render_dataset import render_dataset

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _script(*args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "continuous_training.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    return done.stdout


def _wait_for(condition, what: str, log: Path, seconds: float = 240.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert "ERROR" not in log.read_text(), log.read_text()[-2000:]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {seconds:.0f} s")
        time.sleep(0.2)


def _checkpointed_step(run: Path) -> int:
    try:
        return int(torch.load(run / "last.pt", weights_only=True)["step"])
    except (FileNotFoundError, RuntimeError, EOFError):  # not written yet
        return 0


def test_a_background_run_stops_at_a_checkpoint_and_resumes_from_it(tmp_path: Path) -> None:
    data, run = tmp_path / "data", tmp_path / "run"
    render_dataset(data, size=16, limit=6, val_count=1, test_count=1, seed=0)
    settings = ["--run", str(run), "--data", str(data), "--preset", "tiny", "--init-from", "none",
                "--checkpoint-every", "1000", "--steps", "100000", "--batch-size", "2"]

    assert "in the background" in _script("start", *settings)
    assert "already training" in _script("start", *settings)  # one run per folder
    _wait_for(lambda: re.search(r"\b([2-9]|\d{2,})/100000\b", (run / "train.log").read_text()), "training steps",
              run / "train.log")
    assert "training, pid" in _script("status", *settings)
    _script("stop", *settings)
    stopped = re.search(r"stopping at step (\d+) on request", (run / "train.log").read_text())
    assert stopped, (run / "train.log").read_text()[-2000:]
    step = int(stopped.group(1))
    assert step >= 2 and _checkpointed_step(run) == step  # the stop wrote a checkpoint no interval asked for

    _script("start", *settings)
    _wait_for(lambda: f"resumed {run / 'last.pt'} at step {step}" in (run / "train.log").read_text(), "resume", run / "train.log")
    _script("stop", *settings)
    assert _checkpointed_step(run) > step
    assert "stopped" in _script("status", *settings)
