"""``engine="auto"`` on a CPU: a short calibration measures every installed CPU engine, caches the
ranking under the CPU, engine versions and model, and the log says what was measured and chosen."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from conftest import randomised_tiny_model

from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.engines.cpu import cpu_model, cpu_supports_bf16
from nvs_fusion_ros.engines.factory import EngineOptions, cpu_candidates, create_denoiser
from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint


def messages(caplog: pytest.LogCaptureFixture, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


@pytest.mark.slow
def test_auto_on_a_cpu_measures_chooses_the_fastest_and_caches_it(tiny_checkpoint: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    checkpoint = load_checkpoint(tiny_checkpoint)
    options = EngineOptions(engine="auto", device="cpu", max_batch=8)
    candidates = cpu_candidates(options)
    assert {c.engine for c in candidates} >= {"onnxruntime", "openvino", "torch"}  # all three are installed here
    with caplog.at_level(logging.INFO):
        first = create_denoiser(checkpoint, options)
    measured = messages(caplog, "calibration: ")
    assert len(measured) == len(candidates) and all("ms per call at 8 streams" in m for m in measured)
    [record] = list((tmp_path / "calibration").glob("cpu-*.json"))
    saved = json.loads(record.read_text())
    assert saved["key"]["cpu"] == cpu_model() and saved["key"]["streams"] == 8 and "openvino" in saved["key"]["versions"]
    fastest = min(saved["measured_ms"], key=saved["measured_ms"].get)
    assert saved["choice"] == fastest and first.name == fastest.split()[0]
    [chosen] = messages(caplog, "engine: ")
    assert "calibrated in" in chosen and fastest in chosen and first.describe() in chosen

    caplog.clear()
    with caplog.at_level(logging.INFO):
        again = create_denoiser(checkpoint, options)
    assert not messages(caplog, "calibration: ")  # read from the cache: nothing measured
    [chosen] = messages(caplog, "engine: ")
    assert "cached calibration" in chosen and again.describe() == first.describe()

    retrained = save_checkpoint(tmp_path / "other.pt", randomised_tiny_model(seed=7), linear_schedule(1e-4, 0.1, 100))
    create_denoiser(load_checkpoint(retrained), options)
    assert len(list((tmp_path / "calibration").glob("cpu-*.json"))) == 2  # another model: measured anew


@pytest.mark.slow
def test_an_engine_that_cannot_run_is_left_out_with_its_reason(tiny_checkpoint: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    options = EngineOptions(engine="auto", device="cpu", max_batch=4, openvino_device="NPU", enable_bf16=False)
    assert all(not c.bf16 for c in cpu_candidates(options))
    if cpu_supports_bf16():  # True: bf16 only, except ONNX Runtime, which has no bf16 here
        labels = [c.label for c in cpu_candidates(EngineOptions(enable_bf16=True))]
        assert labels == ["onnxruntime fp32", "openvino bf16", "torch bf16"]
    with caplog.at_level(logging.INFO):
        engine = create_denoiser(load_checkpoint(tiny_checkpoint), options)
    assert engine.name in ("onnxruntime", "torch")
    left_out = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(left_out) == 1 and "openvino fp32 left out" in left_out[0] and "NPU" in left_out[0]
    measured = [m for m in messages(caplog, "calibration: ") if "ms per call" in m]
    assert [m.split()[1] for m in measured] == ["onnxruntime", "torch"]
