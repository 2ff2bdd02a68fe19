"""Choosing and building an engine: ``engine="auto"`` or one of the names in ``ENGINES``.

``auto`` on a GPU takes the first of TensorRT (when a tensorrt >= 10.1 imports), ONNX Runtime
with the CUDA provider, torch CUDA, and falls back to the next with the reason logged when
one fails to build. On a CPU it takes the engine a short calibration measured fastest on
this CPU (``calibration``): the ranking differs between CPUs (AMD Zen 4: ONNX Runtime;
Intel with AMX: OpenVINO bf16). The log says what was chosen and why.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import torch

from ..model.checkpoint import Checkpoint
from .base import Denoiser
from .cache import cache_dir, model_sha256, onnx_path_for
from .calibration import Candidate, calibrate, installed
from .cpu import cpu_supports_bf16
from .onnxruntime_engine import OnnxRuntimeDenoiser, choose_providers
from .options import ENGINES, EngineOptions
from .tensorrt_engine import TensorRTDenoiser, import_tensorrt
from .torch_engine import TorchDenoiser

__all__ = ["BUILDERS", "ENGINES", "EngineOptions", "create_denoiser", "pick_engine", "resolve_device"]

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but no CUDA GPU is available")
    return resolved


def build_torch(checkpoint: Checkpoint, options: EngineOptions, device: torch.device) -> Denoiser:
    return TorchDenoiser(checkpoint.model, device, bf16=options.enable_bf16)


def build_onnxruntime(checkpoint: Checkpoint, options: EngineOptions, device: torch.device) -> Denoiser:
    providers = list(options.onnx_providers) or (["CPUExecutionProvider"] if device.type == "cpu" else None)
    onnx_path = onnx_path_for(checkpoint, options.onnx_file_path, options.force_engine_update)
    return OnnxRuntimeDenoiser(onnx_path, checkpoint.config, providers, device=device, max_batch=options.max_batch,
                               fp16=options.enable_fp16, cache=cache_dir())


def build_openvino(checkpoint: Checkpoint, options: EngineOptions, device: torch.device) -> Denoiser:
    from .openvino_engine import OpenVinoDenoiser, openvino_has_bf16

    onnx_path = onnx_path_for(checkpoint, options.onnx_file_path, options.force_engine_update)
    # bf16 by default where native: its samples of the shipped model are 55 dB from the fp32 ones (docs/benchmarks.md)
    bf16 = openvino_has_bf16(options.openvino_device) if options.enable_bf16 is None else options.enable_bf16
    return OpenVinoDenoiser(onnx_path, checkpoint.config, options.openvino_device, bf16=bf16)


def build_tensorrt(checkpoint: Checkpoint, options: EngineOptions, device: torch.device) -> Denoiser:
    if device.type != "cuda":
        raise ValueError("engine 'tensorrt' needs a CUDA GPU and none is available; use onnxruntime, openvino or torch")
    trt, problem = import_tensorrt()
    if trt is None:
        raise ValueError(f"engine 'tensorrt' needs the tensorrt Python package (>= 10.1): {problem}")
    onnx_path = onnx_path_for(checkpoint, options.onnx_file_path, options.force_engine_update, fp16=options.enable_fp16)
    return TensorRTDenoiser.from_onnx(onnx_path, checkpoint.config, options, device, cache_dir())


#: how each engine of ``ENGINES`` (all but "auto") is built
BUILDERS: dict[str, Callable[[Checkpoint, EngineOptions, torch.device], Denoiser]] = {
    "tensorrt": build_tensorrt,
    "onnxruntime": build_onnxruntime,
    "openvino": build_openvino,
    "torch": build_torch,
}


def gpu_candidates(device: torch.device) -> list[tuple[str, str]]:
    """The engines ``auto`` tries on a GPU, best first, each with the reason it is in the list (or why not)."""
    candidates = []
    trt, problem = import_tensorrt()
    if trt is not None:
        candidates.append(("tensorrt", f"a CUDA GPU is present and tensorrt {trt.__version__} imports"))
    else:
        log.info("auto: not TensorRT: %s", problem)
    if installed("onnxruntime") and "CUDAExecutionProvider" in choose_providers(gpu_present=True):
        candidates.append(("onnxruntime", "a CUDA GPU is present and onnxruntime has the CUDA provider"))
    candidates.append(("torch", "a CUDA GPU is present; torch CUDA is the engine that is always there"))
    return candidates


def pick_engine(options: EngineOptions, device: torch.device) -> tuple[str, str]:
    """The engine ``auto`` tries first here and the reason, for the log; on a CPU the choice is measured."""
    if options.engine != "auto":
        return options.engine, "asked for explicitly"
    if device.type == "cuda":
        return gpu_candidates(device)[0]
    return "calibrate", "no GPU: the CPU engines are measured (calibration)"


def cpu_candidates(options: EngineOptions) -> list[Candidate]:
    """The CPU engines installed here, in fp32 and, where the CPU has native bf16, in bf16.

    ``enable_bf16`` False leaves the bf16 variants out, True the fp32 ones (where bf16 is native;
    ONNX Runtime, which has no bf16 here, stays in fp32).
    """
    native = cpu_supports_bf16()
    with_bf16 = native and options.enable_bf16 is not False
    with_fp32 = not (native and options.enable_bf16 is True)
    candidates = []
    for engine in ("onnxruntime", "openvino", "torch"):
        if not installed(engine):
            continue
        if with_fp32 or engine == "onnxruntime":
            candidates.append(Candidate(engine, bf16=False))
        if with_bf16 and engine != "onnxruntime":
            candidates.append(Candidate(engine, bf16=True))
    return candidates


def _create_on_cpu_by_measurement(checkpoint: Checkpoint, options: EngineOptions, device: torch.device) -> Denoiser:
    def build(candidate: Candidate) -> Denoiser:
        chosen = dataclasses.replace(options, engine=candidate.engine, enable_bf16=candidate.bf16)
        return BUILDERS[candidate.engine](checkpoint, chosen, device)

    result = calibrate(checkpoint.config, model_sha256(checkpoint.model), cpu_candidates(options), build,
                       options.max_batch, cache_dir())
    denoiser = result.denoiser or build(result.choice)
    log.info("engine: %s (%s)", denoiser.describe(), result.reason())
    return denoiser


def create_denoiser(checkpoint: Checkpoint, options: EngineOptions | None = None) -> Denoiser:
    """Build the engine ``options`` ask for, for this checkpoint; log what was chosen and why."""
    options = options or EngineOptions()
    device = resolve_device(options.device)
    if options.engine != "auto":
        denoiser = BUILDERS[options.engine](checkpoint, options, device)
        log.info("engine: %s (asked for explicitly)", denoiser.describe())
        return denoiser
    if device.type == "cpu":
        return _create_on_cpu_by_measurement(checkpoint, options, device)
    *earlier, (last, last_reason) = gpu_candidates(device)
    for (name, reason), next_name in zip(earlier, [n for n, _ in earlier[1:]] + [last], strict=True):
        try:
            denoiser = BUILDERS[name](checkpoint, options, device)
        except Exception as exc:  # a GPU engine that cannot build here (any error) hands over to the next
            log.warning("auto: %s failed to build (%s: %s); falling back to %s", name, type(exc).__name__, exc, next_name)
            continue
        log.info("engine: %s (%s)", denoiser.describe(), reason)
        return denoiser
    denoiser = BUILDERS[last](checkpoint, options, device)
    log.info("engine: %s (%s)", denoiser.describe(), last_reason)
    return denoiser
