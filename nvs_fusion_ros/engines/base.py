"""The one interface every inference engine implements.

A ``Denoiser`` runs the per-view U-Net on a flat batch of streams and returns
the raw noise predictions and weight logits. Composition across views and the
sampling loop stay outside (``diffusion``), so torch, ONNX Runtime and TensorRT
engines are interchangeable under the same samplers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Denoiser(ABC):
    """(views, noisy target, target angle, noise level) -> (noise, weight logits), batched over streams."""

    #: short engine name for logs and diagnostics ("torch", "onnxruntime", "tensorrt")
    name: str = "base"

    def __init__(self, image_size: int, device: torch.device, prediction: str = "eps"):
        self.image_size = image_size
        self.device = device
        #: what the first output is: "eps" (noise, the paper) or "v" (see diffusion.schedules)
        self.prediction = prediction

    @abstractmethod
    def __call__(
        self, views: torch.Tensor, noisy: torch.Tensor, angle: torch.Tensor, noise_level: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """views, noisy: (M, 3, H, W) float on ``device`` in [-1, 1]; angle, noise_level: (M,).

        Returns float32 (prediction, logits), each (M, 3, H, W), on ``device``; the prediction is
        the noise or v, as ``self.prediction`` says.
        """

    def describe(self) -> str:
        """One line naming the engine and where it runs, for logs and diagnostics."""
        return f"{self.name} on {self.device}"
