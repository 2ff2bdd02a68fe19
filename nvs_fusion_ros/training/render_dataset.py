"""Render an NMR-layout multi-view dataset with pybullet's TinyRenderer.

No ShapeNet/NMR download is possible here (docs/DESIGN.md §3), so the project renders its
own training data: pybullet ships ~1000 ``random_urdfs`` blobs, and any folder of OBJ
or URDF meshes can be rendered the same way. The output is laid out exactly like NMR,
so the one reader (:mod:`nmr_dataset`) serves both.

Every object is centred at the origin and scaled to the bounding sphere radius of
:mod:`nvs_fusion_ros.cameras`, and keeps its file orientation: azimuth 0 is a fixed
canonical pose, which the target angle of ViewFusion relies on. Views are rendered at
twice the requested size and downsampled with ``cv2.INTER_AREA``, because TinyRenderer
does not anti-alias and jagged silhouettes would be a cue the model should not learn.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import multiprocessing
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pybullet_data
import yaml
from tqdm import tqdm

from nvs_fusion_ros import cameras


def _pybullet() -> ModuleType:
    """pybullet prints a banner on stdout when imported, so it is imported only when rendering
    (``nvs-fusion`` registers this subcommand on every call, and other subcommands print JSON)."""
    return importlib.import_module("pybullet")

LOG = logging.getLogger(__name__)

RANDOM_URDFS_SYNSET = "99999999"
CUSTOM_SYNSET = "99999998"
SUPERSAMPLING = 2
DEFAULT_OBJ_RGBA = (0.7, 0.7, 0.7, 1.0)  # OBJ without a material would be white on white


class MeshError(RuntimeError):
    """A source that cannot be rendered; the object is skipped, the run goes on."""


@dataclass(frozen=True)
class Source:
    """One object to render: its output name and the OBJ or URDF file it comes from."""

    object_id: str
    path: Path


@dataclass(frozen=True)
class MeshPart:
    """One visual mesh of an object, in the object's own (link) frame before normalisation."""

    obj_path: Path
    scale: np.ndarray  # (3,) per-axis mesh scale
    orientation: tuple[float, ...]  # visual origin rotation, pybullet quaternion (x, y, z, w)
    translation: np.ndarray  # (3,) visual origin translation
    rgba: tuple[float, float, float, float] | None  # None: keep the OBJ's own material
    vertices: np.ndarray  # (V, 3) in the file's units
    faces: np.ndarray  # (F, 3) int

    def link_vertices(self) -> np.ndarray:
        """Vertices in the object frame (visual origin and mesh scale applied)."""
        p = _pybullet()
        rotation = np.asarray(p.getMatrixFromQuaternion(self.orientation)).reshape(3, 3)
        return (self.vertices * self.scale) @ rotation.T + self.translation


@dataclass
class RenderReport:
    """What a dataset render did; skipped objects are named so they can be inspected."""

    rendered: int = 0
    skipped: int = 0
    skipped_names: list[str] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------- sources


def random_urdf_sources() -> list[Source]:
    """The ``random_urdfs`` objects shipped with pybullet_data, as ``NNN -> NNN/NNN.urdf``."""
    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    return [Source(d.name, d / f"{d.name}.urdf") for d in sorted(root.iterdir()) if (d / f"{d.name}.urdf").is_file()]


def folder_sources(folder: str | Path) -> list[Source]:
    """Every URDF and OBJ below ``folder``; an OBJ next to a URDF is taken to be that URDF's mesh."""
    folder = Path(folder)
    urdfs = sorted(folder.rglob("*.urdf"))
    urdf_dirs = {u.parent for u in urdfs}
    objs = sorted(o for o in folder.rglob("*.obj") if o.parent not in urdf_dirs)
    return [Source(_object_name(path.relative_to(folder)), path) for path in sorted(urdfs + objs)]


