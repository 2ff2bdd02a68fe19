"""Latency of one synthesized view: the synthesizer's default sampler vs the paper's 2000-step DDPM.

Every sampler costs one engine call per step, so a view's latency is about steps x step time.
The default sampler (whatever ``NovelViewSynthesizer.synthesize`` defaults to) and DPM-Solver++(2M)
are timed end to end through ``NovelViewSynthesizer.synthesize`` (preprocessing included).
The paper's ancestral DDPM over all T = 2000 levels would take minutes, so it is timed over
the 100 least noisy levels and extrapolated linearly to 2000 steps (stated as such in the table).
Models: the ``cpu-32`` and ``cpu-64`` presets with random weights, the ``auto`` engine, N input views.

    nice -n 10 .venv/bin/python benchmarks/bench_sampler.py
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from nvs_fusion_ros.diffusion.samplers import DDPMSampler, generators_from_seeds
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.engines.factory import EngineOptions
from nvs_fusion_ros.model.checkpoint import Checkpoint
from nvs_fusion_ros.model.config import preset
from nvs_fusion_ros.model.unet import ViewFusionUNet
from nvs_fusion_ros.synthesis.runner import Conditioning, ModelRunner
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer
from nvs_fusion_ros.synthesis.tensors import to_tensor

DDPM_MEASURED_STEPS = 100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=3, help="input views N")
    parser.add_argument("--presets", default="cpu-32,cpu-64")
    parser.add_argument("--fast-steps", default="10,25", help="DPM-Solver++(2M) step counts")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    default_sampler, default_steps = SamplingSpec().sampler, SamplingSpec().steps
    schedule = linear_schedule()
    print(f"one target view from {args.views} input views, K = 1, engine 'auto' on the CPU, {args.threads} threads\n")
    print("| model | sampler | steps | latency per view s | vs default | how |")
    print("|---|---|---:|---:|---:|---|")
    for name in args.presets.split(","):
        torch.manual_seed(0)
        config = preset(name)
        checkpoint = Checkpoint(config, schedule, ViewFusionUNet(config).eval())
        synth = NovelViewSynthesizer(checkpoint, ModelRunner.from_checkpoint(checkpoint, EngineOptions(device="cpu")))
        rng = np.random.default_rng(0)
        views = [rng.integers(0, 256, (config.image_size, config.image_size, 3), dtype=np.uint8) for _ in range(args.views)]
        synth.synthesize(views, 1.0, sampling=SamplingSpec(steps=2, seed=0))  # warm-up
        default = synth.synthesize(views, 1.0, sampling=SamplingSpec(seed=0)).timings["total_s"]
        print(f"| {name} | {default_sampler} (default) | {default_steps} | {default:.2f} | 1.00x | measured |", flush=True)
        for steps in [int(s) for s in args.fast_steps.split(",")]:
            fast = SamplingSpec(sampler="dpmpp2m", steps=steps, seed=0)
            seconds = synth.synthesize(views, 1.0, sampling=fast).timings["total_s"]
            print(f"| {name} | dpmpp2m | {steps} | {seconds:.2f} | {seconds / default:.2f}x | measured |", flush=True)
        started = time.perf_counter()
        size = config.image_size
        synth.runner.refine(Conditioning.of([to_tensor(np.stack(views))]), [1.0], torch.randn(1, 3, size, size),
                            DDPM_MEASURED_STEPS - 1, generators_from_seeds([0]), DDPMSampler(schedule))
        per_step = (time.perf_counter() - started) / DDPM_MEASURED_STEPS
        extrapolated = per_step * schedule.num_steps
        print(f"| {name} | ddpm (paper) | {schedule.num_steps} | {extrapolated:.1f} | {extrapolated / default:.1f}x | "
              f"{DDPM_MEASURED_STEPS} steps measured ({per_step * 1000:.0f} ms/step), x{schedule.num_steps} extrapolated |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
