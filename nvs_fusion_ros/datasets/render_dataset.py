"""Render an NMR-layout multi-view dataset with pybullet's TinyRenderer.

No ShapeNet/NMR download is possible here (docs/DESIGN.md §3), so the project renders its own
training data from the named sources of :mod:`sources` (household furniture, scanned groceries
and kitchenware, robosuite's food, pybullet's objects and random blobs) or any folder of meshes.
The output is laid out exactly like NMR, so the one reader (:mod:`nmr_dataset`) serves both::

    <root>/<synset>/<object>/image/0000.png..0023.png   views at azimuth 2*pi*i/24
    <root>/<synset>/<object>/mask/0000.png..0023.png
    <root>/<synset>/<object>/cameras.npz                 cameras, placement and lighting used
    <root>/<synset>/<object>/mesh_normalized.npz         the rendered geometry (3D evaluation)
    <root>/<synset>/softras_{train,val,test}.lst        splits by object, drawn per synset
    <root>/metadata.yaml                                 synset -> source name

One synset per source, so every per-category result is a per-source result. Each object is
placed as :mod:`placement` says (upright on its lowest point with a random yaw by default), seen
from one elevation drawn per object (all 24 views share it) under mildly varied light. Every
draw comes from a generator seeded by (seed, object name), so a render is reproducible whatever
the worker order.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nvs_fusion_ros import cameras

from . import placement, scene
from .meshes import MeshError, bake, merged, points
from .render_dynamic import render_dynamic_dataset
from .scene import RenderReport, split_objects, write_metadata, write_split_lists
from .sources import SYNSETS, Source, folder_sources, named_sources, random_urdf_sources, read_object

LOG = logging.getLogger(__name__)

RANDOM_URDFS_SYNSET = SYNSETS["random_urdfs"]
CUSTOM_SYNSET = SYNSETS["custom"]
DEFAULT_ELEVATION_RANGE = (10.0, 50.0)
DEFAULT_RANDOM_URDFS = 400  # the pybullet source's share of random blobs, beside its named objects

__all__ = ["CUSTOM_SYNSET", "RANDOM_URDFS_SYNSET", "RenderReport", "render_dataset", "split_objects",
           "write_metadata", "write_split_lists"]


@dataclass(frozen=True)
class RenderJob:
    """One object to render, with every random draw already made."""

    source: Source
    out_dir: Path
    size: int
    orientation: str
    elevation_deg: float
    yaw: float
    lighting: scene.Lighting


def make_job(source: Source, out_dir: Path, size: int, orientation: str, elevation_range: tuple[float, float],
             vary_lighting: bool, seed: int) -> RenderJob:
    """The job of one object: elevation, yaw and light drawn from a (seed, object) generator."""
    rng = np.random.default_rng([seed, *f"{source.source}/{source.object_id}".encode()])
    elevation = float(rng.uniform(*elevation_range)) if elevation_range[1] > elevation_range[0] else elevation_range[0]
    yaw = float(rng.uniform(0.0, 2.0 * math.pi))
    lighting = scene.Lighting.random(rng) if vary_lighting else scene.Lighting()
    return RenderJob(source, out_dir, size, orientation, elevation, yaw, lighting)


def render_object(job: RenderJob) -> tuple[Source, str | None, str | None]:
    """Render one object; returns ``(source, error, failure key)`` instead of raising, so one bad
    mesh never aborts a run. The failure key is ``"<format>: <reason>"`` for the counts."""
    p = scene.pybullet()
    client = scene.worker_client()
    workdir = Path(tempfile.mkdtemp(prefix="nvs_render_"))
    try:
        p.resetSimulation(physicsClientId=client)
        surfaces = read_object(job.source, workdir / "source")
        rotation = placement.orientation(points(surfaces), job.orientation, job.yaw)
        centre, scale = placement.normalisation(points(surfaces), rotation)
        parts = bake(surfaces, workdir / "baked")
        scene.build_scene(client, parts, centre, scale, rotation)
        cams = scene.orbit_cameras(job.size, job.elevation_deg)
        views = [scene.render_view(client, cam, job.lighting) for cam in cams]
        if not any(mask.any() for _, mask in views):
            raise MeshError("nothing visible in any view", "invisible")
        vertices, faces = merged(surfaces)
        vertices = (vertices @ rotation.T - centre) * scale
        scene.write_views(job.out_dir, views)
        scene.write_cameras(
            job.out_dir, cams, source=job.source.source, orientation=job.orientation, yaw=job.yaw,
            rotation=rotation, support_z=float(vertices[np.unique(faces)][:, 2].min()),
            light_offset=np.asarray(job.lighting.offset), light_ambient=job.lighting.ambient,
            light_diffuse=job.lighting.diffuse, light_specular=job.lighting.specular,
        )
        np.savez(job.out_dir / "mesh_normalized.npz", vertices=vertices.astype(np.float32), faces=faces.astype(np.int32))
    except MeshError as error:
        return job.source, str(error), f"{job.source.file_format}: {error.reason}"
    except (p.error, OSError, ValueError) as error:
        return job.source, f"{type(error).__name__}: {error}", f"{job.source.file_format}: {type(error).__name__}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return job.source, None, None


def lost_object(job: RenderJob, reason: str, detail: str) -> tuple[Source, str, str]:
    """``render_object``'s result for a job whose worker died or hung (``scene.run_jobs``)."""
    return job.source, f"{reason} ({detail})", f"{job.source.file_format}: {reason}"


