"""Tabletop RGB-D benchmark: is the metric completion closer to the true object than the visible depth alone,
and closer than the geometric completions that need no model?

Objects: the held-out objects of a split of an NMR-layout dataset whose objects carry their
normalised true mesh, ``mesh_normalized.npz`` (round-robin over its categories/sources), each at a
random yaw, scaled to a random bounding radius of 5-12 cm and painted the mean colour of its own
dataset views; then the split's thin and flat objects (``rgbd.flat_objects``: cutlery, pens, a
plate, tools at their real size; ``--no-flat`` leaves them out). A 640x480 D435-like camera
(``datasets.tabletop``) 0.5-0.9 m away looks down at 25-55 degrees. Depth is noise-free unless
``--depth-noise`` adds a D435's axial noise and flying pixels (``tabletop.sensor_depth``); every row
reads it after the pipeline's flying-pixel filter (``--max-grazing``, 90: off). The truth is 20 000
points sampled on the object's surface, in the camera's optical frame. Rows:

  visible     the object's own depth points: the pixels the renderer drew it at (what the camera sees of it);
  segmented   the depth points of the pipeline's segmentation (what every completion starts from);
  mirror, revolution, hull, rays
              segmented + one geometric completion (``rgbd.geometric``), every point;
  geometric   the ``geometric`` mode's published cloud (the shapes agreeing, no model), confidence >= --min-confidence;
  model       the ``model`` mode's published cloud (the model's K hypotheses, A azimuths), same threshold;
  hybrid      the ``hybrid`` mode's published cloud (both kinds of witness), same threshold: what the node
              publishes by default (``PUBLISHED``);
  hybrid>=c   the hybrid cloud at each ``--confident`` c;
  oracle      segmented + carving with the *true* silhouettes at the model's azimuths (the carving's ceiling).

Scores: Chamfer (mm), precision / recall / F at 5 and 10 mm (``evaluation.geometry_metrics``), averaged over
objects; the completed points' error by confidence bin (pooled over objects); per object, the row
with the best F@10mm among the completions; the bar: recall@10mm >= 0.85 with precision@10mm at
most 4 points below the visible row's, F@10mm above every geometric row's, and on every object a
published recall@10mm at least the visible one's. ``--cache DIR`` keeps the model's sampled
hypotheses per scene (under the scene, the options, the model's hash and the segmentation's mask), so
the carving's settings (``--min-confidence``, ``--confident``) can be swept on the validation split without
sampling again.

    .venv/bin/python benchmarks/tabletop_rgbd.py --data data/household --split val --objects 24 --cache out/hyp
    .venv/bin/python benchmarks/tabletop_rgbd.py --data data/household --objects 32 --cache out/hyp
    .venv/bin/python benchmarks/tabletop_rgbd.py --data data/household --objects 32 --depth-noise --cache out/hyp
    .venv/bin/python benchmarks/tabletop_rgbd.py --data data/household --objects 32 --no-model   # rows that need no model
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import cv2
import numpy as np

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.engines.onnx_export import file_sha256
from nvs_fusion_ros.evaluation import geometry_metrics as metrics
from nvs_fusion_ros.rgbd import completion, flat_objects, geometric, placement, segmentation
from nvs_fusion_ros.rgbd.depth import backproject, remove_flying_pixels
from nvs_fusion_ros.rgbd.figure import completion_figure, methods_figure
from nvs_fusion_ros.rgbd.pipeline import MIN_CONFIDENCE, CompletionOptions, complete_scene

log = logging.getLogger("tabletop_rgbd")
BAR_RECALL, BAR_PRECISION_DROP = 0.85, 0.04
MODES_MEASURED = ("geometric", "model", "hybrid")
PUBLISHED = CompletionOptions().mode  # the mode rgbd_completion publishes by default: the bar is on its cloud


def shown_path(path: str | Path) -> str:
    """A file as the results name it: relative to the package root when inside it, so they hold no machine's paths."""
    resolved = Path(path).resolve()
    root = Path(__file__).resolve().parents[1]
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)


def published_mode(modes: list[str] | tuple[str, ...]) -> str:
    """The default mode's row when it was measured (a run without the model measures only the geometric one)."""
    return PUBLISHED if PUBLISHED in modes else "geometric"


