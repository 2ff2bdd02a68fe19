"""How far is a model in training from its bar? The bars' PSNR against training steps, with a forecast.

Reads ``nvs-fusion evaluate`` results (``evaluation.json``) of successive checkpoints of one run,
each given as ``STEPS=PATH``. They must be the same evaluation (dataset, split, objects, seed,
sampler and steps), or the points are not comparable and the script refuses. For each input view
count in ``--views`` it plots the PSNR of the mean of the K samples (the row the bars judge), of one
sample and of the posterior mean against the training steps (log scale) beside the bar for that count,
the better of the two baselines (nearest view, mean of the views) plus ``--margin`` dB (2: the training
target; 1: the shipping bar), and fits ``PSNR = a + b ln(steps)`` to the last ``--fit`` points to say at
how many steps the mean of the samples would reach the bar if that trend held.
The trend is an extrapolation, and it says so: diminishing returns or a capacity limit would make
the real figure larger.

    .venv/bin/python benchmarks/training_progress.py --eval 18050=runs/eval-val-a/evaluation.json \\
        --eval 19955=runs/eval-val-b/evaluation.json --out docs/household_relative64_training_progress.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

MAX_STEPS = 1e12  # a trend that reaches the bar only beyond this is reported as out of reach, not as a number
ROWS = {"mean_of_samples": "the mean of the samples",  # the row the shipping bar and the training target judge
        "viewfusion": "one sample"}  # the earlier protocol's row (reports from before K samples per target)
SAME = ("data", "split", "object_ids", "seed", "sampler", "eta", "steps", "max_views", "repeats")


def load(pairs: list[str]) -> list[tuple[int, dict]]:
    """(steps, evaluation report) sorted by steps; raises if two reports were not the same evaluation."""
    runs = []
    for pair in pairs:
        steps, _, path = pair.partition("=")
        if not path or not steps.isdigit() or int(steps) == 0:
            raise SystemExit(f"--eval wants STEPS=PATH with STEPS > 0, got {pair!r}")
        runs.append((int(steps), json.loads(Path(path).read_text())))
    runs.sort(key=lambda run: run[0])
    if len({steps for steps, _ in runs}) < len(runs):
        raise SystemExit(f"two evaluations at the same steps: {sorted(steps for steps, _ in runs)}")
    first = runs[0][1]["config"]
    for steps, report in runs[1:]:
        differs = [key for key in SAME if report["config"].get(key) != first.get(key)]
        if differs:
            raise SystemExit(f"the evaluation at {steps} steps differs from the first in {differs}: not comparable")
    return runs


def points(runs: list[tuple[int, dict]], views: int) -> dict[str, list[float]]:
    """PSNR per method at ``views`` input views, one value per run."""
    per_count = [report["protocols"]["per_view_count"][str(views)]["results"] for _, report in runs]
    return {method: [r[method]["psnr"] for r in per_count] for method in per_count[0]}


def forecast(steps: list[int], psnr: list[float], target: float) -> tuple[float, float, float | None]:
    """Slope per doubling of the steps, the fit's intercept, and the steps at which the fit reaches ``target``
    (None when it does not rise, or only beyond ``MAX_STEPS``: a plateau's crossing is no forecast)."""
    slope, intercept = np.polyfit(np.log(steps), psnr, 1)
    log_reach = (target - intercept) / slope if slope > 0 else math.inf
    reach = math.exp(log_reach) if log_reach < math.log(MAX_STEPS) else None
    return float(slope * math.log(2.0)), float(intercept), reach


def rounded(steps: float) -> str:
    """Two significant figures: a trend's extrapolation is not more precise than that."""
    return f"{float(f'{steps:.2g}'):,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", action="append", required=True, metavar="STEPS=PATH", help="evaluation.json at STEPS")
    parser.add_argument("--views", type=int, nargs="+", default=[3, 6])
    parser.add_argument("--margin", type=float, default=2.0, help="dB over the better baseline the bar asks for "
                                                                  "(2: the training target, 1: the shipping bar)")
    parser.add_argument("--row", choices=list(ROWS), default="mean_of_samples",
                        help="the row the bar judges: the mean of the K samples (the bars), or one sample (older reports)")
    parser.add_argument("--fit", type=int, default=3, help="fit the trend to this many latest points (at least 2)")
    parser.add_argument("--out", type=Path, default=Path("out/training_progress.png"))
    args = parser.parse_args(argv)
    if args.fit < 2:
        raise SystemExit(f"--fit must be at least 2 (a line through one point is no trend), got {args.fit}")
    runs = load(args.eval)
    steps = [s for s, _ in runs]
    if len(runs) < 2:
        raise SystemExit("need at least two evaluations for a trend")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(args.views), figsize=(5.2 * len(args.views), 3.8), squeeze=False)
    summary = {"steps": steps, "margin_db": args.margin, "views": {}}
    for ax, views in zip(axes[0], args.views, strict=True):
        psnr = points(runs, views)
        target = max(psnr["nearest_view"][-1], psnr["mean_view"][-1]) + args.margin
        fit_steps, fit_psnr = steps[-args.fit:], psnr[args.row][-args.fit:]
        per_doubling, intercept, reach = forecast(fit_steps, fit_psnr, target)
        met = psnr[args.row][-1] >= target
        outlook = (f"{ROWS[args.row]} is at the bar already" if met else
                   f"the trend reaches the bar at ~{rounded(reach)} steps" if reach else
                   f"no trend that reaches the bar within {MAX_STEPS:.0e} steps")
        summary["views"][views] = {"row": args.row, "row_psnr": psnr[args.row], "sample_psnr": psnr["viewfusion"],
                                   "posterior_mean_psnr": psnr["posterior_mean"],
                                   "bar_psnr": target, "bar_met": met, "db_per_doubling": per_doubling,
                                   "steps_to_bar": None if met else reach}
        ax.plot(steps, psnr[args.row], "-o", label=f"{ROWS[args.row]} (the bar is on it)")
        if args.row != "viewfusion":
            ax.plot(steps, psnr["viewfusion"], "-^", alpha=0.6, label="one sample")
        ax.plot(steps, psnr["posterior_mean"], "-s", alpha=0.6, label="posterior mean")
        ax.axhline(target, color="k", ls="--", lw=1, label=f"bar: better baseline + {args.margin:g} dB")
        ax.axhline(psnr["mean_view"][-1], color="grey", ls=":", lw=1, label="mean of the views")
        ax.axhline(psnr["nearest_view"][-1], color="grey", ls="-.", lw=1, label="nearest view (oracle)")
        if reach is not None and not met:
            xs = np.geomspace(fit_steps[0], max(reach, steps[-1]) * 1.2, 50)
            ax.plot(xs, intercept + per_doubling / math.log(2.0) * np.log(xs), color="C0", ls=":", lw=1,
                    label=f"trend of last {len(fit_steps)}: +{per_doubling:.2f} dB/doubling")
        ax.set_xscale("log")
        ax.set_xlabel("training steps (batch 16)")
        ax.set_ylabel("PSNR dB")
        ax.set_title(f"{views} input views: " + ("bar met" if met else
                     f"bar at ~{rounded(reach)} steps if the trend held" if reach else "no trend to the bar"))
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
        print(f"{views} views: {ROWS[args.row]} {psnr[args.row][-1]:.2f} dB at {steps[-1]} steps, bar {target:.2f}; "
              f"{per_doubling:+.2f} dB per doubling over the last {len(fit_steps)} points; {outlook}")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print(f"plot: {args.out}\njson: {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
