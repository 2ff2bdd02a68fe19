"""benchmarks/gpu_check.py stays runnable: a smoke run on the CPU, where its GPU checks skip with their reasons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.mark.slow
def test_gpu_check_smoke_run_on_the_cpu(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--steps", "2", "--repeats", "1", "--views", "1",
         "--hypotheses", "1", "--train-steps", "0", "--completion-steps", "1"],
        capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", "NVS_FUSION_CACHE": str(tmp_path)},
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "PASS torch cpu fp32 = torch CPU fp32 (network)" in out
    assert "PASS synthesize cpu fp32 vs cpu fp32" in out
    assert "SKIP TensorRT: " in out and "SKIP ONNX Runtime CUDA: no CUDA device" in out
    assert "| torch cpu (" in out  # the latency table has the engine that ran
    assert "| ~/complete sampling, ddim 1, K 8, A 8, grid 64 |" in out and "| novel_view hidden side, 3 views" in out
    assert out.rstrip().endswith("0 failed, 3 skipped") and "5 passed" in out.splitlines()[-1]
