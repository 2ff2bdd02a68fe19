"""The antipodal planner on real clouds of a rendered box, its grasps in pybullet, and benchmarks/grasp_success.py end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nvs_fusion_ros.datasets import tabletop
from nvs_fusion_ros.grasping.planner import Gripper, PlannerConfig, box_corners, distinct, plan_grasps
from nvs_fusion_ros.grasping.simulation import GraspSimulator
from nvs_fusion_ros.rgbd import flat_objects, segmentation
from nvs_fusion_ros.rgbd.depth import remove_flying_pixels

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "grasp_success.py"
BOX = (0.05, 0.07, 0.14)  # graspable across its 5 cm and its 7 cm side, not along its 14 cm height


@pytest.fixture(scope="module")
def box_scene() -> tuple[tabletop.TabletopObject, tabletop.RGBDFrame, segmentation.Segmentation]:
    vertices, faces = tabletop.box_mesh(BOX)
    obj = tabletop.TabletopObject(vertices, faces, 0.5 * math.hypot(*BOX), math.radians(30))
    frame = tabletop.render(obj, tabletop.TabletopCamera(0.7, math.radians(40)))
    seg = segmentation.segment_object(frame.colour, remove_flying_pixels(frame.depth, frame.intrinsics), frame.intrinsics)
    return obj, frame, seg


@pytest.mark.slow
def test_grasps_on_the_true_box_close_across_a_side_the_hand_spans_and_stay_above_the_table(box_scene) -> None:
    _, frame, seg = box_scene
    plan = plan_grasps(frame.surface_points, seg.plane)
    assert len(plan.grasps) == PlannerConfig.keep
    gripper = Gripper()
    for grasp in plan.grasps:
        assert min(abs(grasp.width - BOX[0]), abs(grasp.width - BOX[1])) < 0.004, grasp.width
        assert grasp.alignment > 0.95
        corners = np.concatenate([box_corners(lo, hi) for lo, hi in gripper.boxes(gripper.max_opening)])
        assert seg.plane.height(corners @ grasp.pose[:3, :3].T + grasp.pose[:3, 3]).min() >= PlannerConfig.table_clearance
    assert plan.rejected["table"] > 0 and plan.rejected["closed gripper"] > 0  # both checks were exercised


def test_the_visible_side_of_a_box_offers_no_antipodal_pair(box_scene) -> None:
    _, _, seg = box_scene  # the camera sees two adjacent sides and the top: no two faces oppose each other
    plan = plan_grasps(seg.points, seg.plane)
    assert plan.grasps == [] and plan.candidates == 0
    assert plan.rejected["no antipodal partner"] == PlannerConfig.seeds


@pytest.mark.slow
def test_points_in_the_hands_path_reject_the_grasp_that_would_hit_them(box_scene) -> None:
    _, frame, seg = box_scene
    first = plan_grasps(frame.surface_points, seg.plane).grasps[0]
    palm_centre = first.pose[:3, :3] @ np.array([0.0, 0.0, np.mean(Gripper().palm_z())]) + first.pose[:3, 3]
    blocker = palm_centre + np.random.default_rng(0).normal(0.0, 0.003, (200, 3))
    again = plan_grasps(np.concatenate([frame.surface_points, blocker]), seg.plane)
    assert again.grasps and all(distinct(g, first) for g in again.grasps)  # nothing within 1 cm and 30° of it is left


@pytest.mark.slow
def test_a_planned_grasp_lifts_the_box_and_the_same_grasp_beside_it_lifts_nothing(box_scene) -> None:
    obj, frame, seg = box_scene
    grasp = plan_grasps(frame.surface_points, seg.plane).grasps[0]
    to_world = np.linalg.inv(frame.world_to_optical) @ grasp.pose
    beside = to_world.copy()
    beside[:3, 3] += to_world[:3, 1] * 0.25  # 25 cm across the finger pads: in the air next to the box
    with GraspSimulator(obj.world_vertices(), obj.faces) as sim:
        held, missed = sim.execute(to_world), sim.execute(beside)
    assert held.success and held.reason == "held" and held.lifted_m > 0.09, held
    assert not missed.success and missed.lifted_m < 0.01, missed


@pytest.mark.slow
def test_a_hammer_lying_on_the_table_is_picked_up_with_the_fingertips() -> None:
    """Its handle stands lower than the pads' middle may go without the fingers touching the table: with the
    contacts at the pads' middle every candidate is refused; drawn back into a fingertip grasp the hand lifts it."""
    hammer = next(thing for thing in flat_objects.split_objects("test") if thing.name == "hammer")
    obj = tabletop.TabletopObject(hammer.vertices, hammer.faces, hammer.radius_m, math.radians(20), hammer.rgba)
    frame = tabletop.render(obj, tabletop.TabletopCamera(0.6, math.radians(45)))
    seg = segmentation.segment_object(frame.colour, remove_flying_pixels(frame.depth, frame.intrinsics), frame.intrinsics)
    pads_only = Gripper(min_tip_past=Gripper.tip_past)
    assert plan_grasps(frame.surface_points, seg.plane, pads_only).grasps == []
    plan = plan_grasps(frame.surface_points, seg.plane)
    assert plan.grasps
    with GraspSimulator(obj.world_vertices(), obj.faces) as sim:
        outcomes = [sim.execute(np.linalg.inv(frame.world_to_optical) @ g.pose) for g in plan.grasps]
    assert any(o.success for o in outcomes), outcomes


