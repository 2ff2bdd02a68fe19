"""TensorRT engine: plan cache decisions (CPU), the factory's refusals and fallbacks, the CLI's one error.

The plan build and inference themselves need ``tensorrt`` and a CUDA GPU; those tests skip
with the reason when either is missing (always on the CPU development machines).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.cli import main as cli_main
from nvs_fusion_ros.engines import factory
from nvs_fusion_ros.engines.factory import EngineOptions, create_denoiser, tensorrt_available
from nvs_fusion_ros.engines.tensorrt_engine import (
    PlanIdentity,
    plan_path_for,
    profile_shapes,
    rebuild_reason,
    sidecar_path,
    write_plan,
)
from nvs_fusion_ros.model.checkpoint import load_checkpoint

IDENTITY = PlanIdentity(
    gpu_name="NVIDIA Jetson AGX Orin", compute_capability=(8, 7), tensorrt_version="10.3.0",
    onnx_sha256="ab" * 32, fp16=True, max_batch=64,
)
NO_TENSORRT_GPU = not (tensorrt_available() and torch.cuda.is_available())
NO_TENSORRT_GPU_REASON = "needs the tensorrt package and a CUDA GPU (neither is available on the CPU machines)"


@pytest.mark.parametrize(
    "change",
    [
        {"gpu_name": "NVIDIA GeForce RTX 4090"},
        {"compute_capability": (8, 9)},
        {"tensorrt_version": "10.4.0"},
        {"onnx_sha256": "cd" * 32},
        {"fp16": False},
        {"max_batch": 32},
    ],
    ids=lambda change: next(iter(change)),
)
def test_cache_key_changes_with_every_field(change: dict) -> None:
    assert dataclasses.replace(IDENTITY, **change).key() != IDENTITY.key()


def test_cache_key_is_stable() -> None:
    assert IDENTITY.key() == dataclasses.replace(IDENTITY).key()
    assert len(IDENTITY.key()) == 64


def test_plan_path_is_per_key_in_the_cache_unless_named(tmp_path: Path) -> None:
    cached = plan_path_for(IDENTITY, None, tmp_path)
    assert cached.parent == tmp_path and IDENTITY.key()[:16] in cached.name
    assert plan_path_for(dataclasses.replace(IDENTITY, fp16=False), None, tmp_path) != cached
    assert plan_path_for(IDENTITY, str(tmp_path / "my.engine"), tmp_path) == tmp_path / "my.engine"


def test_plan_is_loaded_only_under_its_own_key(tmp_path: Path) -> None:
    plan = tmp_path / "model.engine"
    assert "no plan" in rebuild_reason(plan, IDENTITY, force=False)
    write_plan(plan, b"serialized plan", IDENTITY)
    assert plan.read_bytes() == b"serialized plan"
    assert json.loads(sidecar_path(plan).read_text())["key"] == IDENTITY.key()
    assert rebuild_reason(plan, IDENTITY, force=False) is None
    # Another GPU, TensorRT, ONNX file or precision: the plan on disk is stale and must be rebuilt.
    for other in (dataclasses.replace(IDENTITY, tensorrt_version="10.5.0"), dataclasses.replace(IDENTITY, fp16=False)):
        assert "another GPU" in rebuild_reason(plan, other, force=False)


def test_force_engine_update_rebuilds_a_matching_plan(tmp_path: Path) -> None:
    plan = tmp_path / "model.engine"
    write_plan(plan, b"serialized plan", IDENTITY)
    assert rebuild_reason(plan, IDENTITY, force=True) == "force_engine_update is set"


@pytest.mark.parametrize("sidecar", [None, "not json", '["a list"]', '{"key": "0000"}'])
def test_plan_with_missing_or_bad_sidecar_is_rebuilt(tmp_path: Path, sidecar: str | None) -> None:
    plan = tmp_path / "model.engine"
    plan.write_bytes(b"a plan from somewhere")
    if sidecar is not None:
        sidecar_path(plan).write_text(sidecar)
    assert rebuild_reason(plan, IDENTITY, force=False) is not None


def test_profile_covers_one_to_max_batch_streams() -> None:
    shapes = profile_shapes(32, 12)
    assert set(shapes) == {"views", "noisy", "angle", "noise_level"}
    assert shapes["views"] == ((1, 3, 32, 32), (12, 3, 32, 32), (12, 3, 32, 32))
    assert shapes["angle"] == ((1,), (12,), (12,))
    with pytest.raises(ValueError, match="max_batch"):
        profile_shapes(32, 0)


@pytest.mark.skipif(not NO_TENSORRT_GPU, reason="this machine has tensorrt and a GPU")
def test_asking_for_tensorrt_here_is_one_clear_error(tiny_checkpoint: Path) -> None:
    checkpoint = load_checkpoint(tiny_checkpoint)
    with pytest.raises(ValueError, match="engine 'tensorrt' needs"):
        create_denoiser(checkpoint, EngineOptions(engine="tensorrt"))


def test_tensorrt_on_a_gpu_without_the_package_names_the_package(tiny_checkpoint: Path, monkeypatch) -> None:
    """Mock only the GPU: a CUDA device is reported, and the missing tensorrt package is the reason given."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(factory, "tensorrt_available", lambda: False)
    with pytest.raises(ValueError, match="tensorrt Python package"):
        create_denoiser(load_checkpoint(tiny_checkpoint), EngineOptions(engine="tensorrt", device="cuda"))


@pytest.mark.skipif(not NO_TENSORRT_GPU, reason="this machine has tensorrt and a GPU")
def test_build_engine_cli_gives_one_error_here(tiny_checkpoint: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    plan = tmp_path / "tiny.engine"
    with caplog.at_level(logging.ERROR):
        rc = cli_main(["build-engine", str(tiny_checkpoint), "--engine-file", str(plan), "--max-batch", "8"])
    assert rc == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "tensorrt" in errors[0] and "CUDA GPU" in errors[0]
    assert not plan.exists()


@pytest.mark.skipif(NO_TENSORRT_GPU, reason=NO_TENSORRT_GPU_REASON)
def test_plan_builds_caches_and_matches_onnxruntime(tiny_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    from nvs_fusion_ros.engines.onnx_export import example_inputs
    from nvs_fusion_ros.engines.onnxruntime_engine import OnnxRuntimeDenoiser

    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    checkpoint = load_checkpoint(tiny_checkpoint)
    options = EngineOptions(engine="tensorrt", device="cuda", enable_fp16=False, max_batch=8)
    built = create_denoiser(checkpoint, options)
    assert built.plan_path.is_file() and sidecar_path(built.plan_path).is_file()
    mtime = built.plan_path.stat().st_mtime_ns
    again = create_denoiser(checkpoint, options)  # loaded from the cache, not rebuilt
    assert again.plan_path == built.plan_path and built.plan_path.stat().st_mtime_ns == mtime
    reference = OnnxRuntimeDenoiser(factory.onnx_path_for(checkpoint, options), checkpoint.config.image_size, ["cpu"])
    inputs = example_inputs(checkpoint.config.image_size, 5, seed=3)
    expected = reference(*inputs)
    for engine in (again, create_denoiser(checkpoint, dataclasses.replace(options, use_cuda_graph=True))):
        for _ in range(2):  # the graph engine captures on the first call and replays on the second
            got = engine(*(t.cuda() for t in inputs))
            for g, e in zip(got, expected, strict=True):
                torch.testing.assert_close(g.cpu(), e, rtol=1e-3, atol=1e-3)
