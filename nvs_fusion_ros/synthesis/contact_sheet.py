"""Contact sheets: labelled rows of images in one PNG, for people who would rather look than read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

LABEL_HEIGHT = 14


def colorize(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """A float map (H, W) as an RGB uint8 heat map (viridis), scaled to [0, vmax]."""
    top = float(values.max()) if vmax is None else vmax
    scaled = np.clip(values / top, 0.0, 1.0) if top > 0 else np.zeros_like(values)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)


def contact_sheet(rows: Sequence[tuple[str, Sequence[np.ndarray]]], tile: int = 96) -> np.ndarray:
    """Stack labelled rows of RGB uint8 images (any size) into one RGB image, tiles upscaled to ``tile``."""
    width = max(len(images) for _, images in rows) * tile
    blocks = []
    for label, images in rows:
        strip = np.full((LABEL_HEIGHT + tile, width, 3), 255, np.uint8)
        cv2.putText(strip, label, (2, LABEL_HEIGHT - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        for i, image in enumerate(images):
            strip[LABEL_HEIGHT:, i * tile : (i + 1) * tile] = _tile(image, tile)
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
