"""Training (Algorithm 1): the composed loss learns, and a run checkpoints and resumes exactly."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.datasets.render_dataset import render_dataset
from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.model.config import preset
from nvs_fusion_ros.model.unet import ViewFusionUNet
from nvs_fusion_ros.training.train import TrainConfig, Trainer, composed_loss, learning_rate, prefetched


def _fixed_batch() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "views": torch.rand(3, 4, 3, 16, 16, generator=g) * 2 - 1,
        "num_views": torch.tensor([1, 4, 2]),
        "target": torch.rand(3, 3, 16, 16, generator=g) * 2 - 1,
        "target_angle": torch.tensor([0.0, 1.0, 2.0]),
        "anchor": torch.tensor([0, 3, 1]),
    }


@pytest.mark.slow
@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_a_few_steps_overfit_a_fixed_batch(prediction: str) -> None:
    torch.manual_seed(0)
    config = preset("tiny")
    model = ViewFusionUNet(type(config)(**{**config.to_dict(), "prediction": prediction}))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = linear_schedule(1e-4, 0.1, 50)
    batch = _fixed_batch()
    losses = []
    for _ in range(80):
        loss = composed_loss(model, schedule, batch, torch.Generator().manual_seed(1), prediction)  # same t and noise
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], f"loss went {losses[0]:.3f} -> {losses[-1]:.3f}"


def test_warm_up_goes_from_start_lr_to_lr() -> None:
    cfg = TrainConfig(data="", out="", lr=1e-4, warmup_start_lr=5e-5, warmup_steps=10)
    assert learning_rate(cfg, 0) == 5e-5 and learning_rate(cfg, 5) == pytest.approx(7.5e-5)
    assert learning_rate(cfg, 10) == learning_rate(cfg, 1000) == 1e-4


def test_cosine_decay_anneals_from_lr_to_min_lr_after_warm_up() -> None:
    cfg = TrainConfig(data="", out="", lr=1e-4, min_lr=1e-5, warmup_steps=10, steps=110, lr_decay="cosine")
    assert learning_rate(cfg, 10) == pytest.approx(1e-4)
    assert learning_rate(cfg, 60) == pytest.approx(5.5e-5)
    assert learning_rate(cfg, 110) == learning_rate(cfg, 500) == pytest.approx(1e-5)
    rates = [learning_rate(cfg, s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    with pytest.raises(ValueError, match="lr_decay"):
        TrainConfig(data="", out="", lr_decay="step")
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(data="", out="", lr=1e-4, min_lr=1e-3, lr_decay="cosine")
    assert TrainConfig(data="", out="", lr=1e-6).min_lr > 1e-6  # unused without the anneal, so not refused


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nmr")
    report = render_dataset(root, size=16, limit=6, val_count=1, test_count=1, seed=0)
    assert report.rendered >= 6
    return root


def _config(data: Path, out: Path, steps: int, **settings: object) -> TrainConfig:
    return TrainConfig(**{"data": str(data), "out": str(out), "preset": "tiny", "steps": steps, "batch_size": 2,  # type: ignore[arg-type]
                          "warmup_steps": 2, "checkpoint_every": 2, "sample_every": 0, "precision": "fp32", "seed": 3,
                          **settings})


PAPER_RECIPE = {"timesteps": "uniform", "loss_weighting": "none"}
EDM_RECIPE = {"timesteps": "log-normal", "loss_weighting": "min-snr", "extra_ema_decay": 0.9}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [PAPER_RECIPE, EDM_RECIPE], ids=["paper", "log-normal+min-snr+extra-ema"])
def test_a_run_writes_loadable_checkpoints_and_resumes_exactly(tiny_dataset: Path, tmp_path: Path, recipe: dict) -> None:
    straight = Trainer(_config(tiny_dataset, tmp_path / "straight", 4, **recipe))
    summary = straight.run()
    assert summary["steps"] == 4
    ema = load_checkpoint(tmp_path / "straight" / "ema.pt")
    assert ema.metadata["training_steps"] == 4 and ema.config == preset("tiny")
    assert (tmp_path / "straight" / "ema_extra.pt").is_file() == ("extra_ema_decay" in recipe)

    # 4 objects, batch 2: step 2 ends the first epoch, step 3 is one batch into the second, whose
    # batches the resumed run must draw and skip rather than replay
    for stop in (2, 3):
        Trainer(_config(tiny_dataset, tmp_path / f"resumed{stop}", stop, **recipe)).run()
        resumed = Trainer(_config(tiny_dataset, tmp_path / f"resumed{stop}", 4, **recipe), resume=True)
        assert resumed.step == stop
        resumed.run()
        pairs = [(straight.model, resumed.model)]
        if "extra_ema_decay" in recipe:
            pairs.append((straight.ema_extra, resumed.ema_extra))
            extra = load_checkpoint(tmp_path / f"resumed{stop}" / "ema_extra.pt")
            assert extra.metadata["ema_decay"] == 0.9 and extra.metadata["recipe"]["timesteps"] == "log-normal"
        for expected, got in pairs:
            for (name, a), b in zip(expected.state_dict().items(), got.state_dict().values(), strict=True):
                torch.testing.assert_close(a, b, msg=f"{name} differs after resuming at step {stop}")


def test_a_run_resumes_only_with_its_own_recipe(tiny_dataset: Path, tmp_path: Path) -> None:
    Trainer(_config(tiny_dataset, tmp_path / "run", 2, timesteps="uniform")).run()
    with pytest.raises(ValueError, match=r"other recipe settings.*timesteps='uniform'"):
        Trainer(_config(tiny_dataset, tmp_path / "run", 4, timesteps="log-normal"), resume=True)


def test_a_time_budget_does_not_resume(tiny_dataset: Path, tmp_path: Path) -> None:
    Trainer(_config(tiny_dataset, tmp_path / "run", 2)).run()
    cfg = _config(tiny_dataset, tmp_path / "run", 4)
    cfg.time_budget_s = 60.0
    with pytest.raises(ValueError, match="--init-from"):
        Trainer(cfg, resume=True)


SIGNAL_RUN = """
import os, signal, sys
from pathlib import Path

