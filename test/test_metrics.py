"""PSNR/SSIM against known values, and LPIPS: unavailable without weights, plumbing proven with random ones.

The random-weight LPIPS test proves the loader, the VGG16 layout and the distance
computation, not the real ImageNet/LPIPS weights, which cannot be had here.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nvs_fusion_ros.training import metrics as metrics_module
from nvs_fusion_ros.training.metrics import (
    LPIPS_CHANNELS,
    PSNR_CAP_DB,
    ImageMetrics,
    psnr,
    ssim,
    vgg16_features,
)


def noisy_pair(seed: int = 0, size: int = 16, sigma: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
    image = np.clip(reference + rng.normal(0, sigma, reference.shape), 0, 255).astype(np.uint8)
    return image, reference


def write_random_lpips_weights(path: Path, seed: int = 0) -> Path:
    """A weight file in the documented format, with random values (the real weights are not available)."""
    torch.manual_seed(seed)
    features = vgg16_features()
    for p in features.parameters():
        torch.nn.init.normal_(p, 0.0, 0.05)
    linear = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(LPIPS_CHANNELS)}
    torch.save({"vgg16_features": features.state_dict(), "lpips_linear": linear}, path)
    return path


def test_psnr_of_a_known_mse() -> None:
    reference = np.full((8, 8, 3), 0.5)
    assert psnr(reference + 0.1, reference) == pytest.approx(20.0, abs=1e-9)  # MSE 0.01 -> 20 dB
    image = np.full((8, 8, 3), 100, np.uint8)
    expected = 10 * math.log10(1.0 / (51 / 255) ** 2)  # every pixel off by 51 levels
    assert psnr(image + 51, image) == pytest.approx(expected, abs=1e-9)


def test_psnr_of_identical_images_is_the_documented_cap() -> None:
    image, _ = noisy_pair()
    assert psnr(image, image.copy()) == PSNR_CAP_DB
    nearly = image.copy()
    nearly[0, 0, 0] ^= 1
    assert 60.0 < psnr(nearly, image) < PSNR_CAP_DB


def test_ssim_is_one_for_identical_images_and_falls_with_noise() -> None:
    image, reference = noisy_pair(sigma=10.0)
    worse, _ = noisy_pair(sigma=40.0)
    assert ssim(reference, reference) == pytest.approx(1.0)
    assert 0.0 < ssim(worse, reference) < ssim(image, reference) < 1.0


def test_metric_inputs_are_checked() -> None:
    image, reference = noisy_pair()
    with pytest.raises(ValueError, match="same shape"):
        psnr(image[:8], reference)
    with pytest.raises(ValueError, match="7x7"):
        ssim(image[:5, :5], reference[:5, :5])


def test_without_weights_lpips_is_unavailable_not_replaced() -> None:
    image, reference = noisy_pair()
    metrics = ImageMetrics()
    scores = metrics(image[None], reference[None])
    assert not metrics.lpips_available
    assert scores["lpips"] is None
    assert scores["psnr"] == [psnr(image, reference)] and scores["ssim"] == [ssim(image, reference)]


def test_vgg16_features_have_torchvision_layout() -> None:
    state = vgg16_features().state_dict()
    convs = sorted({int(k.split(".")[0]) for k in state})
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert sum(v.numel() for v in state.values()) == 14_714_688  # torchvision vgg16().features


def test_lpips_with_weights_in_the_documented_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = ImageMetrics(write_random_lpips_weights(tmp_path / "lpips_vgg.pt"))
    image, reference = noisy_pair(size=32)
    other, _ = noisy_pair(seed=1, size=32, sigma=60.0)
    images, references = np.stack([reference, image, other]), np.stack([reference, reference, reference])
    scores = metrics(images, references)
    assert metrics.lpips_available
    same, close, far = scores["lpips"]
    assert same == pytest.approx(0.0, abs=1e-7)
    assert 0.0 < close < far
    monkeypatch.setattr(metrics_module, "LPIPS_BATCH", 2)  # the same distances when computed in chunks
    assert metrics(images, references)["lpips"] == pytest.approx(scores["lpips"], abs=1e-6)


def test_lpips_weight_files_in_another_format_are_refused(tmp_path: Path) -> None:
    good = torch.load(write_random_lpips_weights(tmp_path / "good.pt"), weights_only=True)
    missing = tmp_path / "missing.pt"
    torch.save({"vgg16_features": good["vgg16_features"]}, missing)
    with pytest.raises(ValueError, match="expected format"):
        ImageMetrics(missing)
    wrong = tmp_path / "wrong.pt"
    good["lpips_linear"]["lin2.model.1.weight"] = torch.rand(1, 64, 1, 1)
    torch.save(good, wrong)
    with pytest.raises(ValueError, match="lpips_linear does not fit"):
        ImageMetrics(wrong)
    with pytest.raises(FileNotFoundError):
        ImageMetrics(tmp_path / "absent.pt")
