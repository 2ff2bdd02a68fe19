"""The household model's bars, read off one ``nvs-fusion evaluate`` report: every check with what it needs.

Both bars are on the held-out household test split with the node's sampler defaults
(``diffusion.NODE_SAMPLER`` at ``NODE_STEPS``: DPM-Solver++(2M), 8 steps) and K = 4 samples per target, at 3 and
at 6 input views, against the better of the two baselines (the nearest-view oracle and the mean of the views) or
each of them:

``ship`` (the model may be the default): the mean of the K samples beats both baselines by 1.0 dB
PSNR and 0.02 SSIM; the samples' fair CRPS is at most 0.85 x the better baseline's mean absolute
error; the samples' silhouette IoU beats both baselines by 0.03; and the mean of the samples at 6
views beats 1 view by 0.5 dB. 15 checks.

``target`` (where training is headed): the mean of the K samples beats the better baseline by
2.0 dB PSNR; the samples' CRPS is at most 0.60 x its MAE; their IoU beats it by 0.10. 6 checks; the
hidden-side sheet (recognisable cups and boxes 180 degrees from the anchor) is judged by eye.

Each check prints the measured figure, the figure it needs and the margin; the script says whether
the report used the bar's protocol and exits 0 only when every check is met under it.

``--against SHIPPED.json`` compares a candidate (a new EMA) with the shipped model, evaluated the same
way (on the validation split while training; reports evaluated otherwise are refused): a candidate is
better when no check's margin falls by more than its noise allowance (``ALLOWANCE``: 0.05 dB, 0.002
SSIM or IoU, 0.0005 of CRPS) and at least one rises by more; then the script exits 0.

    nvs-fusion evaluate --data data/household --split test --repeats 1 --view-counts 1 3 6 --sampler dpmpp2m --steps 8 \
        --out out/eval
    .venv/bin/python benchmarks/household_bar.py out/eval/evaluation.json            # the shipping bar
    .venv/bin/python benchmarks/household_bar.py out/eval/evaluation.json --bar target
    .venv/bin/python benchmarks/household_bar.py runs/eval-val-new/evaluation.json --against runs/eval-val-shipped/evaluation.json
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from nvs_fusion_ros.diffusion import NODE_SAMPLER, NODE_STEPS

BASELINES = ("nearest_view", "mean_view")
VIEWS = (3, 6)
PROTOCOL = {"split": "test", "sampler": NODE_SAMPLER, "eta": 0.0, "steps": NODE_STEPS, "limit": None, "num_hypotheses": 4}


@dataclass(frozen=True)
class Check:
    name: str
    measured: float
    needed: float
    lower_is_better: bool = False

    @property
    def met(self) -> bool:
        return self.measured <= self.needed if self.lower_is_better else self.measured >= self.needed

    @property
    def margin(self) -> float:
        return self.needed - self.measured if self.lower_is_better else self.measured - self.needed


def _counts(report: dict) -> dict[int, dict]:
    counts = {int(n): entry["results"] for n, entry in report["protocols"]["per_view_count"].items()}
    missing = {1, *VIEWS} - set(counts)
    if missing:
        raise ValueError(f"the report has no results at {sorted(missing)} input views (evaluate with --view-counts 1 3 6)")
    return counts


def _better_mae(results: dict) -> float:
    """The better baseline's mean absolute error (a deterministic prediction's CRPS)."""
    return min(results[b]["crps"] for b in BASELINES)


def ship_checks(report: dict) -> list[Check]:
    """The shipping bar: 7 checks at each of 3 and 6 views, and 6 views over 1."""
    counts = _counts(report)
    found = []
    for views in VIEWS:
        r = counts[views]
        for metric, margin, row in (("psnr", 1.0, "mean_of_samples"), ("ssim", 0.02, "mean_of_samples"),
                                    ("iou", 0.03, "viewfusion")):
            who = "mean of samples" if row == "mean_of_samples" else "samples"
            found += [Check(f"{views} views, {who} {metric} over {b.replace('_', ' ')} +{margin:g}", r[row][metric],
                            r[b][metric] + margin) for b in BASELINES]
        found.append(Check(f"{views} views, samples' CRPS <= 0.85 x better baseline's MAE", r["viewfusion"]["crps"],
                           0.85 * _better_mae(r), lower_is_better=True))
    found.append(Check("6 views over 1 view, mean of samples psnr +0.5", counts[6]["mean_of_samples"]["psnr"],
                       counts[1]["mean_of_samples"]["psnr"] + 0.5))
    return found


def target_checks(report: dict) -> list[Check]:
    """The training target: 3 checks at each of 3 and 6 views against the better baseline."""
    counts = _counts(report)
    found = []
    for views in VIEWS:
        r = counts[views]
        found.append(Check(f"{views} views, mean of samples psnr over the better baseline +2", r["mean_of_samples"]["psnr"],
                           max(r[b]["psnr"] for b in BASELINES) + 2.0))
        found.append(Check(f"{views} views, samples' CRPS <= 0.60 x better baseline's MAE", r["viewfusion"]["crps"],
                           0.60 * _better_mae(r), lower_is_better=True))
        found.append(Check(f"{views} views, samples' iou over the better baseline +0.1", r["viewfusion"]["iou"],
                           max(r[b]["iou"] for b in BASELINES) + 0.10))
    return found


BARS = {"ship": ship_checks, "target": target_checks}
COMPARABLE = ("data", "split", "limit", "object_ids", "steps", "num_hypotheses", "seed", "view_counts", "sampler", "eta")
ALLOWANCE = {"psnr": 0.05, "ssim": 0.002, "iou": 0.002, "crps": 0.0005}  # differences below these are noise


def comparable_value(key: str, value: object) -> object:
    """A config value as the comparison reads it: the dataset by its folder's name (one report may name it relative
    to the package, another absolute), everything else as it is."""
    return Path(str(value)).name if key == "data" and value is not None else value


def allowance(check: Check) -> float:
    return next(value for metric, value in ALLOWANCE.items() if metric in check.name.lower())


def compare(candidate: list[Check], shipped: list[Check]) -> tuple[bool, list[str]]:
    """Is the candidate better than the shipped model on these checks? And one line per check."""
    lines, fell, rose = [], False, False
    for new, old in zip(candidate, shipped, strict=True):
        change, noise = new.margin - old.margin, allowance(new)
        fell |= change < -noise
        rose |= change > noise
        verdict = "better" if change > noise else "worse" if change < -noise else "same"
        lines.append(f"{new.name}: margin {old.margin:+.4f} -> {new.margin:+.4f} ({verdict})")
    return rose and not fell, lines


def protocol_differences(config: dict) -> list[str]:
    """Where the report's evaluation is not the bar's (then its verdict is not the bar's)."""
    return [f"{key} {config.get(key, 'missing')!r} (the bar: {value!r})" for key, value in PROTOCOL.items()
            if config.get(key, "missing") != value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="evaluation.json from nvs-fusion evaluate")
    parser.add_argument("--bar", choices=list(BARS), default="ship", help="which bar to check (default: ship)")
    parser.add_argument("--against", type=Path, default=None,
                        help="the shipped model's evaluation.json: say whether the report's model is better")
    args = parser.parse_args(argv)
    try:
        found = BARS[args.bar](json.loads(args.report.read_text()))
        shipped = None if args.against is None else BARS[args.bar](json.loads(args.against.read_text()))
    except (ValueError, KeyError, TypeError) as exc:  # a report without a method or metric the bar reads
        print(f"not a report the bar can be read from: {exc!r}")
        return 2
    report = json.loads(args.report.read_text())
    if shipped is not None:
        other = json.loads(args.against.read_text())["config"]
        differs = [k for k in COMPARABLE if comparable_value(k, report["config"].get(k)) != comparable_value(k, other.get(k))]
        if differs:
            print(f"the two reports were not evaluated the same way ({', '.join(differs)} differ): not comparable")
            return 2
        better, lines = compare(found, shipped)
        print("\n".join(lines))
        print(f"the candidate is {'BETTER than' if better else 'not better than'} the shipped model")
        return 0 if better else 1
    width = max(len(c.name) for c in found)
    print(f"{'check':<{width}}  measured    needed    margin")
    for c in found:
        verdict = "met" if c.met else "NOT met"
        print(f"{c.name:<{width}}  {c.measured:8.4f}  {c.needed:8.4f}  {c.margin:+8.4f}  {verdict}")
    met = sum(c.met for c in found)
    print(f"{met} of {len(found)} checks met: the {args.bar} bar is {'MET' if met == len(found) else 'not met'}")
    differs = protocol_differences(report["config"])
    if differs:
        print("not the bar's protocol: " + "; ".join(differs))
    return 0 if met == len(found) and not differs else 1


if __name__ == "__main__":
    raise SystemExit(main())
