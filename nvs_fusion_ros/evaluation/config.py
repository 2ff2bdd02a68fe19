"""What defines an evaluation run: a plain dataclass, importable without torch.

The command line builds its ``evaluate`` options from these defaults, so ``--help`` prints without
loading torch; the evaluation stores the config in its JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..cameras import NMR_VIEW_COUNT
from ..diffusion import SAMPLER_NAMES

log = logging.getLogger(__name__)


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
    steps: int = 25  # the nodes' default
    num_hypotheses: int = 4  # K samples per draw
    sampler: str = "ddim"
    eta: float = 0.0  # DDIM only: 0 deterministic (ODE), 1 ancestral over the same levels (the paper samples ancestrally)
    seed: int = 0
    engine: str = "auto"
    device: str = "auto"
    max_batch: int = 64
    lpips_weights: str | None = None
    examples: int = 4

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.steps < 1 or self.max_batch < 1 or self.num_hypotheses < 1:
            raise ValueError("repeats, steps, num_hypotheses and max_batch must be at least 1")
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
        if self.sampler not in SAMPLER_NAMES:
            raise ValueError(f"unknown sampler {self.sampler!r}; choose one of {sorted(SAMPLER_NAMES)}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {self.eta}")
