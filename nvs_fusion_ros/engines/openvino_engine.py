"""OpenVINO engine: the exported ONNX graph compiled by OpenVINO, fp32 or bf16, on an Intel (or any x86) CPU.

On Intel Xeons with AMX, OpenVINO in bf16 ran the shipped network about twice as fast as
ONNX Runtime (docs/benchmarks.md). bf16 runs only where the CPU computes it natively
(OpenVINO reports ``BF16`` among the device's optimisation capabilities); elsewhere the
engine runs fp32 and says so. ``device_name`` is OpenVINO's: ``CPU`` here; ``GPU`` (Intel
iGPU) and ``NPU`` are passed through untested.

bf16 is not applied to the whole graph: OpenVINO's CPU plugin stores even the clamped noise
level in bf16, where the last DDIM level (gamma = 1 - 1e-4) rounds to 1.0, log(1 - gamma) is
-inf and the output NaN (measured: samples 0.7 dB from the fp32 ones, i.e. noise). So the
graph is cut in two: the conditioning subgraph (everything computed from ``angle`` and
``noise_level`` alone: encodings and embedding MLP) is compiled in fp32, the rest in bf16, and
each call runs the first and feeds its outputs to the second. (Marking the nodes "keep
precision" does not help: the plugin's fused nodes drop the mark.)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model.config import UNetConfig
from .base import Denoiser
from .onnx_export import INPUT_NAMES, OUTPUT_NAMES, input_shapes

log = logging.getLogger(__name__)

#: the graph inputs the conditioning subgraph is computed from
CONDITIONING_INPUTS = ("angle", "noise_level")


def openvino_has_bf16(device_name: str = "CPU") -> bool:
    """True when OpenVINO can run bf16 natively on this device (AMX or AVX512-BF16 on a CPU)."""
    import openvino as ov

    return "BF16" in ov.Core().get_property(device_name, "OPTIMIZATION_CAPABILITIES")


def split_conditioning(model: Any) -> tuple[Any, Any]:
    """Cut an OpenVINO model into (conditioning, body); the body reads the conditioning's outputs as inputs.

    The conditioning subgraph is every node computed from ``CONDITIONING_INPUTS`` and constants
    only; its outputs are the tensors a node outside it reads. The body's new inputs are named
    ``conditioning_<k>`` after the conditioning model's k-th output. ``model`` is consumed.
    """
    import openvino as ov

    inside: set[str] = set()
    for node in model.get_ordered_ops():
        name = node.get_friendly_name()
        if node.get_type_name() == "Parameter":
            if name in CONDITIONING_INPUTS:
                inside.add(name)
            continue
        sources = [i.get_source_output().get_node() for i in node.inputs()]
        if any(s.get_friendly_name() in inside for s in sources) and all(
                s.get_friendly_name() in inside or s.get_type_name() == "Constant" for s in sources):
            inside.add(name)
    frontier = [output for node in model.get_ordered_ops() if node.get_friendly_name() in inside
                for output in node.outputs()
                if any(t.get_node().get_friendly_name() not in inside for t in output.get_target_inputs())]
    parameters = {p.get_friendly_name(): p for p in model.get_parameters()}
    conditioning = ov.Model(frontier, [parameters[n] for n in CONDITIONING_INPUTS], "conditioning").clone()
    body_inputs = []
    for k, output in enumerate(frontier):
        parameter = ov.opset13.parameter(output.get_partial_shape(), output.get_element_type(), name=f"conditioning_{k}")
        for target in list(output.get_target_inputs()):
            if target.get_node().get_friendly_name() not in inside:
                target.replace_source_output(parameter.output(0))
        body_inputs.append(parameter)
    others = [parameters[n] for n in INPUT_NAMES if n not in CONDITIONING_INPUTS]
    return conditioning, ov.Model(model.get_results(), [*others, *body_inputs], "body")


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
        properties: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = threads
        self._conditioning: Any = None
        if bf16:
            conditioning, model = split_conditioning(model)
            compiled = core.compile_model(conditioning, device_name, {**properties, "INFERENCE_PRECISION_HINT": "f32"})
            self._conditioning = compiled.create_infer_request()
            self._conditioning_outputs = [(f"conditioning_{k}", output) for k, output in enumerate(compiled.outputs)]
        self.compiled = core.compile_model(model, device_name, {**properties,
                                                                "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"})
        self.bf16 = bf16
        self.device_name = device_name
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one request pair, one call at a time (the node calls from several threads)
        super().__init__(config.image_size, torch.device("cpu"), config.prediction)

    def __call__(self, views, noisy, angle, noise_level):
        inputs = (views, noisy, angle, noise_level)
        feeds = {n: t.detach().float().cpu().contiguous().numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)}
        with self._lock:
            if self._conditioning is not None:
                embedded = self._conditioning.infer({n: feeds.pop(n) for n in CONDITIONING_INPUTS})
                feeds.update({name: embedded[output] for name, output in self._conditioning_outputs})
            results = self._request.infer(feeds)
            noise, logits = (np.array(results[self.compiled.output(name)], dtype=np.float32) for name in OUTPUT_NAMES)
        return torch.from_numpy(noise), torch.from_numpy(logits)

    def describe(self) -> str:
        precision = "bf16, conditioning fp32" if self.bf16 else "fp32"
        return f"openvino {self.path.name} on {self.device_name} ({precision})"
