"""TensorRT engine: a plan built from the exported ONNX on the target GPU, cached, run on torch CUDA tensors.

A plan is only valid for the GPU, TensorRT version, ONNX graph and build flags it
was built with, so every plan file carries a sidecar JSON with a key over exactly
those; a plan whose sidecar is missing or names another key is rebuilt, never
loaded (docs/DESIGN.md §5). Inference uses the name-based tensor API of TensorRT 10 and 11:
the engine reads and writes torch CUDA tensors in place (``set_tensor_address`` with
``data_ptr()``), enqueued on a stream of its own ordered against torch's current stream,
so a denoising step never copies through the host. With ``use_cuda_graph`` a step is captured once per stream
count and replayed, which removes the per-layer launch overhead that dominates at
small batches.

The cache decisions are plain functions (tested on the CPU); ``build_plan`` takes the
``tensorrt`` module as an argument, so it is tested on the CPU against doubles of the 10.x and
11.x APIs and type-checked against the 10.x stubs; only ``TensorRTDenoiser`` needs a GPU.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..atomic_file import atomic_path
from ..model.config import UNetConfig
from .base import Denoiser
from .onnx_export import INPUT_NAMES, OUTPUT_NAMES, file_sha256, profile_shapes
from .options import EngineOptions

if TYPE_CHECKING:
    import tensorrt as trt

log = logging.getLogger(__name__)

#: the oldest TensorRT this engine runs on: 10.1 added ``set_device_memory`` and ``device_memory_size_v2``
#: (the shared scratch buffer), which TensorRT 11 keeps while dropping the older names. JetPack 6.1 has 10.3.
MIN_TENSORRT = (10, 1)


@dataclass(frozen=True)
class PlanIdentity:
    """Everything a serialized plan depends on; a plan is reusable only under the same identity."""

    gpu_name: str
    compute_capability: tuple[int, int]
    tensorrt_version: str
    onnx_sha256: str
    fp16: bool
    max_batch: int

    def key(self) -> str:
        """A stable hex digest of the identity (the cache key)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def sidecar_path(plan_path: Path) -> Path:
    """The JSON file beside a plan that records the key it was built under."""
    return plan_path.with_name(plan_path.name + ".json")


def plan_path_for(identity: PlanIdentity, engine_file_path: str | None, cache: Path) -> Path:
    """The plan file: the one the user named, else one per key in the engine cache."""
    return Path(engine_file_path) if engine_file_path else cache / f"viewfusion-{identity.key()[:16]}.plan"


def rebuild_reason(plan_path: Path, identity: PlanIdentity, force: bool) -> str | None:
    """Why the plan at ``plan_path`` must be (re)built, or None when it can be loaded as is."""
    if force:
        return "force_engine_update is set"
    if not plan_path.is_file():
        return f"no plan at {plan_path}"
    try:
        recorded = json.loads(sidecar_path(plan_path).read_text())
    except (OSError, ValueError):
        return f"the plan {plan_path} has no readable sidecar {sidecar_path(plan_path).name}"
    if not isinstance(recorded, dict) or recorded.get("key") != identity.key():
        return f"the plan {plan_path} was built for another GPU, TensorRT version, ONNX file or precision"
    return None


def write_plan(plan_path: Path, plan: bytes, identity: PlanIdentity) -> None:
    """Write plan and sidecar atomically; the sidecar goes last, so a half-written pair is never trusted."""
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    sidecar_path(plan_path).unlink(missing_ok=True)
    with atomic_path(plan_path) as tmp:
        tmp.write_bytes(plan)
    with atomic_path(sidecar_path(plan_path)) as tmp:
        tmp.write_text(json.dumps({"key": identity.key(), **asdict(identity)}, indent=2))


def import_tensorrt() -> tuple[Any, str | None]:
    """The ``tensorrt`` module when a usable one (>= 10.1) imports here, else None and the reason.

    Finding the package is not enough: a broken install (missing CUDA libraries), the type stubs
    alone, or an 8.x install must make ``auto`` fall back, not fail later.
    """
    if "tensorrt" not in sys.modules and importlib.util.find_spec("tensorrt") is None:
        return None, "the tensorrt Python package is not installed"
    try:
        import tensorrt as trt
    except Exception as exc:  # a broken install raises ImportError, OSError, RuntimeError, ...
        return None, f"the tensorrt package does not import ({type(exc).__name__}: {exc})"
    version = getattr(trt, "__version__", None)
    if not isinstance(version, str):
        return None, "the tensorrt package has no __version__ (only its type stubs, or a broken install)"
    parts = version.split(".")[:2]
    if not all(p.isdigit() for p in parts) or tuple(int(p) for p in parts) < MIN_TENSORRT:
        return None, f"tensorrt {version} is older than {'.'.join(map(str, MIN_TENSORRT))} (the API this engine uses)"
    return trt, None


