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


def test_the_view_count_and_weights_lines_fail_on_their_own(tmp_path: Path) -> None:
    for name, one_view, uniform in (("6 views over 1 view", 20.02, 20.2), ("learned over uniform weights", 20.0, 20.22)):
        result = run(tmp_path, report(PASSING, PASSING, one_view, uniform))  # the line raised a hair over 6 views' 20.51
        failing = [line for line in result.stdout.splitlines() if line.endswith("NOT met")]
        assert result.returncode == 1 and len(failing) == 1 and failing[0].startswith(name), (name, result.stdout)


def test_each_baseline_counts(tmp_path: Path) -> None:
    """Raising one baseline's figure to the model's makes exactly that check fail, for all 12 of them."""
    checked = 0
    for views in (3, 6):
        for baseline in BASELINES:
            for metric in ("psnr", "ssim", "iou"):
                content = report(PASSING, PASSING, 20.0, 20.2)
                results = content["protocols"]["per_view_count"][str(views)]["results"]
                results[baseline] = {**results[baseline], metric: PASSING[metric]}  # now the model only ties it
                result = run(tmp_path, content)
                failing = [line for line in result.stdout.splitlines() if line.endswith("NOT met")]
                name = f"{views} views, {metric} over {baseline.replace('_', ' ')}"
                assert len(failing) == 1 and failing[0].startswith(name), (name, result.stdout)
                checked += 1
    assert checked == 12


def test_a_report_without_the_view_counts_is_refused(tmp_path: Path) -> None:
    content = report(PASSING, PASSING, 20.0, 20.2)
    del content["protocols"]["per_view_count"]["6"]
    result = run(tmp_path, content)
    assert result.returncode == 2 and "no results at [6] input views" in result.stdout


def test_another_protocol_gives_no_verdict(tmp_path: Path) -> None:
    result = run(tmp_path, report(PASSING, PASSING, 20.0, 20.2, {**PROTOCOL, "split": "val", "steps": 50}))
    assert result.returncode == 1
    assert "not the bar's protocol: split 'val' (the bar: 'test'); steps 50 (the bar: 25)" in result.stdout
