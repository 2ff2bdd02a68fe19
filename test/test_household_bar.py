"""benchmarks/household_bar.py: issue 14's checks, each against the right baseline and margin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "household_bar.py"
PROTOCOL = {"split": "test", "sampler": "ddim", "eta": 0.0, "steps": 25, "limit": None, "seed": 0}
BASELINES = {"nearest_view": {"psnr": 19.0, "ssim": 0.78, "iou": 0.66}, "mean_view": {"psnr": 19.5, "ssim": 0.75, "iou": 0.60}}


def report(model_6: dict, model_3: dict, model_1_psnr: float, uniform_6_psnr: float, config: dict = PROTOCOL) -> dict:
    def count(model: dict, uniform_psnr: float) -> dict:
        return {"results": {"viewfusion": model, "uniform_weights": {"psnr": uniform_psnr}, **BASELINES}}

    counts = {"1": count({"psnr": model_1_psnr, "ssim": 0.7, "iou": 0.6}, model_1_psnr),
              "3": count(model_3, 0.0), "6": count(model_6, uniform_6_psnr)}
    return {"config": config, "protocols": {"per_view_count": counts}}


def run(tmp_path: Path, content: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(content))
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True)


# Just over every line: 1 dB / 0.03 / 0.03 over the better baseline (mean on PSNR, nearest on SSIM and IoU).
PASSING = {"psnr": 20.51, "ssim": 0.811, "iou": 0.691}


def test_a_model_just_over_every_line_meets_the_bar(tmp_path: Path) -> None:
    result = run(tmp_path, report(PASSING, PASSING, model_1_psnr=20.0, uniform_6_psnr=20.2))
    assert result.returncode == 0, result.stdout
    assert "14 of 14 checks met: the bar is MET" in result.stdout


def test_each_line_fails_on_its_own(tmp_path: Path) -> None:
    cases = {  # one figure a hair under its line -> that check alone fails
        "3 views, psnr over mean view": report(PASSING, {**PASSING, "psnr": 20.49}, 20.0, 20.2),
        "6 views, ssim over nearest view": report({**PASSING, "ssim": 0.809}, PASSING, 20.0, 20.2),
        "6 views, iou over nearest view": report({**PASSING, "iou": 0.689}, PASSING, 20.0, 20.2),
        "6 views over 1 view": report(PASSING, PASSING, 20.02, 20.2),
        "learned over uniform weights": report(PASSING, PASSING, 20.0, 20.22),
    }
    for name, content in cases.items():
        result = run(tmp_path, content)
        assert result.returncode == 1, name
        assert "13 of 14 checks met" in result.stdout, (name, result.stdout)
        failing = [line for line in result.stdout.splitlines() if line.endswith("NOT met")]
        assert len(failing) == 1 and failing[0].startswith(name), (name, failing)


def test_another_protocol_gives_no_verdict(tmp_path: Path) -> None:
    result = run(tmp_path, report(PASSING, PASSING, 20.0, 20.2, {**PROTOCOL, "split": "val", "steps": 50}))
    assert result.returncode == 1
    assert "not the bar's protocol: split 'val' (the bar: 'test'); steps 50 (the bar: 25)" in result.stdout
