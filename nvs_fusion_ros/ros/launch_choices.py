"""The launch arguments' choices, importable without torch or rclpy (the launch process never loads a model).

Engines come from ``engines.options.ENGINES``, samplers from ``diffusion.SAMPLER_NAMES``, so each list exists once.
"""

from __future__ import annotations

from ..diffusion import SAMPLER_NAMES
from ..engines.options import ENGINES

CHOICES: dict[str, tuple[str, ...]] = {"engine": tuple(ENGINES), "sampler": tuple(SAMPLER_NAMES)}
