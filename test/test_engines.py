"""Engines: torch, ONNX Runtime and OpenVINO agree; the registry is one list; bad requests fail clearly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import randomise_weights, randomised_tiny_model

from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.engines import factory
from nvs_fusion_ros.engines.cache import onnx_path_for
from nvs_fusion_ros.engines.export_cli import export_with_card
from nvs_fusion_ros.engines.factory import BUILDERS, ENGINES, EngineOptions, create_denoiser, pick_engine
from nvs_fusion_ros.engines.onnx_export import example_inputs, export_matches_checkpoint, export_onnx
from nvs_fusion_ros.engines.onnxruntime_engine import OnnxRuntimeDenoiser, choose_providers
from nvs_fusion_ros.engines.openvino_engine import OpenVinoDenoiser, openvino_has_bf16
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint
from nvs_fusion_ros.model.config import UNetConfig
from nvs_fusion_ros.model.unet import ViewFusionUNet

#: a camera-relative model (views carry view ⊕ anchor: 6 channels) with the pixel-unshuffle stem, 64x64 in and out
RELATIVE_64U = UNetConfig(image_size=64, inner_channels=8, channel_mults=(1, 2), res_blocks=1, attention_resolutions=(16,),
                          norm_groups=4, embedding_dim=16, angle_harmonics=4, angle_reference="relative", pixel_unshuffle=2)


@pytest.mark.slow
def test_torch_and_onnxruntime_agree_in_fp32(tiny_checkpoint: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    report = export_onnx(ckpt.model, tmp_path / "tiny.onnx")
    assert report.max_abs_diff < 1e-4 and len(report.sha256) == 64
    ort = OnnxRuntimeDenoiser(report.path, ckpt.config, providers=["cpu"])
    torch_engine = TorchDenoiser(ckpt.model, "cpu", bf16=False)
    for streams in (1, 7):  # the stream axis is dynamic
        inputs = example_inputs(ckpt.config, streams, seed=streams)
        for a, b in zip(ort(*inputs), torch_engine(*inputs), strict=True):
            assert a.shape == (streams, 3, 16, 16)
            assert float((a - b).abs().max()) < 1e-4


@pytest.mark.slow
def test_relative_pixel_unshuffle_model_runs_alike_on_torch_onnxruntime_and_openvino(tmp_path: Path) -> None:
    """The relative model's views input has 6 channels; every engine must take its shapes from the config."""
    model = randomise_weights(ViewFusionUNet(RELATIVE_64U), seed=4)
    report = export_onnx(model, tmp_path / "relative.onnx")
    engines = [OnnxRuntimeDenoiser(report.path, RELATIVE_64U, ["cpu"]), OpenVinoDenoiser(report.path, RELATIVE_64U)]
    reference = TorchDenoiser(model, "cpu", bf16=False)
    for streams in (1, 5):
        inputs = example_inputs(RELATIVE_64U, streams, seed=streams)
        assert inputs[0].shape == (streams, 6, 64, 64)
        expected = reference(*inputs)
        for engine in engines:
            for got, want in zip(engine(*inputs), expected, strict=True):
                assert got.shape == (streams, 3, 64, 64)
                torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4, msg=engine.describe)
    with pytest.raises(Exception, match=r"(?i)shape|dim|channel"):  # a 3-channel views tensor is refused, not misread
        engines[1](torch.zeros(1, 3, 64, 64), *example_inputs(RELATIVE_64U, 1)[1:])


