"""bf16 against fp32 on the CPU engines: do bf16 samples look like the fp32 samples with the same seeds?

The shipped model's raw network outputs differ by up to 0.13 between bf16 and fp32, so no
default may use bf16 before its *samples* are compared. This script synthesizes, with the
shipped model and the sample views, every held-out view of the object from the others
(DDIM, the node's 25 steps, 4 hypotheses with fixed seeds) on each engine in fp32 and in
bf16, and prints the PSNR of each bf16 image against the fp32 image of the same engine and
seed, beside the PSNR of each against the held-out ground truth.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bf16_quality.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.cache import onnx_path_for
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model, cpu_supports_bf16
from nvs_fusion_ros.engines.openvino_engine import OpenVinoDenoiser, openvino_has_bf16
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.evaluation.image_metrics import psnr
from nvs_fusion_ros.model.assets import asset_path
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.synthesis.preprocess import prepare_views
from nvs_fusion_ros.synthesis.runner import ModelRunner
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

VIEWS = Path(__file__).resolve().parents[1] / "nvs_fusion_ros" / "data" / "sample_views"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--hypotheses", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (cpu_supports_bf16() and openvino_has_bf16()):
        print(f"{cpu_model()} has no native bf16: nothing to compare")
        return 1
    checkpoint = load_checkpoint(asset_path("view"))
    onnx_path = onnx_path_for(checkpoint)
    engines = {
        ("openvino", False): OpenVinoDenoiser(onnx_path, checkpoint.config, bf16=False, threads=args.threads),
        ("openvino", True): OpenVinoDenoiser(onnx_path, checkpoint.config, bf16=True, threads=args.threads),
        ("torch", False): TorchDenoiser(checkpoint.model, "cpu", bf16=False),
        ("torch", True): TorchDenoiser(checkpoint.model, "cpu", bf16=True),
    }
    files = sorted(VIEWS.glob("view_*.png"))
    views = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    angles = [2 * np.pi * int(f.stem.split("_")[1]) / 24 for f in files]
    print(f"CPU: {cpu_model()} ({', '.join(cpu_isa())}), {args.threads} thread(s); model {asset_path('view').name}; "
          f"DDIM {args.steps} steps, {args.hypotheses} hypotheses, seeds {args.seed}..{args.seed + args.hypotheses - 1}; "
          f"{len(files)} held-out views, each from the other {len(files) - 1}")
    samples: dict[tuple[str, bool], list[np.ndarray]] = {key: [] for key in engines}
    truth = []
    for held_out in range(len(files)):
        others = [v for i, v in enumerate(views) if i != held_out]
        truth.extend([prepare_views([views[held_out]], checkpoint.config.image_size, 1)[0]] * args.hypotheses)
        for key, denoiser in engines.items():
            synth = NovelViewSynthesizer(checkpoint, ModelRunner(denoiser, checkpoint.schedule, checkpoint.config))
            result = synth.synthesize(others, angles[held_out], num_hypotheses=args.hypotheses,
                                      sampling=SamplingSpec(steps=args.steps, seed=args.seed))
            samples[key].extend(result.images)
    print("\n| engine | bf16 vs fp32 PSNR dB: mean | min | fp32 vs truth dB | bf16 vs truth dB |")
    print("|---|---:|---:|---:|---:|")
    for engine in ("openvino", "torch"):
        pairs = [psnr(b, f) for b, f in zip(samples[(engine, True)], samples[(engine, False)], strict=True)]
        fp32_truth = statistics.mean(psnr(f, t) for f, t in zip(samples[(engine, False)], truth, strict=True))
        bf16_truth = statistics.mean(psnr(b, t) for b, t in zip(samples[(engine, True)], truth, strict=True))
        print(f"| {engine} | {statistics.mean(pairs):.2f} | {min(pairs):.2f} | {fp32_truth:.2f} | {bf16_truth:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
