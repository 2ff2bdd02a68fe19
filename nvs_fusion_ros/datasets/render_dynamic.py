"""Render dynamic objects: 24 orbit views x F frames per clip (``nvs-fusion render-dataset --dynamic``).

Two kinds of motion, each its own synset:

* **articulated** (:data:`ARTICULATED_SYNSET`): robots from pybullet_data loaded whole with
  ``loadURDF`` (every link is posed and rendered by pybullet itself) moving through smooth random
  joint trajectories: q_j(τ) = mid_j + a_j sin(2π f_j τ + φ_j), τ = frame/(F-1), inside the
  joint limits;
* **tumbling** (:data:`TUMBLING_SYNSET`): ``random_urdfs`` objects rotating about a random axis
  through their centre, from the canonical pose at frame 0 through a random total angle.

The cameras are the static renderer's (:func:`scene.orbit_cameras`, :mod:`cameras`):
the same 24 azimuths at every frame. A clip is normalised once, over its whole trajectory, so the
object stays inside the bounding sphere of radius ``OBJECT_RADIUS`` in every frame and its size
does not change between frames. Layout of a clip::

    <root>/<synset>/<clip>/frames/FFFF/image/VVVV.png   frame FFFF seen from view VVVV
    <root>/<synset>/<clip>/frames/FFFF/mask/VVVV.png
    <root>/<synset>/<clip>/cameras.npz                  as the static layout's (shared by all frames)
    <root>/<synset>/<clip>/motion.npz                   joint_positions (F, J) + joint_names, or rotations (F, 3, 3)

with ``softras_{train,val,test}.lst`` clip lists per synset and ``metadata.yaml`` naming the synsets.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet_data
from tqdm import tqdm

from .. import cameras
from . import scene
from .meshes import MeshError, bake, points
from .placement import normalisation, principal_axes_rotation
from .sources import Source, random_urdf_sources, read_object

LOG = logging.getLogger(__name__)

ARTICULATED_SYNSET = "99999997"
TUMBLING_SYNSET = "99999996"
#: Articulated models of pybullet_data that load and render with TinyRenderer (checked).
ARTICULATED_MODELS = (
    "kuka_iiwa/model.urdf",
    "franka_panda/panda.urdf",
    "xarm/xarm6_robot.urdf",
    "r2d2.urdf",
    "racecar/racecar.urdf",
    "a1/a1.urdf",
)
MAX_JOINT_SWING = math.pi / 2  # half-range cap for unlimited or very wide revolute joints


@dataclass(frozen=True)
class ClipJob:
    """One clip to render: its kind ("articulated" or "tumbling"), source, output folder and draws."""

    kind: str
    clip_id: str
    path: Path
    out_dir: Path
    frames: int
    size: int
    elevation_deg: float
    seed: int


def smooth_joint_trajectory(limits: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, J) joint positions, one random sinusoid per joint inside its (lower, upper) limits.

    Joints without valid limits (lower >= upper, e.g. continuous wheels) swing ±MAX_JOINT_SWING.
    """
    lower, upper = limits[:, 0].copy(), limits[:, 1].copy()
    unlimited = ~(lower < upper)
    lower[unlimited], upper[unlimited] = -MAX_JOINT_SWING, MAX_JOINT_SWING
    mid, half = (lower + upper) / 2.0, np.minimum((upper - lower) / 2.0, MAX_JOINT_SWING)
    amplitude = half * rng.uniform(0.4, 0.9, len(mid))
    frequency = rng.uniform(0.3, 1.0, len(mid))  # cycles per clip: slow enough to be smooth at F frames
    phase = rng.uniform(0.0, 2.0 * math.pi, len(mid))
    tau = np.linspace(0.0, 1.0, frames)[:, None]
    return mid + amplitude * np.sin(2.0 * math.pi * frequency * tau + phase)


def tumbling_rotations(frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 3, 3) rotations about one random axis, identity at frame 0, 45..120 degrees in all."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    total = rng.uniform(math.radians(45), math.radians(120))
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angles = np.linspace(0.0, total, frames)
    # Rodrigues' formula.
    return np.stack([np.eye(3) + math.sin(a) * cross + (1 - math.cos(a)) * cross @ cross for a in angles])


