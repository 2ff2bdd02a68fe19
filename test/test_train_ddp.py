"""Data-parallel training for real: ``train`` under ``torchrun --nproc_per_node 2`` on the CPU (gloo).

Two claims of the README are checked: after a few DistributedDataParallel steps both processes hold
bit-identical weights, and those weights are what one process gets from the same global batch.
"The same global batch" is made exact: the reference run takes, at every step, the two ranks'
batches side by side (the items each rank's DistributedSampler picks) and noises each half with
that rank's own noise generator, so any difference left is floating-point summation order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from nvs_fusion_ros.diffusion.schedules import NoiseSchedule
from nvs_fusion_ros.training.train import TrainConfig, Trainer, composed_loss

pytestmark = pytest.mark.slow  # every test reads one two-process torchrun run

RANKS = 2
PER_RANK_BATCH = 2
STEPS = 4
SEED = 3
LR = 1e-3
OBJECTS = 8  # 8 objects / global batch 4: two steps per epoch, so the run also crosses an epoch
#: Largest |DDP - one process| weight difference accepted (fp32; the gradients differ only in
#: summation order, which Adam's normalisation amplifies where a gradient nearly cancels). Measured
#: after 4 steps: 4.4e-6 in 2 of the 6 elements of conv_out.bias, under 6e-7 in every other tensor,
#: 0 at the median; the weights moved by up to 4.0e-3, and a reference that trains on one rank's
#: half of the batch lands 4.9e-3 away.
TOLERANCE = 2e-5
ENTRY = Path(__file__).with_name("train_ddp_entry.py")


def write_dataset(root: Path, objects: int = OBJECTS, size: int = 16) -> Path:
    """A hand-made NMR-layout dataset: smooth random colour images, 24 views per object, one category."""
    rng = np.random.default_rng(0)
    synset = root / "02958343"
    names = [f"obj_{k}" for k in range(objects)]
    for name in names:
        (synset / name / "image").mkdir(parents=True)
        for view in range(24):
            small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
            cv2.imwrite(str(synset / name / "image" / f"{view:04d}.png"), cv2.resize(small, (size, size)))
    (synset / "softras_train.lst").write_text("\n".join(names) + "\n")
    return root


class RankNoise:
    """The schedule, except that training noise for a global batch is drawn half by half, each half
    from the generator that rank would have used (rank r's batch comes r-th in the global batch)."""

    def __init__(self, schedule: NoiseSchedule, generators: list[torch.Generator]) -> None:
        self.schedule = schedule
        self.generators = generators

    def noise_for_training(self, y0: torch.Tensor, generator: torch.Generator | None = None, draw_levels=None):
        parts = [self.schedule.noise_for_training(half, g, draw_levels)
                 for half, g in zip(y0.chunk(len(self.generators)), self.generators, strict=True)]
        return tuple(torch.cat(values) for values in zip(*parts, strict=True))

    def __getattr__(self, name: str):
        return getattr(self.schedule, name)


class GlobalBatchTrainer(Trainer):
    """One process on the global batch the ``ranks`` DDP processes see together, noised as they noise it.

    ``ranks`` = 1 on a global batch of 2 x PER_RANK_BATCH is the plain single-process run on the
    same items; ``only_rank`` keeps one rank's half only (a wrong reference, to show the check bites).
    """

    def __init__(self, cfg: TrainConfig, ranks: int = RANKS, only_rank: int | None = None) -> None:
        self.ranks = ranks
        self.only_rank = only_rank
        super().__init__(cfg)
        seeds = [cfg.seed * 1000 + r for r in range(ranks)]  # train.Trainer's per-rank noise generator seeds
        if only_rank is not None:
            seeds = [seeds[only_rank]]
        self.rank_noise = RankNoise(self.schedule, [torch.Generator().manual_seed(s) for s in seeds])

    def _loader(self, epoch: int) -> Iterator[dict]:
        self.dataset.set_epoch(epoch)
        loaders = []
        for rank in range(self.ranks):
            sampler = DistributedSampler(self.dataset, self.ranks, rank, shuffle=True, seed=self.cfg.seed)
            sampler.set_epoch(epoch)
            loaders.append(DataLoader(self.dataset, batch_size=PER_RANK_BATCH, sampler=sampler, drop_last=True))
        for parts in zip(*loaders, strict=True):
            if self.only_rank is not None:
                parts = (parts[self.only_rank],)
            yield {key: torch.cat([p[key] for p in parts]) if torch.is_tensor(parts[0][key])
                   else [item for p in parts for item in p[key]] for key in parts[0]}

    def loss(self, batch: dict) -> torch.Tensor:
        return composed_loss(self.net, self.rank_noise, batch, None, self.model_config.prediction)


def _config(data: Path, out: Path, batch_size: int) -> TrainConfig:
    return TrainConfig(data=str(data), out=str(out), preset="tiny", steps=STEPS, batch_size=batch_size, lr=LR,
                       warmup_steps=1, warmup_start_lr=LR, checkpoint_every=1000, sample_every=0, precision="fp32",
                       seed=SEED, timesteps="uniform", loss_weighting="none")  # the levels RankNoise draws


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """(dataset, run folder, seconds) of ``train`` under torchrun with 2 CPU processes."""
    data = write_dataset(tmp_path_factory.mktemp("nmr"))
    out = tmp_path_factory.mktemp("ddp")
    cfg = _config(data, out, PER_RANK_BATCH)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(RANKS), str(ENTRY),
        "--data", cfg.data, "--out", cfg.out, "--preset", cfg.preset, "--steps", str(cfg.steps),
        "--batch-size", str(cfg.batch_size), "--lr", str(cfg.lr), "--warmup-steps", str(cfg.warmup_steps),
        "--warmup-start-lr", str(cfg.warmup_start_lr), "--checkpoint-every", str(cfg.checkpoint_every),
        "--sample-every", str(cfg.sample_every), "--precision", cfg.precision, "--seed", str(cfg.seed),
        "--threads", "1", "--timesteps", cfg.timesteps, "--loss-weighting", cfg.loss_weighting,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return data, out, seconds


def test_both_processes_hold_identical_weights(ddp_run: tuple[Path, Path, float]) -> None:
    _, out, _ = ddp_run
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(RANKS)]
    assert all(r["step"] == STEPS for r in ranks)
    for kind in ("model", "ema"):
        assert _max_difference(ranks[0][kind], ranks[1][kind]) == 0.0, kind
    saved = torch.load(out / "last.pt", weights_only=True)  # rank 0's checkpoint holds those weights
    assert saved["step"] == STEPS and _max_difference(saved["model"], ranks[0]["model"]) == 0.0
    assert saved["train_config"]["batch_size"] == PER_RANK_BATCH


