"""Engines: torch and ONNX Runtime agree; auto picks and explains; bad requests fail clearly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from conftest import randomised_tiny_model

from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.engines.factory import EngineOptions, create_denoiser, onnx_path_for, pick_engine
from nvs_fusion_ros.engines.onnx_export import example_inputs, export_matches_checkpoint, export_onnx
from nvs_fusion_ros.engines.onnxruntime_engine import OnnxRuntimeDenoiser, choose_providers
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint
from nvs_fusion_ros.training.export_cli import export_with_card


def test_torch_and_onnxruntime_agree_in_fp32(tiny_checkpoint: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    report = export_onnx(ckpt.model, tmp_path / "tiny.onnx")
    assert report.max_abs_diff < 1e-4 and len(report.sha256) == 64
    ort = OnnxRuntimeDenoiser(report.path, ckpt.config.image_size, providers=["cpu"])
    torch_engine = TorchDenoiser(ckpt.model, "cpu", bf16=False)
    for streams in (1, 7):  # the stream axis is dynamic
        inputs = example_inputs(ckpt.config.image_size, streams, seed=streams)
        for a, b in zip(ort(*inputs), torch_engine(*inputs), strict=True):
            assert a.shape == (streams, 3, 16, 16)
            assert float((a - b).abs().max()) < 1e-4


def test_auto_on_cpu_picks_onnxruntime_and_says_why(tiny_checkpoint: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    ckpt = load_checkpoint(tiny_checkpoint)
    with caplog.at_level(logging.INFO):
        engine = create_denoiser(ckpt, EngineOptions(engine="auto", device="cpu"))
    assert engine.name == "onnxruntime"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("engine:")]
    assert len(lines) == 1 and "onnxruntime" in lines[0] and "no GPU" in lines[0]
    assert pick_engine(EngineOptions(engine="torch"), torch.device("cpu")) == ("torch", "asked for explicitly")


def test_the_onnx_beside_a_checkpoint_is_used_only_when_its_card_matches(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path / "cache"))
    model_path = save_checkpoint(tmp_path / "m.pt", randomised_tiny_model(), linear_schedule(1e-4, 0.1, 10))
    export_with_card(model_path)
    ckpt = load_checkpoint(model_path)
    assert onnx_path_for(ckpt, EngineOptions()) == tmp_path / "m.onnx"
    save_checkpoint(model_path, randomised_tiny_model(seed=1), linear_schedule(1e-4, 0.1, 10))  # retrained in place
    stale = load_checkpoint(model_path)
    assert not export_matches_checkpoint(tmp_path / "m.onnx", model_path)
    assert onnx_path_for(stale, EngineOptions()).parent == tmp_path / "cache"


def test_onnxruntime_engine_exports_on_first_use(tiny_checkpoint: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path / "cache"))
    engine = create_denoiser(load_checkpoint(tiny_checkpoint), EngineOptions(engine="onnxruntime", device="cpu"))
    assert engine.name == "onnxruntime" and engine.providers == ["CPUExecutionProvider"]
    assert len(list((tmp_path / "cache").glob("viewfusion-*.onnx"))) == 1


def test_impossible_requests_fail_with_one_clear_error(tiny_checkpoint: Path) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    with pytest.raises(ValueError, match="unknown engine"):
        EngineOptions(engine="openvino")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            create_denoiser(ckpt, EngineOptions(engine="torch", device="cuda"))
        with pytest.raises(ValueError, match="tensorrt"):
            create_denoiser(ckpt, EngineOptions(engine="tensorrt", device="auto"))
    with pytest.raises(ValueError, match="not available"):
        choose_providers(["ROCMExecutionProvider"])
    with pytest.raises(FileNotFoundError):
        OnnxRuntimeDenoiser("/nonexistent/model.onnx", 16)
