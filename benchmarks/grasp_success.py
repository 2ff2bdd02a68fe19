"""Grasp success: does completion help a grasp planner? The same planner on each cloud, every grasp run in physics.

The scenes are ``tabletop_rgbd.py``'s, drawn by its ``benchmark_scenes`` and ``scene_frame`` (same objects, yaws,
sizes, cameras and depth for the same ``--split``, ``--seed``, ``--objects`` and ``--no-flat``): ``--objects`` held-out
household objects at metric size, then the split's generated thin and flat objects (``rgbd.flat_objects``:
cutlery, pens, a plate, tools), alternating, each on a table seen by the D435-like camera. For each scene and each
cloud source, ``nvs_fusion_ros.grasping.planner`` plans antipodal grasps for a parallel-jaw hand modelled on the
Franka Emika Hand (80 mm opening, 20 mm x 40 mm fingers) from that cloud alone (camera frame; the support plane
fitted on the depth, the same for every source), and ``nvs_fusion_ros.grasping.simulation`` executes its top three
distinct grasps in pybullet on the *true* mesh: approach, close, lift 10 cm, hold 2 s; a grasp succeeds when the
object is still held by both fingers off the table. A flat object's generated mesh goes through the same V-HACD
decomposition as a household one (its hulls keep the mesh's extent within 2 mm; a knife's 2.6-2.8 mm blade comes
out 0.5-1 mm thicker), made only when a cloud offers a grasp to run. ``--depth-noise`` gives the depth a D435's
noise, as ``tabletop_rgbd.py --depth-noise`` does.

The completions are the node's: ``CompletionOptions()``'s sampler, steps, K hypotheses and azimuths unless
``--sampler/--steps/--num-hypotheses/--azimuths`` say otherwise. The model samples once per scene and every mode
carves those same hypotheses; ``--cache DIR`` keeps them as ``tabletop_rgbd.py --cache`` does (the same files,
named by ``tabletop_rgbd.hypothesis_key``), so either benchmark reuses the other's samples.

Sources (``SOURCES``: name -> the cloud a planner would get):

  visible        the object's depth points after the flying-pixel filter and the segmentation (what a planner
                 has without completion: what every completion starts from);
  model, geometric, hybrid
                 one per completion mode (``rgbd.pipeline.MODES``): ``~/complete``'s cloud in that mode, visible +
                 completed points at least ``MIN_CONFIDENCE`` sure (``complete_scene``); a mode that fails to
                 complete a scene gives the visible points, as the node publishes then;
  completed_all  the node's default mode's cloud with every completed point (confidence >= 0);
  true_surface   20 000 points on the true mesh, all sides: the ceiling of any completion.

``node_default`` is the node's default mode (``CompletionOptions().mode``) at ``MIN_CONFIDENCE``: the summary names
that mode and repeats its rates under ``node_default``, rather than running the same cloud twice. Likewise two
sources of one scene with the very same cloud are planned and simulated once (the second row says
``same_cloud_as``): the planner is seeded per scene and each grasp runs in a fresh world, so the result would be
the same.

Per source: ``success_rate`` (the top grasp held), ``top3_success_rate`` (the share of the top three that
held; missing grasps count as failures), ``top3_any_rate`` (at least one of them held), objects without
any feasible grasp, why candidates were rejected and why executed grasps failed; the top-grasp rates over the
household and over the flat objects apart (``by_kind``); per object, each source's success, chosen grasps and
rejection counts. The bar: the node's default cloud >= visible + 10 points, and not
below any other completion source (the geometric modes included); the true surface is the ceiling. Objects where
the sources disagree are drawn (``grasp_success.png``). ``--split val`` runs the validation scenes; ``--results``
stores each split's summary under its name.

    .venv/bin/python benchmarks/grasp_success.py --data data/household --objects 32 --cache out/hyp --out out/grasp_test \\
        --results docs/grasp_benchmark.json
    .venv/bin/python benchmarks/grasp_success.py --data data/household --split val --objects 24 --cache out/hyp \\
        --out out/grasp_val --results docs/grasp_benchmark.json
    .venv/bin/python benchmarks/grasp_success.py --data data/household --objects 6 --no-model   # model-free sources
    # one long run over two processes (scene positions [0, 20) and [20, end) of the same scenes), then one summary:
    .venv/bin/python benchmarks/grasp_success.py --objects 32 --end 20 --cache out/hyp --out out/grasp_a &
    .venv/bin/python benchmarks/grasp_success.py --objects 32 --start 20 --cache out/hyp --out out/grasp_b
    .venv/bin/python benchmarks/grasp_success.py --merge out/grasp_a/summary.json out/grasp_b/summary.json \\
        --out out/grasp_test --results docs/grasp_benchmark.json
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tabletop_rgbd import benchmark_scenes, cached_images, hypothesis_key, scene_frame, shown_path

from nvs_fusion_ros.atomic_file import atomic_path
from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.diffusion.sampling_spec import SamplingSpec
from nvs_fusion_ros.engines.cpu import cpu_isa, cpu_model
from nvs_fusion_ros.engines.onnx_export import file_sha256
from nvs_fusion_ros.grasping.figure import grasp_figure
from nvs_fusion_ros.grasping.planner import REASONS, Gripper, Plan, PlannerConfig, plan_grasps
from nvs_fusion_ros.grasping.simulation import GraspSimulator
from nvs_fusion_ros.rgbd import pipeline
from nvs_fusion_ros.rgbd.completion import CompletionError
from nvs_fusion_ros.rgbd.pipeline import MIN_CONFIDENCE, MODES, CompletionOptions, SceneCompletion, complete_scene
from nvs_fusion_ros.rgbd.segmentation import NothingAbovePlaneError, Segmentation

if TYPE_CHECKING:
    from nvs_fusion_ros.synthesis.view_model import ViewModel

log = logging.getLogger("grasp_success")
BASELINE, DEFAULT, CEILING = "visible", "node_default", "true_surface"
NODE_MODE = CompletionOptions().mode  # the mode ~/complete publishes by default: node_default is its row
SAMPLED_MODE = "model"  # the mode whose completion is the model's hypotheses alone: sampling runs it
FIGURE_ROWS = 3


class NeedsModel(RuntimeError):
    """The source needs the completion model and the run has none (``--no-model``)."""


@dataclass
class Scene:
    """What a cloud source may read: the rendered frame, its segmentation and, on demand, each mode's completion, all
    modes carving the one set of hypotheses the model sampled (or ``--cache`` held) for this scene."""

    frame: tabletop.RGBDFrame
    prepared: pipeline.SegmentedFrame
    options: CompletionOptions
    synthesizer: ViewModel | None
    cache: Path | None
    key: str
    completions: dict[str, SceneCompletion | CompletionError] = field(default_factory=dict, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)
    sampled: bool = False  # the hypotheses were sampled in this run (not read from the cache)
    _images: np.ndarray | None = field(default=None, repr=False)

    @property
    def hypotheses_read(self) -> bool:
        return self._images is not None

    @property
    def segmentation(self) -> Segmentation:
        return self.prepared.segmentation

    def completion(self, mode: str) -> SceneCompletion:
        """The ``mode``'s completion of this frame, computed once (raises NeedsModel or CompletionError)."""
        options = dataclasses.replace(self.options, mode=mode)
        if options.needs_model and self.synthesizer is None:
            raise NeedsModel(f"the {mode} mode needs the completion model")
        if mode not in self.completions:
            try:
                images = self.hypotheses() if options.needs_model else None
                started = time.perf_counter()
                if mode not in self.completions:  # sampling completes the sampled mode on the way
                    self.completions[mode] = self._complete(options, images)
                    self.seconds[mode] = time.perf_counter() - started
            except CompletionError as exc:
                self.completions[mode] = exc
        done = self.completions[mode]
        if isinstance(done, CompletionError):
            raise done
        return done

    def hypotheses(self) -> np.ndarray:
        """The model's (K, A, S, S, 3) hypotheses: from the cache when it has them, else sampled (and stored)."""
        if self._images is None:
            def sample() -> np.ndarray:
                options = dataclasses.replace(self.options, mode=SAMPLED_MODE)
                started = time.perf_counter()
                done = self.completions[SAMPLED_MODE] = self._complete(options, None)
                self.seconds[SAMPLED_MODE] = time.perf_counter() - started  # sampling and carving
                self.sampled = True
                return done.hypotheses.images

            started = time.perf_counter()
            self._images = cached_images(self.cache, self.key, sample)
            self.seconds["hypotheses"] = time.perf_counter() - started
        return self._images

    def _complete(self, options: CompletionOptions, images: np.ndarray | None) -> SceneCompletion:
        frame = self.frame
        return complete_scene(frame.colour, frame.depth, frame.intrinsics, self.synthesizer, options, images=images,
                              prepared=self.prepared)