def stratified_counts(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split ``total`` held-out objects over sources in proportion to their sizes (largest
    remainders), at least one per source that has two or more objects."""
    whole = sum(sizes.values())
    if whole == 0 or total <= 0:
        return dict.fromkeys(sizes, 0)
    shares = {name: total * n / whole for name, n in sizes.items()}
    counts = {name: int(share) for name, share in shares.items()}
    for name in sorted(shares, key=lambda k: counts[k] - shares[k])[: total - sum(counts.values())]:
        counts[name] += 1
    return {name: min(max(counts[name], 1 if n >= 2 else 0), n) for name, n in sizes.items()}


def render_dataset(
    out_root: str | Path,
    sources: str | Path | None = None,
    size: int = 64,
    elevation_deg: float | None = None,
    limit: int | None = None,
    val_count: int = 25,
    test_count: int = 50,
    seed: int = 0,
    workers: int = 1,
    orientation: str = "upright",
    named: Sequence[str] = (),
    sources_dir: str | Path = "data/sources",
    random_urdfs: int = DEFAULT_RANDOM_URDFS,
    elevation_range: tuple[float, float] = DEFAULT_ELEVATION_RANGE,
    vary_lighting: bool = True,
) -> RenderReport:
    """Render objects into ``out_root``: the ``named`` sources, else the mesh folder ``sources``,
    else pybullet's random_urdfs.

    ``limit`` keeps the first N objects of each source in a seeded order, so a small run is a
    random but reproducible subset. ``elevation_deg`` fixes the elevation of every object
    (otherwise each draws one from ``elevation_range``). ``val_count`` / ``test_count`` objects are
    held out in all, spread over the sources in proportion (:func:`stratified_counts`); splits are
    drawn over the objects that rendered, so a skipped mesh never appears in a split list.
    """
    if orientation not in placement.ORIENTATIONS:
        raise ValueError(f"unknown orientation {orientation!r}; choose from {', '.join(placement.ORIENTATIONS)}")
    start = time.perf_counter()
    out_root = Path(out_root)
    report = RenderReport()
    listed: dict[str, list[Source]] = {}
    if named:
        for name in named:
            listed[name] = named_sources(name, Path(sources_dir), random_urdfs, seed)
    elif sources is not None:
        listed["custom"], ignored = folder_sources(sources)
        for suffix, count in sorted(ignored.items()):
            LOG.warning("%d file(s) %s in %s are not meshes this renderer reads", count, suffix, sources)
            report.failures[f"{suffix.lstrip('.')}: not a mesh format"] = count
    else:
        listed["random_urdfs"] = random_urdf_sources()
    elevations = (elevation_deg, elevation_deg) if elevation_deg is not None else elevation_range
    jobs = []
    for name, items in listed.items():
        order = np.random.default_rng(seed).permutation(len(items))[:limit]
        jobs.extend(make_job(items[i], out_root / SYNSETS[name] / items[i].object_id, size, orientation, elevations,
                             vary_lighting, seed) for i in order)

    rendered: dict[str, list[str]] = {name: [] for name in listed}
    for source, error, failure in tqdm(scene.run_jobs(jobs, workers, render_object, lost_object), total=len(jobs), desc="render",
                                       unit="obj", mininterval=2.0):
        if error is None:
            rendered[source.source].append(source.object_id)
        else:
            LOG.warning("skipping %s/%s: %s", source.source, source.object_id, error)
            report.skipped_names.append(f"{source.source}/{source.object_id}")
            report.failures[failure] = report.failures.get(failure, 0) + 1
    sizes = {name: len(names) for name, names in rendered.items()}
    tests, vals = stratified_counts(sizes, test_count), stratified_counts(sizes, val_count)
    for name, names in rendered.items():
        write_split_lists(out_root / SYNSETS[name], split_objects(names, vals[name], tests[name], seed))
        write_metadata(out_root, SYNSETS[name], name)
    report.per_source = sizes
    report.rendered, report.skipped = sum(sizes.values()), len(report.skipped_names)
    report.skipped_names.sort()
    report.seconds = time.perf_counter() - start
    return report


# --------------------------------------------------------------------------- CLI


def add_cli(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``render-dataset`` subcommand."""
    parser = subparsers.add_parser("render-dataset", help="render an NMR-layout dataset with pybullet")
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--sources", default=None,
                        help="comma-separated named sources: sweethome3d, libero-scans, robosuite, pybullet "
                             "(install with `make household-sources`); one synset each")
    parser.add_argument("--sources-dir", default="data/sources", help="where `make household-sources` unpacked them")
    parser.add_argument("--random-urdfs", type=int, default=DEFAULT_RANDOM_URDFS,
                        help="random_urdfs blobs in the pybullet source, for shape variety")
    parser.add_argument("--meshes", default=None,
                        help="folder of meshes (OBJ, STL, PLY, GLB/GLTF, DAE, OFF) or URDFs (default: pybullet random_urdfs)")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--elevation", type=float, default=None, help="one elevation in degrees for every object")
    parser.add_argument("--elevation-range", type=float, nargs=2, default=DEFAULT_ELEVATION_RANGE, metavar=("LOW", "HIGH"),
                        help="degrees; each object draws its elevation (all its 24 views share it)")
    parser.add_argument("--fixed-lighting", action="store_true", help="no per-object light variation")
    parser.add_argument("--limit", type=int, default=None, help="render only N objects (per source)")
    parser.add_argument("--val", type=int, default=None, help="objects in the val split (default 25; --dynamic: 2 clips)")
    parser.add_argument("--test", type=int, default=None, help="objects in the test split (default 50; --dynamic: 4 clips)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the object split, elevations, yaws and lights")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--orientation", choices=placement.ORIENTATIONS, default="upright",
                        help="upright on the lowest point with a random yaw (default), the principal axes, or the file's own")
    parser.add_argument("--dynamic", action="store_true",
                        help="render clips of moving objects (articulated robots, tumbling random_urdfs): 24 views x F frames")
    parser.add_argument("--frames", type=int, default=8, help="--dynamic: frames per clip")
    parser.add_argument("--clips-per-model", type=int, default=4, help="--dynamic: clips per articulated model")
    parser.set_defaults(func=_cli_main)