def confident_row(threshold: float) -> str:
    return f"hybrid>={threshold:g}"


def test_objects(root: Path, count: int, split: str = "test") -> list[Path]:
    """Up to ``count`` objects of ``split`` with a true mesh, taken round-robin over the root's categories."""
    per_category = []
    for listing in sorted(root.glob(f"*/softras_{split}.lst")):
        names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
        objects = [listing.parent / n for n in names if (listing.parent / n / "mesh_normalized.npz").is_file()]
        if objects:
            per_category.append(objects)
    chosen: list[Path] = []
    while len(chosen) < count and any(per_category):
        for objects in per_category:
            if objects and len(chosen) < count:
                chosen.append(objects.pop(0))
    if not chosen:
        raise SystemExit(f"no {split} objects with mesh_normalized.npz under {root}")
    return chosen


def object_colour(path: Path) -> tuple[float, float, float, float]:
    """The mean foreground colour of the object's first dataset view (grey when it has none)."""
    image, mask = cv2.imread(str(path / "image" / "0000.png")), cv2.imread(str(path / "mask" / "0000.png"), 0)
    if image is None or mask is None or not (mask > 127).any():
        return (0.5, 0.5, 0.5, 1.0)
    b, g, r = image[mask > 127].mean(axis=0) / 255.0
    return (float(r), float(g), float(b), 1.0)


def _camera(setup: dict) -> tabletop.TabletopCamera:
    return tabletop.TabletopCamera(setup["distance_m"], math.radians(setup["elevation_deg"]))


def household(path: Path, rng: np.random.Generator) -> tuple[tabletop.TabletopObject, dict]:
    """A held-out object at a random yaw and size, and the camera drawn for it."""
    mesh = np.load(path / "mesh_normalized.npz")
    setup = {"object": f"{path.parent.name}/{path.name}", "yaw_deg": float(rng.uniform(0, 360)),
             "radius_m": float(rng.uniform(0.05, 0.12)), "distance_m": float(rng.uniform(0.5, 0.9)),
             "elevation_deg": float(rng.uniform(25, 55))}
    return tabletop.TabletopObject(mesh["vertices"], mesh["faces"], setup["radius_m"], math.radians(setup["yaw_deg"]),
                                   object_colour(path)), setup


def placed(path: Path, rng: np.random.Generator) -> tuple[tabletop.TabletopObject, tabletop.TabletopCamera, dict]:
    """A held-out object, its camera and that set-up as a dict (the grasp benchmark puts the object into physics)."""
    obj, setup = household(path, rng)
    return obj, _camera(setup), setup


def scene(path: Path, rng: np.random.Generator) -> tuple[tabletop.RGBDFrame, dict]:
    obj, camera, setup = placed(path, rng)
    return tabletop.render(obj, camera), setup


def flat(thing: flat_objects.FlatObject, rng: np.random.Generator) -> tuple[tabletop.TabletopObject, dict]:
    """A generated flat object at its own size, at a random yaw, seen as the household objects are."""
    setup = {"object": f"flat/{thing.name}", "yaw_deg": float(rng.uniform(0, 360)), "radius_m": thing.radius_m,
             "height_mm": 1000 * thing.height_m, "distance_m": float(rng.uniform(0.5, 0.9)),
             "elevation_deg": float(rng.uniform(25, 55))}
    return tabletop.TabletopObject(thing.vertices, thing.faces, thing.radius_m, math.radians(setup["yaw_deg"]),
                                   thing.rgba), setup


def interleaved(counts: tuple[int, int]) -> list[int]:
    """Scene indices with the household and the flat objects alternating (a shard that stops early has both)."""
    first, second = list(range(counts[0])), list(range(counts[0], counts[0] + counts[1]))
    out = []
    for i in range(max(counts)):
        out += [group[i] for group in (first, second) if i < len(group)]
    return out


