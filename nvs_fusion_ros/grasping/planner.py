"""An antipodal grasp planner for a parallel-jaw hand that sees only a point cloud (camera frame, metres).

The same planner runs on every cloud a benchmark compares, so only the cloud decides the grasp:

1. **Normals**: the cloud is voxel-downsampled and Open3D fits a normal to each point's neighbourhood.
   Their signs are not used: a partial or carved cloud has no reliable inside, and the collision
   checks below already refuse a grasp from inside the object.
2. **Antipodal pairs**: from seeded sample points, every partner within the hand's opening whose
   connecting line lies inside both points' friction cones (half-angle ``atan(friction)``) forms a
   pair; a seed keeps its ``pairs_per_seed`` best-aligned partners.
3. **Candidates**: each pair is the closing axis of ``approaches`` grasps, the approach direction
   turned about that axis in equal steps; the grasp centre is the pair's midpoint.
4. **Rejection**, first reason wins: ``table`` (the hand at the grasp or at the pre-grasp
   ``approach_distance`` back would reach below the support plane, both with the contacts at the pads'
   middle and as a **fingertip grasp**, the hand drawn back until the contacts lie ``Gripper.min_tip_past``
   from the fingertips: how a hand picks up a hammer or a plate lying on the table); ``closed gripper`` (a
   point lies in the palm, or where a finger sweeps while closing from fully open to the contacts: the
   finger would hit it before the contacts); ``approach path`` (a point lies in the volume the open hand
   sweeps from the pre-grasp to the grasp).
5. **Ranking**: alignment (the smaller |cos| between the closing axis and the two normals) minus
   ``centre_weight`` × the centre's distance from the cloud's centroid in units of the opening (a grasp
   near the middle of what the cloud shows holds with less torque) plus ``from_above_weight`` × how much
   the approach points down the table's normal (the turns of one axis tie otherwise; from above keeps the
   arm off the table); the ``keep`` best distinct grasps (centres 1 cm or orientations 30° apart) are returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree

from ..rgbd.segmentation import Plane

REASONS = ("no antipodal partner", "table", "closed gripper", "approach path")


@dataclass(frozen=True)
class Gripper:
    """A parallel-jaw hand modelled on the Franka Emika Hand: 80 mm stroke, 70 N continuous grip force; each finger
    a 20 mm wide x 40 mm long x 10 mm thick box; a 200 x 60 x 50 mm palm. Lengths in metres.

    Gripper frame: origin at the grasp centre (midway between the contacts), x the closing axis, z the approach
    (palm towards fingertips), y = z × x across the finger pads; the fingertips reach ``tip_past`` beyond the centre,
    and at least ``min_tip_past`` in a fingertip grasp (the hand drawn back along its approach).
    """

    max_opening: float = 0.08
    finger_width: float = 0.02
    finger_length: float = 0.04
    finger_thickness: float = 0.01
    palm: tuple[float, float, float] = (0.20, 0.06, 0.05)
    tip_past: float = 0.015
    min_tip_past: float = 0.004
    force_n: float = 70.0

    def finger_z(self) -> tuple[float, float]:
        return self.tip_past - self.finger_length, self.tip_past

    def palm_z(self) -> tuple[float, float]:
        base = self.tip_past - self.finger_length
        return base - self.palm[2], base

    def boxes(self, opening: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """(low, high) corners in the gripper frame of the two fingers ``opening`` apart and of the palm."""
        z0, z1 = self.finger_z()
        half_w, t = self.finger_width / 2, self.finger_thickness
        p0, p1 = self.palm_z()
        return [(np.array([opening / 2, -half_w, z0]), np.array([opening / 2 + t, half_w, z1])),
                (np.array([-opening / 2 - t, -half_w, z0]), np.array([-opening / 2, half_w, z1])),
                (np.array([-self.palm[0] / 2, -self.palm[1] / 2, p0]), np.array([self.palm[0] / 2, self.palm[1] / 2, p1]))]


@dataclass(frozen=True)
class PlannerConfig:
    """Sampling and tolerances; lengths in metres."""

    friction: float = 0.5  # friction cone half-angle atan(0.5) = 26.6°: below rubber-on-plastic, as planners assume
    voxel: float = 0.004  # the cloud the pairs and normals come from
    collision_voxel: float = 0.006  # the cloud the hand is checked against: thinner than the 14 mm finger with clearance
    normal_radius: float = 0.012
    seeds: int = 300
    pairs_per_seed: int = 2
    approaches: int = 12
    approach_distance: float = 0.10
    clearance: float = 0.002  # the hand's boxes grown by this in the collision checks
    contact_tolerance: float = 0.003  # points this far beyond a contact still count as that contact
    table_clearance: float = 0.005
    min_width: float = 0.004
    centre_weight: float = 0.25
    from_above_weight: float = 0.05
    keep: int = 3
    seed: int = 0


@dataclass
class Grasp:
    """``pose`` (4x4) maps the gripper frame to the camera frame; ``width`` is the contacts' distance (m)."""

    pose: np.ndarray
    width: float
    alignment: float
    score: float

    def summary(self) -> dict[str, object]:
        """What a results file keeps: centre (mm), closing axis and approach (unit, camera frame), width, scores."""
        return {"centre_mm": [round(float(v) * 1000, 1) for v in self.pose[:3, 3]],
                "closing_axis": [round(float(v), 3) for v in self.pose[:3, 0]],
                "approach": [round(float(v), 3) for v in self.pose[:3, 2]],
                "width_mm": round(self.width * 1000, 1), "alignment": round(self.alignment, 3), "score": round(self.score, 3)}


