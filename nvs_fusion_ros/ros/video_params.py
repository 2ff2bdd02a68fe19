"""``video_synthesis``'s parameters, and the snapshot of them that each clip request takes when it arrives.

The model, engine and sampling parameters are ``novel_view``'s own specs (same names, defaults and checks); the
rest say how the clip is kept and composed. As for ``novel_view``, a job never reads a parameter while it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..diffusion import RENOISE_MODES
from ..synthesis.video_settings import METHODS as VIDEO_METHODS
from ..synthesis.video_settings import CompositionSettings
from .novel_view_params import PARAMETERS as NOVEL_VIEW_PARAMETERS
from .novel_view_params import request_seed
from .parameters import ParamSpec, topic_name
from .qos import INPUT_QOS_CHOICES

SHARED = ("engine", "device", "model_file_path", "engine_file_path", "force_engine_update", "enable_fp16", "steps",
          "seed", "target_angles", "output_qos_depth")

PARAMETERS = (
    # the video keeps DDIM's step count (its composition was measured so); novel_view's own default is the nodes' fast one
    *(replace(spec, default=CompositionSettings.steps) if spec.name == "steps" else spec
      for spec in NOVEL_VIEW_PARAMETERS if spec.name in SHARED),
    ParamSpec("temporal_model_file_path", "", "Temporal checkpoint (.pt); '' = the shipped default.", read_only=True),
    ParamSpec("frames_topic", "/camera/image_raw", "Camera image topic of the moving object.", read_only=True,
              check=topic_name("frames_topic")),
    ParamSpec("input_qos", "auto", "QoS of the frames_topic subscription (auto: reliable and best-effort publishers "
              "alike).", read_only=True, choices=INPUT_QOS_CHOICES),
    ParamSpec("video_frames", 8, "Frames F kept and synthesized.", read_only=True, int_range=(1, 64)),
    ParamSpec("video_frame_period", 0.25, "Least time (s, by header stamp) between kept frames.",
              float_range=(0.0, 3600.0)),
    ParamSpec("video_method", "composition", "composition (Diffusion²) or per-frame ViewFusion.",
              choices=tuple(VIDEO_METHODS)),
    ParamSpec("video_weight", CompositionSettings.weight, "s, the view model's share of the composite.",
              float_range=(0.0, 1.0)),
    ParamSpec("video_rollback_steps", CompositionSettings.rollback_steps,
              "Variance-reducing rollback steps (at most steps).", int_range=(0, 2000)),
    ParamSpec("video_renoise_mode", CompositionSettings.renoise_mode,
              "Rollback re-noising, forward (exact forward process) or paper (Diffusion²'s rule).",
              choices=tuple(RENOISE_MODES)),
)


@dataclass(frozen=True)
class VideoRequest:
    """The parameters a clip request runs with, read when it arrived."""

    seed: int
    target_angles: tuple[float, ...]
    video_method: str
    video_settings: CompositionSettings | None  # None with the reason in problem
    problem: str

    @classmethod
    def snapshot(cls, value: Callable[[str], Any]) -> VideoRequest:
        """Read every job parameter now, through ``value(name)`` (the node's current parameter value)."""
        try:
            settings, problem = CompositionSettings(steps=value("steps"), weight=value("video_weight"),
                                                    rollback_steps=value("video_rollback_steps"),
                                                    renoise_mode=value("video_renoise_mode")), ""
        except ValueError as exc:  # e.g. more rollbacks than steps: refused when the clip is asked for
            settings, problem = None, str(exc)
        angles = tuple(value("target_angles"))
        return cls(seed=request_seed(value("seed")), target_angles=angles, video_method=value("video_method"),
                   video_settings=settings, problem=problem or ("" if angles else "target_angles is empty"))
