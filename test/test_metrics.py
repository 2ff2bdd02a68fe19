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

from nvs_fusion_ros.evaluation import image_metrics as metrics_module
from nvs_fusion_ros.evaluation.image_metrics import (
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


@pytest.mark.slow
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


# --------------------------------------------------------------------------- foreground measures


def _squares() -> tuple[np.ndarray, np.ndarray]:
    """8x8: a true 4x4 square at rows/cols 0-3, a predicted one at rows/cols 2-5 (overlap 2x2)."""
    true = np.zeros((8, 8), bool)
    true[0:4, 0:4] = True
    predicted = np.zeros((8, 8), bool)
    predicted[2:6, 2:6] = True
    return predicted, true


def test_silhouette_iou_by_hand() -> None:
    predicted, true = _squares()
    assert metrics_module.silhouette_iou(predicted, true) == pytest.approx(4 / 28)  # 2x2 over 16 + 16 - 4
    assert metrics_module.silhouette_iou(true, true) == 1.0
    assert metrics_module.silhouette_iou(np.zeros((8, 8), bool), np.zeros((8, 8), bool)) == 1.0
    assert metrics_module.silhouette_iou(predicted, ~predicted) == 0.0


def test_prediction_foreground_is_its_non_white_pixels() -> None:
    image = np.full((4, 4, 3), 255, np.uint8)
    image[0, 0] = (250, 250, 250)  # sampling noise on the background: 5/255 < 0.06
    image[1, 1] = (255, 255, 200)  # a pale yellow surface: 55/255 > 0.06
    image[2, 2] = (0, 0, 0)
    np.testing.assert_array_equal(np.argwhere(metrics_module.non_background(image)), [[1, 1], [2, 2]])


def test_psnr_inside_the_union_by_hand() -> None:
    """7 of the 28 union pixels are off by 0.1 in every channel: MSE 0.0025 inside, 7 * 0.01 / 64 overall."""
    reference = np.ones((8, 8, 3))
    region = np.zeros((8, 8), bool)
    region[0:4, 0:4] = region[2:6, 2:6] = True
    assert region.sum() == 28
    image = reference.copy()
    image[0, 0:4] -= 0.1
    image[1, 0:3] -= 0.1
    assert metrics_module.masked_psnr(image, reference, region) == pytest.approx(10 * math.log10(1 / 0.0025))  # 26.02
    assert psnr(image, reference) == pytest.approx(10 * math.log10(64 / 0.07))  # 29.61: the white inflates it
    assert metrics_module.masked_psnr(image, reference, np.zeros((8, 8), bool)) == PSNR_CAP_DB


def test_ssim_inside_a_region_by_hand() -> None:
    """Two flat images a, b: every SSIM window gives (2ab + C1) / (a² + b² + C1), C1 = (0.01 · 1)²."""
    a, b, c1 = 0.5, 0.4, 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # 0.97563...
    region = np.zeros((12, 12), bool)
    region[3:7, 5:9] = True
    assert metrics_module.masked_ssim(np.full((12, 12, 3), b), np.full((12, 12, 3), a), region) == pytest.approx(expected)
    image, reference = noisy_pair(size=16)
    interior = np.zeros((16, 16), bool)
    interior[3:-3, 3:-3] = True  # scikit-image's mean SSIM leaves out the 3-pixel border of a 7x7 window
    assert metrics_module.masked_ssim(image, reference, interior) == pytest.approx(ssim(image, reference))
    assert metrics_module.masked_ssim(image, image, np.ones((16, 16), bool)) == pytest.approx(1.0)


def test_image_metrics_add_foreground_scores_with_masks() -> None:
    """A white reference with a dark 4x4 square, the prediction's square shifted by two pixels."""
    predicted, true = _squares()
    reference = np.full((1, 8, 8, 3), 255, np.uint8)
    reference[0][true] = 0
    image = np.full((1, 8, 8, 3), 255, np.uint8)
    image[0][predicted] = 0
    masks = true[None].astype(np.uint8) * 255
    scores = ImageMetrics()(image, reference, masks)
    assert scores["iou"] == [pytest.approx(4 / 28)]
    # 24 of the 28 union pixels are wrong by 1.0 in every channel: MSE 24/28; the whole image dilutes it by 28/64.
    assert scores["psnr_fg"] == [pytest.approx(10 * math.log10(28 / 24))]
    assert scores["psnr"] == [pytest.approx(10 * math.log10(64 / 24))]
    assert ImageMetrics()(image, reference)["iou"] is None
    with pytest.raises(ValueError, match="masks"):
        ImageMetrics()(image, reference, masks[:, :4])
