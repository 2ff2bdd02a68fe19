"""Grasp success: does completion help a grasp planner? The same planner on each cloud, every grasp run in physics.

The scenes are ``tabletop_rgbd.py``'s (same objects, yaws, sizes and cameras for the same ``--seed``): a
held-out household object at metric size on a table, seen by the D435-like camera. For each object and
each cloud source, ``nvs_fusion_ros.grasping.planner`` plans antipodal grasps for a parallel-jaw hand
modelled on the Franka Emika Hand (80 mm opening, 20 mm x 40 mm fingers) from that cloud alone (camera
frame; the support plane fitted on the depth, the same for every source), and
``nvs_fusion_ros.grasping.simulation`` executes its top three distinct grasps in pybullet on the *true*
object: approach, close, lift 10 cm, hold 2 s; a grasp succeeds when the object is still held by both
fingers off the table.

Sources (``SOURCES``: name -> the cloud a planner would get; a completion mode is one more entry):

  visible        the object's depth points, flying pixels filtered (what a planner has without completion);
  node_default   ``~/complete``'s cloud at the node's defaults: visible + completed points at least
                 ``MIN_CONFIDENCE`` sure (``rgbd.pipeline.complete_scene`` with ``CompletionOptions()``);
  completed_all  visible + every completed point (confidence >= 0);
  geometric      ``~/complete``'s cloud with ``completion_mode: geometric`` (mirror, revolution, hull and
                 view-ray shapes voting; no model);
  true_surface   20 000 points on the true mesh, all sides: the ceiling of any completion.

Per source: ``success_rate`` (the top grasp held), ``top3_success_rate`` (the share of the top three that
held; missing grasps count as failures), ``top3_any_rate`` (at least one of them held), objects without
any feasible grasp, why candidates were rejected and why executed grasps failed. The bar: the node's
default cloud >= visible + 10 points, and not below any other completion source; the true surface is
the ceiling. Objects where the sources disagree are drawn (``grasp_success.png``).

    .venv/bin/python benchmarks/grasp_success.py --data data/household --objects 40 --out out/grasp_test \\
        --results docs/grasp_benchmark.json
    .venv/bin/python benchmarks/grasp_success.py --data data/household --objects 6 --no-model   # model-free sources
    # one long run over two processes (the scenes are the full run's), then one summary:
    .venv/bin/python benchmarks/grasp_success.py --objects 20 --cache out/grasp_cache --out out/grasp_a &
    .venv/bin/python benchmarks/grasp_success.py --objects 40 --start 20 --cache out/grasp_cache --out out/grasp_b
    .venv/bin/python benchmarks/grasp_success.py --merge out/grasp_a/summary.json out/grasp_b/summary.json \\
        --out out/grasp_test --results docs/grasp_benchmark.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import pickle
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tabletop_rgbd import placed, shown_path, test_objects

from nvs_fusion_ros.atomic_file import atomic_path
from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.diffusion import DEFAULT_STEPS
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.engines.onnx_export import file_sha256
from nvs_fusion_ros.grasping.figure import grasp_figure
from nvs_fusion_ros.grasping.planner import REASONS, Gripper, Plan, PlannerConfig, plan_grasps
from nvs_fusion_ros.grasping.simulation import GraspSimulator
from nvs_fusion_ros.rgbd.completion import CompletionError
from nvs_fusion_ros.rgbd.depth import remove_flying_pixels
from nvs_fusion_ros.rgbd.pipeline import MIN_CONFIDENCE, CompletionOptions, SceneCompletion, complete_scene
from nvs_fusion_ros.rgbd.segmentation import NothingAbovePlaneError, Segmentation, segment_object

log = logging.getLogger("grasp_success")
BASELINE, DEFAULT, CEILING = "visible", "node_default", "true_surface"
FIGURE_ROWS = 3


class NeedsModel(RuntimeError):
    """The source needs the completion model and the run has none (``--no-model``)."""


@dataclass
class Scene:
    """What a cloud source may read: the rendered frame, the visible segmentation and, on demand, the model's completion."""

    frame: tabletop.RGBDFrame
    segmentation: Segmentation
    complete: Callable[[], SceneCompletion] | None
    _completion: SceneCompletion | CompletionError | None = field(default=None, repr=False)
    seconds: float = 0.0

    def completion(self) -> SceneCompletion:
        """The model's completion of this frame, computed once (raises NeedsModel or CompletionError)."""
        if self.complete is None:
            raise NeedsModel("no completion model in this run")
        if self._completion is None:
            started = time.perf_counter()
            try:
                self._completion = self.complete()
            except CompletionError as exc:
                self._completion = exc
            self.seconds = time.perf_counter() - started
        if isinstance(self._completion, CompletionError):
            raise self._completion
        return self._completion


