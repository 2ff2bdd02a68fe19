"""Executing a planned grasp in pybullet on the true object: approach, close, lift 10 cm, hold 2 s.

The object is its true mesh where the camera saw it (world frame, z up, table top at z = 0), made a
dynamic body from V-HACD's convex decomposition (pybullet's ``vhacd``, once per object, on its first grasp; a
single convex hull would fill a mug's opening and a bowl's hollow). The hand is :class:`planner.Gripper` built as a
floating base (palm) with two prismatic fingers: a fixed constraint drives the base along the path and
position motors close the fingers with the hand's force. Each grasp runs in a fresh world, so a result
never depends on the grasps tried before it:

1. the object settles on the table (``settle_s``);
2. the open hand appears at the pre-grasp, ``approach_distance`` back along the approach (if it
   already overlaps the object or the table the grasp fails there: the arm could not get there);
3. it moves to the grasp (a wrong plan shoves the object here, as a real arm would), closes the
   fingers, lifts ``lift_m`` straight up and holds still for ``hold_s``;
4. success: both fingers still touch the object and the object touches neither the table nor
   anything else below, having risen at least half the lift.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from .planner import Gripper


def _pybullet() -> ModuleType:
    """Imported on use: pybullet is an offline tool's dependency and prints a banner on import."""
    return importlib.import_module("pybullet")


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """V-HACD writes its progress to the C-level stdout; keep it out of the benchmark's output."""
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


@dataclass(frozen=True)
class SimulationConfig:
    """Physics and the grasp's timeline (seconds, metres, kilograms, newtons)."""

    timestep: float = 1.0 / 240.0
    object_mass: float = 0.25  # a household object of 5-12 cm radius; one mass for all, so only the geometry varies
    friction: float = 0.8  # rubber finger pads on plastic, cardboard or glazed ceramic
    table_friction: float = 0.5
    settle_s: float = 0.5
    approach_distance: float = 0.10
    approach_s: float = 1.0
    close_s: float = 1.0
    finger_speed: float = 0.1  # m/s per finger
    lift_m: float = 0.10
    lift_s: float = 1.5
    hold_s: float = 2.0
    arm_force_n: float = 200.0  # what the floating base may push with (a stiff arm)
    vhacd_resolution: int = 100_000


@dataclass
class Outcome:
    """Whether the grasp held, why not, the object's rise (m) and how far the object moved before the fingers closed."""

    success: bool
    reason: str
    lifted_m: float
    shoved_m: float

    def summary(self) -> dict[str, object]:
        return {"success": self.success, "reason": self.reason, "lifted_mm": round(self.lifted_m * 1000, 1),
                "shoved_mm": round(self.shoved_m * 1000, 1)}