def _object_name(relative: Path) -> str:
    """A folder-safe, unique object name from a path relative to the mesh folder."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "_".join(relative.with_suffix("").parts))


# --------------------------------------------------------------------------- meshes


def parse_obj(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``v`` and ``f`` records of an OBJ; polygons are fan-triangulated.

    Only geometry is read: this is for the bounding box and for the 3D evaluation's
    reference mesh, while the pixels come from pybullet's own OBJ loader.
    """
    vertices: list[list[float]] = []
    faces: list[list[int]] = []
    try:
        text = Path(path).read_text(errors="replace")
        for line in text.splitlines():
            tokens = line.split()
            if not tokens:
                continue
            if tokens[0] == "v":
                vertices.append([float(t) for t in tokens[1:4]])
            elif tokens[0] == "f":
                polygon = [_obj_index(t, len(vertices)) for t in tokens[1:]]
                faces.extend([polygon[0], polygon[k], polygon[k + 1]] for k in range(1, len(polygon) - 1))
    except (OSError, ValueError, IndexError) as error:
        raise MeshError(f"cannot parse {path}: {error}") from error
    verts = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    tris = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(tris) == 0 or tris.min() < 0 or tris.max() >= len(verts) or not np.isfinite(verts).all():
        raise MeshError(f"{path}: no valid triangles")
    return verts, tris


def _obj_index(token: str, vertex_count: int) -> int:
    """0-based vertex index of an OBJ face token (``a``, ``a/b``, ``a//c``, ``a/b/c``, negatives)."""
    index = int(token.split("/")[0])
    return index - 1 if index > 0 else vertex_count + index


def _floats(text: str | None, default: str) -> np.ndarray:
    """A URDF attribute of space-separated numbers; absent attributes take the URDF default."""
    return np.array([float(t) for t in (text or default).split()])


def load_parts(source: Source) -> list[MeshPart]:
    """The visual meshes of a source, read from its files (URDF visuals or a bare OBJ)."""
    if source.path.suffix.lower() == ".obj":
        vertices, faces = parse_obj(source.path)
        rgba = None if _has_material_file(source.path) else DEFAULT_OBJ_RGBA
        return [MeshPart(source.path, np.ones(3), (0.0, 0.0, 0.0, 1.0), np.zeros(3), rgba, vertices, faces)]
    return _urdf_parts(source.path)


def _has_material_file(obj_path: Path) -> bool:
    """Whether the OBJ names an existing ``mtllib``, whose colours pybullet then uses."""
    for line in obj_path.read_text(errors="replace").splitlines():
        tokens = line.split(maxsplit=1)
        if len(tokens) == 2 and tokens[0] == "mtllib" and (obj_path.parent / tokens[1].strip()).is_file():
            return True
    return False


def _urdf_parts(path: Path) -> list[MeshPart]:
    """Mesh visuals of a single-link URDF; articulated robots would need their joint poses."""
    p = _pybullet()
    try:
        robot = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise MeshError(f"cannot parse {path}: {error}") from error
    if len(robot.findall("link")) != 1:
        raise MeshError(f"{path}: only single-link URDFs are supported")
    materials = {m.get("name"): m.find("color") for m in robot.findall("material")}
    parts = []
    for visual in robot.iter("visual"):
        mesh = visual.find("geometry/mesh")
        if mesh is None:
            raise MeshError(f"{path}: only mesh visuals are supported")
        obj_path = path.parent / re.sub(r"^package://[^/]*/", "", mesh.get("filename", ""))
        if obj_path.suffix.lower() != ".obj":
            raise MeshError(f"{path}: visual mesh {obj_path.name} is not an OBJ")
        origin = visual.find("origin")
        origin = origin if origin is not None else ET.Element("origin")
        scale = _floats(mesh.get("scale"), "1 1 1")
        vertices, faces = parse_obj(obj_path)
        parts.append(
            MeshPart(
                obj_path,
                scale * np.ones(3),
                p.getQuaternionFromEuler(_floats(origin.get("rpy"), "0 0 0").tolist()),
                _floats(origin.get("xyz"), "0 0 0"),
                _urdf_rgba(visual, materials),
                vertices,
                faces,
            )
        )
    if not parts:
        raise MeshError(f"{path}: no visual meshes")
    return parts


def _urdf_rgba(visual: ET.Element, materials: dict) -> tuple[float, float, float, float] | None:
    """The visual's colour, inline or by reference to a named robot-level material."""
    material = visual.find("material")
    if material is None:
        return None
    color = material.find("color")
    color = color if color is not None else materials.get(material.get("name"))
    if color is None:
        return None
    return tuple(float(v) for v in color.get("rgba", "1 1 1 1").split())  # type: ignore[return-value]


