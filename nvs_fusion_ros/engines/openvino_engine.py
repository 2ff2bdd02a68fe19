"""OpenVINO engine: the exported ONNX graph compiled by OpenVINO, fp32 or bf16, on an Intel (or any x86) CPU.

On Intel Xeons with AMX, OpenVINO in bf16 ran the shipped network about twice as fast as
ONNX Runtime (issue 16's measurement). bf16 runs only where the CPU computes it natively
(OpenVINO reports ``BF16`` among the device's optimisation capabilities); elsewhere the
precision hint would be ignored, so the engine says fp32. ``device_name`` is OpenVINO's:
``CPU`` here; ``GPU`` (Intel iGPU) and ``NPU`` are passed through untested.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from ..model.config import UNetConfig
from .base import Denoiser
from .onnx_export import INPUT_NAMES, OUTPUT_NAMES, input_shapes

log = logging.getLogger(__name__)


def openvino_has_bf16(device_name: str = "CPU") -> bool:
    """True when OpenVINO can run bf16 natively on this device (AMX or AVX512-BF16 on a CPU)."""
    import openvino as ov

    return "BF16" in ov.Core().get_property(device_name, "OPTIMIZATION_CAPABILITIES")


class OpenVinoDenoiser(Denoiser):
    """Runs the exported U-Net with OpenVINO; tensors go in and out through numpy on the CPU.

    The graph is reshaped to a dynamic stream axis with static channels and sizes (``views``
    has the config's condition channels), which lets OpenVINO pick static-size kernels.
    """

    name = "openvino"

    def __init__(self, onnx_path: str | Path, config: UNetConfig, device_name: str = "CPU", bf16: bool = False,
                 threads: int = 0):
        import openvino as ov

        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model {self.path} does not exist")
        core = ov.Core()
        if device_name.split(".")[0] not in {d.split(".")[0] for d in core.available_devices}:
            raise ValueError(f"OpenVINO device {device_name!r} is not available here; available: {core.available_devices}")
        model = core.read_model(str(self.path))
        shapes = input_shapes(config, 1)
        model.reshape({name: ov.PartialShape([-1, *shapes[name][1:]]) for name in INPUT_NAMES})
        if bf16 and not openvino_has_bf16(device_name):
            log.warning("bf16 was asked for but OpenVINO's %s has no native bf16 here; running fp32", device_name)
            bf16 = False
        properties = {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, device_name, properties)
        self.bf16 = bf16
        self.device_name = device_name
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one request, one call at a time (the node calls from several threads)
        super().__init__(config.image_size, torch.device("cpu"), config.prediction)

    def __call__(self, views, noisy, angle, noise_level):
        inputs = (views, noisy, angle, noise_level)
        feeds = {n: t.detach().float().cpu().contiguous().numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)}
        with self._lock:
            results = self._request.infer(feeds)
            noise, logits = (np.array(results[self.compiled.output(name)], dtype=np.float32) for name in OUTPUT_NAMES)
        return torch.from_numpy(noise), torch.from_numpy(logits)

    def describe(self) -> str:
        return f"openvino {self.path.name} on {self.device_name} ({'bf16' if self.bf16 else 'fp32'})"