def benchmark_scenes(data: Path, objects: int, split: str = "test", seed: int = 0,
                     with_flat: bool = True) -> list[tuple[int, tabletop.TabletopObject, dict]]:
    """The benchmark's scenes of ``split`` as (index, object, set-up), household and flat objects alternating.

    One generator seeded ``seed`` draws every household object's yaw, size and camera, then every flat object's, so a
    scene is the same in every benchmark that draws it (this one, the grasp and the speed benchmarks)."""
    rng = np.random.default_rng(seed)
    setups = [household(path, rng) for path in test_objects(data, objects, split)]
    flats = [flat(thing, rng) for thing in flat_objects.split_objects(split)] if with_flat else []
    order = interleaved((len(setups), len(flats)))
    setups += flats
    return [(index, *setups[index]) for index in order]


def scene_frame(obj: tabletop.TabletopObject, setup: dict, depth_noise: bool = False, seed: int = 0,
                index: int = 0) -> tabletop.RGBDFrame:
    """The scene's RGB-D frame; with ``depth_noise`` a D435's noise from its own generator (``seed``, ``index``), so
    the scenes stay those of the noise-free run."""
    frame = tabletop.render(obj, _camera(setup))
    if depth_noise:
        frame.depth = tabletop.sensor_depth(frame.depth, np.random.default_rng([seed, index]))
    return frame


def hypothesis_key(split: str, index: int, setup: dict, depth_noise: bool, options: CompletionOptions,
                   model_sha: str | None, mask: np.ndarray) -> str:
    """The name the model's hypotheses of one scene are cached under: everything they depend on, the segmentation's
    ``mask`` too (it crops the model's view), as a hash (a sampler other than deterministic DDIM adds its spec)."""
    spec = options.sampling
    sampler = "" if (spec.sampler, spec.eta, spec.options) == ("ddim", 0.0, ()) else \
        "_" + "_".join(map(str, (spec.sampler, spec.eta, *(f"{k}={v}" for k, v in spec.options))))
    return f"{split}_{index:03d}_{setup['object'].replace('/', '_')}_{'noisy' if depth_noise else 'clean'}_" \
           f"K{options.num_hypotheses}A{options.azimuths}S{spec.steps}{sampler}_g{options.max_grazing_deg:g}_" \
           f"s{spec.seed}_{(model_sha or '')[:12]}_m{hashlib.sha256(np.packbits(mask).tobytes()).hexdigest()[:8]}"


def oracle_points(frame: tabletop.RGBDFrame, depth: np.ndarray, seg: segmentation.Segmentation, azimuths: int) -> np.ndarray:
    """The carving's completion from the true silhouettes at the completion's relative azimuths."""
    place = placement.fit_placement(seg)
    relative = [2 * math.pi * j / azimuths for j in range(1, azimuths)]
    cams = [place.orbit_camera(a, 64, place.anchor_elevation) for a in relative]
    images = tabletop.oracle_silhouettes(place.to_model(frame.surface_points), cams)
    hyp = completion.Hypotheses(images[None], relative, place.anchor_elevation)
    return completion.complete(hyp, place, seg.plane, depth, frame.intrinsics).points


