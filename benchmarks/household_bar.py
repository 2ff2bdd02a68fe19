"""The household model's shipping bar, read off one ``nvs-fusion evaluate`` report: every check with what it needs.

The bar (on the held-out household test split, the node's default sampler and steps, samples):
at 3 and at 6 input views the model beats both the nearest-view oracle and the mean of the views by
1.0 dB PSNR, 0.03 SSIM and 0.03 silhouette IoU; 6 views beat 1 view by 0.5 dB; the learned weights
beat uniform weights by 0.3 dB at 6 views. That is 14 checks; this prints each with the measured
figure, the figure it needs and the margin, says whether the report used the bar's protocol, and
exits 0 only when every check is met (so a script can decide whether to ship).

    .venv/bin/python benchmarks/household_bar.py runs/eval-test-g/evaluation.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

MARGINS = {"psnr": 1.0, "ssim": 0.03, "iou": 0.03}  # over each baseline, at 3 and at 6 views
BASELINES = ("nearest_view", "mean_view")
MORE_VIEWS_DB = 0.5  # 6 views over 1 view
LEARNED_DB = 0.3  # learned over uniform weights, at 6 views
PROTOCOL = {"split": "test", "sampler": "ddim", "eta": 0.0, "steps": 25, "limit": None}  # the node's DDIM, 25 steps


@dataclass(frozen=True)
class Check:
    name: str
    measured: float
    needed: float

    @property
    def met(self) -> bool:
        return self.measured >= self.needed


def checks(report: dict) -> list[Check]:
    """The bar's checks on the report's per-view-count results (samples, not the posterior mean)."""
    counts = {int(n): entry["results"] for n, entry in report["protocols"]["per_view_count"].items()}
    missing = {1, 3, 6} - set(counts)
    if missing:
        raise ValueError(f"the report has no results at {sorted(missing)} input views (evaluate with --max-views 6)")
    found = [Check(f"{views} views, {metric} over {baseline.replace('_', ' ')} +{margin:g}",
                   counts[views]["viewfusion"][metric], counts[views][baseline][metric] + margin)
             for views in (3, 6) for metric, margin in MARGINS.items() for baseline in BASELINES]
    found.append(Check(f"6 views over 1 view, psnr +{MORE_VIEWS_DB:g}", counts[6]["viewfusion"]["psnr"],
                       counts[1]["viewfusion"]["psnr"] + MORE_VIEWS_DB))
    found.append(Check(f"learned over uniform weights at 6 views, psnr +{LEARNED_DB:g}", counts[6]["viewfusion"]["psnr"],
                       counts[6]["uniform_weights"]["psnr"] + LEARNED_DB))
    return found


def protocol_differences(config: dict) -> list[str]:
    """Where the report's evaluation is not the bar's (then its verdict is not the issue's)."""
    return [f"{key} {config.get(key, 'missing')!r} (the bar: {value!r})" for key, value in PROTOCOL.items()
            if config.get(key, "missing") != value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="evaluation.json from nvs-fusion evaluate")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text())
    try:
        found = checks(report)
    except (ValueError, KeyError) as exc:  # KeyError: a report without a method or metric the bar reads
        print(f"{args.report}: not a report the bar can be read from: {exc!r}")
        return 2
    width = max(len(c.name) for c in found)
    print(f"{'check':<{width}}  measured    needed    margin")
    for c in found:
        verdict = "met" if c.met else "NOT met"
        print(f"{c.name:<{width}}  {c.measured:8.3f}  {c.needed:8.3f}  {c.measured - c.needed:+8.3f}  {verdict}")
    met = sum(c.met for c in found)
    print(f"{met} of {len(found)} checks met: the bar is {'MET' if met == len(found) else 'not met'}")
    differs = protocol_differences(report["config"])
    if differs:
        print("not the bar's protocol: " + "; ".join(differs))
    return 0 if met == len(found) and not differs else 1


if __name__ == "__main__":
    raise SystemExit(main())
