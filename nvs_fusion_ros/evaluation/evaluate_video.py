"""``nvs-fusion evaluate-video``: the score composition against per-frame ViewFusion on held-out clips.

Protocol, per held-out clip of a dynamic dataset (``render-dataset --dynamic``): a seeded random
camera view c is the input, a monocular clip of F frames; the targets are the views at azimuth
offsets ``offsets`` (x 15°) from c at every frame, a V x F matrix whose ground truth was rendered.
Three methods run from the same starting noise (``VideoSynthesizer``):

* ``per_frame``: (a) ViewFusion on every cell independently;
* ``composition``: (b) Diffusion² composition without rollback;
* ``composition_rollback``: (c) with ``rollback_steps`` variance-reducing rollbacks.

Measures: PSNR and SSIM of every cell to the ground truth, and temporal consistency: the mean
absolute difference between consecutive frames of a view (RGB in [0, 1]), for the synthesized
matrix and for the ground truth; ``tc_excess`` = synthesized − truth (0 is ideal: as much frame-to-
frame change as the real motion; positive: flicker; negative: too static). Outputs: JSON, a
Markdown table, and a contact sheet per example clip (ground truth and the three methods).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import cameras
from ..synthesis.cli import add_engine_arguments
from ..synthesis.contact_sheet import contact_sheet, write_png
from ..synthesis.video_settings import CompositionSettings, add_composition_arguments

log = logging.getLogger(__name__)
METHODS = ("per_frame", "composition", "composition_rollback")


@dataclass
class VideoEvalConfig:
    """Everything that defines a run; stored in its JSON."""

    data: str
    model: str | None = None
    temporal_model: str | None = None
    split: str = "test"
    limit: int | None = None
    frames: int = 8
    offsets: tuple[int, ...] = (3, 6, 12, 18)
    steps: int = CompositionSettings.steps
    weight: float = CompositionSettings.weight
    rollback_steps: int = CompositionSettings.rollback_steps
    renoise_mode: str = CompositionSettings.renoise_mode
    seed: int = 0
    engine: str = "auto"
    device: str = "auto"
    examples: int = 2
    methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {list(METHODS)}, got {list(self.methods)}")
        if not self.offsets or any(o % cameras.NMR_VIEW_COUNT == 0 for o in self.offsets):
            raise ValueError(f"offsets must be non-empty and not multiples of {cameras.NMR_VIEW_COUNT}, got {self.offsets}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1, got {self.limit}")
        if self.frames < 2:
            raise ValueError(f"temporal consistency needs at least 2 frames, got {self.frames}")


def frame_change(matrix: np.ndarray) -> float:
    """Mean |I[v, f+1] - I[v, f]| over views, frames and pixels of a (V, F, H, W, 3) uint8 matrix, RGB in [0, 1]."""
    values = matrix.astype(np.float32) / 255.0
    return float(np.abs(np.diff(values, axis=1)).mean())


def clip_draw(clip_index: int, seed: int, offsets: tuple[int, ...]) -> tuple[int, list[int], int]:
    """The input view, the target views and the noise seed of one clip."""
    rng = np.random.default_rng([seed, clip_index])
    source = int(rng.integers(cameras.NMR_VIEW_COUNT))
    return source, [(source + o) % cameras.NMR_VIEW_COUNT for o in offsets], int(rng.integers(2**31))


def evaluate_video(cfg: VideoEvalConfig, out: Path, show_progress: bool = True) -> dict:
    """Run the three methods on every clip; write the JSON, Markdown and contact sheets to ``out``."""
    from ..datasets.video_dataset import VideoClips
    from ..synthesis.video_synthesizer import VideoSynthesizer  # torch: imported to run, not to print --help
    from .image_metrics import ImageMetrics

    started = time.perf_counter()
    synth = VideoSynthesizer.from_checkpoints(cfg.model, cfg.temporal_model or None, engine=cfg.engine, device=cfg.device)
    clips = VideoClips(cfg.data, cfg.split, frames=cfg.frames, image_size=synth.image_size)
    count = len(clips) if cfg.limit is None else min(cfg.limit, len(clips))
    metrics = ImageMetrics(None)
    base = dict(steps=cfg.steps, weight=cfg.weight, renoise_mode=cfg.renoise_mode)
    runs = {"per_frame": ("per-frame", CompositionSettings(**base, rollback_steps=0)),
            "composition": ("composition", CompositionSettings(**base, rollback_steps=0)),
            "composition_rollback": ("composition", CompositionSettings(**base, rollback_steps=cfg.rollback_steps))}
    runs = {name: runs[name] for name in cfg.methods}
    records = []
    for i in tqdm(range(count), desc="clips", unit="clip", disable=not show_progress):
        matrix = clips.load_matrix(i)[:, : cfg.frames]  # (24, F, H, W, 3)
        source, targets, seed = clip_draw(i, cfg.seed, cfg.offsets)
        truth = matrix[targets]
        inputs = [[frame] for frame in matrix[source]]
        angles = [cameras.view_azimuth(t) for t in targets]
        record = {"clip": clips.clips[i].clip_id, "input_view": source, "target_views": targets, "seed": seed,
                  "truth_frame_change": frame_change(truth), "methods": {}}
        results = {}
        for name, (method, settings) in runs.items():
            result = synth.synthesize(inputs, angles, method, settings, seed=seed)
            results[name] = result.images
            scores = metrics(result.images.reshape(-1, *result.images.shape[2:]), truth.reshape(-1, *truth.shape[2:]))
            change = frame_change(result.images)
            record["methods"][name] = {"psnr": float(np.mean(scores["psnr"])), "ssim": float(np.mean(scores["ssim"])),
                                       "frame_change": change, "tc_excess": change - record["truth_frame_change"],
                                       "seconds": result.timings["total_s"]}
        records.append(record)
        if i < cfg.examples:
            write_png(out / f"matrix_{i:02d}.png", contact_sheet(example_rows(matrix[source], truth, results, angles)))
    summary = {m: {k: float(np.mean([r["methods"][m][k] for r in records]))
                   for k in ("psnr", "ssim", "frame_change", "tc_excess", "seconds")} for m in cfg.methods}
    report = {"config": {**asdict(cfg), "clips": count, "resolution": synth.image_size,
                         "engine": synth.views.runner.describe(), "temporal_metadata": synth.temporal.metadata},
              "truth_frame_change": float(np.mean([r["truth_frame_change"] for r in records])),
              "results": summary, "clips": records, "total_s": time.perf_counter() - started}
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation_video.json").write_text(json.dumps(report, indent=2))
    (out / "evaluation_video.md").write_text(markdown_report(report))
    return report


def example_rows(inputs: np.ndarray, truth: np.ndarray, results: dict[str, np.ndarray],
                 angles: list[float]) -> list[tuple[str, list[np.ndarray]]]:
    """Contact-sheet rows of one clip: the input frames, then per target view the truth and each method."""
    rows = [("input view, frames 0..F-1", list(inputs))]
    for v, angle in enumerate(angles):
        rows.append((f"truth {math.degrees(angle):.0f} deg", list(truth[v])))
        rows += [(f"{name} {math.degrees(angle):.0f} deg", list(images[v])) for name, images in results.items()]
    return rows


def markdown_report(report: dict) -> str:
    """The summary table of a run."""
    cfg = report["config"]
    lines = [
        f"{cfg['clips']} held-out clips, {cfg['frames']} frames, {len(cfg['offsets'])} target views, DDIM {cfg['steps']} "
        f"steps, s = {cfg['weight']}, rollback {cfg['rollback_steps']} ({cfg['renoise_mode']} re-noising); "
        f"ground-truth frame change {report['truth_frame_change']:.4f}",
        "",
        "| method | PSNR ↑ | SSIM ↑ | frame change | excess over truth (0 best) | s per clip |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        lines.append(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['frame_change']:.4f} | {r['tc_excess']:+.4f} | "
                     f"{r['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate-video", epilog="example:\n  nvs-fusion evaluate-video --data data/dynamic --limit 4",
        description="Score the moving-object composition (with and without rollbacks) against per-frame "
                    "synthesis on held-out clips: PSNR / SSIM per method, JSON, Markdown and contact sheets.")
    parser.add_argument("--data", required=True, help="dynamic dataset root (render-dataset --dynamic)")
    parser.add_argument("--temporal-model", default=None, help="temporal checkpoint; default: the shipped one")
    parser.add_argument("--split", default=VideoEvalConfig.split, help="split list to evaluate")
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N clips only")
    parser.add_argument("--frames", type=int, default=VideoEvalConfig.frames, help="frames F per clip")
    add_composition_arguments(parser)  # --rollback applies to the composition_rollback method
    parser.add_argument("--seed", type=int, default=VideoEvalConfig.seed, help="seeds every clip's draws and noise")
    parser.add_argument("--examples", type=int, default=VideoEvalConfig.examples, help="contact sheets for the first N clips")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS, help="methods to run")
    parser.add_argument("--out", default="out/evaluate_video", help="output folder")
    add_engine_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = VideoEvalConfig(data=args.data, model=args.model, temporal_model=args.temporal_model, split=args.split,
                          limit=args.limit, frames=args.frames, steps=args.steps, weight=args.weight,
                          rollback_steps=args.rollback, renoise_mode=args.renoise, seed=args.seed, engine=args.engine,
                          device=args.device, examples=args.examples, methods=tuple(args.methods))
    report = evaluate_video(cfg, Path(args.out))
    print(markdown_report(report))
    return 0
