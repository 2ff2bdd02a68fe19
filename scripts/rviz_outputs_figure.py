"""docs/rviz_outputs.png: what the RViz layout shows, drawn from the two demos' outputs.

An RViz-like window: the image displays on the left (key views, hypotheses, uncertainty of
``nvs-fusion demo``), the 3D view on the right (the ``rgbd_completion/object_cloud`` of
``nvs-fusion demo --rgbd`` on a grid: the visible points in the camera's colours, the completed ones
rainbow-coloured by confidence as the shipped layout draws them):

    nvs-fusion demo --out out/demo && nvs-fusion demo --rgbd --out out/rgbd_demo
    python scripts/rviz_outputs_figure.py --demo out/demo --rgbd out/rgbd_demo --out docs/rviz_outputs.png

Needs matplotlib and trimesh (the ``training`` extra).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import trimesh
from matplotlib import colormaps

PANEL = "#2b2b2b"  # RViz's dark panels
VIEW_BACKGROUND = "#303030"
DEMO_CAMERA_PITCH_DEG = 40.0  # the RGB-D demo's camera looks down at the table this steeply


def read_cloud(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points (N, 3) in metres (optical frame), their colours (N, 3) in 0..1 and confidence (N,) from cloud.ply."""
    vertices = trimesh.load(path, process=False).metadata["_ply_raw"]["vertex"]["data"]
    colours = np.stack([vertices["red"], vertices["green"], vertices["blue"]], axis=1) / 255.0
    return np.stack([vertices["x"], vertices["y"], vertices["z"]], axis=1), colours, np.asarray(vertices["confidence"])


def levelled(points: np.ndarray, pitch_deg: float) -> np.ndarray:
    """Optical-frame points (x right, y down, z forward) of a camera pitched down by ``pitch_deg``, in a frame
    with the table horizontal: x right, y away from the camera along the table, z up."""
    pitch = math.radians(pitch_deg)
    up = np.array([0.0, -math.cos(pitch), -math.sin(pitch)])
    away = np.array([0.0, -math.sin(pitch), math.cos(pitch)])
    return np.stack([points[:, 0], points @ away, points @ up], axis=1)


def image_panel(axis: plt.Axes, images: list[np.ndarray], title: str) -> None:
    gap = np.full((images[0].shape[0], 2, 3), 80, np.uint8)
    strip = np.concatenate([part for image in images for part in (image[..., :3], gap)][:-1], axis=1)
    axis.imshow(strip, interpolation="nearest")
    axis.set_title(title, color="white", fontsize=8, loc="left")
    axis.set_xticks([])
    axis.set_yticks([])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("out/demo"), help="output folder of nvs-fusion demo")
    parser.add_argument("--rgbd", type=Path, default=Path("out/rgbd_demo"), help="output folder of nvs-fusion demo --rgbd")
    parser.add_argument("--out", type=Path, default=Path("docs/rviz_outputs.png"), help="the picture to write")
    parser.add_argument("--pitch", type=float, default=DEMO_CAMERA_PITCH_DEG,
                        help="degrees the RGB-D camera looks down, to draw the table level")
    args = parser.parse_args()
    read = lambda name: plt.imread(args.demo / name)  # noqa: E731
    to_uint8 = lambda image: (image[..., :3] * 255).astype(np.uint8) if image.dtype != np.uint8 else image  # noqa: E731
    key_views = [to_uint8(read(p.name)) for p in sorted(args.demo.glob("key_view_*.png"))]
    hypotheses = [to_uint8(read(p.name)) for p in sorted(args.demo.glob("hypothesis_*.png"))]
    uncertainty = to_uint8(read("uncertainty.png"))
    points, colours, confidence = read_cloud(args.rgbd / "cloud.ply")
    visible = json.loads((args.rgbd / "summary.json").read_text())["visible_points"]  # the cloud lists them first

    figure = plt.figure(figsize=(11, 5.2), facecolor=PANEL)
    grid = figure.add_gridspec(3, 2, width_ratios=[1, 1.35], hspace=0.35, wspace=0.05, left=0.02, right=0.98,
                               top=0.92, bottom=0.04)
    image_panel(figure.add_subplot(grid[0, 0]), key_views, "Key views (views)")
    image_panel(figure.add_subplot(grid[1, 0]), hypotheses, "Hypotheses, tiled (novel_view/hypotheses)")
    image_panel(figure.add_subplot(grid[2, 0]), [uncertainty], "Uncertainty (novel_view/uncertainty)")

    view = figure.add_subplot(grid[:, 1], projection="3d", facecolor=VIEW_BACKGROUND)
    x, y, z = levelled(points, args.pitch).T
    view.scatter(x[:visible], y[:visible], z[:visible], c=colours[:visible], s=1.0, depthshade=False)
    cloud = view.scatter(x[visible:], y[visible:], z[visible:], c=confidence[visible:], cmap=colormaps["rainbow"],
                         vmin=0, vmax=1, s=1.5, depthshade=False)
    floor = z.min()
    for value in np.linspace(x.min() - 0.05, x.max() + 0.05, 6):
        view.plot([value, value], [y.min() - 0.05, y.max() + 0.05], [floor] * 2, color="#707070", lw=0.5)
    for value in np.linspace(y.min() - 0.05, y.max() + 0.05, 6):
        view.plot([x.min() - 0.05, x.max() + 0.05], [value, value], [floor] * 2, color="#707070", lw=0.5)
    view.set_box_aspect((np.ptp(x) + 0.1, np.ptp(y) + 0.1, np.ptp(z) + 0.02))
    view.view_init(elev=20, azim=15)  # from the side: the visible face left, the completed back right
    view.set_axis_off()
    view.set_title("RGB-D completion (rgbd_completion/object_cloud): visible points in their colours,\n"
                   "completed points coloured by confidence", color="white", fontsize=8, loc="left")
    bar = figure.colorbar(cloud, ax=view, shrink=0.5, pad=0.0)
    bar.set_label("confidence", color="white", fontsize=8)
    bar.ax.tick_params(colors="white", labelsize=7)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=100, facecolor=PANEL)
    print(f"wrote {args.out}: {visible} visible and {len(points) - visible} completed points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