def _cli_main(args: argparse.Namespace) -> int:
    if args.dynamic:
        if args.meshes is not None or args.sources is not None:
            raise ValueError("--dynamic renders pybullet_data's robots and random_urdfs; --meshes/--sources do not apply")
        report = render_dynamic_dataset(
            args.out, frames=args.frames, clips_per_model=args.clips_per_model, limit=args.limit, size=args.size,
            elevation_deg=cameras.DEFAULT_ELEVATION_DEG if args.elevation is None else args.elevation,
            val_count=2 if args.val is None else args.val,
            test_count=4 if args.test is None else args.test, seed=args.seed, workers=args.workers,
        )
        print(f"rendered {report.rendered} clips, skipped {report.skipped} in {report.seconds:.1f} s")
        for name in report.skipped_names:
            print(f"  skipped: {name}")
        return 0
    if args.sources is not None and args.meshes is not None:
        raise ValueError("give --sources or --meshes, not both")
    named = [name.strip() for name in args.sources.split(",") if name.strip()] if args.sources else []
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
        orientation=args.orientation,
        named=named,
        sources_dir=args.sources_dir,
        random_urdfs=args.random_urdfs,
        elevation_range=tuple(args.elevation_range),
        vary_lighting=not args.fixed_lighting,
    )
    print(f"rendered {report.rendered}, skipped {report.skipped} in {report.seconds:.1f} s")
    for name, count in report.per_source.items():
        print(f"  {name} ({SYNSETS[name]}): {count} objects")
    for failure, count in sorted(report.failures.items()):
        print(f"  not rendered: {count} x {failure}")
    for name in report.skipped_names:
        print(f"  skipped: {name}")
    return 0