import torch

from nvs_fusion_ros.training.train import TrainConfig, Trainer

data, out, sig = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = signal.getsignal(sig)
trainer = Trainer(TrainConfig(data=data, out=out, preset="tiny", steps=50, batch_size=2, warmup_steps=2,
                              checkpoint_every=100, sample_every=0, precision="fp32", seed=3))
train_step = trainer.train_step


def step_then_signal_at_3(batch):
    loss = train_step(batch)
    if trainer.step == 3:
        os.kill(os.getpid(), sig)
    return loss


trainer.train_step = step_then_signal_at_3
steps = trainer.run()["steps"]
print(steps, torch.load(Path(out) / "last.pt", weights_only=True)["step"], signal.getsignal(sig) is before)
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_the_run_after_its_step_with_a_checkpoint(tiny_dataset: Path, tmp_path: Path, sig: int) -> None:
    # a process of its own: a test process that ran ROS nodes has rclpy's signal handlers chained in
    done = subprocess.run([sys.executable, "-c", SIGNAL_RUN, str(tiny_dataset), str(tmp_path / "run"), str(int(sig))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # stopped at step 3 of 50, with a checkpoint no interval asked for, and the handler put back
    assert done.stdout.split() == ["3", "3", "True"], done.stdout
    resumed = Trainer(_config(tiny_dataset, tmp_path / "run", 4, checkpoint_every=100), resume=True)
    assert resumed.step == 3 and resumed.run()["steps"] == 4


def test_init_from_starts_from_another_checkpoint(tiny_dataset: Path, tmp_path: Path) -> None:
    Trainer(_config(tiny_dataset, tmp_path / "first", 2)).run()
    source = load_checkpoint(tmp_path / "first" / "ema.pt")
    cfg = _config(tiny_dataset, tmp_path / "second", 2)
    cfg.init_from = str(tmp_path / "first" / "ema.pt")
    second = Trainer(cfg)
    for a, b in zip(second.model.state_dict().values(), source.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    second.run()
    assert load_checkpoint(tmp_path / "second" / "ema.pt").metadata["initialised_from"]["training_steps"] == 2


def test_prefetched_batches_arrive_in_order_and_errors_reach_the_training_thread() -> None:
    assert [b["i"] for b in prefetched({"i": i} for i in range(7))] == list(range(7))

    def broken():
        yield {"i": 0}
        raise OSError("cannot read image x.png")

    batches = prefetched(broken())
    assert next(batches) == {"i": 0}
    with pytest.raises(OSError, match="cannot read image"):
        next(batches)


def test_closing_prefetched_batches_early_ends_their_thread() -> None:
    made = []

    def endless():
        while True:
            made.append(len(made))
            yield {"i": made[-1]}

    batches = prefetched(endless(), depth=2)
    assert next(batches) == {"i": 0}
    batches.close()  # what the trainer does after its last step
    count = len(made)
    assert count <= 5  # the taken one, two queued, one being put, at most one more begun
    assert not [t for t in threading.enumerate() if t.name == "prefetch"]
    assert len(made) == count  # nothing made after the close


def test_a_batch_larger_than_the_training_set_is_a_clear_error(tiny_dataset: Path, tmp_path: Path) -> None:
    cfg = _config(tiny_dataset, tmp_path / "big", 2)
    cfg.batch_size = 64
    with pytest.raises(ValueError, match="lower --batch-size"):
        Trainer(cfg).run()