def mean_row(rows: list[dict]) -> dict[str, float]:
    keys = [k for k in rows[0] if k != "points"]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def cached_images(cache: Path | None, key: str, sample: callable) -> np.ndarray:  # type: ignore[valid-type]
    """The model's hypotheses for this scene: from ``cache`` when there, else ``sample()`` (and stored)."""
    path = cache / f"{key}.npy" if cache is not None else None
    if path is not None and path.is_file():
        return np.load(path)
    images = sample()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, images)
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/household"))
    parser.add_argument("--objects", type=int, default=24, help="household objects (the split's flat objects come on top)")
    parser.add_argument("--no-flat", action="store_true", help="leave out the generated thin and flat objects")
    parser.add_argument("--split", default="test", help="split list to draw objects from (val: choose settings there)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: rgbd_completion's)")
    parser.add_argument("--no-model", action="store_true", help="only the rows that need no model")
    parser.add_argument("--num-hypotheses", type=int, default=CompletionOptions.num_hypotheses,
                        help="K hypotheses per azimuth (default: the node's)")
    parser.add_argument("--azimuths", type=int, default=CompletionOptions.azimuths)
    parser.add_argument("--sampler", default=CompletionOptions().sampling.sampler, help="(default: the node's)")
    parser.add_argument("--steps", type=int, default=CompletionOptions().sampling.steps, help="(default: the node's)")
    parser.add_argument("--min-confidence", type=float, default=MIN_CONFIDENCE,
                        help="completed points kept in the published clouds (default: the node's)")
    parser.add_argument("--methods", nargs="*", default=list(geometric.GeometricConfig.methods),
                        help="the geometric shapes the geometric and hybrid modes use")
    parser.add_argument("--confident", type=float, nargs="*", default=[0.75, 1.0],
                        help="a hybrid row per threshold keeping completed points at least this confident")
    parser.add_argument("--depth-noise", action="store_true", help="a D435's axial noise and flying pixels on the depth")
    parser.add_argument("--max-grazing", type=float, default=CompletionOptions.max_grazing_deg,
                        help="flying-pixel filter angle in degrees (default: the node's; 90 keeps every reading)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--cache", type=Path, default=None, help="keep the model's hypotheses per scene here")
    parser.add_argument("--figures", type=int, default=3, help="objects drawn method by method")
    parser.add_argument("--shard", default="0/1", help="i/n: only every n-th scene from the i-th (to sample in parallel)")
    parser.add_argument("--sample-only", action="store_true", help="only fill --cache with the model's hypotheses")
    parser.add_argument("--cached-only", action="store_true",
                        help="only the scenes whose hypotheses --cache holds (the model rows on a subset, stated as such)")
    parser.add_argument("--out", type=Path, default=Path("out/tabletop_rgbd"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"CPU: {cpu_model()}; instruction sets: {', '.join(cpu_isa())}")
    synthesizer, model_name, model_sha = None, None, None
    if not args.no_model:
        from nvs_fusion_ros.model.assets import asset_path
        from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

        model_path = args.model or asset_path("completion")
        model_name, model_sha = shown_path(model_path), file_sha256(model_path)
        synthesizer = NovelViewSynthesizer.from_checkpoint(model_path, engine=args.engine)
    base = CompletionOptions(num_hypotheses=args.num_hypotheses, azimuths=args.azimuths,
                             sampling=SamplingSpec(args.sampler, args.steps, seed=args.seed), max_grazing_deg=args.max_grazing,
                             geometric=geometric.GeometricConfig(methods=tuple(args.methods)))
    modes = [m for m in MODES_MEASURED if synthesizer is not None or m == "geometric"]
    rows = ("visible", "segmented", *geometric.METHODS, *modes,
            *(map(confident_row, args.confident) if "hybrid" in modes else ()), "oracle")
    args.out.mkdir(parents=True, exist_ok=True)
    results, refused, drawn = [], [], []
    best_gain = -np.inf
    pooled: dict[str, tuple[list, list]] = {m: ([], []) for m in modes}
    shard, shards = (int(n) for n in args.shard.split("/"))
    for index, obj, setup in benchmark_scenes(args.data, args.objects, args.split, args.seed, not args.no_flat):
        if index % shards != shard:
            continue
        name = setup["object"]
        frame = scene_frame(obj, setup, args.depth_noise, args.seed, index)
        depth = remove_flying_pixels(frame.depth, frame.intrinsics, args.max_grazing)  # as complete_scene does
        truth = frame.surface_points
        try:
            seg = segmentation.segment_object(frame.colour, depth, frame.intrinsics)
        except segmentation.NothingAbovePlaneError as exc:
            refused.append({**setup, "reason": str(exc)})
            log.info("%s: refused (%s)", name, exc)
            continue
        key = hypothesis_key(args.split, index, setup, args.depth_noise, base, model_sha, seg.mask)
        if synthesizer is not None and args.cached_only and not (args.cache / f"{key}.npy").is_file():
            continue
        sample = lambda frame=frame: complete_scene(  # noqa: E731
            frame.colour, frame.depth, frame.intrinsics, synthesizer, dataclasses.replace(base, mode="model")).hypotheses.images
        if synthesizer is not None and args.sample_only:
            cached_images(args.cache, key, sample)
            log.info("%s: hypotheses in %s", name, args.cache)
            continue
        own = frame.object_mask & np.isfinite(depth)
        row = {**setup, "visible": metrics.cloud_scores(backproject(depth, frame.intrinsics)[own], truth),
               "segmented": metrics.cloud_scores(seg.points, truth)}
        shapes = geometric.geometric_shapes(seg, placement.fit_placement(seg), depth, frame.intrinsics, base.geometric,
                                            methods=geometric.METHODS)
        clouds = {"segmented": seg.points}
        for shape in shapes:
            clouds[shape.name] = np.concatenate([seg.points, shape.points])
            row[shape.name] = metrics.cloud_scores(clouds[shape.name], truth)
        try:
            row["oracle"] = metrics.cloud_scores(np.concatenate([seg.points, oracle_points(frame, depth, seg, args.azimuths)]),
                                                 truth)
        except completion.CompletionError:
            row["oracle"] = row["segmented"]
        images = None
        if synthesizer is not None:
            started = time.perf_counter()
            images = cached_images(args.cache, key, sample)
            row["sample_s"] = time.perf_counter() - started
        row["seconds"] = {}
        for mode in modes:
            started = time.perf_counter()
            try:
                done = complete_scene(frame.colour, frame.depth, frame.intrinsics, synthesizer,
                                      dataclasses.replace(base, mode=mode), images=images)
            except completion.CompletionError as exc:
                row[mode], row[f"{mode}_error"] = row["segmented"], str(exc)
                continue
            row["seconds"][mode] = time.perf_counter() - started
            points, _, confidence = done.cloud(args.min_confidence)
            clouds[mode] = points
            row[mode] = metrics.cloud_scores(points, truth)
            pooled[mode][0].append(done.completion.confidence)
            pooled[mode][1].append(metrics.point_errors_mm(done.completion.points, truth))
            if mode == "hybrid":
                every, _, confidence = done.cloud()
                for threshold in args.confident:
                    row[confident_row(threshold)] = metrics.cloud_scores(every[confidence >= threshold], truth)
                hybrid = done
        published = published_mode(modes)
        row["winner"] = max((m for m in (*geometric.METHODS, *modes) if m in row), key=lambda m: row[m]["f_10mm"])
        row["published_keeps_visible"] = row[published]["recall_10mm"] >= row["visible"]["recall_10mm"]
        results.append(row)
        drawn.append((row, clouds, truth))
        if "hybrid" in clouds and row["hybrid"]["recall_10mm"] - row["visible"]["recall_10mm"] > best_gain:
            best_gain = row["hybrid"]["recall_10mm"] - row["visible"]["recall_10mm"]  # the picture: the largest gain
            completion_figure(seg.points, hybrid.completion.points, hybrid.completion.confidence, truth,
                              args.out / "tabletop_rgbd.png",
                              f"{name}: recall@10mm {row['visible']['recall_10mm']:.2f} -> {row['hybrid']['recall_10mm']:.2f}"
                              f" (hybrid, {Path(str(model_name)).name})")
        log.info("%s: winner %s; %s", name, row["winner"], {k: round(row[k]["recall_10mm"], 3) for k in rows if k in row})
    summary = {"model": model_name, "model_sha256": model_sha, "cpu": cpu_model(), "objects": len(results),
               "refused": refused,
               "options": {"split": args.split, "num_hypotheses": args.num_hypotheses, "azimuths": args.azimuths,
                           "sampler": args.sampler, "steps": args.steps,
                           "seed": args.seed, "depth_noise": args.depth_noise, "max_grazing_deg": args.max_grazing,
                           "min_confidence": args.min_confidence,
                           "methods": args.methods, "flat_objects": not args.no_flat},
               "mean": {k: mean_row([r[k] for r in results]) for k in rows if results and k in results[0]},
               "mean_seconds": {m: float(np.mean([r["seconds"][m] for r in results if m in r["seconds"]])) for m in modes},
               "per_object": results}
    summary["error_by_confidence"] = {m: metrics.errors_by_confidence(np.concatenate(e), np.concatenate(c))
                                      for m, (c, e) in pooled.items() if c}
    summary["bar"] = bar(summary, results, published=published_mode(modes))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for i, (row, clouds, truth) in enumerate(pick_figures(drawn, args.figures)):
        panels = {("visible (segmented)" if m == "segmented" else m): cloud for m, cloud in clouds.items()}
        methods_figure(panels, truth, args.out / f"methods_{i}.png", f"{row['object']}: F@10mm by cloud",
                       {("visible (segmented)" if m == "segmented" else m): row[m]["f_10mm"] for m in clouds})
    print(table(summary))
    print(winners(results, [m for m in (*geometric.METHODS, *modes)]))
    print(json.dumps(summary["bar"], indent=1))
    print("seconds per object:", {m: round(s, 2) for m, s in summary["mean_seconds"].items()})
    return 0


def bar(summary: dict, results: list[dict], published: str) -> dict:
    """The published cloud against the visible one and every geometric row (module docstring)."""
    mean, visible = summary["mean"], summary["mean"]["visible"]
    ours = mean[published]
    geometric_f = {m: mean[m]["f_10mm"] for m in (*geometric.METHODS, "geometric") if m in mean and m != published}
    lost = [r["object"] for r in results if not r["published_keeps_visible"]]
    drop = visible["precision_10mm"] - ours["precision_10mm"]
    return {"published": published, "recall_10mm": ours["recall_10mm"], "recall_met": ours["recall_10mm"] >= BAR_RECALL,
            "precision_drop_points": 100 * drop, "precision_met": drop <= BAR_PRECISION_DROP, "f_10mm": ours["f_10mm"],
            "best_geometric_f_10mm": max(geometric_f.values()) if geometric_f else None,
            "f_above_geometric": all(ours["f_10mm"] > f for f in geometric_f.values()),
            "objects_losing_visible_recall": lost, "visible_kept_everywhere": not lost}


def pick_figures(drawn: list, count: int) -> list:
    """The objects to draw: the household objects whose completions disagree most (the widest spread of F@10mm over
    the completion rows), then the flat object the camera sees least of."""
    if not drawn or count <= 0:
        return []

    def spread(item: tuple) -> float:
        scores = [item[0][m]["f_10mm"] for m in (*geometric.METHODS, *MODES_MEASURED) if m in item[0]]
        return max(scores) - min(scores)

    flats = [item for item in drawn if item[0]["object"].startswith("flat/")]
    others = [item for item in drawn if not item[0]["object"].startswith("flat/")]
    chosen = sorted(others, key=spread, reverse=True)[: max(count - 1, 1)]
    chosen += sorted(flats, key=lambda item: item[0]["visible"]["recall_10mm"])[:1]
    return chosen[:count]


def table(summary: dict) -> str:
    lines = ["| cloud | Chamfer mm | P@5mm | R@5mm | F@5mm | P@10mm | R@10mm | F@10mm |", "|---|---|---|---|---|---|---|---|"]
    for name, m in summary["mean"].items():
        lines.append(f"| {name} | {m['chamfer_mm']:.1f} | {m['precision_5mm']:.3f} | {m['recall_5mm']:.3f} | {m['f_5mm']:.3f} | "
                     f"{m['precision_10mm']:.3f} | {m['recall_10mm']:.3f} | {m['f_10mm']:.3f} |")
    return "\n".join(lines)


def winners(results: list[dict], methods: list[str]) -> str:
    """Per object: the visible recall and each completion's F@10mm, the best in bold."""
    lines = ["| object | visible R@10mm | " + " | ".join(f"{m} F@10mm" for m in methods) + " | published R@10mm |",
             "|---|---|" + "---|" * len(methods) + "---|"]
    published = published_mode(methods)
    for row in results:
        cells = [f"**{row[m]['f_10mm']:.3f}**" if m == row["winner"] else f"{row[m]['f_10mm']:.3f}" for m in methods]
        lines.append(f"| {row['object']} | {row['visible']['recall_10mm']:.3f} | " + " | ".join(cells) +
                     f" | {row[published]['recall_10mm']:.3f} |")
    counts = {m: sum(r["winner"] == m for r in results) for m in methods}
    return "\n".join(lines) + "\nwins: " + ", ".join(f"{m} {n}" for m, n in counts.items())


if __name__ == "__main__":
    raise SystemExit(main())
