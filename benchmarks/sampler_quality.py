"""Quality vs steps: DDIM and DPM-Solver++(2M) at 10, 25, 50 and 100 steps on held-out objects.

Each object of the test split is synthesized from fixed input views at a fixed target view,
one sample per object with seed = object index, by every sampler and step count. Scores:

- PSNR / SSIM to the true target view (what the model can reach at all),
- PSNR / SSIM to a 1000-step *ancestral* reference from the same seed: DDIM with η = 1 over
  1000 levels spaced over the schedule, which is DDPM respaced to 1000 levels (posterior
  variance) — the "converged stochastic sampler" the fast samplers are meant to replace,
- PSNR to a 1000-step DDIM η = 0 reference from the same seed (the probability-flow ODE
  solution that DDIM and DPM-Solver++ both approximate): how far each is from converged.

    nice -n 10 .venv/bin/python benchmarks/sampler_quality.py --model models/viewfusion_default.pt --objects 4
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch

from nvs_fusion_ros import cameras
from nvs_fusion_ros.datasets.nmr_dataset import NMRViews
from nvs_fusion_ros.diffusion.samplers import DDIMSampler, DPMSolverPP2MSampler, Sampler, generators_from_seeds
from nvs_fusion_ros.engines.factory import EngineOptions
from nvs_fusion_ros.evaluation.image_metrics import psnr, ssim
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.synthesis.runner import Conditioning, ModelRunner
from nvs_fusion_ros.synthesis.tensors import to_tensor, to_uint8

STEPS = (10, 25, 50, 100)
REFERENCE_STEPS = 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/viewfusion_default.pt", help="checkpoint to evaluate")
    parser.add_argument("--data", default="data/nmr_canonical", help="NMR-layout dataset (its test split is used)")
    parser.add_argument("--objects", type=int, default=4, help="test objects (one sample each)")
    parser.add_argument("--inputs", default="0,8,16", help="input view indices")
    parser.add_argument("--target", type=int, default=4, help="target view index")
    parser.add_argument("--steps", default=",".join(map(str, STEPS)), help="step counts to compare")
    parser.add_argument("--reference-steps", type=int, default=REFERENCE_STEPS, help="steps of the two references")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return parser.parse_args()


def load_items(data: str, image_size: int, count: int, inputs: list[int], target: int) -> tuple[Conditioning, np.ndarray]:
    """The input views of each object (the last is the anchor) and true targets (count, H, W, 3) uint8."""
    dataset = NMRViews(data, "test", image_size=image_size)
    objects = [dataset.load_object(i)[0] for i in range(min(count, len(dataset)))]
    return Conditioning.of([to_tensor(obj[inputs]) for obj in objects]), np.stack([obj[target] for obj in objects])


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    checkpoint = load_checkpoint(args.model)
    schedule = checkpoint.schedule
    runner = ModelRunner.from_checkpoint(checkpoint, EngineOptions(engine="torch", device="cpu"))
    inputs = [int(i) for i in args.inputs.split(",")]
    conditioning, truth = load_items(args.data, checkpoint.config.image_size, args.objects, inputs, args.target)
    count = len(truth)
    angle = cameras.view_azimuth(args.target) - (cameras.view_azimuth(inputs[-1]) if runner.relative else 0.0)
    angles = torch.full((count,), angle)

    def run(sampler: Sampler) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        out = runner.sample(conditioning, angles, generators_from_seeds(range(count)), sampler)
        return to_uint8(out.images), time.perf_counter() - started

    ancestral, _ = run(DDIMSampler(schedule, steps=args.reference_steps, eta=1.0))
    ode, _ = run(DDIMSampler(schedule, steps=args.reference_steps, eta=0.0))
    samplers: list[tuple[str, type[Sampler], dict]] = [
        ("DDIM", DDIMSampler, {}),
        ("DPM-Solver++(2M), log-SNR spacing", DPMSolverPP2MSampler, {"spacing": "logsnr"}),
        ("DPM-Solver++(2M), DDIM spacing", DPMSolverPP2MSampler, {"spacing": "time"}),
    ]
    print(f"model {Path(args.model)} ({checkpoint.config.image_size}px, schedule T={schedule.num_steps}), "
          f"{count} test objects, inputs {inputs} -> target {args.target}, one sample per object (seed = object index)")
    print(f"reference quality: ancestral-{args.reference_steps} vs truth PSNR {mean_score(psnr, ancestral, truth):.2f} dB, "
          f"ODE-{args.reference_steps} vs truth PSNR {mean_score(psnr, ode, truth):.2f} dB")
    print()
    ref = args.reference_steps
    print(f"| sampler | steps | PSNR truth | SSIM truth | PSNR ancestral-{ref} | SSIM ancestral-{ref} | PSNR ODE-{ref} | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, cls, kwargs in samplers:
        for steps in [int(s) for s in args.steps.split(",")]:
            images, seconds = run(cls(schedule, steps=steps, **kwargs))
            print(f"| {label} | {steps} | {mean_score(psnr, images, truth):.2f} | {mean_score(ssim, images, truth):.3f} | "
                  f"{mean_score(psnr, images, ancestral):.2f} | {mean_score(ssim, images, ancestral):.3f} | "
                  f"{mean_score(psnr, images, ode):.2f} | {seconds / count:.2f} |", flush=True)
    return 0


def mean_score(metric, images: np.ndarray, references: np.ndarray) -> float:
    return float(np.mean([metric(a, b) for a, b in zip(images, references, strict=True)]))


if __name__ == "__main__":
    raise SystemExit(main())