def test_matches_one_process_on_the_same_global_batch(ddp_run: tuple[Path, Path, float], tmp_path: Path) -> None:
    data, out, seconds = ddp_run
    ddp = torch.load(out / "rank0.pt", weights_only=True)
    reference = GlobalBatchTrainer(_config(data, tmp_path / "single", RANKS * PER_RANK_BATCH))
    initial = {k: v.clone() for k, v in reference.model.state_dict().items()}
    reference.run()
    moved = _max_difference(reference.model.state_dict(), initial)
    assert moved > 20 * TOLERANCE, f"training barely moved the weights ({moved:.2e}); the comparison would be empty"
    difference = _max_difference(ddp["model"], reference.model.state_dict())
    assert difference < TOLERANCE, f"DDP ({seconds:.0f} s) and one process on the same global batch differ by {difference:.2e}"
    assert _max_difference(ddp["ema"], reference.ema.state_dict()) < TOLERANCE


def test_the_comparison_detects_a_missing_half_batch(ddp_run: tuple[Path, Path, float], tmp_path: Path) -> None:
    """A reference that trains on rank 0's half only is far outside the tolerance: the check can fail."""
    data, out, _ = ddp_run
    ddp = torch.load(out / "rank0.pt", weights_only=True)
    half = GlobalBatchTrainer(_config(data, tmp_path / "half", PER_RANK_BATCH), only_rank=0)
    half.run()
    assert _max_difference(ddp["model"], half.model.state_dict()) > 20 * TOLERANCE
