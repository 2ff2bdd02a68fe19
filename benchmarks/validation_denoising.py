"""Which checkpoint denoises held-out objects better? A paired, deterministic and cheap comparison.

Sampling-based evaluation (``nvs-fusion evaluate``: K samples of 25 steps per target) is the judge of a
model, but costs about half an hour of a CPU core per checkpoint on 25 validation objects, and its
figures carry the sampler's randomness. This script asks every checkpoint the same questions: for the
same validation targets, input views, noise levels and noise, how close is the composed clean-image
estimate (one network evaluation per view) to the true view? Differences between checkpoints are then
paired per target, so a small difference is measurable with few targets; they rank candidates (training
recipes, EMA decays) before the sampling evaluation judges the best of them.

Levels: the noise indices whose log-SNR is nearest to each of ``--log-snr`` (default -6 .. 6 in steps of 2:
from near pure noise, where the estimate is the conditional mean, to nearly clean). Scores: the estimate's
PSNR (clipped to [-1, 1]) per level and averaged over levels, each checkpoint's paired difference from the
first with its standard error over targets.

    .venv/bin/python benchmarks/validation_denoising.py --data data/household --split val \\
        runs/ab-base/ema.pt runs/ab-both/ema.pt runs/ab-both/ema_extra.pt
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch

from nvs_fusion_ros.datasets.nmr_dataset import NMRViews
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.engines.factory import EngineOptions
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.synthesis.runner import Conditioning, ModelRunner


def levels(gammas: torch.Tensor, log_snrs: list[float]) -> list[int]:
    """The noise index nearest to each log-SNR, ln(γ / (1 − γ))."""
    table = torch.log(gammas / (1 - gammas)).double()
    return [int(torch.argmin((table - value).abs())) for value in log_snrs]


def questions(data: Path, split: str, objects: int | None, draws: int, max_views: int, relative: bool, seed: int) -> list[dict]:
    """The targets every checkpoint is asked about: ``draws`` per object, each with its own 1..max_views inputs."""
    dataset = NMRViews(data, split, max_views=max_views, seed=seed, angle_reference="relative" if relative else "canonical")
    items = []
    for epoch in range(draws):
        dataset.set_epoch(epoch)
        items += [dataset[i] for i in range(min(objects or len(dataset), len(dataset)))]
    return items


def scores(path: Path, items: list[dict], log_snrs: list[float], seed: int) -> np.ndarray:
    """PSNR (dB) of the composed clean estimate: (targets, levels)."""
    runner = ModelRunner.from_checkpoint(load_checkpoint(path), EngineOptions(engine="torch"))
    chosen = levels(runner.schedule.gammas, log_snrs)
    out = np.zeros((len(items), len(chosen)))
    for i, item in enumerate(items):
        count = int(item["num_views"])
        conditioning = Conditioning.of([item["views"][:count]], [int(item["anchor"])])
        target = item["target"][None]
        noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(seed + i))
        angle = item["target_angle"][None].double()
        for j, t in enumerate(chosen):
            gamma = float(runner.schedule.gammas[t])
            noisy = math.sqrt(gamma) * target + math.sqrt(1 - gamma) * noise
            with torch.no_grad():
                clean = runner.predict_clean(conditioning, noisy, angle, t).float().clamp(-1, 1).cpu()
            mse = float(((clean - target) / 2).pow(2).mean())  # images in [-1, 1]: PSNR on [0, 1]
            out[i, j] = -10 * math.log10(max(mse, 1e-10))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="the first is the reference of the paired differences")
    parser.add_argument("--data", type=Path, default=Path("data/household"))
    parser.add_argument("--split", default="val")
    parser.add_argument("--objects", type=int, default=None, help="the first N objects of the split (default: all)")
    parser.add_argument("--draws", type=int, default=2, help="targets per object")
    parser.add_argument("--max-views", type=int, default=6)
    parser.add_argument("--log-snr", type=float, nargs="+", default=[-6, -4, -2, 0, 2, 4, 6])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cpu = cpu_model()
    print(f"CPU: {cpu}; instruction sets: {', '.join(cpu_isa())}; threads: {args.threads}")
    relative = load_checkpoint(args.checkpoints[0]).config.angle_reference == "relative"
    items = questions(args.data, args.split, args.objects, args.draws, args.max_views, relative, args.seed)
    results = {str(path): scores(path, items, args.log_snr, args.seed) for path in args.checkpoints}
    reference = results[str(args.checkpoints[0])].mean(axis=1)
    print(f"{len(items)} targets of {args.split}; PSNR (dB) of the clean estimate at log-SNR {args.log_snr}")
    print("| checkpoint | " + " | ".join(f"{v:g}" for v in args.log_snr) + " | mean | paired diff ± SE |")
    print("|---|" + "---|" * (len(args.log_snr) + 2))
    report = {"split": args.split, "targets": len(items), "log_snr": args.log_snr, "cpu": cpu, "checkpoints": {}}
    for name, table in results.items():
        diff = table.mean(axis=1) - reference
        se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else math.nan
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in table.mean(axis=0)) +
              f" | {table.mean():.3f} | {diff.mean():+.3f} ± {se:.3f} |")
        report["checkpoints"][name] = {"psnr_by_level": table.mean(axis=0).tolist(), "mean_psnr": float(table.mean()),
                                       "paired_diff": float(diff.mean()), "paired_se": se}
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
