"""benchmarks/household_bar.py: each check against the right baseline, margin and direction."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "household_bar.py"
PROTOCOL = {"split": "test", "sampler": "dpmpp2m", "eta": 0.0, "steps": 8, "limit": None, "num_hypotheses": 4, "seed": 0}
BASELINES = {"nearest_view": {"psnr": 19.0, "ssim": 0.78, "iou": 0.66, "crps": 0.050},
             "mean_view": {"psnr": 19.5, "ssim": 0.75, "iou": 0.60, "crps": 0.040}}
# Just over every shipping line: +1 dB over the mean view, +0.02 SSIM and +0.03 IoU over the nearest view,
# CRPS a hair under 0.85 x the better MAE (0.040).
MEAN = {"psnr": 20.51, "ssim": 0.801}
SAMPLES = {"iou": 0.691, "crps": 0.0339}


def report(views_1_psnr: float = 19.9, config: dict = PROTOCOL) -> dict:
    def count(mean_psnr: float) -> dict:
        return {"results": {"mean_of_samples": {**MEAN, "psnr": mean_psnr}, "viewfusion": dict(SAMPLES),
                            **copy.deepcopy(BASELINES)}}

    counts = {"1": count(views_1_psnr), "3": count(MEAN["psnr"]), "6": count(MEAN["psnr"])}
    return {"config": config, "protocols": {"per_view_count": counts}}


def run(tmp_path: Path, content: dict, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(content))
    return subprocess.run([sys.executable, str(SCRIPT), str(path), *extra], capture_output=True, text=True)


def failing(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.endswith("NOT met")]


def test_a_model_just_over_every_line_meets_the_shipping_bar(tmp_path: Path) -> None:
    result = run(tmp_path, report())
    assert result.returncode == 0, result.stdout
    assert "15 of 15 checks met: the ship bar is MET" in result.stdout


def test_reports_naming_one_dataset_relative_and_absolute_compare_and_other_data_does_not(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped.json"
    shipped.write_text(json.dumps(report(config={**PROTOCOL, "data": "data/household"})))
    same = run(tmp_path, report(config={**PROTOCOL, "data": "/work/repo/data/household"}), "--against", str(shipped))
    assert same.returncode == 1 and "not better" in same.stdout and "not comparable" not in same.stdout, same.stdout
    other = run(tmp_path, report(config={**PROTOCOL, "data": "data/nmr_canonical"}), "--against", str(shipped))
    assert other.returncode == 2 and "data differ" in other.stdout, other.stdout


@pytest.mark.slow
def test_each_shipping_line_fails_on_its_own(tmp_path: Path) -> None:
    """A hair on the wrong side of each line fails exactly that check, for all 15."""
    cases = []
    for views in ("3", "6"):
        for baseline in BASELINES:
            for metric, row, value in (("psnr", "mean_of_samples", 20.51), ("ssim", "mean_of_samples", 0.801),
                                       ("iou", "viewfusion", 0.691)):
                cases.append((f"{views} views, {'mean of samples' if row == 'mean_of_samples' else 'samples'} {metric} "
                              f"over {baseline.replace('_', ' ')}", views, baseline, metric, value))
        cases.append((f"{views} views, samples' CRPS", views, "viewfusion", "crps", 0.0341))
    for name, views, row, metric, value in cases:
        content = report()
        results = content["protocols"]["per_view_count"][views]["results"]
        if row == "viewfusion":
            results[row][metric] = value  # the samples' CRPS just over 0.85 x 0.040
        else:
            results[row][metric] = value - (0.98 if metric == "psnr" else 0.019 if metric == "ssim" else 0.029)
        result = run(tmp_path, content)
        assert result.returncode == 1 and len(failing(result)) == 1 and failing(result)[0].startswith(name), (name, result.stdout)
    result = run(tmp_path, report(views_1_psnr=20.02))
    assert len(failing(result)) == 1 and failing(result)[0].startswith("6 views over 1 view")
    assert len(cases) + 1 == 15


def test_the_training_target_is_against_the_better_baseline(tmp_path: Path) -> None:
    content = report()
    for views in ("3", "6"):
        results = content["protocols"]["per_view_count"][views]["results"]
        results["mean_of_samples"]["psnr"] = 21.51  # the mean view + 2.01
        results["viewfusion"].update(crps=0.0239, iou=0.761)  # under 0.60 x 0.040; the nearest view + 0.101
    assert run(tmp_path, content, "--bar", "target").returncode == 0
    content["protocols"]["per_view_count"]["6"]["results"]["viewfusion"]["iou"] = 0.759
    result = run(tmp_path, content, "--bar", "target")
    assert result.returncode == 1 and [f.split(",")[0] for f in failing(result)] == ["6 views"], result.stdout


def test_a_report_without_the_view_counts_is_refused(tmp_path: Path) -> None:
    content = report()
    del content["protocols"]["per_view_count"]["6"]
    result = run(tmp_path, content)
    assert result.returncode == 2 and "no results at [6] input views" in result.stdout


def test_a_candidate_is_better_only_when_nothing_falls_beyond_noise(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped.json"
    shipped.write_text(json.dumps(report()))
    better = report()
    better["protocols"]["per_view_count"]["3"]["results"]["mean_of_samples"]["psnr"] += 0.2
    better["protocols"]["per_view_count"]["6"]["results"]["viewfusion"]["iou"] -= 0.001  # within noise
    result = run(tmp_path, better, "--against", str(shipped))
    assert result.returncode == 0 and "BETTER than" in result.stdout, result.stdout
    worse = copy.deepcopy(better)
    worse["protocols"]["per_view_count"]["6"]["results"]["viewfusion"]["crps"] += 0.001  # a CRPS rise beyond noise
    result = run(tmp_path, worse, "--against", str(shipped))
    assert result.returncode == 1 and "not better than" in result.stdout and "(worse)" in result.stdout
    assert run(tmp_path, report(), "--against", str(shipped)).returncode == 1  # the same model is not better


def test_another_protocol_gives_no_verdict(tmp_path: Path) -> None:
    result = run(tmp_path, report(config={**PROTOCOL, "split": "val", "num_hypotheses": 1}))
    assert result.returncode == 1
    assert "not the bar's protocol: split 'val' (the bar: 'test'); num_hypotheses 1 (the bar: 4)" in result.stdout
