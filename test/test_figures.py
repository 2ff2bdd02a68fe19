"""rgbd.figure.save_figure: the pictures that ship in docs/ are palette PNGs that look like the full-colour render."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from nvs_fusion_ros.rgbd.figure import save_figure


def test_a_saved_figure_is_a_palette_png_that_looks_like_the_render(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def figure() -> plt.Figure:
        fig, ax = plt.subplots(figsize=(4, 3))
        rng = np.random.default_rng(0)
        ax.scatter(rng.normal(size=2000), rng.normal(size=2000), c=rng.random(2000), s=2, cmap="viridis")
        return fig

    path = save_figure(figure(), tmp_path / "nested" / "cloud.png", "a title", dpi=100)
    full = io.BytesIO()
    reference = figure()
    reference.suptitle("a title")
    reference.savefig(full, dpi=100, format="png")
    saved, render = Image.open(path), np.asarray(Image.open(full).convert("RGB"), np.float32)
    assert saved.mode == "P" and path.stat().st_size < 0.6 * full.getbuffer().nbytes
    assert np.abs(np.asarray(saved.convert("RGB"), np.float32) - render).mean() < 2.0  # of 255
    assert not plt.get_fignums()[:-1]  # save_figure closed its figure; only the reference is open
    plt.close("all")
