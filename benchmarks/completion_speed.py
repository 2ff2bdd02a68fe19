"""How fast is ``~/complete`` and a ``novel_view`` hidden-side request on this CPU, and what does each speed-up cost?

``~/complete`` runs ``rgbd.pipeline.complete_scene``: segmentation, placement, K hypotheses at each of A orbit
azimuths (one batched reverse process), carving. Each setting (``--settings``; the first is the reference; default:
``completion_settings.REFERENCE``, 25 DDIM steps at K = 8 and A = 8, then the node's defaults) runs it on the tabletop
benchmark's scenes (``tabletop_rgbd.benchmark_scenes``: same objects, yaws, sizes and cameras) and is scored as
``tabletop_rgbd.py`` scores the published cloud (mode ``model``, confidence >= ``--min-confidence``): recall@10mm and
the precision drop (points) against the object's own depth points.

A setting is ``SAMPLER:STEPS:K:A[:R]`` (R: the carving grid's resolution, default the node's). Seconds are the median
over the scenes sampled in this run (``complete_scene``'s own ``timings``: segmentation, sampling, carving); ratios are
against the reference row. The first ``--timed-scenes`` scenes are always sampled in this run; further scenes read the
model's hypotheses from ``--cache`` when it holds them (quality only, not timed) and are sampled (and timed) when not.
With ``--reuse reference`` only the reference reads the cache (its seconds from the first scenes, its quality from
all), every other setting is sampled on every scene. A K that a cached sample set with more hypotheses holds is its
first K (hypothesis k is seeded alike at any K), so a smaller K is scored without sampling again.
``--extra-confidence`` adds rows that keep the completed points at another threshold (the same hypotheses).

The ``novel_view`` row times the node's call: ``synthesize_steps(views, [pi], K = 4, spec)`` on three 64x64 views of a
held-out object, the first call (engine warm-up at this stream count) apart from the median of ``--repeats`` calls.
``--engines`` times one setting's synthesis of the first scene on each engine (the ``auto`` engine's calibration picks
by its own measurement at another batch: this checks its pick at the completion's), ``--threads`` at each thread count.

    nice -n 5 .venv/bin/python benchmarks/completion_speed.py --data data/household --objects 12 --scenes 8 \\
        --settings ddim:25:8:8 dpmpp2m:10:8:8 dpmpp2m:8:8:6 --cache out/hyp --json docs/completion_speed.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import statistics
from pathlib import Path

import numpy as np
from completion_settings import NOVEL_VIEW_K, NOVEL_VIEW_VIEWS, REFERENCE, Setting, node_setting, time_novel_view
from tabletop_rgbd import benchmark_scenes, hypothesis_key, scene_frame, shown_path

from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.engines.onnx_export import file_sha256
from nvs_fusion_ros.evaluation import geometry_metrics as metrics
from nvs_fusion_ros.rgbd.completion import CompletionError
from nvs_fusion_ros.rgbd.depth import backproject, remove_flying_pixels
from nvs_fusion_ros.rgbd.pipeline import MIN_CONFIDENCE, CompletionOptions, complete_scene, segment_frame
from nvs_fusion_ros.rgbd.segmentation import NothingAbovePlaneError

log = logging.getLogger("completion_speed")
MAX_CACHED_K = 32  # the node's largest num_hypotheses
BAR_SECONDS, BAR_VIEW_SECONDS, BAR_RECALL_DELTA, BAR_PRECISION_POINTS = 5.0, 2.0, 0.01, 0.5


def cached(cache: Path | None, key_for_k, k: int) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """The scene's hypotheses from ``cache``: its own K, else the first K of a cached larger set."""
    if cache is None:
        return None
    for larger in range(k, MAX_CACHED_K + 1):
        path = cache / f"{key_for_k(larger)}.npy"
        if path.is_file():
            return np.load(path)[:k]
    return None


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def complete_scenes(synthesizer, scenes: list, setting: Setting, args: argparse.Namespace,  # type: ignore[no-untyped-def]
                    model_sha: str, reference: bool) -> dict:
    """One setting over the scenes: per scene the seconds (when sampled here) and the published cloud's scores."""
    options = setting.options(args.seed)
    per_scene = []
    for position, (index, setup, frame, truth, visible) in enumerate(scenes):
        prepared = segment_frame(frame.colour, frame.depth, frame.intrinsics, options)

        def key_for(k: int, index: int = index, setup: dict = setup, mask: np.ndarray = prepared.segmentation.mask) -> str:
            return hypothesis_key(args.split, index, setup, False, dataclasses.replace(options, num_hypotheses=k),
                                  model_sha, mask)

        reads = position >= args.timed_scenes and (args.reuse == "all" or reference)
        images = cached(args.cache, key_for, setting.num_hypotheses) if reads else None
        try:
            done = complete_scene(frame.colour, frame.depth, frame.intrinsics, synthesizer, options, images=images,
                                  prepared=None if images is None else prepared)
        except CompletionError as exc:
            log.info("%s: %s: %s", setting.name, setup["object"], exc)
            per_scene.append({"object": setup["object"], "error": str(exc)})
            continue
        if images is None and args.cache is not None:
            args.cache.mkdir(parents=True, exist_ok=True)
            np.save(args.cache / f"{key_for(setting.num_hypotheses)}.npy", done.hypotheses.images)
        row = {"object": setup["object"], "sampled": images is None, "timings": done.timings}
        for threshold in (args.min_confidence, *args.extra_confidence):
            points = done.cloud(threshold)[0]
            row[f"{threshold:g}"] = metrics.cloud_scores(points, truth)
        row["visible"] = visible
        per_scene.append(row)
        log.info("%s: %s %.1f s%s, recall@10mm %.3f", setting.name, setup["object"], done.timings["total_s"],
                 "" if images is None else " (cached hypotheses)", row[f"{args.min_confidence:g}"]["recall_10mm"])
    return {"setting": dataclasses.asdict(setting), "name": setting.name, "per_scene": per_scene}


