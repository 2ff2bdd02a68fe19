"""The settings ``~/complete`` is timed at, and the timing of its synthesis and of a ``novel_view`` hidden-side request.

One place for what ``completion_speed.py`` (the whole pipeline on the tabletop scenes, with quality) and
``gpu_check.py`` (the synthesis alone, on a GPU machine without the RGB-D dependencies) both time. It imports neither
the RGB-D pipeline nor torch at load: ``Setting.options`` loads the pipeline when asked.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from collections.abc import Sequence

import numpy as np

from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec

NOVEL_VIEW_K, NOVEL_VIEW_VIEWS = 4, 3  # a hidden-side request as the speed bar states it: K = 4 from 3 key views
CARVING_RESOLUTION = 64  # CompletionConfig's default (test_completion_speed checks they agree)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One way to run ``~/complete``: the sampler and its steps, K hypotheses, A azimuths, the carving grid."""

    sampler: str
    steps: int
    num_hypotheses: int
    azimuths: int
    resolution: int = CARVING_RESOLUTION

    @classmethod
    def parse(cls, text: str) -> Setting:
        """``SAMPLER:STEPS:K:A[:R]``."""
        parts = text.split(":")
        if len(parts) not in (4, 5):
            raise argparse.ArgumentTypeError(f"a setting is SAMPLER:STEPS:K:A[:R], got {text!r}")
        return cls(parts[0], *map(int, parts[1:]))

    @property
    def name(self) -> str:
        return f"{self.sampler} {self.steps}, K {self.num_hypotheses}, A {self.azimuths}, grid {self.resolution}"

    def sampling(self, seed: int = 0) -> SamplingSpec:
        return SamplingSpec(self.sampler, self.steps, seed=seed)

    def options(self, seed: int = 0):  # type: ignore[no-untyped-def]
        """The ``CompletionOptions`` of this setting in the ``model`` mode (what the node publishes by default)."""
        from nvs_fusion_ros.rgbd.completion import CompletionConfig
        from nvs_fusion_ros.rgbd.pipeline import CompletionOptions

        return CompletionOptions(num_hypotheses=self.num_hypotheses, azimuths=self.azimuths,
                                 sampling=self.sampling(seed), mode="model",
                                 completion=CompletionConfig(resolution=self.resolution))

    def angles(self, relative: bool) -> list[float]:
        """The azimuths the completion asks its model for (a relative model is not asked for the anchor's own)."""
        step = 2.0 * math.pi / self.azimuths
        return [step * j for j in range(1 if relative else 0, self.azimuths)]


#: the setting the speed bar is measured against: 25 DDIM steps, K = 8 at 8 azimuths, a 64³ grid
REFERENCE = Setting("ddim", 25, 8, 8, 64)


def node_setting() -> Setting:
    """``rgbd_completion``'s defaults as a setting."""
    from nvs_fusion_ros.rgbd.pipeline import CompletionOptions

    defaults = CompletionOptions()
    return Setting(defaults.sampling.sampler, defaults.sampling.steps, defaults.num_hypotheses, defaults.azimuths,
                   defaults.completion.resolution)


def time_call(run, repeats: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The first call's seconds (engine warm-up at this stream count) and the median of ``repeats`` more."""
    seconds = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return {"first_s": seconds[0], "median_s": float(statistics.median(seconds[1:]))}


def time_novel_view(synthesizer, views: Sequence[np.ndarray], sampling: SamplingSpec,  # type: ignore[no-untyped-def]
                    repeats: int) -> dict[str, float]:
    """The node's hidden-side call, ``synthesize_steps(views, [pi], K = 4, sampling)`` stepped through as its job does."""
    def run() -> None:
        steps = synthesizer.synthesize_steps(views, [math.pi], NOVEL_VIEW_K, sampling)
        for _step in steps:
            pass
        if len(steps.result[0].images) != NOVEL_VIEW_K:
            raise RuntimeError(f"asked for {NOVEL_VIEW_K} hypotheses, got {len(steps.result[0].images)}")

    return time_call(run, repeats)


def time_completion_synthesis(synthesizer, anchor: np.ndarray, setting: Setting,  # type: ignore[no-untyped-def]
                              repeats: int, seed: int = 0) -> dict[str, float]:
    """The completion's sampling alone: K hypotheses at the setting's azimuths, conditioned on ``anchor``, one call."""
    angles = setting.angles(synthesizer.angle_reference == "relative")
    return time_call(lambda: synthesizer.synthesize([anchor], angles, setting.num_hypotheses, setting.sampling(seed)),
                     repeats)