def _mode_cloud(mode: str) -> Callable[[Scene], np.ndarray]:
    return lambda s: s.completion(mode).cloud(MIN_CONFIDENCE)[0]


SOURCES: dict[str, Callable[[Scene], np.ndarray]] = {
    BASELINE: lambda s: s.segmentation.points,
    **{mode: _mode_cloud(mode) for mode in MODES},
    "completed_all": lambda s: s.completion(NODE_MODE).cloud(0.0)[0],
    CEILING: lambda s: s.frame.surface_points,
}


def source_cloud(scene: Scene, source: Callable[[Scene], np.ndarray]) -> tuple[np.ndarray, dict]:
    """The source's cloud and what to note about it; raises NeedsModel when the source cannot run."""
    try:
        return source(scene), {}
    except CompletionError as exc:  # the node publishes the visible points alone then
        return scene.segmentation.points, {"completion_error": str(exc)}


def cloud_key(cloud: np.ndarray) -> str:
    """Equal for the very same cloud (values, dtype and shape): the planner and the physics would repeat themselves."""
    return hashlib.sha256(np.ascontiguousarray(cloud).tobytes() + str((cloud.dtype, cloud.shape)).encode()).hexdigest()


def run_cloud(cloud: np.ndarray, scene: Scene, sim: GraspSimulator, optical_to_world: np.ndarray, config: PlannerConfig,
              gripper: Gripper) -> tuple[dict, Plan]:
    """Plan on the cloud and execute the top grasps."""
    started = time.perf_counter()
    plan = plan_grasps(cloud, scene.segmentation.plane, gripper, config)
    planned = time.perf_counter()
    outcomes = [sim.execute(optical_to_world @ grasp.pose) for grasp in plan.grasps]
    row = {"points": len(cloud), "success": bool(outcomes and outcomes[0].success),
           "top3_held": sum(o.success for o in outcomes), "candidates": plan.candidates, "feasible_top": len(plan.grasps),
           "rejected": plan.rejected, "grasps": [g.summary() | o.summary() for g, o in zip(plan.grasps, outcomes, strict=True)],
           "plan_s": round(planned - started, 2), "simulate_s": round(time.perf_counter() - planned, 2)}
    return row, plan


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
    others = {k: v["success_rate"] for k, v in sources.items() if k not in (BASELINE, DEFAULT, NODE_MODE, CEILING)}
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
    default = sources.get(NODE_MODE)
    if default is not None and not default["success"]:
        return 0
    return 1 if default is not None and not sources.get(BASELINE, {"success": True})["success"] else 2


