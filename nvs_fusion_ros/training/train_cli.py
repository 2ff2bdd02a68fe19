"""``nvs-fusion train`` and ``train-temporal``: the options every trainer shares, and the run.

Torch and the trainers are imported when a run starts, so ``--help`` prints at once.
"""

from __future__ import annotations

import argparse
import json

from ..model.config import ANGLE_REFERENCES
from .configs import LR_DECAYS, TemporalTrainConfig, TrainConfig
from .recipe import TIMESTEPS, WEIGHTINGS

INT_HELP = {
    "steps": "optimiser steps of the whole run (the cosine anneal ends there)",
    "batch_size": "targets per optimiser step (per process)",
    "max_views": "input views per target are drawn from 1..this",
    "frames": "frames per training clip",
    "warmup_steps": "steps of the linear learning-rate warm-up from --warmup-start-lr to --lr",
    "checkpoint_every": "steps between checkpoints (last.pt, ema.pt)",
    "sample_every": "steps between sample grids of validation objects (0: none)",
    "seed": "seeds the data order, the noise and the levels",
    "workers": "data-loader processes (0: batches made by a thread beside training)",
}
FLOAT_HELP = {
    "lr": "peak learning rate (Adam)",
    "warmup_start_lr": "learning rate at step 0",
    "min_lr": "learning rate at the end of a cosine anneal",
    "ema_decay": "decay of the exponential moving average of the weights (ema.pt)",
    "grad_clip": "gradient norm clip",
}


def add_run_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig, int_fields: tuple[str, ...]) -> None:
    """Arguments every trainer shares: data, run folder, optimiser, recipe, precision, resume, threads."""
    parser.add_argument("--data", required=True, help="dataset root")
    parser.add_argument("--out", required=True, help="run folder (last.pt, ema.pt, sample grids)")
    parser.add_argument("--preset", default=defaults.preset, help="model preset (model/config.py PRESETS)")
    for name in int_fields:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name), help=INT_HELP[name])
    for name, text in FLOAT_HELP.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name), help=text)
    parser.add_argument("--lr-decay", default=defaults.lr_decay, choices=LR_DECAYS,
                        help="after warm-up: constant (the paper) or cosine to --min-lr at --steps")
    parser.add_argument("--schedule", default=defaults.schedule, choices=["linear", "cosine"],
                        help="noise schedule (a temporal model must share the view model's)")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                        help="auto: bf16 autocast where the CPU or GPU has it, else fp32")
    parser.add_argument("--resume", action="store_true", help="continue <out>/last.pt if it exists")
    parser.add_argument("--init-from", default="", help="start from this model checkpoint's weights (fine-tuning)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format (faster on some GPUs/CPUs)")
    parser.add_argument("--angle-reference", default="", choices=["", *ANGLE_REFERENCES],
                        help="target angles: canonical (the paper, aligned datasets such as NMR) or relative to the "
                             "anchor view (real objects); default: the preset's")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--time-budget", dest="time_budget_s", type=float, default=0.0,
                        help="seconds: end by then, with --steps lowered to what fits and the cosine fitted to it (0: none)")
    parser.add_argument("--timesteps", default=defaults.timesteps, choices=list(TIMESTEPS),
                        help="how training noise levels are drawn: log-normal in sigma (EDM) or uniform (the paper)")
    parser.add_argument("--loss-weighting", default=defaults.loss_weighting, choices=list(WEIGHTINGS),
                        help="per-level loss weight: none, or min-snr (Min-SNR-gamma, capped at --min-snr-gamma)")
    parser.add_argument("--min-snr-gamma", type=float, default=defaults.min_snr_gamma, help="the Min-SNR cap gamma")
    parser.add_argument("--extra-ema-decay", type=float, default=defaults.extra_ema_decay,
                        help="also keep an EMA at this decay, in ema_extra.pt (0: none)")


def run_trainer(args: argparse.Namespace, config_class: type[TrainConfig], trainer_class: type) -> int:
    """Build the run's config from parsed arguments, train, and print the summary."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    fields = config_class.__dataclass_fields__
    cfg = config_class(**{k: v for k, v in vars(args).items() if k in fields})
    print(json.dumps(trainer_class(cfg, resume=args.resume).run(), indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    from .train import Trainer

    return run_trainer(args, TrainConfig, Trainer)


def _train_temporal(args: argparse.Namespace) -> int:
    from .train_temporal import TemporalTrainer

    return run_trainer(args, TemporalTrainConfig, TemporalTrainer)


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and ``train-temporal``."""
    parser = subparsers.add_parser("train", help="train the ViewFusion model on an NMR-layout dataset")
    add_run_arguments(parser, TrainConfig(data="", out=""), ("steps", "batch_size", "max_views", "warmup_steps",
                                                            "checkpoint_every", "sample_every", "seed", "workers"))
    parser.set_defaults(func=_train)
    parser = subparsers.add_parser("train-temporal", help="train the temporal model (D_time) on a dynamic dataset")
    add_run_arguments(parser, TemporalTrainConfig(data="", out=""),
                      ("steps", "batch_size", "frames", "warmup_steps", "checkpoint_every", "seed", "workers"))
    parser.set_defaults(func=_train_temporal)
