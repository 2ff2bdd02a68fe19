"""``nvs-fusion export-onnx``: a real export, a real ONNX Runtime session against torch, and the model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nvs_fusion_ros.cli import main
from nvs_fusion_ros.engines.onnx_export import INPUT_NAMES, OUTPUT_NAMES, card_path, example_inputs, file_sha256
from nvs_fusion_ros.model.checkpoint import load_checkpoint


@pytest.fixture
def checkpoint(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy, so the default export beside it does not touch the shared fixture's folder."""
    return Path(shutil.copy(tiny_checkpoint, tmp_path / "tiny.pt"))


def fake_evaluation(path: Path) -> Path:
    """The parts of an evaluate JSON the card reads, with made-up figures (only the plumbing is tested)."""
    result = {m: {"psnr": 20.0 + k, "ssim": 0.8, "lpips": None} for k, m in enumerate(("viewfusion", "mean_view"))}
    report = {
        "config": {"split": "test", "objects": 2, "resolution": 16, "sampler": "ddim", "steps": 3, "seed": 0},
        "metrics": {"lpips": "n/a (no VGG weights)"},
        "protocols": {"single_view": {"results": result}, "variable_views": {"results": result},
                      "per_view_count": {"1": {"results": result}}},
    }
    path.write_text(json.dumps(report))
    return path


@pytest.mark.slow
def test_export_round_trip_and_model_card(checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    eval_json = fake_evaluation(tmp_path / "evaluation.json")
    ancestral = json.loads(eval_json.read_text())
    ancestral["config"]["eta"] = 1.0
    ancestral_json = tmp_path / "ancestral.json"
    ancestral_json.write_text(json.dumps(ancestral))
    assert main(["export-onnx", str(checkpoint), "--eval-json", str(eval_json), "--eval-json", str(ancestral_json)]) == 0
    onnx_path = checkpoint.with_suffix(".onnx")
    assert "max abs diff" in capsys.readouterr().out

    # more streams than the export traced: the axis is dynamic
    inputs = example_inputs(load_checkpoint(checkpoint).config, streams=5, seed=42)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {n: t.numpy() for n, t in zip(INPUT_NAMES, inputs, strict=True)})
    with torch.no_grad():
        expected = load_checkpoint(checkpoint).model(*inputs)
    for onnx_out, torch_out in zip(got, expected, strict=True):
        np.testing.assert_allclose(onnx_out, torch_out.numpy(), atol=1e-4, rtol=0)

    card = json.loads(card_path(onnx_path).read_text())
    assert card_path(onnx_path).name == "tiny.card.json"
    assert card["onnx"]["sha256"] == file_sha256(onnx_path) and card["onnx"]["opset"] == 17
    assert 0.0 <= card["onnx"]["max_abs_diff_vs_torch"] < 1e-4
    assert card["config"]["image_size"] == card["resolution"] == 16
    assert card["schedule"] == {"kind": "linear", "T": 100}
    assert card["training"] == {"note": "random, untrained"}
    assert card["checkpoint"]["sha256"] == file_sha256(checkpoint)
    assert [e["eta"] for e in card["evaluations"]] == [0.0, 1.0]  # a JSON without eta predates it: deterministic
    assert card["evaluations"][0]["single_view"]["viewfusion"]["psnr"] == 20.0
    assert card["evaluations"][1]["per_view_count"]["1"]["mean_view"]["psnr"] == 21.0


def test_export_to_a_chosen_path_with_another_opset(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "deploy" / "model.onnx"
    assert main(["export-onnx", str(checkpoint), "--out", str(out), "--opset", "18"]) == 0
    card = json.loads((tmp_path / "deploy" / "model.card.json").read_text())
    assert card["onnx"]["opset"] == 18 and card["onnx"]["file"] == "model.onnx" and card["evaluations"] == []


def test_bad_inputs_fail_cleanly_before_exporting(checkpoint: Path, tmp_path: Path) -> None:
    not_eval = tmp_path / "other.json"
    not_eval.write_text(json.dumps({"hello": 1}))
    assert main(["export-onnx", str(checkpoint), "--eval-json", str(not_eval)]) == 2
    assert not checkpoint.with_suffix(".onnx").exists()
    assert main(["export-onnx", str(tmp_path / "absent.pt")]) == 2
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["export-onnx", str(garbage)]) == 2