def figure_rows(drawings: list[tuple[int, str, list]]) -> list[tuple[str, list]]:
    """Up to FIGURE_ROWS disagreeing objects: the first of each kind, then the next ones in order."""
    firsts = [next(d for d in drawings if d[0] == kind) for kind in range(3) if any(d[0] == kind for d in drawings)]
    chosen = (firsts + [d for d in drawings if all(d is not f for f in firsts)])[:FIGURE_ROWS]  # identity: rows hold arrays
    return [(name, drawn) for _, name, drawn in chosen]


def main(argv: list[str] | None = None) -> int:
    defaults = CompletionOptions()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/household"))
    parser.add_argument("--objects", type=int, default=32, help="household objects (the split's flat objects come on top)")
    parser.add_argument("--no-flat", action="store_true", help="leave out the generated thin and flat objects")
    parser.add_argument("--split", default="test", help="split to draw the scenes from (its summary is stored under it)")
    parser.add_argument("--seed", type=int, default=0, help="scenes (as tabletop_rgbd.py's), the planner's sampling, the model")
    parser.add_argument("--depth-noise", action="store_true", help="a D435's noise on the depth (as tabletop_rgbd.py's)")
    parser.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--model", type=Path, default=None, help="checkpoint (default: rgbd_completion's)")
    parser.add_argument("--no-model", action="store_true", help="skip the sources that need the completion model")
    parser.add_argument("--num-hypotheses", type=int, default=defaults.num_hypotheses, help="K (default: the node's)")
    parser.add_argument("--azimuths", type=int, default=defaults.azimuths, help="(default: the node's)")
    parser.add_argument("--sampler", default=defaults.sampling.sampler, help="(default: the node's)")
    parser.add_argument("--steps", type=int, default=defaults.sampling.steps, help="(default: the node's)")
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--start", type=int, default=0,
                        help="run from this scene position on (the scenes stay the full run's): splits a long run")
    parser.add_argument("--end", type=int, default=None, help="stop before this scene position")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping the model's hypotheses per scene (tabletop_rgbd.py --cache's files)")
    parser.add_argument("--out", type=Path, default=Path("out/grasp_success"))
    parser.add_argument("--results", type=Path, default=None, help="JSON file to store this split's summary in (under its name)")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="instead of running: merge these summary.json files of one run split with --start/--end")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.merge:
        return report(merge(args.merge), args.out, args.results)
    print(f"CPU: {cpu_model()}; ISA: {', '.join(cpu_isa()) or 'none of interest'}")
    gripper = Gripper()
    options = CompletionOptions(num_hypotheses=args.num_hypotheses, azimuths=args.azimuths,
                                sampling=SamplingSpec(args.sampler, args.steps, seed=args.seed))
    synthesizer, model_name, model_sha = None, None, None
    if not args.no_model:
        from nvs_fusion_ros.model.assets import asset_path
        from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer

        model_path = args.model or asset_path("completion")
        model_name, model_sha = shown_path(model_path), file_sha256(model_path)
        synthesizer = NovelViewSynthesizer.from_checkpoint(model_path, engine=args.engine)
    args.out.mkdir(parents=True, exist_ok=True)
    run = {"split": args.split, "seed": args.seed, "household_objects": args.objects, "flat_objects": not args.no_flat,
           "depth_noise": args.depth_noise, "start": args.start, "end": args.end, "model": model_name,
           "model_sha256": model_sha,
           "completion_options": {"node_default_mode": NODE_MODE, "sampler": args.sampler, "steps": args.steps,
                                  "num_hypotheses": args.num_hypotheses, "azimuths": args.azimuths,
                                  "max_grazing_deg": options.max_grazing_deg, "min_confidence": MIN_CONFIDENCE},
           "gripper": vars(gripper) | {"palm": list(gripper.palm)}, "planner": vars(PlannerConfig()) | {"seed": "per scene"},
           "cpu": cpu_model()}
    started = time.perf_counter()
    per_object, refused, drawings = [], [], []
    scenes = benchmark_scenes(args.data, args.objects, args.split, args.seed, not args.no_flat)
    for index, obj, setup in scenes[args.start:args.end]:
        frame = scene_frame(obj, setup, args.depth_noise, args.seed, index)
        try:
            prepared = pipeline.segment_frame(frame.colour, frame.depth, frame.intrinsics, options)
        except NothingAbovePlaneError as exc:
            refused.append({**setup, "index": index, "reason": str(exc)})
            log.info("%s: refused (%s)", setup["object"], exc)
            continue
        key = hypothesis_key(args.split, index, setup, args.depth_noise, options, model_sha, prepared.segmentation.mask)
        scene = Scene(frame, prepared, options, synthesizer, args.cache, key)
        config = PlannerConfig(seed=args.seed * 100_003 + index)
        row: dict = {**setup, "index": index, "sources": {}}
        drawn, planned = [], {}  # planned: cloud_key -> (first source with that cloud, its plan)
        with GraspSimulator(obj.world_vertices(), obj.faces, gripper) as sim:
            optical_to_world = np.linalg.inv(frame.world_to_optical)
            for name in args.sources:
                try:
                    cloud, notes = source_cloud(scene, SOURCES[name])
                except NeedsModel:  # left out of this run (--no-model)
                    continue
                same = planned.get(cloud_key(cloud))
                if same is None:
                    result, plan = run_cloud(cloud, scene, sim, optical_to_world, config, gripper)
                    planned[cloud_key(cloud)] = (name, plan)
                else:  # the same cloud as an earlier source: the same plan and outcomes, not run again
                    first, plan = same
                    result = {k: v for k, v in row["sources"][first].items()
                              if not k.endswith("_s") and k != "completion_error"} | {"same_cloud_as": first}
                row["sources"][name] = result | notes
                drawn.append((name, cloud, plan.grasps[0] if plan.grasps else None, result["success"]))
            if sim.decomposition_s is not None:  # made for the first grasp, inside that source's simulate_s
                row["decomposition_s"] = round(sim.decomposition_s, 2)
        row["completion_s"] = {k: round(v, 2) for k, v in scene.seconds.items()}
        if scene.hypotheses_read:
            row["hypotheses"] = "sampled" if scene.sampled else "cached"
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
    """The run's settings, the per-source rates (``node_default``: the default mode's, named), the bar and the
    per-object rows in one dict."""
    if not per_object:
        raise SystemExit("every object was refused; nothing to grasp")
    names = [n for n in per_object[0]["sources"] if all(n in r["sources"] for r in per_object)]
    sources = {}
    for name in names:
        sources[name] = source_summary([r["sources"][name] for r in per_object], PlannerConfig.keep)
        if name == NODE_MODE:
            sources[DEFAULT] = sources[name] | {"same_as": name}
    disagreements = paired(per_object, NODE_MODE, BASELINE) if NODE_MODE in names and BASELINE in names else {}
    return run | {"objects": len(per_object), "refused": refused, "sources": sources, "bar": bar(sources),
                  "by_kind": by_kind(per_object, names), "disagreements": disagreements, "per_object": per_object}