def summarise(result: dict, thresholds: list[float]) -> dict:
    """Median seconds over the sampled scenes, mean quality over every scored scene, per confidence threshold."""
    scored = [r for r in result["per_scene"] if "error" not in r]
    sampled = [r for r in scored if r["sampled"]]
    out = {"scenes": len(scored), "sampled_scenes": len(sampled), "failed": [r["object"] for r in result["per_scene"]
                                                                              if "error" in r]}
    for part in ("total_s", "segment_s", "sample_s", "carve_s"):
        out[part] = median([r["timings"][part] for r in sampled])
    out["carve_all_s"] = median([r["timings"]["carve_s"] for r in scored])  # carving runs on cached scenes too
    out["segment_all_s"] = median([r["timings"]["segment_s"] for r in scored])
    visible_precision = float(np.mean([r["visible"]["precision_10mm"] for r in scored])) if scored else math.nan
    out["quality"] = {}
    for threshold in thresholds:
        recall = float(np.mean([r[f"{threshold:g}"]["recall_10mm"] for r in scored])) if scored else math.nan
        precision = float(np.mean([r[f"{threshold:g}"]["precision_10mm"] for r in scored])) if scored else math.nan
        out["quality"][f"{threshold:g}"] = {"recall_10mm": recall, "precision_10mm": precision,
                                            "precision_drop_points": 100 * (visible_precision - precision)}
    return out


def load_scenes(args: argparse.Namespace) -> list:
    """The first ``--scenes`` benchmark scenes that segment: (index, set-up, frame, truth, the visible row's scores)."""
    scenes = []
    for index, obj, setup in benchmark_scenes(args.data, args.objects, args.split, args.seed, not args.no_flat):
        if len(scenes) == args.scenes:
            break
        frame = scene_frame(obj, setup, False, args.seed, index)
        depth = remove_flying_pixels(frame.depth, frame.intrinsics, CompletionOptions.max_grazing_deg)
        own = frame.object_mask & np.isfinite(depth)
        truth = frame.surface_points
        try:  # as tabletop_rgbd: a scene the segmentation refuses is left out of every setting
            segment_frame(frame.colour, frame.depth, frame.intrinsics, CompletionOptions())
        except NothingAbovePlaneError as exc:
            log.info("%s: refused (%s)", setup["object"], exc)
            continue
        scenes.append((index, setup, frame, truth, metrics.cloud_scores(backproject(depth, frame.intrinsics)[own], truth)))
    return scenes