def dataset(root: Path, boxes: dict[str, tuple[float, float, float]]) -> Path:
    category = root / "data" / "boxes"
    for name, size in boxes.items():
        (category / name).mkdir(parents=True)
        vertices, faces = tabletop.box_mesh(size)
        np.savez(category / name / "mesh_normalized.npz", vertices=vertices, faces=faces)
    (category / "softras_test.lst").write_text("\n".join(boxes) + "\n")
    return root / "data"


def run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_the_benchmark_runs_a_household_and_a_flat_object_end_to_end_without_a_model(tmp_path: Path) -> None:
    data = dataset(tmp_path, {"tall": (0.04, 0.06, 0.20), "slab": (0.30, 0.30, 0.03)})
    results = tmp_path / "results.json"
    # the first two scenes of the test scenes with two household objects: a household object, then the first flat one
    common = ["--data", str(data), "--objects", "2", "--no-model"]
    done = run([*common, "--end", "2", "--out", str(tmp_path / "out"), "--results", str(results)])
    stored = json.loads(results.read_text())["test"]
    assert stored["objects"] == 2 and set(stored["sources"]) == {"visible", "geometric", "true_surface"}  # no model needed
    assert [r["object"] for r in stored["per_object"]] == ["boxes/tall", "flat/fork"]
    rows = {r["object"]: r["sources"] for r in stored["per_object"]}
    assert rows["boxes/tall"]["true_surface"]["success"] and rows["boxes/tall"]["true_surface"]["grasps"][0]["reason"] == "held"
    fork = rows["flat/fork"]["true_surface"]  # 2-4 mm thin: the fingertips would reach into the table around it
    assert not fork["grasps"] and fork["rejected"]["table"] > 0 and fork["candidates"] == fork["rejected"]["table"]
    decomposed = {r["object"]: "decomposition_s" in r for r in stored["per_object"]}
    assert decomposed == {"boxes/tall": True, "flat/fork": False}  # V-HACD only where a cloud offered a grasp to run
    ceiling = stored["sources"]["true_surface"]
    assert ceiling["success_rate"] == 0.5 and ceiling["no_feasible_grasp"] == 1
    assert stored["bar"]["evaluated"] is False
    kinds = stored["by_kind"]  # the household and the flat objects' rates apart
    assert {k: v["objects"] for k, v in kinds.items()} == {"household": 1, "flat": 1}
    assert kinds["household"]["success_rate"]["true_surface"] == 1.0 and kinds["flat"]["success_rate"]["true_surface"] == 0.0
    assert "| true_surface | 2 | 50.0 % |" in done.stdout
    # the same run split over two processes and merged gives the same scenes, grasps and outcomes
    run([*common, "--end", "1", "--out", str(tmp_path / "a")])
    run([*common, "--start", "1", "--end", "2", "--out", str(tmp_path / "b")])
    run(["--merge", *(str(tmp_path / d / "summary.json") for d in "ab"), "--out", str(tmp_path / "merged")])
    merged = json.loads((tmp_path / "merged" / "summary.json").read_text())

    def outcomes(summary: dict) -> list[dict]:  # timings aside
        return [{k: v for k, v in r["sources"][s].items() if not k.endswith("_s")} | {"yaw": r["yaw_deg"]}
                for r in summary["per_object"] for s in r["sources"]]

    assert merged["objects"] == 2 and outcomes(merged) == outcomes(stored) and merged["sources"] == stored["sources"]
    # with --no-flat the same two household objects are the scenes, drawn as in the tabletop benchmark
    run([*common, "--no-flat", "--out", str(tmp_path / "household")])
    household = json.loads((tmp_path / "household" / "summary.json").read_text())
    assert [r["object"] for r in household["per_object"]] == ["boxes/tall", "boxes/slab"]


@pytest.mark.slow
def test_the_benchmark_runs_every_mode_from_one_sampling_and_shares_the_hypotheses_cache(tmp_path: Path,
                                                                                          tiny_checkpoint: Path) -> None:
    data = dataset(tmp_path, {"tall": (0.04, 0.06, 0.20)})
    cache = tmp_path / "hyp"
    common = ["--data", str(data), "--objects", "1", "--no-flat", "--model", str(tiny_checkpoint), "--engine", "torch",
              "--num-hypotheses", "2", "--azimuths", "3", "--steps", "2", "--cache", str(cache)]
    run([*common, "--out", str(tmp_path / "out")])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert list(summary["sources"]) == ["visible", "model", "geometric", "hybrid", "node_default", "completed_all",
                                        "true_surface"]
    assert summary["sources"]["node_default"] == summary["sources"]["hybrid"] | {"same_as": "hybrid"}
    row = summary["per_object"][0]["sources"]
    assert row["visible"]["points"] <= row["hybrid"]["points"] <= row["completed_all"]["points"]
    assert row["visible"]["points"] <= row["model"]["points"]
    assert row["visible"]["points"] <= row["geometric"]["points"]  # the shapes add to what the camera sees
    assert summary["bar"]["evaluated"] and set(summary["bar"]["other_completions"]) == {"geometric", "model", "completed_all"}
    # one sampling, stored under the tabletop benchmark's name for this scene and these options
    (stored,) = cache.glob("*.npy")
    assert stored.name.startswith("test_000_boxes_tall_clean_K2A3S2_dpmpp2m_") and np.load(stored).shape[0] == 2
    assert summary["per_object"][0]["hypotheses"] == "sampled"
    # a rerun reads those hypotheses: the same clouds, grasps and outcomes without sampling
    run([*common, "--out", str(tmp_path / "again")])
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["per_object"][0]["hypotheses"] == "cached"

    def outcomes(sources: dict) -> dict:  # timings aside
        return {name: {k: v for k, v in r.items() if not k.endswith("_s")} for name, r in sources.items()}

    assert outcomes(again["per_object"][0]["sources"]) == outcomes(row)
