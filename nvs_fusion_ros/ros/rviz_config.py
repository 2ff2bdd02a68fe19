"""The shipped RViz layout (``config/viewfusion.rviz``) adapted to a namespace and a fixed frame.

RViz resolves a display's topic as written, so a layout with ``/novel_view/image`` shows
nothing for ``namespace:=robot1``. The launch file writes a copy whose every topic is moved
under the namespace and whose fixed frame is its ``fixed_frame`` argument (a frame that exists
on the robot: the default ``base_link``, or ``<camera frame>_nvs_object``, the unit-less frame of ``~/points``).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml


def namespaced(topic: str, namespace: str) -> str:
    """An absolute topic of the root namespace moved under ``namespace`` ('' or '/' leave it)."""
    namespace = namespace.strip("/")
    return f"/{namespace}{topic}" if namespace else topic


def adapt(layout_text: str, namespace: str, fixed_frame: str) -> dict[str, Any]:
    """The layout with every display topic under ``namespace`` and ``fixed_frame`` as the fixed frame."""
    if not fixed_frame:
        raise ValueError("fixed_frame must name a TF frame")
    layout = yaml.safe_load(layout_text)
    manager = layout["Visualization Manager"]
    for display in manager["Displays"]:
        if "Topic" in display:
            display["Topic"]["Value"] = namespaced(display["Topic"]["Value"], namespace)
    manager["Global Options"]["Fixed Frame"] = fixed_frame
    return layout


def write_adapted(layout_path: str | Path, namespace: str, fixed_frame: str) -> Path:
    """``adapt`` the layout file and write it to a fresh temporary file for ``rviz2 -d``.

    The folder is removed when the process that wrote it (the launch) exits, after RViz has read it.
    """
    layout = adapt(Path(layout_path).read_text(), namespace, fixed_frame)
    folder = Path(tempfile.mkdtemp(prefix="nvs_fusion_rviz_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "viewfusion.rviz"
    path.write_text(yaml.safe_dump(layout, sort_keys=False))
    return path
