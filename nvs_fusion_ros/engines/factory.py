"""Choosing and building an engine: ``engine="auto" | "tensorrt" | "onnxruntime" | "torch"``.

``auto`` takes the fastest engine that can run here and logs which one and why:
TensorRT on a GPU when the ``tensorrt`` package imports, ONNX Runtime with a GPU
provider otherwise, and on a CPU ONNX Runtime's CPU provider, which
``benchmarks/bench_denoise.py`` measured 1.2-2.3x faster than torch with bf16 autocast
per denoising step on the shipped ``cpu-32`` model at up to 24 streams (views x
hypotheses); at 48 streams torch bf16 was 1.2x faster, and on the larger ``cpu-64``
preset torch bf16 wins from 12 streams on: pick ``engine=torch`` there for large batches.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..model.checkpoint import Checkpoint
from .base import Denoiser
from .onnx_export import export_matches_checkpoint, export_onnx
from .onnxruntime_engine import OnnxRuntimeDenoiser, choose_providers
from .torch_engine import TorchDenoiser

log = logging.getLogger(__name__)

ENGINES = ("auto", "tensorrt", "onnxruntime", "torch")


@dataclass
class EngineOptions:
    """Engine parameters, named as in Isaac ROS TensorRT where they mean the same."""

    engine: str = "auto"
    device: str = "auto"
    onnx_file_path: str | None = None  # default: next to the checkpoint, exported on first use
    engine_file_path: str | None = None  # TensorRT plan; default: the engine cache
    force_engine_update: bool = False
    enable_fp16: bool = True
    max_workspace_size: int = 1 << 30
    max_batch: int = 64  # streams per engine call (views x hypotheses beyond it are chunked)
    use_cuda_graph: bool = False  # TensorRT: capture one CUDA graph per stream count and replay it
    onnx_providers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {list(ENGINES)}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")


def cache_dir() -> Path:
    """Where exported ONNX files and TensorRT plans are cached ($NVS_FUSION_CACHE or ~/.cache)."""
    root = os.environ.get("NVS_FUSION_CACHE") or Path.home() / ".cache" / "nvs_fusion_ros"
    return Path(root)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is available")
    return resolved


def tensorrt_available() -> bool:
    return importlib.util.find_spec("tensorrt") is not None


def onnx_path_for(checkpoint: Checkpoint, options: EngineOptions) -> Path:
    """The ONNX file for this checkpoint: the given one, the one shipped beside it, or a cached export."""
    if options.onnx_file_path:
        return Path(options.onnx_file_path)
    if checkpoint.path is not None:
        beside = checkpoint.path.with_suffix(".onnx")
        if export_matches_checkpoint(beside, checkpoint.path):
            return beside
    state_hash = hashlib.sha256()
    for key, value in sorted(checkpoint.model.state_dict().items()):
        state_hash.update(key.encode())
        state_hash.update(value.detach().cpu().float().numpy().tobytes())
    path = cache_dir() / f"viewfusion-{state_hash.hexdigest()[:16]}.onnx"
    if not path.is_file() or options.force_engine_update:
        report = export_onnx(checkpoint.model, path)
        log.info("exported the model to %s (max abs diff vs torch %.2e)", path, report.max_abs_diff)
    return path


def pick_engine(options: EngineOptions, device: torch.device) -> tuple[str, str]:
    """The engine ``auto`` resolves to here, and the reason, for the log."""
    if options.engine != "auto":
        return options.engine, "asked for explicitly"
    if device.type == "cuda" and tensorrt_available():
        return "tensorrt", "a CUDA GPU is present and the tensorrt package imports"
    if device.type == "cuda" and "CUDAExecutionProvider" in choose_providers(gpu_present=True):
        return "onnxruntime", "a CUDA GPU is present, tensorrt is not installed, onnxruntime has CUDA"
    if device.type == "cuda":
        return "torch", "a CUDA GPU is present but neither tensorrt nor onnxruntime-gpu is installed"
    return "onnxruntime", "no GPU: ONNX Runtime's CPU provider measured fastest for the shipped model (bench_denoise.py)"


def create_denoiser(checkpoint: Checkpoint, options: EngineOptions | None = None) -> Denoiser:
    """Build the engine ``options`` ask for, for this checkpoint; log what was chosen and why."""
    options = options or EngineOptions()
    device = resolve_device(options.device)
    name, reason = pick_engine(options, device)
    if name == "torch":
        denoiser: Denoiser = TorchDenoiser(checkpoint.model, device)
    elif name == "onnxruntime":
        providers = list(options.onnx_providers) or (["CPUExecutionProvider"] if device.type == "cpu" else None)
        denoiser = OnnxRuntimeDenoiser(onnx_path_for(checkpoint, options), checkpoint.config.image_size, providers,
                                       prediction=checkpoint.config.prediction)
    else:
        if device.type != "cuda":
            raise ValueError("engine 'tensorrt' needs a CUDA GPU and none is available; use onnxruntime or torch")
        if not tensorrt_available():
            raise ValueError("engine 'tensorrt' needs the tensorrt Python package (>= 10), which is not installed")
        from .tensorrt_engine import TensorRTDenoiser

        denoiser = TensorRTDenoiser.from_onnx(onnx_path_for(checkpoint, options), checkpoint.config, options, device)
    log.info("engine: %s (%s)", denoiser.describe(), reason)
    return denoiser
