"""scripts/continuous_training.py: a background run starts, stops with a checkpoint of the step it was on, and resumes;
a branch of it anneals without moving the run."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.datasets.render_dataset import render_dataset
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.training.configs import TrainConfig
from nvs_fusion_ros.training.train import learning_rate

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

    # evaluate's first stage: a copy of the run anneals over --cooldown steps in its own folder
    spec = importlib.util.spec_from_file_location("continuous_training", ROOT / "scripts" / "continuous_training.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    step = _checkpointed_step(run)
    branch_ema = script.cooled(script.arguments().parse_args(["evaluate", *settings, "--cooldown", "3"]))
    assert branch_ema == run / f"cooldown-{step}" / "ema.pt"
    assert load_checkpoint(branch_ema).metadata["training_steps"] == step + 3
    assert load_checkpoint(branch_ema).metadata["ema_decay"] == script.COOLDOWN_EMA_DECAY
    assert _checkpointed_step(run) == step  # the run itself did not move
    state = torch.load(branch_ema.parent / "last.pt", weights_only=True)
    plan = TrainConfig(data="", out="", lr=script.LR, min_lr=script.MIN_LR, steps=step + 3, cooldown_steps=3,
                       warmup_steps=100)
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(learning_rate(plan, step + 2))  # its last step's
    assert state["optimizer"]["param_groups"][0]["lr"] < script.LR / 2
    assert script.cooled(script.arguments().parse_args(["evaluate", *settings, "--cooldown", "3"])) == branch_ema  # made once
