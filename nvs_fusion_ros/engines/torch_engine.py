"""PyTorch engine: runs the U-Net module directly (CPU or CUDA, optional bf16/fp16 autocast)."""

from __future__ import annotations

import torch

from ..model.unet import ViewFusionUNet
from .base import Denoiser
from .cpu import cpu_supports_bf16

__all__ = ["TorchDenoiser", "cpu_supports_bf16", "cuda_supports_bf16", "default_autocast"]


def cuda_supports_bf16(device: torch.device | int | None = None) -> bool:
    """True when the GPU computes bf16 natively (compute capability 8.0 on: Ampere, Ada, Hopper, Orin).

    ``torch.cuda.is_bf16_supported()`` also counts emulation, which V100, T4 and Jetson Xavier
    (7.x) offer at fp32 speed or worse; there fp16 autocast is the fast choice.
    """
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def default_autocast(device: torch.device) -> torch.dtype | None:
    """The autocast dtype that is fast here: bf16 where native, fp16 on older GPUs, else fp32 (None)."""
    if device.type == "cuda":
        return torch.bfloat16 if cuda_supports_bf16(device) else torch.float16
    return torch.bfloat16 if cpu_supports_bf16() else None


class TorchDenoiser(Denoiser):
    """The network in eager PyTorch; autocast runs the convolutions and matmuls in bf16 or fp16.

    ``bf16``: True or False forces bf16 autocast on or off (fp32); None takes
    :func:`default_autocast` (which may pick fp16 on a GPU without native bf16).
    """

    name = "torch"

    def __init__(self, model: ViewFusionUNet, device: torch.device | str = "cpu", bf16: bool | None = None):
        device = torch.device(device)
        super().__init__(model.config.image_size, device, model.config.prediction)
        self.model = model.to(device).eval()
        self.autocast: torch.dtype | None = default_autocast(device) if bf16 is None else (torch.bfloat16 if bf16 else None)

    @property
    def bf16(self) -> bool:
        return self.autocast == torch.bfloat16

    @torch.inference_mode()
    def __call__(self, views, noisy, angle, noise_level):
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            noise, logits = self.model(views, noisy, angle, noise_level)
        return noise.float(), logits.float()

    def describe(self) -> str:
        precision = {torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast", None: "fp32"}[self.autocast]
        return f"torch on {self.device} ({precision})"
