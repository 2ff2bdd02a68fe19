"""Conversions between image files, uint8 RGB arrays (the user's) and model tensors in [-1, 1]."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB; alpha is composited onto white like the training data."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise OSError(f"cannot read image {path}")
    if image.dtype != np.uint8:
        image = (image / np.iinfo(image.dtype).max * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0
        image = (image[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) in [-1, 1], the diffusion model's range."""
    return torch.from_numpy(np.ascontiguousarray(images)).movedim(-1, -3).float().div(127.5).sub(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8."""
    scaled = ((tensor.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
    return scaled.to(torch.uint8).permute(0, 2, 3, 1).numpy()
