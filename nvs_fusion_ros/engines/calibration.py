"""``engine="auto"`` on a CPU: choose the engine by measuring it, once per CPU, engine versions and model.

Which CPU engine is fastest depends on the CPU, not on a rule: on an AMD Zen 4 ONNX Runtime
led; on an Intel Xeon with AMX OpenVINO in bf16 ran the shipped network about twice as fast
(docs/benchmarks.md). So at the first load the calibration runs a few denoising calls at the typical
stream count on every CPU engine that is installed, picks the fastest, logs what it measured,
and caches the result under a key of the CPU model and instruction sets, the engine versions,
the thread count and the model's hash. Later loads read the cache and build only the winner.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic_file import atomic_path
from ..model.config import UNetConfig
from .base import Denoiser
from .cpu import cpu_isa, cpu_model
from .onnx_export import TYPICAL_STREAMS, example_inputs

log = logging.getLogger(__name__)

#: timed calls per candidate after one warm-up call (the median is kept)
TIMED_CALLS = 3


@dataclass(frozen=True)
class Candidate:
    """One CPU engine configuration the calibration can choose: an engine name and its precision."""

    engine: str
    bf16: bool

    @property
    def label(self) -> str:
        return f"{self.engine} {'bf16' if self.bf16 else 'fp32'}"


def engine_versions() -> dict[str, str]:
    """Installed versions of every CPU engine's package (absent ones are left out)."""
    versions = {}
    for package in ("torch", "onnxruntime", "openvino"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def calibration_key(model_sha256: str, streams: int, candidates: list[Candidate]) -> dict:
    """Everything a measured ranking depends on; the cache file is named by its hash."""
    return {
        "cpu": cpu_model(), "isa": list(cpu_isa()), "threads": torch.get_num_threads(),
        "versions": engine_versions(), "model_sha256": model_sha256, "streams": streams,
        "candidates": [c.label for c in candidates],
    }


def calibration_path(key: dict, cache: Path) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache / "calibration" / f"cpu-{digest[:16]}.json"


def time_calls(denoiser: Denoiser, inputs: tuple[torch.Tensor, ...]) -> float:
    """Median seconds of ``TIMED_CALLS`` engine calls after one warm-up call."""
    denoiser(*inputs)
    times = []
    for _ in range(TIMED_CALLS):
        started = time.perf_counter()
        denoiser(*inputs)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@dataclass
class Calibration:
    """What the calibration chose, what it measured (ms per call) and the engine it built, if it built one."""

    choice: Candidate
    measured_ms: dict[str, float]
    streams: int
    cached: bool
    denoiser: Denoiser | None = None
    seconds: float = 0.0

    def reason(self) -> str:
        figures = ", ".join(f"{label} {ms:.1f} ms" for label, ms in sorted(self.measured_ms.items(), key=lambda kv: kv[1]))
        how = "cached calibration" if self.cached else f"calibrated in {self.seconds:.1f} s"
        return f"no GPU; fastest per call at {self.streams} streams on {cpu_model()} ({how}): {figures}"


def calibrate(config: UNetConfig, model_sha256: str, candidates: list[Candidate], build: Callable[[Candidate], Denoiser],
              max_batch: int, cache: Path) -> Calibration:
    """Measure each candidate (or read the cached measurement) and return the fastest.

    ``build`` makes a candidate's engine; one that fails to build is left out with its reason logged.
    """
    if not candidates:
        raise ValueError("no CPU engine is installed to calibrate (onnxruntime, openvino or torch)")
    streams = min(TYPICAL_STREAMS, max_batch)
    key = calibration_key(model_sha256, streams, candidates)
    path = calibration_path(key, cache)
    try:
        recorded = json.loads(path.read_text())
        if recorded.get("key") == key:
            by_label = {c.label: c for c in candidates}
            return Calibration(by_label[recorded["choice"]], recorded["measured_ms"], streams, cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    started = time.perf_counter()
    inputs = example_inputs(config, streams)
    measured: dict[str, float] = {}
    best: tuple[float, Candidate, Denoiser] | None = None
    for candidate in candidates:
        try:
            denoiser = build(candidate)
            seconds = time_calls(denoiser, inputs)
        except Exception as exc:  # an engine that cannot run here is not a candidate, whatever it raises
            log.warning("calibration: %s left out (%s: %s)", candidate.label, type(exc).__name__, exc)
            continue
        measured[candidate.label] = 1000 * seconds
        log.info("calibration: %s %.1f ms per call at %d streams", candidate.label, 1000 * seconds, streams)
        if best is None or seconds < best[0]:
            best = (seconds, candidate, denoiser)
    if best is None:
        raise RuntimeError("no CPU engine could run here (see the warnings above)")
    result = Calibration(best[1], measured, streams, cached=False, denoiser=best[2],
                         seconds=time.perf_counter() - started)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"key": key, "choice": result.choice.label, "measured_ms": measured,
                                   "seconds": result.seconds}, indent=2))
    return result


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
