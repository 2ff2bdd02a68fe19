"""What defines an evaluation run: a plain dataclass, importable without torch.

The command line builds its ``evaluate`` options from these defaults, so ``--help`` prints without
loading torch; the evaluation stores the config in its JSON.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from ..cameras import NMR_VIEW_COUNT
from ..diffusion.sampling_spec import SamplingSpec

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
