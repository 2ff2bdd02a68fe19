"""What defines a training run: plain dataclasses, importable without torch.

The command line builds its ``train`` and ``train-temporal`` options from these defaults, so
``--help`` prints without loading torch; the trainers import them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .recipe import Recipe

LR_DECAYS = ("constant", "cosine")


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in its checkpoints so ``--resume`` continues it unchanged."""

    data: str
    out: str
    preset: str = "cpu-32"
    steps: int = 20000
    batch_size: int = 16
    max_views: int = 6
    lr: float = 1e-4
    warmup_steps: int = 1000
    warmup_start_lr: float = 5e-5
    lr_decay: str = "constant"  # "cosine": anneal from lr to min_lr between the end of warm-up and `steps`
    min_lr: float = 1e-5
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    schedule: str = "linear"
    checkpoint_every: int = 250
    sample_every: int = 1000
    seed: int = 0
    workers: int = 0
    precision: str = "auto"
    channels_last: bool = False  # NHWC memory layout: opt in where it measures faster (some GPUs); it can slow a CPU down
    init_from: str = ""  # a model checkpoint whose weights start this run (fine-tuning); "" = random
    angle_reference: str = ""  # "canonical" | "relative" (target angle from the anchor view); "" = the preset's
    time_budget_s: float = 0.0  # > 0: end by then, with `steps` lowered to what fits (a GPU's fixed minutes)
    # training levels and loss weights: log-normal levels with Min-SNR-5 won the recipe comparison of models/README.md
    # (the paper's: "uniform" and "none")
    timesteps: str = "log-normal"  # "uniform" (the paper) | "log-normal" (EDM), see recipe.py
    loss_weighting: str = "min-snr"  # "none" | "min-snr" (Min-SNR-γ with min_snr_gamma)
    min_snr_gamma: float = 5.0
    extra_ema_decay: float = 0.0  # > 0: a second EMA at this decay, written to ema_extra.pt beside ema.pt

    def __post_init__(self) -> None:
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {LR_DECAYS}, got {self.lr_decay!r}")
        if self.lr_decay == "cosine" and not 0.0 <= self.min_lr <= self.lr:
            raise ValueError(f"min_lr must be in [0, lr={self.lr:g}] for a cosine anneal, got {self.min_lr:g}")
        if self.time_budget_s < 0:
            raise ValueError(f"time_budget_s must be >= 0 (0: none), got {self.time_budget_s:g}")
        if not 0.0 <= self.extra_ema_decay < 1.0:
            raise ValueError(f"extra_ema_decay must be in [0, 1) (0: none), got {self.extra_ema_decay:g}")
        self.recipe()  # refuses unknown names now rather than at the first step

    def recipe(self) -> Recipe:
        return Recipe(self.timesteps, self.loss_weighting, self.min_snr_gamma)


@dataclass
class TemporalTrainConfig(TrainConfig):
    """A run of the temporal model: ``frames`` per training clip; no sample grids."""

    preset: str = "temporal-cpu-32"
    frames: int = 8
    sample_every: int = 0
