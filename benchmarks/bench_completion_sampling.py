"""One completion's synthesis: one call per azimuth vs all azimuths in one call, and DDIM vs DPM-Solver++.

``rgbd_completion`` asks its model for K hypotheses at each orbit azimuth. This times that synthesis
alone (no segmentation, no carving) on the node's default model (the registry's ``completion`` role) and
engine choice, conditioned on one 64x64 anchor view as a completion without other key views is:

* per azimuth: one ``synthesize`` call per azimuth (K x N streams per engine call), seeds as the
  completion draws them (seed + 1000 i at the i-th azimuth);
* batched: all azimuths in one ``synthesize`` call (A x K x N streams through ``max_batch``), which
  draws the same images (checked here, and in test/test_rgbd_pipeline.py);
* the batched call with DPM-Solver++(2M) at fewer steps (time only: quality is for the tabletop
  benchmark to judge).

Ratios are against the per-azimuth DDIM run of the same process, so a busy machine shifts the seconds
more than the ratios. Run it niced:

    nice -n 10 .venv/bin/python benchmarks/bench_completion_sampling.py
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable

import numpy as np
import torch

from nvs_fusion_ros.diffusion import DEFAULT_STEPS
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.model.assets import asset_path
from nvs_fusion_ros.rgbd.pipeline import CompletionOptions
from nvs_fusion_ros.ros.demo import SAMPLE_VIEWS, sample_views
from nvs_fusion_ros.synthesis.preprocess import prepare_views
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer


def timed(run: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    images = run()
    return images, time.perf_counter() - started


def main() -> int:
    defaults = CompletionOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint; default: rgbd_completion's")
    parser.add_argument("--engine", default="auto", help="as the node's engine parameter")
    parser.add_argument("--azimuths", type=int, default=defaults.azimuths)
    parser.add_argument("--num-hypotheses", type=int, default=defaults.num_hypotheses)
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="DDIM steps, the node's")
    parser.add_argument("--fast-steps", default="10,12,15", help="DPM-Solver++(2M) step counts")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)

    synth = NovelViewSynthesizer.from_checkpoint(args.model or asset_path("completion"), engine=args.engine)
    anchor = prepare_views([sample_views(SAMPLE_VIEWS)[0][1]], synth.image_size, synth.max_views)[0]
    step = 2.0 * math.pi / args.azimuths
    first = 1 if synth.angle_reference == "relative" else 0  # as the completion: a relative model skips the anchor's own
    angles = [step * j for j in range(first, args.azimuths)]
    k = args.num_hypotheses
    streams = len(angles) * k
    print(f"CPU: {cpu_model()}; ISA: {', '.join(cpu_isa()) or 'none of interest'}; torch threads: {args.threads}")
    print(f"model {synth.image_size}x{synth.image_size} ({synth.angle_reference} angles), engine: "
          f"{synth.runner.describe()}, max_batch {synth.runner.max_batch} streams per engine call")
    print(f"one completion's synthesis: {len(angles)} azimuths x K = {k} hypotheses x 1 view = {streams} streams\n")

    synth.synthesize([anchor], angles, k, SamplingSpec(steps=1, seed=0))  # warm-up (engine build, caches)

    def per_azimuth(spec: SamplingSpec) -> np.ndarray:
        return np.stack([synth.synthesize([anchor], angle, k, spec.with_seed(1000 * i)).images
                         for i, angle in enumerate(angles)], axis=1)

    def batched(spec: SamplingSpec) -> np.ndarray:
        return np.stack([r.images for r in synth.synthesize([anchor], angles, k, spec.with_seed(0))], axis=1)

    ddim = SamplingSpec(steps=args.steps)
    reference, base = timed(lambda: per_azimuth(ddim))
    rows = [(f"ddim {args.steps}, one call per azimuth", base)]
    together, seconds = timed(lambda: batched(ddim))
    rows.append((f"ddim {args.steps}, all azimuths in one call", seconds))
    identical = np.array_equal(reference, together)
    difference = int(np.abs(reference.astype(int) - together).max())
    for steps in [int(s) for s in args.fast_steps.split(",")]:
        _, seconds = timed(lambda steps=steps: batched(SamplingSpec("dpmpp2m", steps)))
        rows.append((f"dpmpp2m {steps}, all azimuths in one call", seconds))

    print("| synthesis | seconds | vs one call per azimuth (ddim) |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f}x |")
    print(f"\nbatched images identical to the per-azimuth calls: {identical} (largest difference {difference} of 255)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
