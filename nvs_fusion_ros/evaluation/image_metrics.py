"""Image metrics of the paper's evaluation (§4.3): PSNR, SSIM and LPIPS (VGG), and measures of
the object itself: silhouette IoU and PSNR/SSIM inside the foreground.

On a white background a small object is a few per cent of the pixels, so whole-image PSNR and
SSIM are mostly the background's score: a prediction that loses the object's shape still scores
well. The foreground measures look at the object only: the true foreground is the view's mask,
a prediction's foreground is its non-background pixels (:func:`non_background`), and PSNR/SSIM
are taken over the union of the two, so a missing part and a spurious blob both count.

PSNR and SSIM come from scikit-image on RGB images in [0, 1]. PSNR of two
identical images is infinite; it is reported as ``PSNR_CAP_DB`` so that means
over a test set stay finite (identical views do happen: symmetric objects,
the nearest-view baseline).

LPIPS needs ImageNet-trained VGG16 features and the LPIPS linear layers, which
cannot be downloaded here and which no installable package ships without
torchvision (docs/DESIGN.md §3). So LPIPS is computed only from a weight file the
user provides (:data:`LPIPS_WEIGHTS_FORMAT`); without one it is *unavailable*
(``None``), never replaced by a stand-in under the same name. The VGG16 feature
network is written here in plain torch, with torchvision's layer indices so
that its state dict loads unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

PSNR_CAP_DB = 100.0
#: A predicted pixel is foreground when some channel is darker than white by more than this (in
#: [0, 1]): sampling noise on the background stays under it, the palest rendered surfaces do not.
BACKGROUND_TOLERANCE = 0.06
FOREGROUND_METRICS = ("iou", "psnr_fg", "ssim_fg")
LPIPS_BATCH = 64  # image pairs per VGG pass: bounds the activation memory on large test sets
LPIPS_UNAVAILABLE = "n/a (no VGG weights)"

LPIPS_WEIGHTS_FORMAT = """\
A file written with torch.save holding a dict of two state dicts (loaded with weights_only=True):
  "vgg16_features": torchvision.models.vgg16(weights="IMAGENET1K_V1").features.state_dict()
                    (keys "0.weight", "0.bias", "2.weight", ... "28.bias")
  "lpips_linear":   the LPIPS v0.1 VGG linear layers, i.e. torch.load("lpips/weights/v0.1/vgg.pth")
                    from the lpips package (keys "lin0.model.1.weight" ... "lin4.model.1.weight")
