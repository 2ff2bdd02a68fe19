"""ONNX Runtime engine: the exported graph under the TensorRT, CUDA or CPU execution provider."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .base import Denoiser
from .onnx_export import INPUT_NAMES, OUTPUT_NAMES

log = logging.getLogger(__name__)

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
PROVIDER_ALIASES = {"tensorrt": PROVIDER_ORDER[0], "cuda": PROVIDER_ORDER[1], "cpu": PROVIDER_ORDER[2]}


def choose_providers(requested: list[str] | None = None, gpu_present: bool | None = None) -> list[str]:
    """Providers to ask for, best first, among those this onnxruntime build offers.

    GPU providers are skipped when no GPU is present: onnxruntime-gpu lists them
    anyway and then falls back to CPU with error logs (docs/DESIGN.md §3).
    """
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    if gpu_present is None:
        gpu_present = torch.cuda.is_available()
    if requested:
        wanted = [PROVIDER_ALIASES.get(p.lower(), p) for p in requested]
        unknown = [p for p in wanted if p not in available]
        if unknown:
            raise ValueError(f"onnxruntime providers {unknown} are not available here; available: {sorted(available)}")
        return wanted
    return [p for p in PROVIDER_ORDER if p in available and (gpu_present or p == "CPUExecutionProvider")]


class OnnxRuntimeDenoiser(Denoiser):
    """Runs the exported U-Net in an ``onnxruntime.InferenceSession``.

    On the CPU provider tensors go through numpy (zero-copy for contiguous CPU
    tensors). On CUDA the inputs are bound in place with IO binding, so a
    denoising step never copies through the host.
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, image_size: int, providers: list[str] | None = None, threads: int = 0,
                 prediction: str = "eps"):
        import onnxruntime as ort

        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model {self.path} does not exist")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        chosen = choose_providers(providers)
        self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=chosen)
        self.providers = self.session.get_providers()
        on_gpu = self.providers[0] != "CPUExecutionProvider"
        super().__init__(image_size, torch.device("cuda" if on_gpu else "cpu"), prediction)
        log.info("onnxruntime session on %s (asked for %s)", self.providers, chosen)

    def __call__(self, views, noisy, angle, noise_level):
        inputs = (views.float(), noisy.float(), angle.float(), noise_level.float())
        if self.device.type == "cpu":
            feeds = {n: t.detach().contiguous().numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)}
            noise, logits = self.session.run(list(OUTPUT_NAMES), feeds)
            return torch.from_numpy(noise), torch.from_numpy(logits)
        return self._run_bound(inputs)

    def _run_bound(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """IO binding on CUDA: outputs are preallocated torch tensors the session writes into."""
        binding = self.session.io_binding()
        device_id = self.device.index or 0
        inputs = tuple(t.contiguous() for t in inputs)  # kept alive until the run ends
        for name, tensor in zip(INPUT_NAMES, inputs, strict=True):
            binding.bind_input(name, "cuda", device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
        outputs = [torch.empty_like(inputs[1]) for _ in OUTPUT_NAMES]
        for name, tensor in zip(OUTPUT_NAMES, outputs, strict=True):
            binding.bind_output(name, "cuda", device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
        self.session.run_with_iobinding(binding)
        return outputs[0], outputs[1]

    def describe(self) -> str:
        return f"onnxruntime {self.path.name} on {self.providers[0]}"