def by_kind(per_object: list[dict], names: list[str]) -> dict[str, dict]:
    """Each source's top-grasp success rate over the household objects and over the flat ones, apart: the flat objects
    ask another grasp of the hand (a few millimetres above the table) and would hide the household rates."""
    kinds = {"household": [r for r in per_object if not r["object"].startswith("flat/")],
             "flat": [r for r in per_object if r["object"].startswith("flat/")]}
    return {kind: {"objects": len(rows), "success_rate": {n: sum(r["sources"][n]["success"] for r in rows) / len(rows)
                                                          for n in names}}
            for kind, rows in kinds.items() if rows}


def merge(paths: list[Path]) -> dict:
    """One summary from the runs a long run was split into (``--start``/``--end``): same scenes, model and options."""
    parts = [json.loads(p.read_text()) for p in paths]
    same = ("split", "seed", "household_objects", "flat_objects", "depth_noise", "model_sha256", "completion_options",
            "gripper", "planner")
    for part, path in zip(parts[1:], paths[1:], strict=True):
        if any(part.get(k) != parts[0].get(k) for k in same):
            raise SystemExit(f"{path} was run with other settings than {paths[0]} ({', '.join(same)} must match)")
    unfinished = [str(path) for part, path in zip(parts, paths, strict=True) if part.get("finished") is False]
    if unfinished:
        log.warning("merging runs stopped before their last object: %s", ", ".join(unfinished))
    run = {k: v for k, v in parts[0].items()
           if k not in ("objects", "refused", "sources", "bar", "by_kind", "disagreements", "per_object", "finished")}
    run |= {"unfinished_parts": unfinished} if unfinished else {}
    run |= {"start": 0, "end": None, "seconds": round(sum(p["seconds"] for p in parts), 1),
            "merged_from": [str(p) for p in paths]}

    def first_of_each(key: str) -> list[dict]:  # parts may overlap where a process took over another's later scenes
        rows: dict[int, dict] = {}
        for part in parts:
            for row in part[key]:
                rows.setdefault(row["index"], row)
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
            tmp.write_text(json.dumps(stored, separators=(",", ":")))  # compact: the file ships
    print(table(summary["sources"]))
    print(json.dumps(summary["by_kind"]))
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
