"""The pybullet scene shared by the static and the dynamic renderer: bodies, views, files, splits.

Both renderers (:mod:`render_dataset`, :mod:`render_dynamic`) import from here, so neither imports
the other's internals. Views are rendered with TinyRenderer at SUPERSAMPLING x the size and
area-downsampled, because TinyRenderer does not anti-alias and jagged silhouettes would be a cue
the model should not learn.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import math
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import yaml

from nvs_fusion_ros import cameras

from .meshes import MeshError, MeshPart

LOG = logging.getLogger(__name__)

SUPERSAMPLING = 2
#: Objects one worker process renders before it is replaced: pybullet crashes after several
#: hundred textured loads in one process, so workers never live that long.
TASKS_PER_WORKER = 40
#: Seconds one object or clip may take in a pool worker before it is skipped (a large textured mesh
#: renders in well under a minute here; a hung one would otherwise stall the whole run).
JOB_TIMEOUT_S = 600.0


def pybullet() -> ModuleType:
    """pybullet prints a banner on stdout when imported, so it is imported only when rendering
    (``nvs-fusion`` registers the render subcommand on every call, and other subcommands print JSON)."""
    return importlib.import_module("pybullet")


@dataclass(frozen=True)
class Lighting:
    """TinyRenderer's light: a direction relative to the head light, and its coefficients."""

    offset: tuple[float, float, float] = (0.0, 0.0, 0.7)  # added to the unit eye direction
    ambient: float = 0.6
    diffuse: float = 0.35
    specular: float = 0.05

    @classmethod
    def random(cls, rng: np.random.Generator) -> Lighting:
        """Mild variation around the default: light from above and around the camera."""
        return cls(
            offset=(float(rng.uniform(-0.4, 0.4)), float(rng.uniform(-0.4, 0.4)), float(rng.uniform(0.4, 1.0))),
            ambient=float(rng.uniform(0.5, 0.7)),
            diffuse=float(rng.uniform(0.25, 0.45)),
            specular=float(rng.uniform(0.0, 0.1)),
        )


@dataclass
class RenderReport:
    """What a render did; skipped objects are named (and counted by reason) so they can be inspected."""

    rendered: int = 0
    skipped: int = 0
    skipped_names: list[str] = field(default_factory=list)
    seconds: float = 0.0
    per_source: dict[str, int] = field(default_factory=dict)  # rendered objects per source
    failures: dict[str, int] = field(default_factory=dict)  # "<format>: <reason>" -> count


# --------------------------------------------------------------------------- pybullet scene


_CLIENT: int | None = None


def worker_client() -> int:
    """This process's own DIRECT pybullet connection (pybullet clients are per process)."""
    p = pybullet()
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = p.connect(p.DIRECT)
    return _CLIENT


def quaternion(rotation: np.ndarray) -> list[float]:
    """pybullet's (x, y, z, w) quaternion of a rotation matrix."""
    w = np.sqrt(max(0.0, 1.0 + np.trace(rotation))) / 2.0
    if w > 1e-6:
        return [(rotation[2, 1] - rotation[1, 2]) / (4 * w), (rotation[0, 2] - rotation[2, 0]) / (4 * w),
                (rotation[1, 0] - rotation[0, 1]) / (4 * w), w]
    axis = int(np.argmax(np.diag(rotation)))  # 180° turns: w = 0
    q = np.zeros(4)
    q[axis] = np.sqrt(max(0.0, 1.0 + 2.0 * rotation[axis, axis] - np.trace(rotation))) / 2.0
    for other in range(3):
        if other != axis:
            q[other] = (rotation[axis, other] + rotation[other, axis]) / (4 * q[axis])
    return q.tolist()


def build_scene(client: int, parts: list[MeshPart], centre: np.ndarray, scale: float,
                rotation: np.ndarray | None = None) -> list[int]:
    """One static visual body per baked part, so that the scene is the normalised object
    (world = scale · (rotation · x − centre)); returns the body ids."""
    p = pybullet()
    rotation = np.eye(3) if rotation is None else rotation
    bodies = []
    for part in parts:
        shape = p.createVisualShape(p.GEOM_MESH, fileName=str(part.obj_path), meshScale=[scale] * 3,
                                    physicsClientId=client)
        if shape < 0:
            raise MeshError(f"pybullet cannot load {part.obj_path}", "pybullet load")
        bodies.append(p.createMultiBody(
            baseMass=0, baseVisualShapeIndex=shape, basePosition=list(-centre * scale),
            baseOrientation=quaternion(rotation), physicsClientId=client,
        ))
    return bodies


