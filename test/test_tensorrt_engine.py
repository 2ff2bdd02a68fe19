"""TensorRT engine: plan cache decisions, the plan build against doubles of the 10.x and 11.x APIs,
a type check against the 10.x stubs, the factory's fallbacks and the CLI's one error.

TensorRT itself and a GPU are not on the development machines: the build is checked against
test doubles that have exactly the API names each generation has (11.x lacks ``BuilderFlag.FP16``
and ``platform_has_fast_fp16``), and the GPU is mocked only where the code asks whether one is
there. Inference on a real plan runs in ``test_plan_builds_caches_and_matches_onnxruntime``,
which skips here with the reason, and in ``benchmarks/gpu_check.py``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from nvs_fusion_ros.cli import main as cli_main
from nvs_fusion_ros.engines import factory
from nvs_fusion_ros.engines.factory import EngineOptions, create_denoiser, pick_engine
from nvs_fusion_ros.engines.onnx_export import profile_shapes
from nvs_fusion_ros.engines.tensorrt_engine import (
    PlanIdentity,
    build_plan,
    check_plan_path,
    import_tensorrt,
    plan_path_for,
    rebuild_reason,
    sidecar_path,
    write_plan,
)
from nvs_fusion_ros.engines.torch_engine import TorchDenoiser
from nvs_fusion_ros.model.checkpoint import load_checkpoint
from nvs_fusion_ros.model.config import UNetConfig, preset

IDENTITY = PlanIdentity(
    gpu_name="NVIDIA Jetson AGX Orin", compute_capability=(8, 7), tensorrt_version="10.3.0",
    onnx_sha256="ab" * 32, fp16=True, max_batch=64,
)
TRT, TRT_PROBLEM = import_tensorrt()
NO_TENSORRT_GPU = TRT is None or not torch.cuda.is_available()
NO_TENSORRT_GPU_REASON = f"needs tensorrt >= 10.1 ({TRT_PROBLEM or 'installed'}) and a CUDA GPU ({torch.cuda.is_available()=})"


def fake_tensorrt(version: str, fail_build: bool = False) -> types.ModuleType:
    """A double of the ``tensorrt`` module's build API as ``version``'s generation has it; records every call.

    10.x has the weak-typing names ``BuilderFlag.FP16`` and ``Builder.platform_has_fast_fp16``; 11.x
    has neither (both raise AttributeError, as on a fresh ``pip install tensorrt``).
    """
    calls: list[tuple] = []
    generation = int(version.split(".")[0])
    flags = {"TF32": 6} | ({"FP16": 0} if generation < 11 else {})

    class Logger:
        WARNING = 2

        def __init__(self, severity: int) -> None:
            pass

    class Profile:
        def set_shape(self, name, smallest, optimum, largest) -> None:
            calls.append(("set_shape", name, smallest, optimum, largest))

    class Config:
        def set_memory_pool_limit(self, pool, size) -> None:
            calls.append(("set_memory_pool_limit", pool, size))

        def set_flag(self, flag) -> None:
            calls.append(("set_flag", flag))

        def clear_flag(self, flag) -> None:
            calls.append(("clear_flag", flag))

        def add_optimization_profile(self, profile) -> None:
            calls.append(("add_optimization_profile",))

    class Builder:
        def __init__(self, logger) -> None:
            pass

        def create_network(self, flags: int) -> str:
            calls.append(("create_network", flags))
            return "network"

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network, config) -> bytes | None:
            return None if fail_build else b"a plan"

    if generation < 11:
        Builder.platform_has_fast_fp16 = True  # type: ignore[attr-defined]

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger) -> None:
            pass

        def parse(self, data: bytes) -> bool:
            calls.append(("parse", len(data)))
            return True

    module = types.ModuleType("tensorrt")
    module.__version__ = version  # type: ignore[attr-defined]
    module.calls = calls  # type: ignore[attr-defined]
    module.Logger, module.Builder, module.OnnxParser = Logger, Builder, OnnxParser  # type: ignore[attr-defined]
    module.Dims = tuple  # type: ignore[attr-defined]
    module.BuilderFlag = types.SimpleNamespace(**flags)  # type: ignore[attr-defined]
    module.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)  # type: ignore[attr-defined]
    module.MemoryPoolType = types.SimpleNamespace(WORKSPACE=0)  # type: ignore[attr-defined]
    return module


@pytest.fixture
def mocked_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mock only the GPU's presence and identity (what cannot exist here)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Jetson AGX Orin")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 7))


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


def test_a_user_named_plan_without_sidecar_is_never_silently_overwritten(tmp_path: Path) -> None:
    theirs = tmp_path / "from_trtexec.engine"
    theirs.write_bytes(b"built elsewhere")
    with pytest.raises(ValueError, match="not built by nvs-fusion"):
        check_plan_path(theirs, named_by_user=True, force=False)
    check_plan_path(theirs, named_by_user=True, force=True)  # asked for: allowed
    check_plan_path(theirs, named_by_user=False, force=False)  # a cache file of ours: rebuilt freely
    write_plan(theirs, b"ours", IDENTITY)
    check_plan_path(theirs, named_by_user=True, force=False)  # ours, stale: rebuilt
    assert theirs.read_bytes() == b"ours"


def test_profile_covers_one_to_max_batch_streams_and_is_tuned_for_the_typical_call() -> None:
    shapes = profile_shapes(preset("cpu-32"), 64)
    assert set(shapes) == {"views", "noisy", "angle", "noise_level"}
    assert shapes["views"] == ((1, 3, 32, 32), (24, 3, 32, 32), (64, 3, 32, 32))
    assert shapes["angle"] == ((1,), (24,), (64,))
    assert profile_shapes(preset("cpu-32"), 12)["noisy"][1] == (12, 3, 32, 32)  # capped by max_batch
    relative = UNetConfig(image_size=64, pixel_unshuffle=2, angle_reference="relative")
    assert profile_shapes(relative, 8)["views"][2] == (8, 6, 64, 64)  # view ⊕ anchor
    assert profile_shapes(relative, 8)["noisy"][2] == (8, 3, 64, 64)
    with pytest.raises(ValueError, match="max_batch"):
        profile_shapes(preset("cpu-32"), 0)


@pytest.mark.parametrize("version", ["10.13.0.35", "11.4.0.106"])
@pytest.mark.parametrize("fp16", [True, False])
def test_plan_builds_strongly_typed_on_tensorrt_10_and_11(version: str, fp16: bool, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The default enable_fp16=True used BuilderFlag.FP16, which TensorRT 11 removed: an AttributeError on 11."""
    trt = fake_tensorrt(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx bytes")
    config = UNetConfig(image_size=64, pixel_unshuffle=2, angle_reference="relative")
    assert build_plan(onnx, config, EngineOptions(enable_fp16=fp16, max_batch=8)) == b"a plan"
    assert ("create_network", 1 << 1) in trt.calls  # STRONGLY_TYPED: the ONNX file's precision is the plan's
    assert ("clear_flag", 6) in trt.calls  # no TF32 in fp32 layers
    assert not [c for c in trt.calls if c[0] == "set_flag"]  # no weak-typing flags on either generation
    views = next(c for c in trt.calls if c[:2] == ("set_shape", "views"))
    assert views[2:] == ((1, 6, 64, 64), (8, 6, 64, 64), (8, 6, 64, 64))


@pytest.mark.parametrize(
    ("module_source", "reason"),
    [
        (None, "not installed"),
        ("raise OSError('libnvinfer.so.10: cannot open shared object file')", "does not import.*libnvinfer"),
        ("", "no __version__"),
        ("__version__ = '8.6.1'", "8.6.1 is older than 10.1"),
        ("__version__ = '10.0.1.6'", "10.0.1.6 is older than 10.1"),
    ],
    ids=["absent", "broken", "stubs-only", "8.x", "10.0"],
)
def test_auto_falls_back_from_an_unusable_tensorrt_with_the_reason(
    module_source: str | None, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, mocked_gpu: None,
) -> None:
    """find_spec alone said yes to all but the first, and auto then picked TensorRT and failed."""
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    if module_source is None:
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorrt" else find_spec(name, *a))
    else:
        (tmp_path / "tensorrt").mkdir()
        (tmp_path / "tensorrt" / "__init__.py").write_text(module_source)
        monkeypatch.syspath_prepend(str(tmp_path))
    _, problem = import_tensorrt()
    assert problem is not None and re.search(reason, problem)
    with caplog.at_level(logging.INFO):
        name, why = pick_engine(EngineOptions(engine="auto"), torch.device("cuda"))
    assert name != "tensorrt" and "CUDA GPU" in why
    assert any(re.search(reason, r.getMessage()) for r in caplog.records if "not TensorRT" in r.getMessage())


@pytest.mark.slow
def test_auto_falls_back_when_the_plan_build_fails(tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture, mocked_gpu: None) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("10.13.0.35", fail_build=True))
    # torch CUDA cannot run here: the last fallback is built on the CPU instead (only the GPU is mocked).
    monkeypatch.setitem(factory.BUILDERS, "torch", lambda checkpoint, options, device: TorchDenoiser(checkpoint.model))
    with caplog.at_level(logging.INFO):
        engine = create_denoiser(load_checkpoint(tiny_checkpoint), EngineOptions(engine="auto", device="cuda"))
    assert engine.name == "torch"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "tensorrt failed to build" in warnings[0] and "falling back to torch" in warnings[0]
    assert not list(tmp_path.glob("*.plan"))


