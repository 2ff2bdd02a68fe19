"""PyTorch engine: runs the U-Net module directly (CPU or CUDA, optional bf16 autocast)."""

from __future__ import annotations

import torch

from ..model.unet import ViewFusionUNet
from .base import Denoiser


def cpu_supports_bf16() -> bool:
    """True when the CPU has native bf16 matrix units (AMX-BF16 or AVX512-BF16).

    Without them bf16 autocast is emulated and slower than fp32.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


class TorchDenoiser(Denoiser):
    """The network in eager PyTorch; ``bf16`` autocasts the convolutions and matmuls."""

    name = "torch"

    def __init__(self, model: ViewFusionUNet, device: torch.device | str = "cpu", bf16: bool | None = None):
        device = torch.device(device)
        super().__init__(model.config.image_size, device, model.config.prediction)
        self.model = model.to(device).eval()
        if bf16 is None:
            bf16 = cpu_supports_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
        self.bf16 = bool(bf16)

    @torch.inference_mode()
    def __call__(self, views, noisy, angle, noise_level):
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            noise, logits = self.model(views, noisy, angle, noise_level)
        return noise.float(), logits.float()

    def describe(self) -> str:
        return f"torch on {self.device}" + (" (bf16 autocast)" if self.bf16 else " (fp32)")