Build it on a machine that has torchvision and lpips:
  torch.save({"vgg16_features": torchvision.models.vgg16(weights="IMAGENET1K_V1").features.state_dict(),
              "lpips_linear": torch.load(".../lpips/weights/v0.1/vgg.pth")}, "lpips_vgg.pt")"""

# torchvision's vgg16().features: conv3x3 widths, "M" = 2x2 max pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# LPIPS taps the ReLUs relu1_2, relu2_2, relu3_3, relu4_3, relu5_3: features[:4], [4:9], [9:16], [16:23], [23:30].
LPIPS_TAP_ENDS = (4, 9, 16, 23, 30)
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS ScalingLayer: maps [-1, 1] images to ImageNet-normalised inputs.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 (or float already in [0, 1]) -> float64 in [0, 1]."""
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return image.astype(np.float64)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"metrics need two HxWx3 images of the same shape, got {a.shape} and {b.shape}")


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB over RGB in [0, 1]; identical images give ``PSNR_CAP_DB`` instead of infinity."""
    _check_pair(image, reference)
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(to_unit_float(reference), to_unit_float(image), data_range=1.0)
    return float(min(value, PSNR_CAP_DB))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """SSIM (Wang et al. 2004, scikit-image defaults: 7x7 uniform window) over RGB in [0, 1]."""
    _check_pair(image, reference)
    if min(image.shape[:2]) < 7:
        raise ValueError(f"SSIM needs images of at least 7x7 pixels, got {image.shape[:2]}")
    return float(structural_similarity(to_unit_float(reference), to_unit_float(image), data_range=1.0, channel_axis=-1))


def non_background(image: np.ndarray, tolerance: float = BACKGROUND_TOLERANCE) -> np.ndarray:
    """Boolean (H, W) foreground of an image on white: pixels with a channel below 1 - tolerance."""
    return (1.0 - to_unit_float(image)).max(axis=-1) > tolerance


def silhouette_iou(predicted: np.ndarray, true: np.ndarray) -> float:
    """Intersection over union of two boolean (H, W) foregrounds; two empty ones agree fully (1.0)."""
    if predicted.shape != true.shape:
        raise ValueError(f"silhouettes differ in shape: {predicted.shape} and {true.shape}")
    union = np.logical_or(predicted, true).sum()
    return 1.0 if union == 0 else float(np.logical_and(predicted, true).sum() / union)


def masked_psnr(image: np.ndarray, reference: np.ndarray, region: np.ndarray) -> float:
    """PSNR in dB of the pixels inside ``region`` (boolean H x W, all three channels); an empty
    region or identical pixels give ``PSNR_CAP_DB``."""
    _check_pair(image, reference)
    if not region.any():
        return PSNR_CAP_DB
    mse = float(np.mean((to_unit_float(image)[region] - to_unit_float(reference)[region]) ** 2))
    return PSNR_CAP_DB if mse == 0 else float(min(10.0 * np.log10(1.0 / mse), PSNR_CAP_DB))


def masked_ssim(image: np.ndarray, reference: np.ndarray, region: np.ndarray) -> float:
    """Mean of the SSIM map (as :func:`ssim` computes it) over the pixels inside ``region``; 1.0
    for an empty region."""
    _check_pair(image, reference)
    if min(image.shape[:2]) < 7:
        raise ValueError(f"SSIM needs images of at least 7x7 pixels, got {image.shape[:2]}")
    if not region.any():
        return 1.0
    _, full = structural_similarity(to_unit_float(reference), to_unit_float(image), data_range=1.0, channel_axis=-1,
                                    full=True)
    return float(full.mean(axis=-1)[region].mean())


def foreground_scores(image: np.ndarray, reference: np.ndarray, true_mask: np.ndarray) -> dict[str, float]:
    """Silhouette IoU and PSNR/SSIM inside the union of the true (mask > 0) and predicted foreground."""
    true, predicted = true_mask > 0, non_background(image)
    union = true | predicted
    return {"iou": silhouette_iou(predicted, true), "psnr_fg": masked_psnr(image, reference, union),
            "ssim_fg": masked_ssim(image, reference, union)}


def vgg16_features() -> nn.Sequential:
    """VGG16's convolutional part, layer for layer as torchvision builds it (same state-dict keys)."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """LPIPS (Zhang et al. 2018) with the VGG backbone, as the lpips package computes it (v0.1)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = vgg16_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in LPIPS_CHANNELS)
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.shift) / self.scale
        taps, start = [], 0
        for end in LPIPS_TAP_ENDS:
            x = self.features[start:end](x)
            taps.append(x)
            start = end
        return taps

    @torch.inference_mode()
    def forward(self, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [-1, 1] -> (B,) distances."""
        total = torch.zeros(images.shape[0])
        for lin, fa, fb in zip(self.lins, self._taps(images), self._taps(references), strict=True):
            na = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total += lin((na - nb).pow(2)).mean(dim=(1, 2, 3))
        return total

    def load_weights(self, path: str | Path) -> LPIPS:
        """Load a file in :data:`LPIPS_WEIGHTS_FORMAT`; a wrong file raises ValueError naming what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"LPIPS weight file {path} does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for foreign or corrupt files
            raise ValueError(f"LPIPS weight file {path} is unreadable: {exc}") from exc
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), dict) for k in ("vgg16_features", "lpips_linear")):
            raise ValueError(f"LPIPS weight file {path} is not in the expected format:\n{LPIPS_WEIGHTS_FORMAT}")
        # The lpips package wraps each 1x1 conv as Sequential(Dropout, Conv2d): "linK.model.1.weight" -> "K.weight".
        linear = {
            key.removeprefix("lin").replace(".model.1.", "."): value for key, value in payload["lpips_linear"].items()
        }
        parts = ((self.features, payload["vgg16_features"], "vgg16_features"), (self.lins, linear, "lpips_linear"))
        for target, state, name in parts:
            try:
                target.load_state_dict(state, strict=True)
            except (RuntimeError, TypeError) as exc:
                raise ValueError(f"LPIPS weight file {path}: {name} does not fit VGG16/LPIPS: {exc}") from exc
        return self


class ImageMetrics:
    """PSNR, SSIM and, when VGG/LPIPS weights are given, LPIPS of uint8 RGB image pairs; with the
    true masks, the foreground measures too."""

    def __init__(self, lpips_weights: str | Path | None = None):
        self.lpips = LPIPS().load_weights(lpips_weights) if lpips_weights else None

    @property
    def lpips_available(self) -> bool:
        return self.lpips is not None

    def __call__(self, images: np.ndarray, references: np.ndarray,
                 masks: np.ndarray | None = None) -> dict[str, list[float] | None]:
        """(K, H, W, 3) uint8 images vs references -> {"psnr": [...], "ssim": [...], "lpips": [...] or None,
        "iou"/"psnr_fg"/"ssim_fg": [...], or None without the references' (K, H, W) ``masks``}."""
        if images.shape != references.shape or images.ndim != 4:
            raise ValueError(f"need two (K, H, W, 3) stacks of the same shape, got {images.shape} and {references.shape}")
        if masks is not None and masks.shape != images.shape[:3]:
            raise ValueError(f"need (K, H, W) masks for {images.shape} images, got {masks.shape}")
        scores: dict[str, list[float] | None] = {
            "psnr": [psnr(a, b) for a, b in zip(images, references, strict=True)],
            "ssim": [ssim(a, b) for a, b in zip(images, references, strict=True)],
            "lpips": None,
        }
        foreground = ([foreground_scores(a, b, m) for a, b, m in zip(images, references, masks, strict=True)]
                      if masks is not None else None)
        for name in FOREGROUND_METRICS:
            scores[name] = None if foreground is None else [f[name] for f in foreground]
        if self.lpips is not None:
            def as_tensor(x: np.ndarray) -> torch.Tensor:
                return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1.0

            scores["lpips"] = [
                value for start in range(0, len(images), LPIPS_BATCH)
                for value in self.lpips(as_tensor(images[start : start + LPIPS_BATCH]),
                                        as_tensor(references[start : start + LPIPS_BATCH])).tolist()
            ]
        return scores
