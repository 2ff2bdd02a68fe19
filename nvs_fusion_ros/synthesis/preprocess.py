"""Bringing user images to the model's input: validation, centring, letterboxing, resizing.

Training images show the object centred on a white background, square. A user
image of any size is padded (not stretched) to a square with white, centred,
and resized with area interpolation, so the object keeps its aspect ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

BACKGROUND = 255


def wrap_angle(angle: float) -> float:
    """An angle in radians wrapped into [0, 2π); IEEE remainder is exact, so even 3.4e38 wraps correctly."""
    return math.remainder(angle, 2.0 * math.pi) % (2.0 * math.pi)


def validate_view(image: object, index: int) -> np.ndarray:
    """Check one user view: an HxWx3 uint8 RGB array with H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"view {index} is a {type(image).__name__}, expected a numpy array")
    if image.dtype != np.uint8:
        raise ValueError(f"view {index} has dtype {image.dtype}, expected uint8 RGB")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"view {index} has shape {image.shape}, expected (H, W, 3)")
    return image


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """Centre the image on a white square of side max(H, W) and resize it to size x size."""
    h, w = image.shape[:2]
    side = max(h, w)
    square = np.full((side, side, 3), BACKGROUND, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    square[top : top + h, left : left + w] = image
    if side == size:
        return square
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


def prepare_views(views: Sequence[np.ndarray], size: int, max_views: int) -> np.ndarray:
    """Validate and letterbox a list of user views: -> (N, size, size, 3) uint8 (inputs untouched)."""
    if isinstance(views, np.ndarray) and views.ndim == 4:
        views = list(views)
    if not isinstance(views, Sequence) or isinstance(views, (str, bytes)) or len(views) == 0:
        raise ValueError("views must be a non-empty list of HxWx3 uint8 RGB arrays")
    if len(views) > max_views:
        raise ValueError(
            f"{len(views)} views exceed max_views={max_views} (each view is one network stream per step; "
            "raise max_views if memory allows)"
        )
    return np.stack([letterbox(validate_view(v, i), size) for i, v in enumerate(views)])


def validate_angle(angle: object) -> float:
    """A finite azimuth in radians, wrapped into [0, 2π) (in float64, so any finite value works)."""
    try:
        value = float(angle)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"target angle {angle!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"target angle {value} is not finite")
    return wrap_angle(value)
