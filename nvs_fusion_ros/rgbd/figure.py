"""The pictures of a completion: visible depth points | visible + completed coloured by confidence | true surface;
and one cloud per method side by side (visible | each method | truth)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

MAX_POINTS = 6000  # per panel, so the scatter stays readable and fast


def completion_figure(visible: np.ndarray, completed: np.ndarray, confidence: np.ndarray, truth: np.ndarray | None,
                      path: str | Path, title: str = "") -> Path:
    """Three 3D scatter panels in the optical frame, seen from behind the object (the side the camera misses):
    the visible depth points; them (grey) with the completed points coloured by confidence; the true surface."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("visible depth points", [(visible, None)]),
              ("+ completed (colour: confidence)", [(visible, None), (completed, confidence)])]
    if truth is not None and len(truth):
        panels.append(("true surface", [(truth, None)]))
    fig = plt.figure(figsize=(4.4 * len(panels), 4.4))
    everything = np.concatenate([visible, completed] + ([truth] if truth is not None and len(truth) else []))
    low, high = everything.min(axis=0), everything.max(axis=0)
    scatter = None
    for i, (name, layers) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, projection="3d")
        for pts, value in layers:
            step = max(1, len(pts) // MAX_POINTS)
            sub = pts[::step]
            if value is None:
                ax.scatter(sub[:, 0], sub[:, 2], -sub[:, 1], s=0.5, c="0.55" if len(layers) > 1 else "tab:blue")
            else:
                scatter = ax.scatter(sub[:, 0], sub[:, 2], -sub[:, 1], s=0.8, c=value[::step], cmap="viridis",
                                     vmin=0.0, vmax=1.0)
        frame_axes(ax, low, high, name, elevation=25, azimuth=55)
    if scatter is not None:
        fig.colorbar(scatter, ax=fig.axes, shrink=0.6, label="confidence")
    return save_figure(fig, path, title, dpi=110)


def methods_figure(clouds: dict[str, np.ndarray], truth: np.ndarray, path: str | Path, title: str = "",
                   scores: dict[str, float] | None = None) -> Path:
    """One 3D scatter panel per named cloud (in order), then the true surface, all from the same viewpoint behind the
    object; ``scores`` (per name) go under each panel's name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [*clouds.items(), ("truth", truth)]
    columns = min(len(panels), 5)
    rows = -(-len(panels) // columns)
    fig = plt.figure(figsize=(3.4 * columns, 3.4 * rows))
    everything = np.concatenate([cloud for _, cloud in panels if len(cloud)])
    low, high = everything.min(axis=0), everything.max(axis=0)
    for i, (name, cloud) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, i + 1, projection="3d")
        sub = cloud[:: max(1, len(cloud) // MAX_POINTS)]
        ax.scatter(sub[:, 0], sub[:, 2], -sub[:, 1], s=0.5, c="tab:green" if name == "truth" else "tab:blue")
        label = name if scores is None or name not in scores else f"{name}: {scores[name]:.3f}"
        frame_axes(ax, low, high, label, elevation=25, azimuth=55)
    return save_figure(fig, path, title, dpi=100)


def save_figure(fig: Any, path: str | Path, title: str, dpi: int) -> Path:
    """Title, write (making the folder) and close a figure, as a 256-colour PNG: scattered points and flat colours
    lose nothing a reader sees, and the files ship in ``docs/`` at about a third of the size."""
    import matplotlib.pyplot as plt
    from PIL import Image

    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png")
    plt.close(fig)
    Image.open(buffer).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def frame_axes(ax: Any, low: np.ndarray, high: np.ndarray, title: str, elevation: float, azimuth: float) -> None:
    """A 3D panel of optical-frame points drawn as (x, z, -y), so up is up: equal scales over [low, high], no ticks."""
    ax.set(xlim=(low[0], high[0]), ylim=(low[2], high[2]), zlim=(-high[1], -low[1]), title=title)
    ax.set_box_aspect(tuple(np.maximum(high - low, 1e-3)[[0, 2, 1]]))
    ax.set_xticks([]), ax.set_yticks([]), ax.set_zticks([])
    ax.view_init(elev=elevation, azim=azimuth)


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray, confidence: np.ndarray | None = None,
              faces: np.ndarray | None = None) -> Path:
    """A binary little-endian PLY: float x y z, uchar red green blue, optional float confidence, optional faces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    if confidence is not None:
        fields.append(("confidence", "<f4"))
    rows = np.empty(len(points), dtype=fields)
    rows["x"], rows["y"], rows["z"] = points[:, 0], points[:, 1], points[:, 2]
    rows["red"], rows["green"], rows["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]
    if confidence is not None:
        rows["confidence"] = confidence
    kinds = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(points)}"]
    header += [f"property {kinds[t]} {n}" for n, t in fields]
    if faces is not None:
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    header.append("end_header")
    with path.open("wb") as out:
        out.write(("\n".join(header) + "\n").encode())
        out.write(rows.tobytes())
        if faces is not None:
            face_rows = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
            face_rows["n"], face_rows["v"] = 3, faces
            out.write(face_rows.tobytes())
    return path
