"""evaluate reports the foreground measures and every result per source (one synset per source)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nvs_fusion_ros.cli import main
from nvs_fusion_ros.datasets.render_dataset import render_dataset
from nvs_fusion_ros.evaluation.evaluate import METHODS, SINGLE, VARIABLE, source_names

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two test objects of random_urdfs and two of pybullet's named objects, 16x16, in one root."""
    root = tmp_path_factory.mktemp("two_sources")
    render_dataset(root, size=16, limit=2, val_count=0, test_count=2)
    render_dataset(root, named=["pybullet"], random_urdfs=0, size=16, limit=2, val_count=0, test_count=2, seed=1)
    return root


def test_source_names_come_from_metadata(two_sources: Path) -> None:
    assert source_names(two_sources, ["99999999", "99999993", "12345678"]) == ["random_urdfs", "pybullet", "12345678"]


def test_evaluate_reports_foreground_measures_per_source(two_sources: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(two_sources), "--steps", "2",
                 "--repeats", "1", "--max-views", "2", "--examples", "1", "--engine", "torch", "--out", str(out)]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert {name: entry["objects"] for name, entry in report["per_source"].items()} == {"pybullet": 2, "random_urdfs": 2}
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    for source, synset in (("pybullet", "99999993"), ("random_urdfs", "99999999")):
        for method in METHODS:
            for metric in ("psnr", "ssim", "iou", "psnr_fg", "ssim_fg"):
                mine = [r["scores"][method][metric] for r in records
                        if r["protocol"] == SINGLE and r["object"].startswith(f"{synset}/")]
                assert len(mine) == 2
                assert report["per_source"][source][SINGLE][method][metric] == pytest.approx(np.mean(mine))
            variable = report["per_source"][source][VARIABLE][method]
            assert 0.0 <= variable["iou"] <= 1.0 and np.isfinite(variable["psnr_fg"])
    overall = report["protocols"][SINGLE]["results"]["mean_view"]
    assert overall["iou"] == pytest.approx(np.mean([report["per_source"][s][SINGLE]["mean_view"]["iou"]
                                                    for s in ("pybullet", "random_urdfs")]))
    markdown = (out / "evaluation.md").read_text()
    assert "Per source" in markdown and "| pybullet (2) | viewfusion |" in markdown and "IoU ↑" in markdown
