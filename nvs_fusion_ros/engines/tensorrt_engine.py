"""TensorRT engine: a plan built from the exported ONNX on the target GPU, cached, run on torch CUDA tensors.

A plan is only valid for the GPU, TensorRT version, ONNX graph and build flags it
was built with, so every plan file carries a sidecar JSON with a key over exactly
those; a plan whose sidecar is missing or names another key is rebuilt, never
loaded (docs/DESIGN.md §5). Inference uses the TensorRT 10 name-based tensor API: the
engine reads and writes torch CUDA tensors in place (``set_tensor_address`` with
``data_ptr()``), enqueued on torch's current CUDA stream, so a denoising step never
copies through the host. With ``use_cuda_graph`` a step is captured once per stream
count and replayed, which removes the per-layer launch overhead that dominates at
small batches.

The cache decisions are plain functions (tested on the CPU); only ``build_plan`` and
``TensorRTDenoiser`` need ``tensorrt`` and a GPU.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..model.config import UNetConfig
from .base import Denoiser
from .onnx_export import INPUT_NAMES, OUTPUT_NAMES, file_sha256

if TYPE_CHECKING:
    from .factory import EngineOptions

log = logging.getLogger(__name__)

Shape = tuple[int, ...]


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
    tmp = plan_path.with_name(plan_path.name + ".tmp")
    tmp.write_bytes(plan)
    tmp.replace(plan_path)
    tmp_sidecar = sidecar_path(plan_path).with_name(sidecar_path(plan_path).name + ".tmp")
    tmp_sidecar.write_text(json.dumps({"key": identity.key(), **asdict(identity)}, indent=2))
    tmp_sidecar.replace(sidecar_path(plan_path))


def profile_shapes(image_size: int, max_batch: int) -> dict[str, tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shapes of each input for the one optimisation profile over the stream axis.

    Streams range over 1..max_batch; the optimum is max_batch because the synthesizer
    fills chunks of ``max_batch`` streams whenever views x hypotheses exceed it.
    """
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    shapes = {}
    for name in INPUT_NAMES:
        tail = (3, image_size, image_size) if name in ("views", "noisy") else ()
        shapes[name] = ((1, *tail), (max_batch, *tail), (max_batch, *tail))
    return shapes


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


def build_plan(onnx_path: Path, image_size: int, options: EngineOptions) -> bytes:
    """Parse the ONNX graph and build a serialized plan with one profile over the stream axis."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.max_workspace_size)
    if options.enable_fp16:
        if not builder.platform_has_fast_fp16:
            log.warning("enable_fp16 is set but this GPU has no fast fp16; TensorRT will pick fp32 kernels")
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, (smallest, optimum, largest) in profile_shapes(image_size, options.max_batch).items():
        profile.set_shape(name, smallest, optimum, largest)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"TensorRT failed to build a plan from {onnx_path} (see the TensorRT log above)")
    return bytes(plan)


class TensorRTDenoiser(Denoiser):
    """Runs a deserialized plan on torch CUDA tensors, optionally replaying one CUDA graph per stream count."""

    name = "tensorrt"

    def __init__(self, plan: bytes, config: UNetConfig, device: torch.device, max_batch: int,
                 use_cuda_graph: bool = False, plan_path: Path | None = None, fp16: bool = False):
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
        self.context = self.engine.create_execution_context()
        # Per stream count: (execution context, static inputs, static outputs, CUDA graph). One context each,
        # because a captured graph bakes in the shapes and addresses its context had at capture time.
        self._graphs: dict[int, tuple[object, list[torch.Tensor], list[torch.Tensor], torch.cuda.CUDAGraph]] = {}

    @classmethod
    def from_onnx(
        cls, onnx_path: str | Path, config: UNetConfig, options: EngineOptions, device: torch.device
    ) -> TensorRTDenoiser:
        """Load the cached plan for this ONNX file and GPU, or build (and cache) one when it is missing or stale."""
        from .factory import cache_dir

        onnx_path = Path(onnx_path)
        identity = current_identity(onnx_path, options, device)
        plan_path = plan_path_for(identity, options.engine_file_path, cache_dir())
        reason = rebuild_reason(plan_path, identity, options.force_engine_update)
        if reason is None:
            plan = plan_path.read_bytes()
            log.info("loaded TensorRT plan %s", plan_path)
        else:
            log.info("building a TensorRT plan from %s (%s); this takes a while", onnx_path, reason)
            plan = build_plan(onnx_path, config.image_size, options)
            write_plan(plan_path, plan, identity)
            log.info("wrote TensorRT plan %s", plan_path)
        return cls(plan, config, device, options.max_batch, options.use_cuda_graph, plan_path, options.enable_fp16)

    def __call__(self, views, noisy, angle, noise_level):
        streams = views.shape[0]
        if not 1 <= streams <= self.max_batch:
            raise ValueError(f"the TensorRT plan takes 1..{self.max_batch} streams per call, got {streams}; "
                             "chunk the streams (max_batch) or rebuild the plan with a larger --max-batch")
        inputs = [t.to(self.device, torch.float32).contiguous() for t in (views, noisy, angle, noise_level)]
        with torch.cuda.device(self.device):
            if self.use_cuda_graph:
                return self._replay(inputs)
            outputs = [torch.empty_like(inputs[1]) for _ in OUTPUT_NAMES]
            self._bind(self.context, inputs, outputs)
            if not self.context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
                raise RuntimeError("TensorRT execution failed (see the TensorRT log)")
            return outputs[0], outputs[1]

    @staticmethod
    def _bind(context, inputs: list[torch.Tensor], outputs: list[torch.Tensor]) -> None:
        for name, tensor in zip(INPUT_NAMES, inputs, strict=True):
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
        for name, tensor in zip(OUTPUT_NAMES, outputs, strict=True):
            context.set_tensor_address(name, tensor.data_ptr())

    def _replay(self, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy into the static buffers of this stream count's graph (captured on first use) and replay it."""
        streams = inputs[0].shape[0]
        if streams not in self._graphs:
            self._graphs[streams] = self._capture(inputs)
        _, static_in, static_out, graph = self._graphs[streams]
        for buffer, tensor in zip(static_in, inputs, strict=True):
            buffer.copy_(tensor)
        graph.replay()
        return static_out[0].clone(), static_out[1].clone()

    def _capture(self, inputs: list[torch.Tensor]):
        context = self.engine.create_execution_context()
        static_in = [t.clone() for t in inputs]
        static_out = [torch.empty_like(inputs[1]) for _ in OUTPUT_NAMES]
        self._bind(context, static_in, static_out)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            # One plain run first: TensorRT defers some set-up to the first enqueue, which must not be captured.
            if not context.execute_async_v3(side.cuda_stream):
                raise RuntimeError("TensorRT execution failed before CUDA graph capture")
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            context.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream)
        log.info("captured a CUDA graph for %d streams", inputs[0].shape[0])
        return context, static_in, static_out, graph

    def describe(self) -> str:
        plan = self.plan_path.name if self.plan_path else "plan"
        mode = ("fp16" if self.fp16 else "fp32") + (", CUDA graphs" if self.use_cuda_graph else "")
        return f"tensorrt {plan} on {self.device} ({mode})"
