"""What defines a training run and an evaluation run: plain dataclasses, importable without torch.

The command line builds its ``train``, ``train-temporal`` and ``evaluate`` options from these
defaults, so ``--help`` prints without loading torch; the trainers and the evaluation import them.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from ..cameras import NMR_VIEW_COUNT
from ..diffusion.sampling_spec import SamplingSpec
from .recipe import Recipe

log = logging.getLogger(__name__)

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
    channels_last: bool = False  # slower on the dev CPU (AMD Zen 4, bf16, 56 streams, 1 thread): 12.2 vs 9.0 s/step
    init_from: str = ""  # a model checkpoint whose weights start this run (fine-tuning); "" = random
    angle_reference: str = ""  # "canonical" | "relative" (target angle from the anchor view); "" = the preset's
    time_budget_s: float = 0.0  # > 0: end by then, with `steps` lowered to what fits (a GPU's fixed minutes)
    timesteps: str = "uniform"  # training levels: "uniform" (the paper) | "log-normal" (EDM), see recipe.py
    loss_weighting: str = "none"  # "none" | "min-snr" (Min-SNR-γ with min_snr_gamma)
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


@dataclass
class EvalConfig:
    """Everything that defines an evaluation run; stored in its JSON."""

    data: str
    model: str
    split: str = "test"
    limit: int | None = None
    repeats: int = 3
    max_views: int = 6
    view_counts: tuple[int, ...] = ()  # the N of the per-view-count protocol; () = 1..max_views
    # the nodes' default; DDIM's eta 0 is deterministic (ODE), 1 ancestral over the same levels (the paper's way)
    sampling: SamplingSpec = field(default_factory=SamplingSpec)  # its seed is ``seed``, the run's one seed
    num_hypotheses: int = 4  # K samples per draw
    seed: int = 0
    engine: str = "auto"
    device: str = "auto"
    max_batch: int = 64
    lpips_weights: str | None = None
    examples: int = 4

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.max_batch < 1 or self.num_hypotheses < 1:
            raise ValueError("repeats, num_hypotheses and max_batch must be at least 1")
        if self.sampling.seed is not None:
            raise ValueError("an evaluation is seeded by EvalConfig.seed, the run's one seed; leave sampling's unset")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if self.max_views < 1:
            raise ValueError(f"max_views must be at least 1, got {self.max_views}")
        if self.max_views > NMR_VIEW_COUNT - 1:
            log.warning("max_views %d capped at %d: the target leaves %d other views", self.max_views, NMR_VIEW_COUNT - 1,
                        NMR_VIEW_COUNT - 1)
            self.max_views = NMR_VIEW_COUNT - 1
        self.view_counts = tuple(sorted(set(self.view_counts))) or tuple(range(1, self.max_views + 1))
        if not all(1 <= n <= self.max_views for n in self.view_counts):
            raise ValueError(f"view_counts must lie in 1..max_views={self.max_views}, got {list(self.view_counts)}")

    def report(self) -> dict:
        """The config as its report stores it: the sampling settings flat beside the rest (``sampler``, ``steps``,
        ``eta``, ``sampler_options``), the keys earlier reports have."""
        flat = {key: value for key, value in asdict(self).items() if key != "sampling"}
        spec = self.sampling
        return {**flat, "sampler": spec.sampler, "steps": spec.steps, "eta": spec.eta,
                "sampler_options": dict(spec.options)}
