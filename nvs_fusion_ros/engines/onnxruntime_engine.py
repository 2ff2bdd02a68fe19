"""ONNX Runtime engine: the exported graph under the CUDA, TensorRT or CPU execution provider."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from ..model.config import UNetConfig
from .base import Denoiser
from .onnx_export import INPUT_NAMES, OUTPUT_NAMES, import_onnxruntime, profile_shapes

log = logging.getLogger(__name__)

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
PROVIDER_ALIASES = {"tensorrt": PROVIDER_ORDER[0], "cuda": PROVIDER_ORDER[1], "cpu": PROVIDER_ORDER[2]}
#: what a default GPU session asks for. Not ONNX Runtime's TensorRT provider: without a cache it rebuilds
#: its engines at every start, and this package's own TensorRT engine covers that case; name it to get it.
DEFAULT_GPU_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")

ProviderSetting = tuple[str, dict[str, str]]


def choose_providers(requested: list[str] | None = None, gpu_present: bool | None = None) -> list[str]:
    """Providers to ask for, best first, among those this onnxruntime build offers.

    GPU providers are skipped when no GPU is present: onnxruntime-gpu lists them
    anyway and then falls back to CPU with error logs (docs/DESIGN.md §3).
    """
    ort = import_onnxruntime()

    available = set(ort.get_available_providers())
    if gpu_present is None:
        gpu_present = torch.cuda.is_available()
    if requested:
        wanted = [PROVIDER_ALIASES.get(p.lower(), p) for p in requested]
        unknown = [p for p in wanted if p not in available]
        if unknown:
            raise ValueError(f"onnxruntime providers {unknown} are not available here; available: {sorted(available)}")
        return wanted
    return [p for p in DEFAULT_GPU_PROVIDERS if p in available and (gpu_present or p == "CPUExecutionProvider")]


def _shape_list(shapes: dict[str, tuple[tuple[int, ...], ...]], which: int) -> str:
    return ",".join(f"{name}:{'x'.join(map(str, dims[which]))}" for name, dims in shapes.items())


def provider_settings(providers: list[str], device: torch.device, config: UNetConfig, max_batch: int,
                      fp16: bool, cache: Path) -> list[ProviderSetting]:
    """Each provider with the options it needs here.

    GPU providers get the GPU's index (``device_id``): without it ``cuda:1`` runs on GPU 0.
    The TensorRT provider also gets an engine and timing cache, fp16 as asked, and an
    optimisation profile over 1..max_batch streams (without them it rebuilds at every start
    and for every new stream count).
    """
    device_id = str(device.index or 0)
    settings: list[ProviderSetting] = []
    for name in providers:
        options: dict[str, str] = {}
        if name == "CUDAExecutionProvider":
            options = {"device_id": device_id}
        elif name == "TensorrtExecutionProvider":
            shapes = profile_shapes(config, max_batch)
            options = {
                "device_id": device_id, "trt_fp16_enable": str(fp16), "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(cache / "onnxruntime-tensorrt"), "trt_timing_cache_enable": "True",
                "trt_profile_min_shapes": _shape_list(shapes, 0), "trt_profile_opt_shapes": _shape_list(shapes, 1),
                "trt_profile_max_shapes": _shape_list(shapes, 2),
            }
        settings.append((name, options))
    return settings


class OnnxRuntimeDenoiser(Denoiser):
    """Runs the exported U-Net in an ``onnxruntime.InferenceSession``.

    On the CPU provider tensors go through numpy (zero-copy for contiguous CPU
    tensors). On a GPU the inputs are bound in place with IO binding, so a
    denoising step never copies through the host. ONNX Runtime's CUDA provider
    runs on a stream of its own that does not wait for torch's: the session is
    handed a dedicated torch stream (``user_compute_stream``) that waits for the
    caller's stream before each run, and the caller's stream waits for it after.
    """

    name = "onnxruntime"

    def __init__(self, onnx_path: str | Path, config: UNetConfig, providers: list[str] | None = None, threads: int = 0,
                 device: torch.device | None = None, max_batch: int = 64, fp16: bool = False, cache: Path | None = None):
        ort = import_onnxruntime()

        self.path = Path(onnx_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"ONNX model {self.path} does not exist")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        chosen = choose_providers(providers)
        on_gpu = chosen[0] != "CPUExecutionProvider"
        device = device if device is not None and device.type == "cuda" else torch.device("cuda", 0)
        settings = provider_settings(chosen, device, config, max_batch, fp16, cache or self.path.parent)
        self._stream: torch.cuda.Stream | None = None
        if on_gpu:
            self._stream = torch.cuda.Stream(device)
            for name, provider_options in settings:
                if name in ("CUDAExecutionProvider", "TensorrtExecutionProvider"):
                    provider_options.update(has_user_compute_stream="1",
                                            user_compute_stream=str(self._stream.cuda_stream))
        self.session = ort.InferenceSession(str(self.path), sess_options=options, providers=settings)
        self.providers = self.session.get_providers()
        on_gpu = self.providers[0] != "CPUExecutionProvider"
        super().__init__(config.image_size, device if on_gpu else torch.device("cpu"), config.prediction)
        self._lock = threading.Lock()  # one run at a time on the one stream
        log.info("onnxruntime session on %s (asked for %s)", self.providers, chosen)

    def __call__(self, views, noisy, angle, noise_level):
        inputs = (views.float(), noisy.float(), angle.float(), noise_level.float())
        if self.device.type == "cpu":
            feeds = {n: t.detach().contiguous().numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)}
            noise, logits = self.session.run(list(OUTPUT_NAMES), feeds)
            return torch.from_numpy(noise), torch.from_numpy(logits)
        return self._run_bound(inputs)

    def _run_bound(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """IO binding on CUDA: outputs are preallocated torch tensors the session writes into, on our stream."""
        assert self._stream is not None
        caller = torch.cuda.current_stream(self.device)
        device_id = self.device.index or 0
        inputs = tuple(t.to(self.device).contiguous() for t in inputs)  # kept alive until the run ends
        outputs = [torch.empty_like(inputs[1]) for _ in OUTPUT_NAMES]
        with self._lock:
            self._stream.wait_stream(caller)  # inputs written on the caller's stream are ready before ORT reads
            binding = self.session.io_binding()
            for name, tensor in zip(INPUT_NAMES, inputs, strict=True):
                binding.bind_input(name, "cuda", device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
            for name, tensor in zip(OUTPUT_NAMES, outputs, strict=True):
                binding.bind_output(name, "cuda", device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
            self.session.run_with_iobinding(binding)
            for tensor in (*inputs, *outputs):
                tensor.record_stream(self._stream)
            caller.wait_stream(self._stream)
        return outputs[0], outputs[1]

    def describe(self) -> str:
        where = f" ({self.device})" if self.device.type == "cuda" else ""
        return f"onnxruntime {self.path.name} on {self.providers[0]}{where}"
