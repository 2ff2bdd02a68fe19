"""``nvs-fusion export-onnx``: a checkpoint to ONNX plus a model card that says what the file is.

The export itself is :func:`nvs_fusion_ros.engines.onnx_export.export_onnx`, the one
export used everywhere. The card (``<name>.card.json`` beside the ONNX file) carries
what a deployment needs to trust the file without the checkpoint: the network
config, the noise schedule, the resolution, the training metadata, the ONNX hash,
the opset, the verified torch-vs-ONNX Runtime difference and, when given, the
headline metrics of an ``nvs-fusion evaluate`` run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines.options import DEFAULT_OPSET

if TYPE_CHECKING:  # torch and ONNX load when an export runs, so printing the options stays quick
    from ..engines.onnx_export import ExportReport
    from ..model.checkpoint import Checkpoint


def evaluation_summary(path: str | Path) -> dict:
    """The headline part of an evaluate JSON: its config essentials and each protocol's per-method means."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"evaluation JSON {path} does not exist")
    try:
        report = json.loads(path.read_text())
        config, protocols = report["config"], report["protocols"]
        return {
            "source": str(path),
            "split": config["split"], "objects": config["objects"], "resolution": config["resolution"],
            "sampler": config["sampler"], "eta": config.get("eta", 0.0), "steps": config["steps"], "seed": config["seed"],
            "metrics": report["metrics"],
            "single_view": protocols["single_view"]["results"],
            "variable_views": protocols["variable_views"]["results"],
            "per_view_count": {n: entry["results"] for n, entry in protocols["per_view_count"].items()},
        }
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not an 'nvs-fusion evaluate' JSON (evaluation.json): {exc}") from exc


def model_card(checkpoint: Checkpoint, export: ExportReport, evaluations: list[dict]) -> dict:
    """Everything known about an exported model, JSON-ready."""
    from ..engines.onnx_export import INPUT_NAMES, OUTPUT_NAMES, file_sha256

    return {
        "onnx": {
            "file": export.path.name, "sha256": export.sha256, "opset": export.opset,
            "inputs": list(INPUT_NAMES), "outputs": list(OUTPUT_NAMES), "dynamic_axis": "streams (axis 0)",
            "max_abs_diff_vs_torch": export.max_abs_diff,
        },
        "checkpoint": {"file": str(checkpoint.path), "sha256": file_sha256(checkpoint.path) if checkpoint.path else None},
        "config": checkpoint.config.to_dict(),
        "resolution": checkpoint.config.image_size,
        "schedule": {"kind": checkpoint.schedule.kind, "T": checkpoint.schedule.num_steps},
        "training": checkpoint.metadata,
        "evaluations": evaluations,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def export_with_card(checkpoint_path: str | Path, out: str | Path | None = None, opset: int = DEFAULT_OPSET,
                     eval_jsons: Sequence[str | Path] = ()) -> tuple[ExportReport, Path]:
    """Export a checkpoint (default: ``<checkpoint>.onnx`` beside it) and write its card; returns both paths' facts.

    Several evaluations fit in one card, e.g. the same split scored with deterministic and ancestral sampling.
    """
    from ..engines.onnx_export import card_path, export_onnx
    from ..model.checkpoint import load_checkpoint

    evaluations = [evaluation_summary(path) for path in eval_jsons]  # fail before the slow export
    checkpoint = load_checkpoint(checkpoint_path)
    onnx_path = Path(out) if out else Path(checkpoint_path).with_suffix(".onnx")
    report = export_onnx(checkpoint.model, onnx_path, opset=opset)
    card = card_path(onnx_path)
    card.write_text(json.dumps(model_card(checkpoint, report, evaluations), indent=2))
    return report, card


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export-onnx`` subcommand."""
    parser = subparsers.add_parser(
        "export-onnx", epilog="example:\n  nvs-fusion export-onnx runs/mine/ema.pt --eval-json out/evaluate/evaluation.json",
        description="Export a checkpoint to ONNX, check ONNX Runtime against torch on random inputs, and write "
                    "<name>.card.json beside it (config, schedule, hashes, training metadata, evaluations).")
    parser.add_argument("checkpoint", help="model checkpoint (.pt)")
    parser.add_argument("--out", default=None, help="ONNX file to write (default: the checkpoint's name with .onnx)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
    parser.add_argument("--eval-json", action="append", default=[],
                        help="evaluation.json of 'nvs-fusion evaluate' to put in the card (repeat for several)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report, card = export_with_card(args.checkpoint, args.out, args.opset, args.eval_json)
    print(f"wrote {report.path} (opset {report.opset}, sha256 {report.sha256[:16]}...)")
    print(f"max abs diff ONNX Runtime vs torch: {report.max_abs_diff:.3g}")
    print(f"model card: {card}")
    return 0