def normalisation(parts: list[MeshPart], rotation: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Centre and scale that put the AABB centre (of the rotated object) at the origin and the
    bounding radius at OBJECT_RADIUS."""
    rotation = np.eye(3) if rotation is None else rotation
    points = np.concatenate([part.link_vertices()[np.unique(part.faces)] for part in parts]) @ rotation.T
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2.0
    radius = float(np.linalg.norm(points - centre, axis=1).max())
    if not np.isfinite(radius) or radius < 1e-9:
        raise MeshError("zero-size bounding box")
    return centre, cameras.OBJECT_RADIUS / radius


def principal_axes_rotation(parts: list[MeshPart]) -> np.ndarray:
    """A canonical orientation for objects that have none: rows are the new x, y, z axes.

    NMR's target angle means something because each category has a canonical front; random
    blobs do not, so the azimuth of a view of an unseen blob would be unpredictable. Aligning
    the longest principal axis with x, the shortest with z (up) and choosing each axis' sign
    so the points' third moment along it is positive gives every object the same kind of
    canonical frame (up to symmetric shapes), which a pose-free model can learn.
    """
    points = np.concatenate([part.link_vertices()[np.unique(part.faces)] for part in parts])
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    x_axis, y_axis = vectors[:, 2], vectors[:, 1]
    x_axis = x_axis if np.sum((centred @ x_axis) ** 3) >= 0 else -x_axis
    y_axis = y_axis if np.sum((centred @ y_axis) ** 3) >= 0 else -y_axis
    return np.stack([x_axis, y_axis, np.cross(x_axis, y_axis)])


def _quaternion(rotation: np.ndarray) -> list[float]:
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


def normalised_mesh(parts: list[MeshPart], centre: np.ndarray, scale: float,
                    rotation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All parts merged into one triangle mesh in the normalised (rendered) frame."""
    rotation = np.eye(3) if rotation is None else rotation
    vertices, faces, offset = [], [], 0
    for part in parts:
        vertices.append((part.link_vertices() @ rotation.T - centre) * scale)
        faces.append(part.faces + offset)
        offset += len(part.vertices)
    return np.concatenate(vertices).astype(np.float32), np.concatenate(faces).astype(np.int32)


# --------------------------------------------------------------------------- rendering


def build_scene(client: int, parts: list[MeshPart], centre: np.ndarray, scale: float,
                rotation: np.ndarray | None = None) -> list[int]:
    """Create one static visual body per part so that the scene is the normalised object
    (world = scale · (rotation · x − centre)); returns the body ids."""
    p = _pybullet()
    rotation = np.eye(3) if rotation is None else rotation
    bodies = []
    for part in parts:
        kwargs = {"rgbaColor": list(part.rgba)} if part.rgba is not None else {}
        shape = p.createVisualShape(
            p.GEOM_MESH,
            fileName=str(part.obj_path),
            meshScale=list(part.scale * scale),
            visualFramePosition=list(part.translation * scale),
            visualFrameOrientation=list(part.orientation),
            physicsClientId=client,
            **kwargs,
        )
        if shape < 0:
            raise MeshError(f"pybullet cannot load {part.obj_path}")
        bodies.append(p.createMultiBody(
            baseMass=0, baseVisualShapeIndex=shape, basePosition=list(-centre * scale),
            baseOrientation=_quaternion(rotation), physicsClientId=client,
        ))
    return bodies


def render_view(client: int, camera: cameras.OrbitCamera) -> tuple[np.ndarray, np.ndarray]:
    """One view at the camera's size: RGB uint8 (H, W, 3) on white and mask uint8 0/255 (H, W).

    Rendered at SUPERSAMPLING x the size and area-downsampled for anti-aliasing. The
    light comes from above the camera (a head light), so every view is lit alike and
    the back of an object is never black. pybullet takes column-major 4x4 matrices,
    hence the transposes of our row-major ones.
    """
    p = _pybullet()
    big = cameras.OrbitCamera(
        camera.azimuth,
        camera.elevation,
        camera.distance,
        camera.fov_deg,
        camera.width * SUPERSAMPLING,
        camera.height * SUPERSAMPLING,
    )
    light = big.eye() / np.linalg.norm(big.eye()) + np.array([0.0, 0.0, 0.7])
    width, height, rgba, _, segmentation = p.getCameraImage(
        big.width,
        big.height,
        viewMatrix=big.view_matrix().T.flatten().tolist(),
        projectionMatrix=big.projection_matrix().T.flatten().tolist(),
        renderer=p.ER_TINY_RENDERER,
        lightDirection=light.tolist(),
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
    """The 24 NMR views: azimuth 2*pi*i/24 at a fixed elevation."""
    return [
        cameras.OrbitCamera(cameras.view_azimuth(i), math.radians(elevation_deg), width=size, height=size)
        for i in range(cameras.NMR_VIEW_COUNT)
    ]


def write_object(out_dir: Path, views: list[tuple[np.ndarray, np.ndarray]], cams: list[cameras.OrbitCamera],
                 mesh: tuple[np.ndarray, np.ndarray]) -> None:
    """Write images, masks, cameras.npz and mesh_normalized.npz of one object in the NMR layout."""
    write_views(out_dir, views)
    write_cameras(out_dir, cams)
    np.savez(out_dir / "mesh_normalized.npz", vertices=mesh[0], faces=mesh[1])


def write_views(out_dir: Path, views: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """``image/VVVV.png`` and ``mask/VVVV.png`` of one set of orbit views."""
    (out_dir / "image").mkdir(parents=True, exist_ok=True)
    (out_dir / "mask").mkdir(parents=True, exist_ok=True)
    for i, (image, mask) in enumerate(views):
        cv2.imwrite(str(out_dir / "image" / f"{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(out_dir / "mask" / f"{i:04d}.png"), mask)


def write_cameras(out_dir: Path, cams: list[cameras.OrbitCamera]) -> None:
    """``cameras.npz``: azimuths, elevation, distance, field of view and the per-view matrices."""
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
        **matrices,
    )


# --------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class _Job:
    source: Source
    out_dir: Path
    size: int
    elevation_deg: float
    canonical: bool = True


_CLIENT: int | None = None


def _worker_client() -> int:
    """This process's own DIRECT pybullet connection (pybullet clients are per process)."""
    p = _pybullet()
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = p.connect(p.DIRECT)
    return _CLIENT


def render_object(job: _Job) -> tuple[str, str | None]:
    """Render one object; returns ``(object_id, error)`` instead of raising, so one bad mesh never aborts."""
    p = _pybullet()
    client = _worker_client()
    try:
        p.resetSimulation(physicsClientId=client)
        parts = load_parts(job.source)
        rotation = principal_axes_rotation(parts) if job.canonical else np.eye(3)
        centre, scale = normalisation(parts, rotation)
        build_scene(client, parts, centre, scale, rotation)
        cams = orbit_cameras(job.size, job.elevation_deg)
        views = [render_view(client, cam) for cam in cams]
        if not any(mask.any() for _, mask in views):
            raise MeshError("nothing visible in any view")
        write_object(job.out_dir, views, cams, normalised_mesh(parts, centre, scale, rotation))
    except (MeshError, p.error, OSError, ValueError) as error:
        return job.source.object_id, f"{type(error).__name__}: {error}"
    return job.source.object_id, None


def _run_jobs(jobs: list, workers: int, render: Callable = render_object) -> Iterator[tuple[str, str | None]]:
    """Render jobs in this process or a pool; results arrive in completion order."""
    if workers <= 1:
        yield from map(render, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(render, jobs, chunksize=4)


# --------------------------------------------------------------------------- dataset


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
    for split, names in splits.items():
        (synset_dir / f"softras_{split}.lst").write_text("".join(f"{name}\n" for name in names))


def write_metadata(out_root: Path, synset: str, name: str) -> None:
    """Add this synset to ``metadata.yaml``, keeping categories already rendered into the root."""
    path = out_root / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text()) if path.is_file() else None
    metadata = metadata or {}
    metadata[synset] = {"id": synset, "name": name}
    path.write_text(yaml.safe_dump(metadata, sort_keys=True))


def render_dataset(
    out_root: str | Path,
    sources: str | Path | None = None,
    size: int = 64,
    elevation_deg: float = cameras.DEFAULT_ELEVATION_DEG,
    limit: int | None = None,
    val_count: int = 25,
    test_count: int = 50,
    seed: int = 0,
    workers: int = 1,
    canonical: bool = True,
) -> RenderReport:
    """Render every source object (pybullet's random_urdfs when ``sources`` is None) into ``out_root``.

    ``limit`` keeps the first N objects of the seeded order, so a small run is a
    random but reproducible subset. ``canonical`` turns each object into its principal-axes
    frame (``principal_axes_rotation``); False keeps the mesh file's own orientation. Splits
    are drawn over the objects that rendered, so a skipped mesh never appears in a split list.
    """
    start = time.perf_counter()
    out_root = Path(out_root)
    if sources is None:
        synset, category, listed = RANDOM_URDFS_SYNSET, "random_urdfs", random_urdf_sources()
    else:
        synset, category, listed = CUSTOM_SYNSET, "custom", folder_sources(sources)
    order = np.random.default_rng(seed).permutation(len(listed))
    chosen = [listed[i] for i in order[:limit]]
    synset_dir = out_root / synset
    jobs = [_Job(src, synset_dir / src.object_id, size, elevation_deg, canonical) for src in chosen]

    report = RenderReport()
    rendered: list[str] = []
    for object_id, error in tqdm(_run_jobs(jobs, workers), total=len(jobs), desc="render", unit="obj"):
        if error is None:
            rendered.append(object_id)
        else:
            LOG.warning("skipping %s: %s", object_id, error)
            report.skipped_names.append(object_id)
    synset_dir.mkdir(parents=True, exist_ok=True)
    write_split_lists(synset_dir, split_objects(rendered, val_count, test_count, seed))
    write_metadata(out_root, synset, category)
    report.rendered, report.skipped = len(rendered), len(report.skipped_names)
    report.skipped_names.sort()
    report.seconds = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------- CLI


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``render-dataset`` subcommand."""
    parser = subparsers.add_parser("render-dataset", help="render an NMR-layout dataset with pybullet")
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--meshes", default=None, help="folder of OBJ/URDF meshes (default: pybullet random_urdfs)")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--elevation", type=float, default=cameras.DEFAULT_ELEVATION_DEG, help="degrees")
    parser.add_argument("--limit", type=int, default=None, help="render only N objects")
    parser.add_argument("--val", type=int, default=None, help="objects in the val split (default 25; --dynamic: 2 clips)")
    parser.add_argument("--test", type=int, default=None, help="objects in the test split (default 50; --dynamic: 4 clips)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--orientation", choices=["principal-axes", "file"], default="principal-axes",
                        help="canonical frame of each object: its principal axes (default) or the mesh file's own")
    parser.add_argument("--dynamic", action="store_true",
                        help="render clips of moving objects (articulated robots, tumbling random_urdfs): 24 views x F frames")
    parser.add_argument("--frames", type=int, default=8, help="--dynamic: frames per clip")
    parser.add_argument("--clips-per-model", type=int, default=4, help="--dynamic: clips per articulated model")
    parser.set_defaults(func=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    if args.dynamic:
        if args.meshes is not None:
            raise ValueError("--dynamic renders pybullet_data's robots and random_urdfs; --meshes is not supported with it")
        from .render_dynamic import render_dynamic_dataset

        report = render_dynamic_dataset(
            args.out, frames=args.frames, clips_per_model=args.clips_per_model, limit=args.limit, size=args.size,
            elevation_deg=args.elevation, val_count=2 if args.val is None else args.val,
            test_count=4 if args.test is None else args.test, seed=args.seed, workers=args.workers,
        )
        print(f"rendered {report.rendered} clips, skipped {report.skipped} in {report.seconds:.1f} s")
        for name in report.skipped_names:
            print(f"  skipped: {name}")
        return 0
    report = render_dataset(
        args.out,
        sources=args.meshes,
        size=args.size,
        elevation_deg=args.elevation,
        limit=args.limit,
        val_count=25 if args.val is None else args.val,
        test_count=50 if args.test is None else args.test,
        seed=args.seed,
        workers=args.workers,
        canonical=args.orientation == "principal-axes",
    )
    print(f"rendered {report.rendered}, skipped {report.skipped} in {report.seconds:.1f} s")
    for name in report.skipped_names:
        print(f"  skipped: {name}")
    return 0