def check_plan_path(plan_path: Path, named_by_user: bool, force: bool) -> None:
    """Refuse to overwrite a plan file the user named that this package did not write (it has no sidecar)."""
    if named_by_user and plan_path.is_file() and not sidecar_path(plan_path).is_file() and not force:
        raise ValueError(f"{plan_path} exists and was not built by nvs-fusion (no {sidecar_path(plan_path).name}); "
                         "name another engine_file_path, or set force_engine_update to replace it")


def current_identity(onnx_path: Path, options: EngineOptions, device: torch.device) -> PlanIdentity:
    """The identity a plan built here and now from ``onnx_path`` would have."""
    import tensorrt as trt

    return PlanIdentity(
        gpu_name=torch.cuda.get_device_name(device),
        compute_capability=tuple(torch.cuda.get_device_capability(device)),
        tensorrt_version=trt.__version__,
        onnx_sha256=file_sha256(onnx_path),
        fp16=options.enable_fp16,
        max_batch=options.max_batch,
    )


def build_plan(onnx_path: Path, config: UNetConfig, options: EngineOptions) -> bytes:
    """Parse the ONNX graph and build a serialized plan with one profile over the stream axis.

    The network is strongly typed on TensorRT 10 and 11 alike (11 has no other kind, and no
    ``BuilderFlag.FP16``): its precision is the ONNX file's, so fp16 comes from the mixed-precision
    export (``export_onnx(fp16=True)``), whose conditioning and normalisation stay fp32. TF32 is
    switched off, so an fp32 plan computes in fp32 as asked.
    """
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    network = builder.create_network(0 if strongly_typed is None else 1 << int(strongly_typed))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    builder_config = builder.create_builder_config()
    builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.max_workspace_size)
    tf32 = getattr(trt.BuilderFlag, "TF32", None)
    if tf32 is not None:
        builder_config.clear_flag(tf32)
    profile = builder.create_optimization_profile()
    for name, (smallest, optimum, largest) in profile_shapes(config, options.max_batch).items():
        profile.set_shape(name, *(trt.Dims(list(shape)) for shape in (smallest, optimum, largest)))
    builder_config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, builder_config)
    if plan is None:
        raise RuntimeError(f"TensorRT failed to build a plan from {onnx_path} (see the TensorRT log above)")
    return bytes(plan)

