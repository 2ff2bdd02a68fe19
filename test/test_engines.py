"""Engines: torch and ONNX Runtime agree; auto picks and explains; bad requests fail clearly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.engines.factory import EngineOptions, create_denoiser, pick_engine
from nvs_fusion_ros.engines.onnx_export import example_inputs, export_onnx
from nvs_fusion_ros.engines.onnxruntime_engine import OnnxRuntimeDenoiser, choose_providers
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.model.checkpoint import load_checkpoint


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


def test_auto_on_cpu_picks_torch_and_says_why(tiny_checkpoint: Path, caplog: pytest.LogCaptureFixture) -> None:
    ckpt = load_checkpoint(tiny_checkpoint)
    with caplog.at_level(logging.INFO):
        engine = create_denoiser(ckpt, EngineOptions(engine="auto", device="cpu"))
    assert engine.name == "torch"
    assert any("engine: torch" in r.message and "no GPU" in r.message for r in caplog.records)
    assert pick_engine(EngineOptions(engine="onnxruntime"), torch.device("cpu")) == ("onnxruntime", "asked for explicitly")


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