@pytest.mark.slow
@pytest.mark.skipif(not openvino_has_bf16(), reason="OpenVINO reports no native bf16 on this CPU (needs AVX512-BF16 or AMX)")
def test_openvino_bf16_keeps_the_conditioning_in_fp32(tmp_path: Path) -> None:
    """With the whole graph in bf16 the last DDIM level (gamma = 1 - 1e-4) rounds to 1 and the outputs are NaN."""
    model = randomise_weights(ViewFusionUNet(RELATIVE_64U), seed=5)
    report = export_onnx(model, tmp_path / "relative.onnx")
    bf16 = OpenVinoDenoiser(report.path, RELATIVE_64U, bf16=True)
    assert bf16.bf16 and "conditioning fp32" in bf16.describe()
    inputs = example_inputs(RELATIVE_64U, 4, seed=6)
    inputs[3][:] = torch.tensor([1 - 1e-4, 1 - 1e-3, 0.5, 1e-4])
    expected = TorchDenoiser(model, "cpu", bf16=False)(*inputs)
    for _ in range(2):  # the request pair is reused
        for got, want in zip(bf16(*inputs), expected, strict=True):
            assert torch.isfinite(got).all()
            assert float((got - want).abs().max()) < 0.05 * float(want.abs().max())  # bf16 rounding only


def test_export_leaves_the_callers_model_as_it_was(tmp_path: Path) -> None:
    model = randomised_tiny_model().to(torch.bfloat16).train()
    export_onnx(model, tmp_path / "m.onnx")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16} and model.training


@pytest.mark.slow
def test_the_onnx_beside_a_checkpoint_is_used_only_when_its_card_matches(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path / "cache"))
    model_path = save_checkpoint(tmp_path / "m.pt", randomised_tiny_model(), linear_schedule(1e-4, 0.1, 10))
    export_with_card(model_path)
    ckpt = load_checkpoint(model_path)
    assert onnx_path_for(ckpt) == tmp_path / "m.onnx"
    assert onnx_path_for(ckpt, fp16=True).parent == tmp_path / "cache"  # the shipped file is fp32
    save_checkpoint(model_path, randomised_tiny_model(seed=1), linear_schedule(1e-4, 0.1, 10))  # retrained in place
    stale = load_checkpoint(model_path)
    assert not export_matches_checkpoint(tmp_path / "m.onnx", model_path)
    assert onnx_path_for(stale).parent == tmp_path / "cache"


@pytest.mark.slow
def test_onnxruntime_engine_exports_on_first_use(tiny_checkpoint: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path / "cache"))
    engine = create_denoiser(load_checkpoint(tiny_checkpoint), EngineOptions(engine="onnxruntime", device="cpu"))
    assert engine.name == "onnxruntime" and engine.providers == ["CPUExecutionProvider"]
    assert len(list((tmp_path / "cache").glob("viewfusion-*.onnx"))) == 1


def test_one_registry_names_every_engine_and_each_has_a_builder() -> None:
    assert set(BUILDERS) == set(ENGINES) - {"auto"}
    assert factory.ENGINES is sys.modules["nvs_fusion_ros.engines.options"].ENGINES
    assert pick_engine(EngineOptions(engine="torch"), torch.device("cpu")) == ("torch", "asked for explicitly")
    for name in ENGINES:
        assert EngineOptions(engine=name).engine == name


def test_no_import_loop_between_the_factory_and_the_engines() -> None:
    import ast

    root = Path(factory.__file__).parent
    for engine_module in root.glob("*_engine.py"):
        imported = {node.module for node in ast.walk(ast.parse(engine_module.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert "factory" not in imported, f"{engine_module.name} imports the factory"


def test_impossible_requests_fail_with_one_clear_error(tiny_checkpoint: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    ckpt = load_checkpoint(tiny_checkpoint)
    with pytest.raises(ValueError, match="unknown engine"):
        EngineOptions(engine="tflite")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            create_denoiser(ckpt, EngineOptions(engine="torch", device="cuda"))
        with pytest.raises(ValueError, match="tensorrt"):
            create_denoiser(ckpt, EngineOptions(engine="tensorrt", device="auto"))
    with pytest.raises(ValueError, match="not available"):
        choose_providers(["ROCMExecutionProvider"])
    with pytest.raises(FileNotFoundError):
        OnnxRuntimeDenoiser("/nonexistent/model.onnx", ckpt.config)
    with pytest.raises(ValueError, match="OpenVINO device 'NPU'"):
        create_denoiser(ckpt, EngineOptions(engine="openvino", device="cpu", openvino_device="NPU"))
