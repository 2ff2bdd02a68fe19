"""The picture of grasps on clouds: one row per object, one panel per cloud, the planner's top grasp drawn as the hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..rgbd.figure import frame_axes, save_figure
from .planner import Grasp, Gripper, box_corners

MAX_POINTS = 4000  # per panel
EDGES = [(a, b) for a in range(8) for b in range(a + 1, 8) if bin(a ^ b).count("1") == 1]  # a box's 12 edges by corner bits


def hand_edges(grasp: Grasp, gripper: Gripper) -> list[np.ndarray]:
    """(2, 3) camera-frame segments of the hand's boxes (fingers closed on the grasp's contacts, and the palm)."""
    segments = []
    for low, high in gripper.boxes(grasp.width):
        world = box_corners(low, high) @ grasp.pose[:3, :3].T + grasp.pose[:3, 3]
        segments += [world[[a, b]] for a, b in EDGES]
    return segments


def grasp_figure(rows: list[tuple[str, list[tuple[str, np.ndarray, Grasp | None, bool]]]], gripper: Gripper,
                 path: str | Path) -> Path:
    """``rows``: (object name, [(cloud name, cloud (N, 3), top grasp or None, held)]); the hand is green when the
    grasp held in physics, red when it failed. Seen from the camera's side, above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(panels) for _, panels in rows)
    fig = plt.figure(figsize=(3.6 * columns, 3.6 * len(rows)))
    for r, (name, panels) in enumerate(rows):
        everything = np.concatenate([cloud for _, cloud, _, _ in panels])
        low, high = everything.min(axis=0) - 0.03, everything.max(axis=0) + 0.03
        for c, (label, cloud, grasp, held) in enumerate(panels):
            ax = fig.add_subplot(len(rows), columns, r * columns + c + 1, projection="3d")
            sub = cloud[:: max(1, len(cloud) // MAX_POINTS)]
            ax.scatter(sub[:, 0], sub[:, 2], -sub[:, 1], s=0.4, c="0.45")
            verdict = "no grasp"
            if grasp is not None:
                colour = "tab:green" if held else "tab:red"
                for seg in hand_edges(grasp, gripper):
                    ax.plot(seg[:, 0], seg[:, 2], -seg[:, 1], c=colour, lw=1.2)
                verdict = "held" if held else "failed"
            frame_axes(ax, low, high, f"{label}: {verdict}" if c else f"{name}\n{label}: {verdict}", elevation=30, azimuth=-70)
    fig.tight_layout()
    return save_figure(fig, path, "", dpi=100)
