"""Contact sheets: labelled rows of images in one PNG, for people who would rather look than read.

A row is ``(label, images)`` or a :class:`Row`, which adds a caption under each image (an azimuth, a
view's index) and, for heat maps, the colour scale they were drawn with. Thin grey gaps separate the
images and a line separates the rows, so where one image ends and the next begins is never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

LABEL_HEIGHT = 14
CAPTION_HEIGHT = 12
GAP = 2  # grey pixels between images
SCALE_WIDTH = 44  # colour bar and its numbers, right of a heat-map row
GAP_GREY = 200
RULE_GREY = 150
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Row:
    """One labelled row; ``captions[i]`` goes under ``images[i]``; ``scale`` = (low, high) of a heat map's colours."""

    label: str
    images: Sequence[np.ndarray]
    captions: Sequence[str] = ()
    scale: tuple[float, float] | None = None


def colorize(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """A float map (H, W) as an RGB uint8 heat map (viridis), scaled to [0, vmax] (default: the map's max)."""
    top = float(values.max()) if vmax is None else vmax
    scaled = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    return _viridis((scaled * 255).astype(np.uint8))


def heat_row(label: str, maps: Sequence[np.ndarray], vmax: float | None = None,
             captions: Sequence[str] = ()) -> Row:
    """Float maps drawn on one shared scale [0, vmax] (default: their max), with that scale beside them."""
    top = max(float(m.max()) for m in maps) if vmax is None else vmax
    return Row(label, [colorize(m, top) for m in maps], captions, (0.0, top))


def _viridis(levels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


def _text(canvas: np.ndarray, text: str, x: int, baseline: int, scale: float = 0.36) -> None:
    cv2.putText(canvas, text, (x, baseline), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def _colour_bar(height: int, low: float, high: float) -> np.ndarray:
    """A vertical viridis bar, high at the top, with its two end values."""
    panel = np.full((height, SCALE_WIDTH, 3), 255, np.uint8)
    levels = np.linspace(255, 0, height).astype(np.uint8)[:, None].repeat(10, axis=1)
    panel[:, 4:14] = _viridis(levels)
    _text(panel, f"{high:.2g}", 16, 10, 0.33)
    _text(panel, f"{low:.2g}", 16, height - 3, 0.33)
    return panel


def contact_sheet(rows: Sequence[tuple[str, Sequence[np.ndarray]] | Row], tile: int = 96) -> np.ndarray:
    """Stack labelled rows of RGB uint8 images (any size) into one RGB image, images upscaled to ``tile``."""
    rows = [row if isinstance(row, Row) else Row(*row) for row in rows]
    width = max(len(row.images) * (tile + GAP) - GAP + (GAP + SCALE_WIDTH if row.scale else 0) for row in rows)
    blocks = []
    for row in rows:
        caption_height = CAPTION_HEIGHT if row.captions else 0
        strip = np.full((LABEL_HEIGHT + tile + caption_height + GAP, width, 3), 255, np.uint8)
        strip[-1] = RULE_GREY  # the rule under the row
        _text(strip, row.label, 2, LABEL_HEIGHT - 3, 0.38)
        for i, image in enumerate(row.images):
            x = i * (tile + GAP)
            strip[LABEL_HEIGHT : LABEL_HEIGHT + tile, x : x + tile] = _tile(image, tile)
            if i + 1 < len(row.images):
                strip[LABEL_HEIGHT : LABEL_HEIGHT + tile, x + tile : x + tile + GAP] = GAP_GREY
            if i < len(row.captions):
                (text_width, _), _ = cv2.getTextSize(row.captions[i], FONT, 0.33, 1)
                _text(strip, row.captions[i], x + max(0, (tile - text_width) // 2), LABEL_HEIGHT + tile + 10, 0.33)
        if row.scale:  # right after the row's last image
            x = len(row.images) * (tile + GAP)
            strip[LABEL_HEIGHT : LABEL_HEIGHT + tile, x : x + SCALE_WIDTH] = _colour_bar(tile, *row.scale)
        blocks.append(strip)
    return np.concatenate(blocks, axis=0)


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB (or single-channel) uint8 image as PNG, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path
