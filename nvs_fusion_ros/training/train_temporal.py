"""Training of the temporal model D_time (``nvs-fusion train-temporal``).

The loss is the view model's, for a clip: all F frames of a single-view clip are noised to one
shared level (the composition denoises the whole matrix at one level), the model sees them with
the clean first frame, and learns ε or v with an L2 loss. Everything else (optimiser, warm-up,
EMA, bf16, checkpoints, ``--resume``) is :class:`.train.Trainer`'s, through its hooks.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import torch
from torch import nn

from ..diffusion.schedules import NoiseSchedule, prediction_target
from ..model.temporal_unet import TemporalUNet, TemporalUNetConfig, temporal_preset
from .train import TrainConfig, Trainer
from .video_dataset import VideoClips


def temporal_loss(
    model: nn.Module, schedule: NoiseSchedule, batch: dict, generator: torch.Generator | None = None,
    prediction: str = "v",
) -> torch.Tensor:
    """‖target − model(y_t)‖² over every frame of every clip, with one level t per clip."""
    frames = batch["frames"]
    b = frames.shape[0]
    t = torch.randint(0, schedule.num_steps, (b,), generator=generator)
    eps = torch.randn(frames.shape, generator=generator).to(frames.device)
    y_t = schedule.add_noise(frames, t, eps)
    level = schedule.gamma(t).to(frames.device)
    output = model(y_t, batch["first"], batch["angle"].float(), level)
    return torch.mean((output.float() - prediction_target(prediction, frames.float(), eps.float(), level)) ** 2)


@dataclass
class TemporalTrainConfig(TrainConfig):
    """A run of the temporal model: ``frames`` per training clip; no sample grids."""

    preset: str = "temporal-cpu-32"
    frames: int = 8
    sample_every: int = 0


class TemporalTrainer(Trainer):
    """:class:`.train.Trainer` with the temporal network, clip data and :func:`temporal_loss`."""

    cfg: TemporalTrainConfig

    def __init__(self, cfg: TemporalTrainConfig, model_config: TemporalUNetConfig | None = None, resume: bool = False):
        if cfg.sample_every:
            raise ValueError("the temporal trainer writes no sample grids; set sample_every to 0")
        super().__init__(cfg, model_config, resume)

    @staticmethod
    def preset_config(name: str) -> TemporalUNetConfig:
        return temporal_preset(name)

    def build_model(self) -> nn.Module:
        return TemporalUNet(self.model_config)

    def build_dataset(self) -> VideoClips:
        return VideoClips(self.cfg.data, "train", frames=self.cfg.frames, image_size=self.model_config.image_size,
                          seed=self.cfg.seed)

    def loss(self, batch: dict) -> torch.Tensor:
        return temporal_loss(self.net, self.schedule, batch, self.generator, self.model_config.prediction)

    def metadata(self) -> dict:
        meta = super().metadata()
        meta.pop("max_views")
        meta["frames"] = self.cfg.frames
        return meta


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train-temporal", help="train the temporal model (D_time) on a dynamic dataset")
    defaults = TemporalTrainConfig(data="", out="")
    parser.add_argument("--data", required=True, help="dataset root written by render-dataset --dynamic")
    parser.add_argument("--out", required=True, help="run folder (last.pt, ema.pt)")
    parser.add_argument("--preset", default=defaults.preset, help="temporal-cpu-32 or temporal-tiny")
    for name in ("steps", "batch_size", "frames", "warmup_steps", "checkpoint_every", "seed", "workers"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "warmup_start_lr", "ema_decay", "grad_clip"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--schedule", default=defaults.schedule, choices=["linear", "cosine"],
                        help="must be the view model's schedule for the composition")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--resume", action="store_true", help="continue <out>/last.pt if it exists")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    fields = TemporalTrainConfig.__dataclass_fields__
    cfg = TemporalTrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    print(json.dumps(TemporalTrainer(cfg, resume=args.resume).run(), indent=2))
    return 0