class TensorRTDenoiser(Denoiser):
    """Runs a deserialized plan on torch CUDA tensors, optionally replaying one CUDA graph per stream count.

    TensorRT enqueues on a stream of the engine's own (the legacy default stream would
    synchronise the whole device), ordered against the caller's current stream both ways;
    tensors used on it are marked with ``record_stream``. Calls are serialised by a lock:
    every execution context (one per captured stream count) shares one scratch buffer.
    """

    name = "tensorrt"

    def __init__(self, plan: bytes, config: UNetConfig, device: torch.device, max_batch: int,
                 use_cuda_graph: bool = False, plan_path: Path | None = None, fp16: bool = False):
        _, problem = import_tensorrt()
        if problem is not None:
            raise ValueError(f"engine 'tensorrt' cannot run: {problem}")
        import tensorrt as trt

        super().__init__(config.image_size, device, config.prediction)
        self.max_batch = max_batch
        self.plan_path = plan_path
        self.fp16 = fp16
        self.use_cuda_graph = use_cuda_graph
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(plan)
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not deserialize the plan {plan_path}")
        names = {self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)}
        if names != set(INPUT_NAMES) | set(OUTPUT_NAMES):
            raise ValueError(f"plan {plan_path} has tensors {sorted(names)}, expected {INPUT_NAMES + OUTPUT_NAMES}")
        self._stream = torch.cuda.Stream(device)
        self._lock = threading.Lock()
        scratch_bytes = int(self.engine.device_memory_size_v2)  # the largest any shape of the profile needs
        self._scratch = torch.empty(max(scratch_bytes, 1), dtype=torch.uint8, device=device)
        self.context = self._new_context()
        # Per stream count: (execution context, static inputs, static outputs, CUDA graph). One context each,
        # because a captured graph bakes in the shapes and addresses its context had at capture time.
        self._graphs: dict[int, tuple[trt.IExecutionContext, list[torch.Tensor], list[torch.Tensor], torch.cuda.CUDAGraph]] = {}

    @classmethod
    def from_onnx(cls, onnx_path: str | Path, config: UNetConfig, options: EngineOptions, device: torch.device,
                  cache: Path) -> TensorRTDenoiser:
        """Load the cached plan for this ONNX file and GPU, or build (and cache) one when it is missing or stale."""
        _, problem = import_tensorrt()
        if problem is not None:
            raise ValueError(f"engine 'tensorrt' needs the tensorrt Python package (>= 10.1): {problem}")
        onnx_path = Path(onnx_path)
        identity = current_identity(onnx_path, options, device)
        plan_path = plan_path_for(identity, options.engine_file_path, cache)
        reason = rebuild_reason(plan_path, identity, options.force_engine_update)
        if reason is None:
            plan = plan_path.read_bytes()
            log.info("loaded TensorRT plan %s", plan_path)
        else:
            check_plan_path(plan_path, options.engine_file_path is not None, options.force_engine_update)
            log.info("building a TensorRT plan from %s (%s); this takes a while", onnx_path, reason)
            plan = build_plan(onnx_path, config, options)
            write_plan(plan_path, plan, identity)
            log.info("wrote TensorRT plan %s", plan_path)
        return cls(plan, config, device, options.max_batch, options.use_cuda_graph, plan_path, options.enable_fp16)

    def _new_context(self) -> trt.IExecutionContext:
        """An execution context that runs in the shared scratch buffer instead of allocating its own."""
        import tensorrt as trt

        context = self.engine.create_execution_context(trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        context.set_device_memory(self._scratch.data_ptr(), self._scratch.numel())
        return context

    def __call__(self, views, noisy, angle, noise_level):
        streams = views.shape[0]
        if not 1 <= streams <= self.max_batch:
            raise ValueError(f"the TensorRT plan takes 1..{self.max_batch} streams per call, got {streams}; "
                             "chunk the streams (max_batch) or rebuild the plan with a larger --max-batch")
        with self._lock, torch.cuda.device(self.device):
            caller = torch.cuda.current_stream(self.device)
            inputs = [t.to(self.device, torch.float32).contiguous() for t in (views, noisy, angle, noise_level)]
            self._stream.wait_stream(caller)  # the inputs are written on the caller's stream
            if self.use_cuda_graph:
                replayed = self._replay(inputs, caller)
                if replayed is not None:
                    caller.wait_stream(self._stream)
                    return replayed
            outputs = [torch.empty_like(inputs[1]) for _ in OUTPUT_NAMES]
            self._bind(self.context, inputs, outputs)
            if not self.context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed (see the TensorRT log)")
            for tensor in (*inputs, *outputs):
                tensor.record_stream(self._stream)
            caller.wait_stream(self._stream)
            return outputs[0], outputs[1]

    @staticmethod
    def _bind(context: trt.IExecutionContext, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        for name, tensor in zip(INPUT_NAMES, inputs, strict=True):
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
        for name, tensor in zip(OUTPUT_NAMES, outputs, strict=True):
            context.set_tensor_address(name, tensor.data_ptr())

    def _replay(self, inputs: list[torch.Tensor], caller: torch.cuda.Stream) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Copy into this stream count's static buffers (captured on first use), replay the graph on our stream
        and copy the outputs out on it too, so the next replay cannot overwrite what the caller still reads.

        None when capture failed: the engine then stays with plain enqueues (logged once).
        """
        streams = inputs[0].shape[0]
        if streams not in self._graphs:
            captured = self._capture(inputs)
            if captured is None:
                return None
            self._graphs[streams] = captured
        _, static_in, static_out, graph = self._graphs[streams]
        with torch.cuda.stream(self._stream):
            for buffer, tensor in zip(static_in, inputs, strict=True):
                buffer.copy_(tensor)
                tensor.record_stream(self._stream)
            graph.replay()
            noise, logits = static_out[0].clone(), static_out[1].clone()
        for tensor in (noise, logits):
            tensor.record_stream(caller)  # made on our stream, used on the caller's
        return noise, logits

    def _capture(self, inputs: list[torch.Tensor]):
        """Capture one enqueue into a CUDA graph, thread-locally on the engine's stream (other threads keep running)."""
        context = self._new_context()
        static_in = [torch.empty_like(t) for t in inputs]
        static_out = [torch.empty_like(inputs[1]) for _ in OUTPUT_NAMES]
        self._bind(context, static_in, static_out)
        with torch.cuda.stream(self._stream):
            for buffer, tensor in zip(static_in, inputs, strict=True):
                buffer.copy_(tensor)
            # One plain run first: TensorRT defers some set-up to the first enqueue, which must not be captured.
            if not context.execute_async_v3(self._stream.cuda_stream):
                raise RuntimeError("TensorRT execution failed before CUDA graph capture")
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self._stream, capture_error_mode="thread_local"):
                enqueued = context.execute_async_v3(self._stream.cuda_stream)
        except RuntimeError as exc:
            enqueued, problem = False, str(exc)
        else:
            problem = "TensorRT's enqueue inside the capture failed"
        if not enqueued:
            log.warning("CUDA graph capture for %d streams failed (%s); running plain enqueues instead",
                        inputs[0].shape[0], problem)
            self.use_cuda_graph = False
            return None
        log.info("captured a CUDA graph for %d streams", inputs[0].shape[0])
        return context, static_in, static_out, graph

    def describe(self) -> str:
        plan = self.plan_path.name if self.plan_path else "plan"
        mode = "fp16 body, fp32 conditioning" if self.fp16 else "fp32, no TF32"
        mode += ", CUDA graphs" if self.use_cuda_graph else ""
        return f"tensorrt {plan} on {self.device} ({mode})"
