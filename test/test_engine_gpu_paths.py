"""What the GPU paths decide, checked on the CPU: precision choices, the fp16 export, ONNX Runtime's provider options.

Only the GPU's presence and compute capability are mocked; the exports and ONNX Runtime sessions are real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import randomise_weights

from nvs_fusion_ros.engines.onnx_export import INPUT_NAMES, OUTPUT_NAMES, example_inputs, export_onnx
from nvs_fusion_ros.engines.onnxruntime_engine import choose_providers, provider_settings
from nvs_fusion_ros.engines.torch_engine import cuda_supports_bf16, default_autocast
from nvs_fusion_ros.model.config import UNetConfig, preset
from nvs_fusion_ros.model.unet import ViewFusionUNet
from nvs_fusion_ros.training.train import TrainConfig, autocast_dtype


@pytest.mark.parametrize(("capability", "expected"), [((7, 0), torch.float16), ((7, 2), torch.float16),
                                                      ((7, 5), torch.float16), ((8, 0), torch.bfloat16),
                                                      ((8, 7), torch.bfloat16), ((9, 0), torch.bfloat16)],
                         ids=["V100", "Xavier", "T4", "A100", "Orin", "H100"])
def test_bf16_only_where_the_gpu_computes_it_natively(capability: tuple[int, int], expected: torch.dtype,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.cuda.is_bf16_supported() counts emulation: V100, T4 and Xavier got a slow bf16."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)  # what emulation says
    assert cuda_supports_bf16(torch.device("cuda")) == (expected == torch.bfloat16)
    assert default_autocast(torch.device("cuda")) == expected
    assert autocast_dtype(TrainConfig(data="d", out="o", precision="auto"), torch.device("cuda")) == expected


@pytest.mark.slow
def test_fp16_export_keeps_conditioning_and_normalisation_in_fp32(tmp_path: Path) -> None:
    """In fp16 the last DDIM level's gamma (1 - 1e-4) rounds to 1.0 and log(1 - gamma) is -inf: the embedding NaN."""
    config = preset("tiny")
    model = randomise_weights(ViewFusionUNet(config), seed=2)
    report = export_onnx(model, tmp_path / "fp16.onnx", fp16=True)
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(report.path))).graph
    dtypes = {v.name: v.type.tensor_type.elem_type for v in [*graph.value_info, *graph.input, *graph.output]}
    for i in graph.initializer:
        dtypes[i.name] = i.data_type
    ops = {n.op_type for n in graph.node}
    assert "Conv" in ops and {"Log", "InstanceNormalization"} <= ops
    conv_weights = {dtypes[n.input[1]] for n in graph.node if n.op_type == "Conv"}
    assert conv_weights == {onnx.TensorProto.FLOAT16}  # the body is fp16
    for node in graph.node:
        if node.op_type in ("Log", "Sin", "Cos", "InstanceNormalization"):
            assert dtypes[node.input[0]] == onnx.TensorProto.FLOAT, f"{node.op_type} runs in fp16"
    assert [dtypes[n] for n in [*INPUT_NAMES, *OUTPUT_NAMES]] == [onnx.TensorProto.FLOAT] * 6  # the interface stays fp32

    inputs = example_inputs(config, 4, seed=5)
    inputs[3][:] = torch.tensor([1 - 1e-4, 1 - 1e-3, 0.5, 1e-4])  # both ends of the schedule
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)})
    with torch.no_grad():
        expected = model(*inputs)
    for g, e in zip(got, expected, strict=True):
        assert np.isfinite(g).all()
        scale = float(e.abs().max())
        assert float(np.abs(g - e.numpy()).max()) < 0.02 * scale  # fp16 rounding, not a different network


def test_onnxruntime_gpu_providers_get_the_gpu_index_and_the_tensorrt_provider_its_caches(tmp_path: Path) -> None:
    """device='cuda:1' ran on GPU 0: no device_id was passed to the provider."""
    relative = UNetConfig(image_size=64, pixel_unshuffle=2, angle_reference="relative")
    settings = provider_settings(["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
                                 torch.device("cuda:1"), relative, 8, True, tmp_path)
    by_name = dict(settings)
    assert [name for name, _ in settings] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert by_name["CUDAExecutionProvider"] == {"device_id": "1"} and by_name["CPUExecutionProvider"] == {}
    trt = by_name["TensorrtExecutionProvider"]
    assert trt["device_id"] == "1" and trt["trt_fp16_enable"] == "True" and trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"].startswith(str(tmp_path))
    assert "views:1x6x64x64" in trt["trt_profile_min_shapes"] and "views:8x6x64x64" in trt["trt_profile_max_shapes"]
    assert dict(provider_settings(["CUDAExecutionProvider"], torch.device("cuda"), relative, 8, False, tmp_path)) == {
        "CUDAExecutionProvider": {"device_id": "0"}}


def test_default_gpu_providers_leave_out_onnxruntimes_tensorrt_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put first by default, it rebuilt its engines at every start (no cache, no profile, no fp16 options)."""
    everything = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: everything)
    assert choose_providers(gpu_present=True) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(gpu_present=False) == ["CPUExecutionProvider"]
    assert choose_providers(["tensorrt", "cuda"]) == everything[:2]  # still there when named