@pytest.mark.skipif(not NO_TENSORRT_GPU, reason="this machine has tensorrt and a GPU")
@pytest.mark.parametrize("gpu", [False, True], ids=["no-gpu", "gpu-without-tensorrt"])
def test_build_engine_cli_gives_one_error_naming_what_is_missing(
    gpu: bool, tiny_checkpoint: Path, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a GPU machine without tensorrt the message names the package, not the GPU (the old test expected the GPU)."""
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    plan = tmp_path / "tiny.engine"
    with caplog.at_level(logging.ERROR):
        rc = cli_main(["build-engine", str(tiny_checkpoint), "--engine-file", str(plan), "--max-batch", "8"])
    assert rc == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "tensorrt" in errors[0]
    assert ("tensorrt Python package" in errors[0]) if gpu else ("CUDA GPU" in errors[0])
    assert not plan.exists()


@pytest.mark.slow
def test_build_engine_cli_reports_a_failed_build_in_one_line(tiny_checkpoint: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, mocked_gpu: None,
                                                             caplog: pytest.LogCaptureFixture,
                                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("11.4.0.106", fail_build=True))
    with caplog.at_level(logging.ERROR):
        rc = cli_main(["build-engine", str(tiny_checkpoint), "--engine-file", str(tmp_path / "t.engine")])
    assert rc == 2 and "Traceback" not in capsys.readouterr().err
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "TensorRT failed to build" in errors[0]


def _stub_dir() -> Path | None:
    try:
        import tensorrt_stubs  # noqa: F401
    except ImportError:
        return None
    site = Path(sys.modules["tensorrt_stubs"].__file__).parent.parent
    return site if (site / "tensorrt_bindings" / "tensorrt.pyi").is_file() else None


@pytest.mark.skipif(_stub_dir() is None or shutil.which("mypy", path=str(Path(sys.executable).parent)) is None,
                    reason="needs the tensorrt-stubs and mypy packages (requirements-typecheck.txt)")
@pytest.mark.slow
def test_tensorrt_engine_type_checks_against_the_tensorrt_10_stubs(tmp_path: Path) -> None:
    """mypy of engines/tensorrt_engine.py against tensorrt-stubs 10.13: every TensorRT name and signature it uses.

    The stubs are not PEP 561-marked and have two syntax errors (parameters named ``in``; a parameter
    without default after defaults), so a patched copy is put on MYPYPATH; errors inside them are ignored.
    """
    site = _stub_dir()
    assert site is not None
    for package in ("tensorrt", "tensorrt_bindings"):
        shutil.copytree(site / package, tmp_path / "stubs" / package)
    bindings = tmp_path / "stubs" / "tensorrt_bindings" / "tensorrt.pyi"
    text = re.sub(r"([(,] ?)in: ", r"\1in_: ", bindings.read_text())
    text = text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = 0)")
    bindings.write_text(text)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\npython_version = 3.11\nignore_missing_imports = True\nfollow_imports = silent\n"
                      "[mypy-tensorrt.*,tensorrt_bindings.*]\nignore_errors = True\n"
                      "[mypy-torch.*,numpy.*]\nfollow_imports = skip\n")
    module = Path(factory.__file__).parent / "tensorrt_engine.py"
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--config-file", str(config), str(module)],
                          capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(tmp_path / "stubs")},
                          check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # The check has teeth: a name TensorRT 10 does not have is an error.
    broken = tmp_path / "broken.py"
    broken.write_text("import tensorrt as trt\n\nflag = trt.BuilderFlag.FP17\n")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--config-file", str(config), str(broken)],
                          capture_output=True, text=True, env={**os.environ, "MYPYPATH": str(tmp_path / "stubs")},
                          check=False, timeout=300)
    assert done.returncode == 1 and "FP17" in done.stdout


@pytest.mark.skipif(NO_TENSORRT_GPU, reason=NO_TENSORRT_GPU_REASON)
@pytest.mark.parametrize("fp16", [False, True])
def test_plan_builds_caches_and_matches_onnxruntime(fp16: bool, tiny_checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    from nvs_fusion_ros.engines.cache import onnx_path_for
    from nvs_fusion_ros.engines.onnx_export import example_inputs
    from nvs_fusion_ros.engines.onnxruntime_engine import OnnxRuntimeDenoiser

    monkeypatch.setenv("NVS_FUSION_CACHE", str(tmp_path))
    checkpoint = load_checkpoint(tiny_checkpoint)
    options = EngineOptions(engine="tensorrt", device="cuda", enable_fp16=fp16, max_batch=8)
    built = create_denoiser(checkpoint, options)
    assert built.plan_path.is_file() and sidecar_path(built.plan_path).is_file()
    mtime = built.plan_path.stat().st_mtime_ns
    again = create_denoiser(checkpoint, options)  # loaded from the cache, not rebuilt
    assert again.plan_path == built.plan_path and built.plan_path.stat().st_mtime_ns == mtime
    reference = OnnxRuntimeDenoiser(onnx_path_for(checkpoint), checkpoint.config, ["cpu"])
    inputs = example_inputs(checkpoint.config, 5, seed=3)
    inputs[3][0] = 1 - 1e-4  # the last DDIM level: NaN if the conditioning ran in fp16
    expected = reference(*inputs)
    tolerance = 5e-2 if fp16 else 1e-3
    for engine in (again, create_denoiser(checkpoint, dataclasses.replace(options, use_cuda_graph=True))):
        for _ in range(2):  # the graph engine captures on the first call and replays on the second
            got = engine(*(t.cuda() for t in inputs))
            for g, e in zip(got, expected, strict=True):
                torch.testing.assert_close(g.cpu(), e, rtol=tolerance, atol=tolerance)
