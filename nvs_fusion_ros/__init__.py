"""nvs_fusion_ros: pose-free novel view synthesis (ViewFusion) and 3D distillation for ROS 2.

The public API imports from the package itself::

    from nvs_fusion_ros import NovelViewSynthesizer, SamplingSpec, VideoSynthesizer, reconstruct, load_checkpoint

Each name is imported on first use (PEP 562 ``__getattr__``), so ``import nvs_fusion_ros`` stays
cheap (no torch) for the ROS launch file and console scripts, and no submodule importing the
package root can form an import loop.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_PUBLIC = {
    "NovelViewSynthesizer": "nvs_fusion_ros.synthesis.synthesizer",
    "SamplingSpec": "nvs_fusion_ros.diffusion.sampling_spec",
    "VideoSynthesizer": "nvs_fusion_ros.synthesis.video_synthesizer",
    "reconstruct": "nvs_fusion_ros.reconstruction.pipeline",
    "load_checkpoint": "nvs_fusion_ros.model.checkpoint",
}

__all__ = ["__version__", *_PUBLIC]

if TYPE_CHECKING:  # for type checkers and IDEs; the explicit aliases mark them as re-exports
    from .diffusion.sampling_spec import SamplingSpec as SamplingSpec
    from .model.checkpoint import load_checkpoint as load_checkpoint
    from .reconstruction.pipeline import reconstruct as reconstruct
    from .synthesis.synthesizer import NovelViewSynthesizer as NovelViewSynthesizer
    from .synthesis.video_synthesizer import VideoSynthesizer as VideoSynthesizer


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