SOURCES: dict[str, Callable[[Scene], np.ndarray]] = {
    BASELINE: lambda s: s.segmentation.points,
    DEFAULT: lambda s: s.completion().cloud(MIN_CONFIDENCE)[0],
    "completed_all": lambda s: s.completion().cloud(0.0)[0],
    "geometric": lambda s: complete_scene(s.frame.colour, s.frame.depth, s.frame.intrinsics, None,
                                          CompletionOptions(mode="geometric")).cloud(MIN_CONFIDENCE)[0],
    CEILING: lambda s: s.frame.surface_points,
}


def cache_key(setup: dict, options: CompletionOptions, model_sha: str | None) -> str:
    """A name for one scene's completion: the scene's set-up, the sampling options and the model's hash."""
    text = json.dumps([setup, options.num_hypotheses, options.azimuths, options.sampling.steps, options.sampling.seed,
                       options.max_grazing_deg, model_sha, options.mode, dataclasses.asdict(options.completion),
                       dataclasses.asdict(options.geometric)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def run_source(scene: Scene, source: Callable[[Scene], np.ndarray], sim: GraspSimulator, optical_to_world: np.ndarray,
               config: PlannerConfig, gripper: Gripper) -> tuple[dict, np.ndarray, Plan]:
    """Plan on the source's cloud and execute the top grasps; raises NeedsModel when the source cannot run."""
    row: dict = {}
    try:
        cloud = source(scene)
    except CompletionError as exc:  # the node publishes the visible points alone then
        cloud, row["completion_error"] = scene.segmentation.points, str(exc)
    started = time.perf_counter()
    plan = plan_grasps(cloud, scene.segmentation.plane, gripper, config)
    planned = time.perf_counter()
    outcomes = [sim.execute(optical_to_world @ grasp.pose) for grasp in plan.grasps]
    row |= {"points": len(cloud), "success": bool(outcomes and outcomes[0].success),
            "top3_held": sum(o.success for o in outcomes), "candidates": plan.candidates, "feasible_top": len(plan.grasps),
            "rejected": plan.rejected, "grasps": [g.summary() | o.summary() for g, o in zip(plan.grasps, outcomes, strict=True)],
            "plan_s": round(planned - started, 2), "simulate_s": round(time.perf_counter() - planned, 2)}
    return row, cloud, plan


def source_summary(rows: list[dict], keep: int) -> dict:
    """Rates and reasons over objects for one source."""
    n = len(rows)
    failures = Counter(r["grasps"][0]["reason"] if r["grasps"] else "no feasible grasp" for r in rows if not r["success"])
    return {"success_rate": sum(r["success"] for r in rows) / n, "objects": n,
            "top3_success_rate": sum(r["top3_held"] for r in rows) / (keep * n),
            "top3_any_rate": sum(r["top3_held"] > 0 for r in rows) / n,
            "no_feasible_grasp": sum(not r["grasps"] for r in rows),
            "top_grasp_failures": dict(sorted(failures.items())),
            "rejected_candidates": {k: int(sum(r["rejected"][k] for r in rows)) for k in REASONS},
            "candidates": int(sum(r["candidates"] for r in rows)),
            "completion_errors": sum("completion_error" in r for r in rows)}


def bar(sources: dict[str, dict]) -> dict:
    """The benchmark's bar on the node's default cloud, when both it and the visible cloud ran."""
    if DEFAULT not in sources or BASELINE not in sources:
        return {"evaluated": False, "why": f"needs the {DEFAULT} and {BASELINE} sources"}
    default, visible = sources[DEFAULT]["success_rate"], sources[BASELINE]["success_rate"]
    others = {k: v["success_rate"] for k, v in sources.items() if k not in (BASELINE, DEFAULT, CEILING)}
    return {"evaluated": True, "gain_over_visible_points": round(100 * (default - visible), 1),
            "gain_met": default - visible >= 0.10 - 1e-9,
            "not_below_other_completions": all(default >= v for v in others.values()), "other_completions": others,
            "ceiling": sources.get(CEILING, {}).get("success_rate")}


def paired(per_object: list[dict], a: str, b: str) -> dict:
    """Objects where source ``a``'s top grasp held and ``b``'s did not, and the reverse (with ``b``'s failure)."""
    both = [r for r in per_object if a in r["sources"] and b in r["sources"]]

    def why(r: dict, name: str) -> str:
        grasps = r["sources"][name]["grasps"]
        return grasps[0]["reason"] if grasps else "no feasible grasp"

    return {f"{a}_only": [{"object": r["object"], f"{b}_failure": why(r, b)} for r in both
                          if r["sources"][a]["success"] and not r["sources"][b]["success"]],
            f"{b}_only": [{"object": r["object"], f"{a}_failure": why(r, a)} for r in both
                          if r["sources"][b]["success"] and not r["sources"][a]["success"]]}


def disagreement_kind(sources: dict[str, dict]) -> int:
    """0: the default cloud's grasp failed where another cloud's held (completion hurts); 1: it held where the visible
    cloud's failed (completion helps); 2: any other disagreement."""
    default = sources.get(DEFAULT)
    if default is not None and not default["success"]:
        return 0
    return 1 if default is not None and not sources.get(BASELINE, {"success": True})["success"] else 2


def figure_rows(drawings: list[tuple[int, str, list]]) -> list[tuple[str, list]]:
    """Up to FIGURE_ROWS disagreeing objects: the first of each kind, then the next ones in order."""
    firsts = [next(d for d in drawings if d[0] == kind) for kind in range(3) if any(d[0] == kind for d in drawings)]
    chosen = (firsts + [d for d in drawings if all(d is not f for f in firsts)])[:FIGURE_ROWS]  # identity: rows hold arrays
    return [(name, drawn) for _, name, drawn in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/household"))
    parser.add_argument("--objects", type=int, default=40)
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=0, help="scenes (as tabletop_rgbd.py's), the planner's sampling, the model")
    parser.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: rgbd_completion's)")
    parser.add_argument("--no-model", action="store_true", help="skip the sources that need the completion model")
    parser.add_argument("--num-hypotheses", type=int, default=CompletionOptions.num_hypotheses, help="K (default: the node's)")
    parser.add_argument("--azimuths", type=int, default=CompletionOptions.azimuths, help="default: the node's")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="default: the node's")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--start", type=int, default=0,
                        help="run from this object on (the scenes stay the full run's): splits a long run over processes")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping each scene's completion (keyed by scene, options and model hash) for reruns")
    parser.add_argument("--out", type=Path, default=Path("out/grasp_success"))
    parser.add_argument("--results", type=Path, default=None, help="JSON file to store this split's summary in (under its name)")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="instead of running: merge these summary.json files of one run split with --start")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.merge:
        return report(merge(args.merge), args.out, args.results)
    print(f"CPU: {cpu_model()}; ISA: {', '.join(cpu_isa()) or 'none of interest'}")
    rng = np.random.default_rng(args.seed)
    gripper = Gripper()
    options = CompletionOptions(num_hypotheses=args.num_hypotheses, azimuths=args.azimuths,
                                sampling=SamplingSpec(steps=args.steps, seed=args.seed))
    synthesizer, model_name, model_sha = None, None, None
    if not args.no_model:
        from nvs_fusion_ros.model.assets import asset_path
        from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

        model_path = args.model or asset_path("completion")
        model_name, model_sha = shown_path(model_path), file_sha256(model_path)
        synthesizer = NovelViewSynthesizer.from_checkpoint(model_path, engine=args.engine)
    args.out.mkdir(parents=True, exist_ok=True)
    run = {"split": args.split, "seed": args.seed, "start": args.start, "model": model_name, "model_sha256": model_sha,
           "completion_options": {"mode": options.mode,
                                  "num_hypotheses": args.num_hypotheses, "azimuths": args.azimuths, "steps": args.steps,
                                  "min_confidence": MIN_CONFIDENCE},
           "gripper": vars(gripper) | {"palm": list(gripper.palm)}, "planner": vars(PlannerConfig()) | {"seed": "per object"},
           "cpu": cpu_model()}
    started = time.perf_counter()
    per_object, refused, drawings = [], [], []
    for index, path in enumerate(test_objects(args.data, args.objects, args.split)):
        obj, camera, setup = placed(path, rng)
        if index < args.start:  # drawn all the same, so every later scene is the full run's
            continue
        frame = tabletop.render(obj, camera)
        try:
            seg = segment_object(frame.colour, remove_flying_pixels(frame.depth, frame.intrinsics), frame.intrinsics)
        except NothingAbovePlaneError as exc:
            refused.append({**setup, "reason": str(exc)})
            log.info("%s: refused (%s)", setup["object"], exc)
            continue

        def complete(frame: tabletop.RGBDFrame = frame, setup: dict = setup) -> SceneCompletion:
            cached = args.cache / f"{cache_key(setup, options, model_sha)}.pkl" if args.cache else None
            if cached is not None and cached.is_file():
                return pickle.loads(cached.read_bytes())
            done = complete_scene(frame.colour, frame.depth, frame.intrinsics, synthesizer, options)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(pickle.dumps(done))
            return done

        scene = Scene(frame, seg, complete if synthesizer is not None else None)
        config = PlannerConfig(seed=args.seed * 100_003 + index)
        row: dict = {**setup, "sources": {}}
        drawn = []
        with GraspSimulator(obj.world_vertices(), obj.faces, gripper) as sim:
            optical_to_world = np.linalg.inv(frame.world_to_optical)
            for name in args.sources:
                try:
                    result, cloud, plan = run_source(scene, SOURCES[name], sim, optical_to_world, config, gripper)
                except NeedsModel:  # left out of this run (--no-model)
                    continue
                row["sources"][name] = result
                drawn.append((name, cloud, plan.grasps[0] if plan.grasps else None, result["success"]))
        if scene.complete is not None:
            row["completion_s"] = round(scene.seconds, 1)
        per_object.append(row)
        if len({r["success"] for r in row["sources"].values()}) > 1:
            drawings.append((disagreement_kind(row["sources"]), setup["object"].split("/")[-1], drawn))
        log.info("%s: %s", setup["object"], {k: f"{int(v['success'])} ({v['top3_held']}/3)" for k, v in row["sources"].items()})
        run["seconds"] = round(time.perf_counter() - started, 1)  # the objects so far, in case the run is stopped
        (args.out / "summary.json").write_text(json.dumps(summarise(run | {"finished": False}, per_object, refused), indent=1))
    run["seconds"] = round(time.perf_counter() - started, 1)
    summary = summarise(run, per_object, refused)
    if drawings:
        grasp_figure(figure_rows(drawings), gripper, args.out / "grasp_success.png")
    return report(summary, args.out, args.results)


