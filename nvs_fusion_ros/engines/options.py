"""The engine registry and the engine options: plain data, importable without torch or any engine.

``ENGINES`` is the one list of engine names. The CLIs (``choices=``), the ROS parameter
validation and the launch file's documented choices all read it, so adding an engine
is one entry here plus its builder in ``factory.BUILDERS`` (a test checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass

#: engine name -> what it is, for help texts and the launch file's description
ENGINES: dict[str, str] = {
    "auto": "the fastest engine that runs here: on a GPU TensorRT, else ONNX Runtime CUDA, else torch; "
            "on a CPU the one a short cached calibration measured fastest",
    "tensorrt": "NVIDIA TensorRT plan built on the target GPU (tensorrt >= 10.1)",
    "onnxruntime": "ONNX Runtime (CUDA provider with onnxruntime-gpu, else CPU)",
    "openvino": "Intel OpenVINO (CPU; GPU and NPU device names are passed through, untested)",
    "torch": "PyTorch eager (CPU or CUDA, bf16/fp16 autocast where the hardware has it natively)",
}

#: ONNX opset of the exported model, the input of the ONNX Runtime, OpenVINO and TensorRT engines
DEFAULT_OPSET = 17


def device_problem(device: str) -> str | None:
    """Why ``device`` is not one the engines take (auto, cpu, cuda, cuda:N), or None; also the ROS parameter check."""
    ok = device in ("auto", "cpu", "cuda") or device.startswith("cuda:")
    return None if ok else f"device must be auto, cpu, cuda or cuda:N, got {device!r}"


@dataclass
class EngineOptions:
    """Engine parameters, named as in Isaac ROS TensorRT where they mean the same."""

    engine: str = "auto"
    device: str = "auto"
    onnx_file_path: str | None = None  # default: next to the checkpoint, exported on first use
    engine_file_path: str | None = None  # TensorRT plan; default: the engine cache
    force_engine_update: bool = False
    enable_fp16: bool = True  # TensorRT: fp16 body from a strongly typed build (conditioning stays fp32)
    enable_bf16: bool | None = None  # CPU torch/OpenVINO: None = the engine's measured default (see factory)
    max_workspace_size: int = 1 << 30
    max_batch: int = 64  # streams per engine call (views x hypotheses beyond it are chunked)
    use_cuda_graph: bool = False  # TensorRT: capture one CUDA graph per stream count and replay it
    onnx_providers: tuple[str, ...] = ()
    openvino_device: str = "CPU"  # OpenVINO device name; "GPU", "NPU" are passed through untested

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose one of {list(ENGINES)}")
        if problem := device_problem(self.device):
            raise ValueError(problem)
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