def render_view(client: int, camera: cameras.OrbitCamera, lighting: Lighting = Lighting()) -> tuple[np.ndarray, np.ndarray]:
    """One view at the camera's size: RGB uint8 (H, W, 3) on white and mask uint8 0/255 (H, W).

    The light comes from above the camera (a head light, ``lighting.offset`` moves it), so the
    back of an object is never black. pybullet takes column-major 4x4 matrices, hence the
    transposes of our row-major ones.
    """
    p = pybullet()
    big = cameras.OrbitCamera(camera.azimuth, camera.elevation, camera.distance, camera.fov_deg,
                              camera.width * SUPERSAMPLING, camera.height * SUPERSAMPLING)
    light = big.eye() / np.linalg.norm(big.eye()) + np.asarray(lighting.offset)
    width, height, rgba, _, segmentation = p.getCameraImage(
        big.width,
        big.height,
        viewMatrix=big.view_matrix().T.flatten().tolist(),
        projectionMatrix=big.projection_matrix().T.flatten().tolist(),
        renderer=p.ER_TINY_RENDERER,
        lightDirection=light.tolist(),
        lightAmbientCoeff=lighting.ambient,
        lightDiffuseCoeff=lighting.diffuse,
        lightSpecularCoeff=lighting.specular,
        shadow=0,
        physicsClientId=client,
    )
    rgb = np.reshape(np.asarray(rgba, dtype=np.uint8), (height, width, 4))[..., :3].astype(np.float32)
    coverage = (np.reshape(np.asarray(segmentation), (height, width)) >= 0).astype(np.float32)
    on_white = rgb * coverage[..., None] + 255.0 * (1.0 - coverage[..., None])
    size = (camera.width, camera.height)
    image = cv2.resize(on_white, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(coverage, size, interpolation=cv2.INTER_AREA) >= 0.5
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask.astype(np.uint8) * 255


def orbit_cameras(size: int, elevation_deg: float) -> list[cameras.OrbitCamera]:
    """The 24 NMR views: azimuth 2*pi*i/24 at one elevation."""
    return [
        cameras.OrbitCamera(cameras.view_azimuth(i), math.radians(elevation_deg), width=size, height=size)
        for i in range(cameras.NMR_VIEW_COUNT)
    ]


# --------------------------------------------------------------------------- files


def write_views(out_dir: Path, views: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """``image/VVVV.png`` and ``mask/VVVV.png`` of one set of orbit views."""
    (out_dir / "image").mkdir(parents=True, exist_ok=True)
    (out_dir / "mask").mkdir(parents=True, exist_ok=True)
    for i, (image, mask) in enumerate(views):
        cv2.imwrite(str(out_dir / "image" / f"{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(out_dir / "mask" / f"{i:04d}.png"), mask)


def write_cameras(out_dir: Path, cams: list[cameras.OrbitCamera], **extra: np.ndarray | float | str) -> None:
    """``cameras.npz``: azimuths, elevation, distance, field of view, the per-view matrices and
    ``extra`` records of how the object was placed and lit."""
    matrices = {}
    for i, cam in enumerate(cams):
        matrices[f"world_mat_{i}"] = cam.view_matrix()
        matrices[f"camera_mat_{i}"] = cam.projection_matrix()
    np.savez(
        out_dir / "cameras.npz",
        azimuth=np.array([cam.azimuth for cam in cams]),
        elevation=np.float64(cams[0].elevation),
        distance=np.float64(cams[0].distance),
        fov_deg=np.float64(cams[0].fov_deg),
        **{key: np.asarray(value) for key, value in extra.items()},
        **matrices,
    )


def split_objects(names: list[str], val_count: int, test_count: int, seed: int) -> dict[str, list[str]]:
    """Disjoint train/val/test lists from a seeded shuffle; counts shrink when objects are few."""
    order = sorted(names)
    np.random.default_rng(seed).shuffle(order)
    test = min(test_count, len(order))
    val = min(val_count, len(order) - test)
    if (test, val) != (test_count, val_count):
        LOG.warning("only %d objects: val/test shrunk to %d/%d", len(order), val, test)
    return {
        "test": sorted(order[:test]),
        "val": sorted(order[test : test + val]),
        "train": sorted(order[test + val :]),
    }


def write_split_lists(synset_dir: Path, splits: dict[str, list[str]]) -> None:
    """``softras_{split}.lst`` files, one object name per line, as NMR has them."""
    synset_dir.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (synset_dir / f"softras_{split}.lst").write_text("".join(f"{name}\n" for name in names))


def write_metadata(out_root: Path, synset: str, name: str) -> None:
    """Add this synset to ``metadata.yaml``, keeping categories already rendered into the root."""
    path = out_root / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text()) if path.is_file() else None
    metadata = metadata or {}
    metadata[synset] = {"id": synset, "name": name}
    path.write_text(yaml.safe_dump(metadata, sort_keys=True))


# --------------------------------------------------------------------------- workers


def run_jobs(jobs: list, workers: int, render: Callable, lost: Callable[[object, str, str], object],
             timeout_s: float = JOB_TIMEOUT_S) -> Iterator:
    """Render jobs in a pool of ``workers`` processes, each replaced after TASKS_PER_WORKER objects
    (in this process when one worker is asked for and the jobs are fewer); results arrive in
    completion order.

    A job whose worker dies (pybullet segfaults on some meshes) or that runs past ``timeout_s`` yields
    ``lost(job, reason, detail)`` (reason "worker died" or "timed out") instead of a result, and the
    pool replaces the worker: a plain ``multiprocessing.Pool`` would wait for the dead worker's result
    forever.
    """
    if workers <= 1 and len(jobs) <= TASKS_PER_WORKER:
        yield from map(render, jobs)
        return
    import pebble  # the offline renderer's dependency (setup.py "training" extra), like pybullet

    with pebble.ProcessPool(max(workers, 1), max_tasks=TASKS_PER_WORKER,
                            context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.schedule(render, (job,), timeout=timeout_s): job for job in jobs}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield future.result()
                except concurrent.futures.TimeoutError:
                    yield lost(futures[future], "timed out", f"after {timeout_s:g} s")
                except pebble.ProcessExpired as error:
                    yield lost(futures[future], "worker died", f"exit code {error.exitcode}")
        finally:  # an error or Ctrl-C in the caller: queued jobs are not started
            pool.stop()