def novel_view_views(data: Path, split: str, size: int) -> list[np.ndarray]:
    """Three dataset views of the split's first held-out object (a third of an orbit apart), as the node holds them."""
    import cv2
    from tabletop_rgbd import test_objects

    path = test_objects(data, 1, split)[0]
    files = sorted((path / "image").glob("*.png"))
    picks = [files[len(files) * i // NOVEL_VIEW_VIEWS] for i in range(NOVEL_VIEW_VIEWS)]
    return [cv2.resize(cv2.imread(str(f))[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA) for f in picks]


def time_synthesis(synthesizer, scene: tuple, setting: Setting, seed: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds of one completion's sampling of ``scene`` at ``setting``, after a warm-up call at its stream count."""
    _, _, frame, _, _ = scene
    options = setting.options(seed)
    complete_scene(frame.colour, frame.depth, frame.intrinsics, synthesizer,
                   dataclasses.replace(options, sampling=dataclasses.replace(options.sampling, steps=1)))
    return complete_scene(frame.colour, frame.depth, frame.intrinsics, synthesizer, options).timings["sample_s"]


def build(model: Path, engine: str, threads: int | None = None):  # type: ignore[no-untyped-def]
    """The synthesizer the node builds (``engine`` as its parameter); ``threads``: the engine's own thread count."""
    import torch

    from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

    if threads:
        torch.set_num_threads(threads)
    synthesizer = NovelViewSynthesizer.from_checkpoint(model, engine=engine)
    denoiser = synthesizer.runner.denoiser
    if threads and denoiser.name == "openvino":  # OpenVINO keeps its own pool: its thread count is a compile property
        from nvs_fusion_ros.engines.openvino_engine import OpenVinoDenoiser

        synthesizer.runner = synthesizer.runner.with_denoiser(OpenVinoDenoiser(
            denoiser.path, synthesizer.checkpoint.config, denoiser.device_name, bf16=denoiser.bf16, threads=threads))
    return synthesizer


def ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if value is not None and reference else "-"


def seconds_text(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "not timed"


def completion_table(rows: list[dict], thresholds: list[float]) -> str:
    reference = rows[0]
    ref_quality = reference["summary"]["quality"][f"{thresholds[0]:g}"]
    lines = ["| setting | confidence >= | scenes (sampled) | seconds | vs reference | segment s | sample s | carve s | "
             "recall@10mm | Δ recall | precision drop (pts) | Δ drop |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        s = row["summary"]
        for threshold in thresholds:
            q = s["quality"][f"{threshold:g}"]
            lines.append(
                f"| {row['name']} | {threshold:g} | {s['scenes']} ({s['sampled_scenes']}) | {seconds_text(s['total_s'])} | "
                f"{ratio(s['total_s'], reference['summary']['total_s'])} | {seconds_text(s['segment_all_s'])} | "
                f"{seconds_text(s['sample_s'])} | {seconds_text(s['carve_all_s'])} | {q['recall_10mm']:.3f} | "
                f"{q['recall_10mm'] - ref_quality['recall_10mm']:+.3f} | {q['precision_drop_points']:.2f} | "
                f"{q['precision_drop_points'] - ref_quality['precision_drop_points']:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/household"))
    parser.add_argument("--objects", type=int, default=12, help="household objects (the split's flat objects come on top)")
    parser.add_argument("--no-flat", action="store_true")
    parser.add_argument("--split", default="test")
    parser.add_argument("--scenes", type=int, default=None, help="the first N scenes (default: all)")
    parser.add_argument("--timed-scenes", type=int, default=0, help="the first N scenes are always sampled here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: rgbd_completion's)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--settings", type=Setting.parse, nargs="*", default=None,
                        help="SAMPLER:STEPS:K:A[:R]; the first is the reference (default: the node's defaults)")
    parser.add_argument("--min-confidence", type=float, default=MIN_CONFIDENCE)
    parser.add_argument("--extra-confidence", type=float, nargs="*", default=[],
                        help="also score the cloud at these confidence thresholds")
    parser.add_argument("--cache", type=Path, default=None, help="the model's hypotheses per scene (tabletop_rgbd's)")
    parser.add_argument("--reuse", choices=("all", "reference"), default="all",
                        help="which settings read --cache beyond --timed-scenes: all, or only the reference (every other "
                             "setting is then sampled and timed on every scene)")
    parser.add_argument("--view-settings", nargs="*", default=["ddim:25"], help="SAMPLER:STEPS of novel_view rows")
    parser.add_argument("--repeats", type=int, default=3, help="timed novel_view calls per row")
    parser.add_argument("--engines", nargs="*", default=[], help="time the last setting's synthesis on these engines")
    parser.add_argument("--threads", type=int, nargs="*", default=[], help="time it at these thread counts")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from nvs_fusion_ros.model.assets import asset_path

    model = args.model or asset_path("completion")
    model_sha = file_sha256(model)
    settings = args.settings or [REFERENCE, node_setting()]
    thresholds = [args.min_confidence, *args.extra_confidence]
    synthesizer = build(model, args.engine)
    import torch

    threads = torch.get_num_threads()
    header = (f"CPU: {cpu_model()}; ISA: {', '.join(cpu_isa()) or 'none of interest'}; cores: {os.cpu_count()}; "
              f"threads: {threads}; engine: {synthesizer.runner.describe()}")
    print(header)
    scenes = load_scenes(args)
    print(f"{len(scenes)} {args.split} scenes: {', '.join(s[1]['object'] for s in scenes)}")
    results = []
    for position, setting in enumerate(settings):
        result = complete_scenes(synthesizer, scenes, setting, args, model_sha, reference=position == 0)
        result["summary"] = summarise(result, thresholds)
        results.append(result)
    views = novel_view_views(args.data, args.split, synthesizer.image_size)
    view_rows = []
    for text in args.view_settings:
        sampler, steps = text.split(":")
        timing = time_novel_view(synthesizer, views, SamplingSpec(sampler, int(steps), seed=0), args.repeats)
        view_rows.append({"sampler": sampler, "steps": int(steps), **timing})
    engine_rows = []
    for engine in args.engines:
        other = build(model, engine)
        engine_rows.append({"engine": engine, "describe": other.runner.describe(),
                            "sample_s": time_synthesis(other, scenes[0], settings[-1], args.seed)})
    thread_rows = []
    for count in args.threads:
        other = build(model, args.engine, count)
        thread_rows.append({"threads": count, "sample_s": time_synthesis(other, scenes[0], settings[-1], args.seed)})

    print("\n~/complete (median seconds over the scenes sampled in this run; quality: mean over every scene)\n")
    print(completion_table(results, thresholds))
    print(f"\nnovel_view hidden-side request ({NOVEL_VIEW_VIEWS} views, K = {NOVEL_VIEW_K}, "
          f"{synthesizer.image_size}x{synthesizer.image_size})\n")
    print("| sampler | steps | first call s | median s | vs first row |\n|---|---:|---:|---:|---:|")
    for row in view_rows:
        print(f"| {row['sampler']} | {row['steps']} | {row['first_s']:.2f} | {row['median_s']:.2f} | "
              f"{ratio(row['median_s'], view_rows[0]['median_s'])} |")
    if engine_rows or thread_rows:
        print(f"\none completion's sampling of {scenes[0][1]['object']} at {settings[-1].name}\n")
        print("| engine | threads | seconds |\n|---|---:|---:|")
        for row in engine_rows:
            print(f"| {row['describe']} | {threads} | {row['sample_s']:.2f} |")
        for row in thread_rows:
            print(f"| {args.engine} | {row['threads']} | {row['sample_s']:.2f} |")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "cpu": cpu_model(), "isa": list(cpu_isa()), "cores": os.cpu_count(), "threads": threads,
            "engine": synthesizer.runner.describe(), "model": shown_path(model), "model_sha256": model_sha,
            "split": args.split, "scenes": [s[1]["object"] for s in scenes], "min_confidence": args.min_confidence,
            "bar": {"complete_s": BAR_SECONDS, "novel_view_s": BAR_VIEW_SECONDS, "recall_delta": BAR_RECALL_DELTA,
                    "precision_drop_points_delta": BAR_PRECISION_POINTS},
            "completion": [{k: v for k, v in r.items()} for r in results], "novel_view": view_rows,
            "engines": engine_rows, "threads_rows": thread_rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