class GraspSimulator:
    """One object's physics: its convex decomposition is made once, for the first grasp (an object no cloud offers a
    grasp on never pays for it: V-HACD takes up to minutes on a dish); :meth:`execute` runs a grasp in a fresh world."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, gripper: Gripper | None = None,
                 config: SimulationConfig | None = None) -> None:
        """``vertices`` (V, 3) in the world (metres, z up, standing on z = 0) and ``faces`` (F, 3)."""
        self.gripper, self.config = gripper or Gripper(), config or SimulationConfig()
        self._mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces), process=True)
        self.centre_of_mass = self._mesh.center_mass if self._mesh.is_volume else self._mesh.centroid
        self._dir = tempfile.TemporaryDirectory(prefix="grasp_sim_")
        self.decomposed = Path(self._dir.name) / "object_vhacd.obj"
        self.decomposition_s: float | None = None  # how long V-HACD took; None until a grasp needed it

    def _decompose(self) -> None:
        started = time.perf_counter()
        source = Path(self._dir.name) / "object.obj"
        self._mesh.export(source)
        p = _pybullet()
        client = p.connect(p.DIRECT)
        try:
            with _quiet_stdout():
                p.vhacd(str(source), str(self.decomposed), str(Path(self._dir.name) / "vhacd.log"),
                        resolution=self.config.vhacd_resolution, physicsClientId=client)
        finally:
            p.disconnect(client)
        if not self.decomposed.is_file():
            raise RuntimeError(f"V-HACD made no decomposition of the object ({len(self._mesh.faces)} faces)")
        self.decomposition_s = time.perf_counter() - started

    def close(self) -> None:
        self._dir.cleanup()

    def __enter__(self) -> GraspSimulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def execute(self, pose: np.ndarray) -> Outcome:
        """Run the grasp whose gripper frame is ``pose`` (4x4, world) and judge it (module docstring)."""
        if self.decomposition_s is None:
            self._decompose()
        p, cfg = _pybullet(), self.config
        client = p.connect(p.DIRECT)
        try:
            return _World(p, client, self, cfg).run(pose)
        finally:
            p.disconnect(client)


class _World:
    """One grasp's pybullet world: the table, the object and the hand."""

    def __init__(self, p: ModuleType, client: int, sim: GraspSimulator, cfg: SimulationConfig) -> None:
        self.p, self.client, self.cfg, self.gripper = p, client, cfg, sim.gripper
        kw = {"physicsClientId": client}
        p.setGravity(0, 0, -9.81, **kw)
        p.setTimeStep(cfg.timestep, **kw)
        table = p.createCollisionShape(p.GEOM_BOX, halfExtents=[0.8, 0.8, 0.01], **kw)
        self.table = p.createMultiBody(0, table, basePosition=[0, 0, -0.01], **kw)
        p.changeDynamics(self.table, -1, lateralFriction=cfg.table_friction, **kw)
        shape = p.createCollisionShape(p.GEOM_MESH, fileName=str(sim.decomposed), **kw)
        self.object = p.createMultiBody(cfg.object_mass, shape, baseInertialFramePosition=list(sim.centre_of_mass), **kw)
        p.changeDynamics(self.object, -1, lateralFriction=cfg.friction, **kw)

    def step(self, seconds: float, each: object = None) -> None:
        steps = max(1, round(seconds / self.cfg.timestep))
        for i in range(steps):
            if callable(each):
                each((i + 1) / steps)
            self.p.stepSimulation(physicsClientId=self.client)

    def object_position(self) -> np.ndarray:
        return np.array(self.p.getBasePositionAndOrientation(self.object, physicsClientId=self.client)[0])

    def touching(self, body_a: int, body_b: int, link_a: int | None = None) -> bool:
        link = {} if link_a is None else {"linkIndexA": link_a}
        return len(self.p.getContactPoints(body_a, body_b, physicsClientId=self.client, **link)) > 0

    def make_hand(self, position: np.ndarray, quaternion: np.ndarray) -> None:
        """Palm as the floating base (its frame is the gripper frame), one prismatic joint per finger."""
        p, g, kw = self.p, self.gripper, {"physicsClientId": self.client}
        z0, z1 = g.finger_z()
        p0, p1 = g.palm_z()
        palm = p.createCollisionShape(p.GEOM_BOX, halfExtents=[g.palm[0] / 2, g.palm[1] / 2, g.palm[2] / 2],
                                      collisionFramePosition=[0, 0, (p0 + p1) / 2], **kw)
        finger = p.createCollisionShape(p.GEOM_BOX, halfExtents=[g.finger_thickness / 2, g.finger_width / 2, g.finger_length / 2],
                                        **kw)
        x = g.max_opening / 2 + g.finger_thickness / 2
        self.hand = p.createMultiBody(
            0.5, palm, basePosition=list(position), baseOrientation=list(quaternion),
            linkMasses=[0.05, 0.05], linkCollisionShapeIndices=[finger, finger], linkVisualShapeIndices=[-1, -1],
            linkPositions=[[x, 0, (z0 + z1) / 2], [-x, 0, (z0 + z1) / 2]], linkOrientations=[[0, 0, 0, 1]] * 2,
            linkInertialFramePositions=[[0, 0, 0]] * 2, linkInertialFrameOrientations=[[0, 0, 0, 1]] * 2,
            linkParentIndices=[0, 0], linkJointTypes=[p.JOINT_PRISMATIC] * 2, linkJointAxis=[[-1, 0, 0], [1, 0, 0]], **kw)
        for link in (-1, 0, 1):
            p.changeDynamics(self.hand, link, lateralFriction=self.cfg.friction, **kw)
        self.arm = p.createConstraint(self.hand, -1, -1, -1, p.JOINT_FIXED, [0, 0, 0], [0, 0, 0], list(position),
                                      childFrameOrientation=list(quaternion), **kw)
        self.move(position, quaternion)
        self.fingers(0.0)

    def move(self, position: np.ndarray, quaternion: np.ndarray) -> None:
        self.p.changeConstraint(self.arm, list(position), jointChildFrameOrientation=list(quaternion),
                                maxForce=self.cfg.arm_force_n, physicsClientId=self.client)

    def fingers(self, travel: float) -> None:
        """Each finger's target travel from fully open towards the centre (m)."""
        for link in (0, 1):
            self.p.setJointMotorControl2(self.hand, link, self.p.POSITION_CONTROL, targetPosition=travel,
                                         force=self.gripper.force_n, maxVelocity=self.cfg.finger_speed,
                                         physicsClientId=self.client)

    def run(self, pose: np.ndarray) -> Outcome:
        cfg, p = self.cfg, self.p
        self.step(cfg.settle_s)
        start = self.object_position()
        quaternion = Rotation.from_matrix(pose[:3, :3]).as_quat()
        grasp = pose[:3, 3]
        pre = grasp - cfg.approach_distance * pose[:3, 2]
        self.make_hand(pre, quaternion)
        for body, what in ((self.object, "the object"), (self.table, "the table")):
            if p.getClosestPoints(self.hand, body, 0.0, physicsClientId=self.client):
                return Outcome(False, f"the pre-grasp pose overlaps {what}", 0.0, 0.0)
        self.step(cfg.approach_s, lambda f: self.move(pre + f * (grasp - pre), quaternion))
        self.fingers(self.gripper.max_opening / 2)
        self.step(cfg.close_s)
        shoved = float(np.linalg.norm(self.object_position() - start))
        lifted = grasp + np.array([0.0, 0.0, cfg.lift_m])
        self.step(cfg.lift_s, lambda f: self.move(grasp + f * (lifted - grasp), quaternion))
        self.step(cfg.hold_s)
        rise = float(self.object_position()[2] - start[2])
        held_by = [self.touching(self.hand, self.object, finger) for finger in (0, 1)]
        both = all(held_by)
        if both and not self.touching(self.object, self.table) and rise >= cfg.lift_m / 2:
            return Outcome(True, "held", rise, shoved)
        if not any(held_by):
            reason = "dropped" if rise > 0.01 or shoved < 0.01 else "knocked away"
        else:
            reason = "slipped (one finger)" if not both else "not lifted"
        return Outcome(False, reason, rise, shoved)
