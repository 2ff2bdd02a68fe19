"""``ViewModel``: what the completion and the reconstruction need from a view synthesizer.

``NovelViewSynthesizer`` is the one implementation; the protocol names the part of it that
``rgbd.pipeline`` and ``reconstruction`` use, so they are typed without importing torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from ..diffusion.samplers import DenoiseStep
    from ..diffusion.sampling_spec import SamplingSpec
    from ..diffusion.stepwise import Progress, Stepwise
    from .runner import ModelRunner
    from .synthesizer import OrbitResult, SynthesisResult


class ViewModel(Protocol):
    """A model that synthesizes views of an object at target azimuths from pose-free views of it."""

    max_views: int

    @property
    def image_size(self) -> int:
        """The side of the square views it composes and returns, in pixels."""

    @property
    def angle_reference(self) -> str:
        """``"relative"`` (angles from the anchor view) or ``"canonical"`` (the object's frame)."""

    @property
    def runner(self) -> ModelRunner:
        """The engine, schedule and stream budget (mode seeking denoises through it)."""

    def synthesize_steps(self, views: Sequence[np.ndarray], target_angles: Sequence[float], num_hypotheses: int = 1,
                         sampling: SamplingSpec | None = None,
                         anchor: int = -1) -> Stepwise[DenoiseStep, list[SynthesisResult]]:
        """K samples at each angle in one reverse process; one result per angle."""

    def orbit_steps(self, views: Sequence[np.ndarray], angles: Sequence[float], autoregressive: bool = True,
                    sampling: SamplingSpec | None = None, anchor: int = -1) -> Stepwise[Progress, OrbitResult]:
        """Views at ``angles`` in order, each generated view conditioning the next when ``autoregressive``."""