def _movable_joints(p, body: int, client: int) -> tuple[list[int], list[str], np.ndarray]:
    """Indices, names and (lower, upper) limits of the revolute and prismatic joints."""
    indices, names, limits = [], [], []
    for j in range(p.getNumJoints(body, physicsClientId=client)):
        info = p.getJointInfo(body, j, physicsClientId=client)
        if info[2] in (p.JOINT_REVOLUTE, p.JOINT_PRISMATIC):
            indices.append(j)
            names.append(info[1].decode())
            limits.append((info[8], info[9]))
    return indices, names, np.asarray(limits, dtype=np.float64).reshape(-1, 2)


def _set_joints(p, body: int, client: int, joints: list[int], positions: np.ndarray) -> None:
    for j, q in zip(joints, positions, strict=True):
        p.resetJointState(body, j, float(q), physicsClientId=client)


def _trajectory_bounds(p, body: int, client: int, joints: list[int], trajectory: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre and scale that fit the union of all links' boxes over all frames into the bounding sphere."""
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    for positions in trajectory:
        _set_joints(p, body, client, joints, positions)
        for link in range(-1, p.getNumJoints(body, physicsClientId=client)):
            lo, hi = p.getAABB(body, link, physicsClientId=client)
            low, high = np.minimum(low, lo), np.maximum(high, hi)
    radius = float(np.linalg.norm(high - low)) / 2.0  # the box's circumscribed sphere
    if not np.isfinite(radius) or radius < 1e-9:
        raise MeshError("zero-size bounding box")
    return (low + high) / 2.0, cameras.OBJECT_RADIUS / radius


def _articulated_frames(p, client: int, job: ClipJob, rng: np.random.Generator, workdir: Path):
    """Load the robot normalised over its whole trajectory; returns (motion record, pose(frame))."""
    body = p.loadURDF(str(job.path), useFixedBase=True, physicsClientId=client)
    joints, names, limits = _movable_joints(p, body, client)
    if not joints:
        raise MeshError(f"{job.path.name} has no movable joints")
    trajectory = smooth_joint_trajectory(limits, job.frames, rng)
    centre, scale = _trajectory_bounds(p, body, client, joints, trajectory)
    p.resetSimulation(physicsClientId=client)
    body = p.loadURDF(str(job.path), basePosition=list(-centre * scale), useFixedBase=True, globalScaling=scale,
                      physicsClientId=client)
    motion = {"joint_positions": trajectory.astype(np.float32), "joint_names": np.array(names)}
    return motion, (lambda f: _set_joints(p, body, client, joints, trajectory[f]))


def _tumbling_frames(p, client: int, job: ClipJob, rng: np.random.Generator, workdir: Path):
    """Build the normalised object as the static renderer does (``principal-axes``, baked into
    ``workdir``); returns (motion record, pose(frame))."""
    surfaces = read_object(Source(job.clip_id, job.path, "random_urdfs"), workdir / "source")
    canonical = principal_axes_rotation(points(surfaces))  # frame 0 is the static renderer's principal-axes pose
    centre, scale = normalisation(points(surfaces), canonical)
    parts = bake(surfaces, workdir / "baked")
    bodies = scene.build_scene(client, parts, centre, scale, canonical)
    rotations = tumbling_rotations(job.frames, rng)
    offset = -centre * scale  # every part's body origin, before rotation about the object centre (the origin)

    def pose(f: int) -> None:
        quaternion = scene.quaternion(rotations[f] @ canonical)
        for body in bodies:
            p.resetBasePositionAndOrientation(body, (rotations[f] @ offset).tolist(), quaternion, physicsClientId=client)

    return {"rotations": rotations.astype(np.float32)}, pose


def render_clip(job: ClipJob) -> tuple[str, str | None]:
    """Render one clip; returns ``(clip_id, error)`` instead of raising, so one bad model never aborts."""
    p = scene.pybullet()
    client = scene.worker_client()
    workdir = Path(tempfile.mkdtemp(prefix="nvs_clip_"))
    try:
        p.resetSimulation(physicsClientId=client)
        rng = np.random.default_rng([job.seed, *job.clip_id.encode()])
        frames = _articulated_frames if job.kind == "articulated" else _tumbling_frames
        motion, pose = frames(p, client, job, rng, workdir)
        cams = scene.orbit_cameras(job.size, job.elevation_deg)
        for f in range(job.frames):
            pose(f)
            views = [scene.render_view(client, cam) for cam in cams]
            if not any(mask.any() for _, mask in views):
                raise MeshError(f"nothing visible in frame {f}")
            scene.write_views(job.out_dir / "frames" / f"{f:04d}", views)
        scene.write_cameras(job.out_dir, cams)
        np.savez(job.out_dir / "motion.npz", **motion)
    except (MeshError, p.error, OSError, ValueError) as error:
        return job.clip_id, f"{type(error).__name__}: {error}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return job.clip_id, None


def lost_clip(job: ClipJob, reason: str, detail: str) -> tuple[str, str]:
    """``render_clip``'s result for a job whose worker died or hung (``scene.run_jobs``)."""
    return job.clip_id, f"{reason} ({detail})"


def articulated_jobs(out_root: Path, clips_per_model: int, **common) -> list[ClipJob]:
    """``clips_per_model`` clips (different trajectories) of every articulated model."""
    data = Path(pybullet_data.getDataPath())
    jobs = []
    for model in ARTICULATED_MODELS:
        name = Path(model).stem if Path(model).parent == Path(".") else Path(model).parent.name
        for k in range(clips_per_model):
            clip = f"{name}_{k:03d}"
            jobs.append(ClipJob("articulated", clip, data / model, out_root / ARTICULATED_SYNSET / clip, **common))
    return jobs


def tumbling_jobs(out_root: Path, limit: int | None, seed: int, **common) -> list[ClipJob]:
    """One tumbling clip per random_urdfs object, the first ``limit`` of a seeded order."""
    sources = random_urdf_sources()
    order = np.random.default_rng(seed).permutation(len(sources))[:limit]
    return [ClipJob("tumbling", sources[i].object_id, sources[i].path, out_root / TUMBLING_SYNSET / sources[i].object_id,
                    seed=seed, **common) for i in order]


def render_dynamic_dataset(
    out_root: str | Path,
    frames: int = 8,
    clips_per_model: int = 4,
    limit: int | None = None,
    size: int = 64,
    elevation_deg: float = cameras.DEFAULT_ELEVATION_DEG,
    val_count: int = 2,
    test_count: int = 4,
    seed: int = 0,
    workers: int = 1,
    kinds: tuple[str, ...] = ("articulated", "tumbling"),
) -> scene.RenderReport:
    """Render articulated clips (``clips_per_model`` per model) and tumbling clips (``limit`` objects).

    Splits are drawn per synset over the clips that rendered (``val_count`` / ``test_count`` each).
    """
    if frames < 2:
        raise ValueError(f"a clip needs at least 2 frames, got {frames}")
    unknown = set(kinds) - {"articulated", "tumbling"}
    if unknown:
        raise ValueError(f"unknown dynamic kinds {sorted(unknown)}; choose from articulated, tumbling")
    start = time.perf_counter()
    out_root = Path(out_root)
    common = dict(frames=frames, size=size, elevation_deg=elevation_deg)
    synsets = {
        "articulated": (ARTICULATED_SYNSET, lambda: articulated_jobs(out_root, clips_per_model, seed=seed, **common)),
        "tumbling": (TUMBLING_SYNSET, lambda: tumbling_jobs(out_root, limit, seed, **common)),
    }
    report = scene.RenderReport()
    for kind in kinds:
        synset, make_jobs = synsets[kind]
        jobs = make_jobs()
        rendered = []
        results = scene.run_jobs(jobs, workers, render_clip, lost_clip)
        for clip_id, error in tqdm(results, total=len(jobs), desc=kind, unit="clip"):
            if error is None:
                rendered.append(clip_id)
            else:
                LOG.warning("skipping %s clip %s: %s", kind, clip_id, error)
                report.skipped_names.append(f"{synset}/{clip_id}")
        (out_root / synset).mkdir(parents=True, exist_ok=True)
        scene.write_split_lists(out_root / synset, scene.split_objects(rendered, val_count, test_count, seed))
        scene.write_metadata(out_root, synset, f"dynamic_{kind}")
        report.rendered += len(rendered)
    report.skipped = len(report.skipped_names)
    report.skipped_names.sort()
    report.seconds = time.perf_counter() - start
    return report
