"""Training cost per optimiser step of the 64x64 candidates, eager and ``torch.compile``, on this CPU.

Runs the real training step (``Trainer.train_step``: composed loss, backward, clipping, Adam,
EMA) on random batches shaped like the household data (batch B, 1..6 views per item, relative
angles) for each preset, eager and compiled (inductor), with bf16 autocast where the CPU has it.
Prints ms per step after warm-up, the compile time (first steps), the ratio to the first row
measured in the same run, and the CPU model and ISA it ran on. Used to choose the 64x64 design
(pixel-unshuffle ``cpu-64u`` against plain ``cpu-64``) and whether compiling pays for itself.

    .venv/bin/python benchmarks/bench_train.py --threads 1 --presets cpu-64u,cpu-64 --steps 12
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch

from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.training.train import TrainConfig, Trainer


def random_batch(size: int, batch: int, max_views: int, generator: torch.Generator) -> dict:
    counts = torch.randint(1, max_views + 1, (batch,), generator=generator)
    return {
        "views": torch.rand(batch, max_views, 3, size, size, generator=generator) * 2 - 1,
        "num_views": counts,
        "target": torch.rand(batch, 3, size, size, generator=generator) * 2 - 1,
        "target_angle": torch.rand(batch, generator=generator) * 6.28,
        "anchor": counts - 1,
    }


class _NoData(Trainer):
    """The trainer without a dataset: this benchmark feeds random batches."""

    def build_dataset(self):  # type: ignore[override]
        return []


def measure(preset: str, compiled: bool, args: argparse.Namespace) -> tuple[float, float]:
    """(ms per step after warm-up, seconds of the warm-up steps) for one configuration."""
    with TemporaryDirectory() as out:
        cfg = TrainConfig(data="", out=str(Path(out)), preset=preset, batch_size=args.batch, angle_reference="relative",
                          warmup_steps=0)
        trainer = _NoData(cfg)
        if compiled:
            trainer.net = torch.compile(trainer.model)
        generator = torch.Generator().manual_seed(0)
        size = trainer.model_config.image_size
        started = time.perf_counter()
        for _ in range(args.warmup):
            float(trainer.train_step(random_batch(size, args.batch, args.max_views, generator)))  # waits for the step
        warm = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(args.steps):
            float(trainer.train_step(random_batch(size, args.batch, args.max_views, generator)))  # waits for the step
        return 1000 * (time.perf_counter() - started) / args.steps, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="cpu-64u,cpu-64")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (minutes of compiling)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-views", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}; ISA: {', '.join(cpu_isa()) or 'none of interest'}; {args.threads} thread(s); "
          f"batch {args.batch}, 1..{args.max_views} views per item, torch {torch.__version__}\n")
    print("| preset | mode | ms/step | vs first row | warm-up s (first steps, incl. compiling) |")
    print("|---|---|---:|---:|---:|")
    first = None
    for preset in args.presets.split(","):
        for compiled in ((False, True) if args.compile else (False,)):
            ms, warm = measure(preset, compiled, args)
            first = first or ms
            print(f"| {preset} | {'torch.compile' if compiled else 'eager'} | {ms:.0f} | {ms / first:.2f}x | "
                  f"{warm:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