@dataclass
class Plan:
    """The distinct feasible grasps, best first, and how many candidates each reason rejected (``no antipodal partner``
    counts sampled points that found no partner, the others count candidate grasps)."""

    grasps: list[Grasp]
    candidates: int
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))


def estimate_normals(cloud: np.ndarray, config: PlannerConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The voxel-downsampled cloud (N, 3) with a unit normal line per point (Open3D, sign arbitrary), and the coarser
    cloud the collision checks use."""
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.astype(np.float64)))
    coarse = np.asarray(pcd.voxel_down_sample(config.collision_voxel).points)
    pcd = pcd.voxel_down_sample(config.voxel)
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=config.normal_radius, max_nn=30))
    return np.asarray(pcd.points), np.asarray(pcd.normals), coarse


def antipodal_pairs(points: np.ndarray, normals: np.ndarray, max_width: float, config: PlannerConfig,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Index pairs (M, 2) and their alignment (M,); and how many seeds found no partner."""
    cos_cone = math.cos(math.atan(config.friction))
    seeds = np.sort(rng.choice(len(points), min(len(points), config.seeds), replace=False))
    tree = cKDTree(points)
    found: dict[tuple[int, int], float] = {}
    lonely = 0
    for i, neighbours in zip(seeds, tree.query_ball_point(points[seeds], max_width), strict=True):
        j = np.asarray(neighbours, int)
        offset = points[j] - points[i]
        dist = np.linalg.norm(offset, axis=1)
        j, offset, dist = j[dist >= config.min_width], offset[dist >= config.min_width], dist[dist >= config.min_width]
        axis = offset / dist[:, None] if len(j) else offset
        alignment = np.minimum(np.abs(axis @ normals[i]), np.abs((axis * normals[j]).sum(axis=1)))
        good = np.flatnonzero(alignment >= cos_cone)
        if not len(good):
            lonely += 1
            continue
        for k in good[np.argsort(-alignment[good], kind="stable")[: config.pairs_per_seed]]:
            found.setdefault((min(int(i), int(j[k])), max(int(i), int(j[k]))), float(alignment[k]))
    if not found:
        return np.zeros((0, 2), int), np.zeros(0), lonely
    keys = sorted(found)
    return np.array(keys, int), np.array([found[k] for k in keys]), lonely


def approach_frames(axis: np.ndarray, count: int) -> np.ndarray:
    """(count, 3, 3) rotations whose columns are (closing axis, y, approach), the approach turned about the axis."""
    helper = np.eye(3)[int(np.argmin(np.abs(axis)))]
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    angles = 2 * np.pi * np.arange(count) / count
    z = np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2
    y = np.cross(z, axis)
    return np.stack([np.broadcast_to(axis, z.shape), y, z], axis=-1)


def box_corners(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(8, 3): corner m takes ``high`` on the axes whose bit is set in m (so corners differing in one bit share an edge)."""
    bits = (np.arange(8)[:, None] >> np.arange(3)) & 1
    return np.where(bits.astype(bool), high, low)


def _inside(local: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """(K,) True where any of the (K, N, 3) points lies in the box [low, high]."""
    return ((local >= low) & (local <= high)).all(axis=-1).any(axis=-1)


def _collisions(local: np.ndarray, width: float, gripper: Gripper, config: PlannerConfig) -> tuple[np.ndarray, np.ndarray]:
    """(closed gripper, approach path) per frame, for points ``local`` (K, N, 3) in each candidate's gripper frame."""
    c, t, w_open = config.clearance, gripper.finger_thickness, gripper.max_opening
    half_w = gripper.finger_width / 2 + c
    z0, z1 = gripper.finger_z()
    p0, p1 = gripper.palm_z()
    palm = np.array(gripper.palm[:2]) / 2 + c
    back = config.approach_distance
    x, rest = np.abs(local[..., :1]), local[..., 1:]
    folded = np.concatenate([x, rest], axis=-1)  # both fingers at once: the hand is symmetric in x
    closing = _inside(folded, np.array([width / 2 + config.contact_tolerance, -half_w, z0 - c]),
                      np.array([w_open / 2 + t + c, half_w, z1 + c]))
    palm_now = _inside(local, np.array([-palm[0], -palm[1], p0 - c]), np.array([palm[0], palm[1], p1 + c]))
    fingers_path = _inside(folded, np.array([w_open / 2 - c, -half_w, z0 - back - c]),
                           np.array([w_open / 2 + t + c, half_w, z1 + c]))
    palm_path = _inside(local, np.array([-palm[0], -palm[1], p0 - back - c]), np.array([palm[0], palm[1], p1 + c]))
    return closing | palm_now, fingers_path | palm_path


def _below_table(frames: np.ndarray, origins: np.ndarray, plane: Plane, gripper: Gripper,
                 config: PlannerConfig) -> np.ndarray:
    """(K,) True where a corner of the open hand with its frame at ``origins`` (K, 3), at the grasp or at the
    pre-grasp, is below the table's clearance."""
    corners = np.concatenate([box_corners(low, high) + np.array([0.0, 0.0, shift])
                              for low, high in gripper.boxes(gripper.max_opening) for shift in (0.0, -config.approach_distance)])
    world = origins[:, None, :] + np.einsum("kij,cj->kci", frames, corners)
    return plane.height(world).min(axis=1) < config.table_clearance


def hand_origins(frames: np.ndarray, centre: np.ndarray, plane: Plane, gripper: Gripper,
                 config: PlannerConfig) -> tuple[np.ndarray, np.ndarray]:
    """Where each candidate's hand frame goes (K, 3) and which candidates the table refuses (K,): at the contacts'
    centre when the hand clears the table there, else drawn back along the approach into a fingertip grasp."""
    origins = np.repeat(centre[None], len(frames), axis=0)
    table = _below_table(frames, origins, plane, gripper, config)
    if table.any():
        drawn_back = origins[table] - (gripper.tip_past - gripper.min_tip_past) * frames[table][:, :, 2]
        still = _below_table(frames[table], drawn_back, plane, gripper, config)
        origins[np.flatnonzero(table)[~still]] = drawn_back[~still]
        table[np.flatnonzero(table)[~still]] = False
    return origins, table


def plan_grasps(cloud: np.ndarray, plane: Plane, gripper: Gripper | None = None, config: PlannerConfig | None = None) -> Plan:
    """The ``keep`` best distinct feasible grasps on ``cloud`` (N, 3) above ``plane``, and the rejection counts."""
    gripper, config = gripper or Gripper(), config or PlannerConfig()
    cloud = cloud[np.isfinite(cloud).all(axis=1)]
    plan = Plan(grasps=[], candidates=0)
    if len(cloud) < 10:
        plan.rejected["no antipodal partner"] = len(cloud)
        return plan
    points, normals, obstacles = estimate_normals(cloud, config)
    rng = np.random.default_rng(config.seed)
    max_width = gripper.max_opening - 2 * (config.clearance + config.contact_tolerance)
    pairs, alignments, lonely = antipodal_pairs(points, normals, max_width, config, rng)
    plan.rejected["no antipodal partner"] = lonely
    centroid = points.mean(axis=0)
    feasible: list[Grasp] = []
    for (i, j), alignment in zip(pairs, alignments, strict=True):
        axis = points[j] - points[i]
        width = float(np.linalg.norm(axis))
        centre = (points[i] + points[j]) / 2
        frames = approach_frames(axis / width, config.approaches)
        plan.candidates += len(frames)
        origins, table = hand_origins(frames, centre, plane, gripper, config)
        closed, path = np.zeros(len(frames), bool), np.zeros(len(frames), bool)
        if not table.all():  # the table check is cheap: the cloud is checked only where the table leaves room
            local = np.matmul(obstacles[None] - origins[~table][:, None], frames[~table])  # (K, N, 3) in each frame
            closed[~table], path[~table] = _collisions(local, width, gripper, config)
        plan.rejected["table"] += int(table.sum())
        plan.rejected["closed gripper"] += int((~table & closed).sum())
        plan.rejected["approach path"] += int((~table & ~closed & path).sum())
        score = alignment - config.centre_weight * float(np.linalg.norm(centre - centroid)) / gripper.max_opening
        from_above = np.clip(-(frames[:, :, 2] @ plane.normal), 0.0, 1.0)
        for k in np.flatnonzero(~table & ~closed & ~path):
            pose = np.eye(4)
            pose[:3, :3], pose[:3, 3] = frames[k], origins[k]
            feasible.append(Grasp(pose=pose, width=width, alignment=float(alignment),
                                  score=float(score + config.from_above_weight * from_above[k])))
    feasible.sort(key=lambda g: -g.score)  # stable: ties keep the seeded sampling order
    for grasp in feasible:
        if len(plan.grasps) == config.keep:
            break
        if all(distinct(grasp, kept) for kept in plan.grasps):
            plan.grasps.append(grasp)
    return plan


def distinct(a: Grasp, b: Grasp, distance: float = 0.01, angle_deg: float = 30.0) -> bool:
    """Centres more than ``distance`` apart or orientations more than ``angle_deg`` apart (a hand turned 180° about
    its approach is the same grasp)."""
    if np.linalg.norm(a.pose[:3, 3] - b.pose[:3, 3]) > distance:
        return True
    cos_limit = math.cos(math.radians(angle_deg))
    for flip in (np.eye(3), np.diag([-1.0, -1.0, 1.0])):
        relative = a.pose[:3, :3].T @ b.pose[:3, :3] @ flip
        if (np.trace(relative) - 1) / 2 >= cos_limit:
            return False
    return True
