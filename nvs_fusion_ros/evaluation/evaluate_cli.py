"""``nvs-fusion evaluate``: the options of an evaluation run (``evaluate.py`` runs it, torch imported then)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..synthesis.cli import add_engine_arguments, add_sampling_arguments, sampling_spec
from .config import EvalConfig


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` subcommand."""
    parser = subparsers.add_parser("evaluate", help="PSNR/SSIM/LPIPS with the paper's protocols, against baselines")
    parser.add_argument("--data", required=True, help="NMR-layout dataset root")
    parser.add_argument("--split", default="test", help="split list to evaluate")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N objects of the split")
    parser.add_argument("--repeats", type=int, default=EvalConfig.repeats, help="single-view protocol repeats (paper: 3)")
    parser.add_argument("--max-views", type=int, default=6, help="largest number of input views (paper: 6; at most 23)")
    parser.add_argument("--view-counts", type=int, nargs="+", default=[],
                        help="numbers of input views of the per-view-count protocol (default: 1..max-views)")
    parser.add_argument("--num-hypotheses", type=int, default=EvalConfig.num_hypotheses,
                        help="K samples (occlusion hypotheses) per target: scored one by one, as their mean and as a set")
    add_sampling_arguments(parser, steps_help="denoising steps (the nodes' default)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every draw and every diffusion sample")
    parser.add_argument("--max-batch", type=int, default=64, help="network streams (views) per denoising call")
    parser.add_argument("--lpips-weights", default=None,
                        help="VGG16 + LPIPS linear weights (format: see nvs_fusion_ros/evaluation/image_metrics.py); "
                             "without it LPIPS is reported as unavailable")
    parser.add_argument("--examples", type=int, default=4, help="objects shown in examples.png")
    parser.add_argument("--out", default="out/evaluate", help="output folder")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default; 1 is much faster on cores busy with training)")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..model.assets import asset_path
    from .evaluate import evaluate, markdown_report, write_outputs

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = EvalConfig(
        data=args.data, model=str(args.model or asset_path("view")), split=args.split, limit=args.limit,
        repeats=args.repeats, max_views=args.max_views, view_counts=tuple(args.view_counts),
        num_hypotheses=args.num_hypotheses, sampling=sampling_spec(args), seed=args.seed,
        engine=args.engine, device=args.device, max_batch=args.max_batch, lpips_weights=args.lpips_weights,
        examples=args.examples,
    )
    evaluation = evaluate(cfg)
    paths = write_outputs(Path(args.out), evaluation, cfg.examples)
    print(markdown_report(evaluation.report))
    print("\n".join(f"{name}: {path}" for name, path in paths.items()))
    return 0
