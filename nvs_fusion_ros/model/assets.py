"""The shipped models by role: which file each role uses, and where an installed copy is found.

One table, so no other module names a model file; an entry point asks for a role:

* ``view``: the view model of ``novel_view``, ``NovelViewSynthesizer.from_checkpoint()``, the
  command line, the demo, the evaluation and the reconstruction: the 32x32 model with targets in a
  canonical object frame.
* ``temporal``: the temporal model of the moving-object composition, whose view model is ``view``
  (the composition denoises one matrix with both models, so they share that size and frame).
* ``completion``: what ``rgbd_completion`` composes: the 64x64 household model with target angles
  measured from the camera's own view, which is the frame a tabletop RGB-D scene gives.

Each file is taken from its environment variable when set, else from the source tree, the ROS
package's share/ folder, or the pip install's share/ folder, in that order (``setup.py`` installs
``models/`` to share/).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Asset:
    """A shipped file: its path relative to the repository root and the variable that replaces it."""

    relative: str
    environment: str


ASSETS = {
    "view": Asset("models/viewfusion_default.pt", "NVS_FUSION_MODEL"),
    "temporal": Asset("models/temporal_default.pt", "NVS_FUSION_TEMPORAL_MODEL"),
    "completion": Asset("models/viewfusion_household64.pt", "NVS_FUSION_RGBD_MODEL"),
}


def shipped_file(relative: str, environment: str) -> Path:
    """A file the package ships: $<environment>, the source tree's copy, or an installed share/ one."""
    if os.environ.get(environment):
        return Path(os.environ[environment])
    candidates = [Path(__file__).resolve().parents[2] / relative]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidates.append(Path(get_package_share_directory("nvs_fusion_ros")) / relative)
        except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset (pip-only install)
            pass
    except ImportError:
        pass
    candidates.append(Path(sys.prefix) / "share" / "nvs_fusion_ros" / relative)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {relative} found; looked in {[str(c) for c in candidates]} (or set ${environment})")


def asset_path(role: str) -> Path:
    """The file of a role of ``ASSETS`` (its environment variable overrides it)."""
    if role not in ASSETS:
        raise ValueError(f"unknown model role {role!r}; choose one of {sorted(ASSETS)}")
    asset = ASSETS[role]
    return shipped_file(asset.relative, asset.environment)