def summarise(run: dict, per_object: list[dict], refused: list[dict]) -> dict:
    """The run's settings, the per-source rates, the bar and the per-object rows in one dict."""
    if not per_object:
        raise SystemExit("every object was refused; nothing to grasp")
    names = [n for n in per_object[0]["sources"] if all(n in r["sources"] for r in per_object)]
    sources = {n: source_summary([r["sources"][n] for r in per_object], PlannerConfig.keep) for n in names}
    return run | {"objects": len(per_object), "refused": refused, "sources": sources, "bar": bar(sources),
                  "disagreements": paired(per_object, DEFAULT, BASELINE) if DEFAULT in names and BASELINE in names else {},
                  "per_object": per_object}


def merge(paths: list[Path]) -> dict:
    """One summary from the runs a long run was split into (``--start``): same split, seed, model and options."""
    parts = [json.loads(p.read_text()) for p in paths]
    same = ("split", "seed", "model_sha256", "completion_options", "gripper", "planner")
    for part, path in zip(parts[1:], paths[1:], strict=True):
        if any(part[k] != parts[0][k] for k in same):
            raise SystemExit(f"{path} was run with other settings than {paths[0]} ({', '.join(same)} must match)")
    unfinished = [str(path) for part, path in zip(parts, paths, strict=True) if part.get("finished") is False]
    if unfinished:
        log.warning("merging runs stopped before their last object: %s", ", ".join(unfinished))
    run = {k: v for k, v in parts[0].items()
           if k not in ("objects", "refused", "sources", "bar", "disagreements", "per_object", "finished")}
    run |= {"unfinished_parts": unfinished} if unfinished else {}
    run |= {"start": 0, "seconds": round(sum(p["seconds"] for p in parts), 1), "merged_from": [str(p) for p in paths]}

    def first_of_each(key: str) -> list[dict]:  # parts may overlap where a process took over another's later objects
        rows: dict[str, dict] = {}
        for part in parts:
            for row in part[key]:
                rows.setdefault(row["object"], row)
        return list(rows.values())

    return summarise(run, first_of_each("per_object"), first_of_each("refused"))


def report(summary: dict, out: Path, results: Path | None) -> int:
    """Write the summary (and into ``results`` under the split's name), print the table and the bar."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if results is not None:
        stored = json.loads(results.read_text()) if results.is_file() else {}
        stored[summary["split"]] = summary
        with atomic_path(results) as tmp:
            tmp.write_text(json.dumps(stored, indent=1))
    print(table(summary["sources"]))
    print(json.dumps(summary["bar"]))
    print(f"{summary['objects']} objects in {summary['seconds']:.0f} s")
    return 0


def table(sources: dict[str, dict]) -> str:
    lines = ["| cloud | objects | top grasp held | top-3 held | any of top 3 | no feasible grasp |", "|---|---|---|---|---|---|"]
    for name, s in sources.items():
        lines.append(f"| {name} | {s['objects']} | {100 * s['success_rate']:.1f} % | {100 * s['top3_success_rate']:.1f} % | "
                     f"{100 * s['top3_any_rate']:.1f} % | {s['no_feasible_grasp']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
