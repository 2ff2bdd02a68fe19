"""Settings of moving-object synthesis, apart from the synthesizer so the CLI and ROS parameters read them without torch."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..diffusion import DEFAULT_STEPS, RENOISE_MODES

#: how each frame is synthesized: Diffusion² composition with the temporal model, or the view model alone
METHODS = ("composition", "per-frame")


@dataclass(frozen=True)
class CompositionSettings:
    """Sampling settings of a clip: DDIM ``steps``, weight ``s`` of D_view, rollbacks and their re-noising."""

    steps: int = DEFAULT_STEPS
    weight: float = 0.5
    rollback_steps: int = 5
    renoise_mode: str = "forward"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight s must be in [0, 1], got {self.weight}")
        if not 0 <= self.rollback_steps <= self.steps:
            raise ValueError(f"rollback_steps must be in 0..steps ({self.steps}), got {self.rollback_steps}")
        if self.renoise_mode not in RENOISE_MODES:
            raise ValueError(f"unknown re-noise mode {self.renoise_mode!r}; choose one of {list(RENOISE_MODES)}")


def add_composition_arguments(parser: argparse.ArgumentParser) -> None:
    """The sampling options of a clip (``CompositionSettings``), for every command that samples clips."""
    defaults = CompositionSettings()
    parser.add_argument("--steps", type=int, default=defaults.steps, help="DDIM steps")
    parser.add_argument("--weight", type=float, default=defaults.weight, help="s, the view model's share")
    parser.add_argument("--rollback", type=int, default=defaults.rollback_steps,
                        help="variance-reducing rollback steps (the first N steps are taken twice)")
    parser.add_argument("--renoise", default=defaults.renoise_mode, choices=RENOISE_MODES,
                        help="how a rollback re-noises: forward (one forward step) or paper")
