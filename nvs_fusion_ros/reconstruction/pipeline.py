"""The one reconstruction pipeline: pose-free views in; field, mesh, points, files and timings out.

``reconstruct`` is what the CLI and the ROS node call: distillation (orbit + field fit + mode
seeking), marching cubes at the surface threshold, surface points, and optional file writes.
``reconstruct_steps`` yields one ``Progress`` per orbit denoising step and per field iteration, a
single count over both, so its caller can report it and cancel between any two.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..diffusion.stepwise import Progress, Stepwise
from ..synthesis.view_model import ViewModel
from .distill import DistillConfig, DistillResult, distill_steps
from .extract import (
    DEFAULT_SURFACE_THRESHOLD,
    PointCloud,
    SurfaceMesh,
    extract_mesh,
    open3d_module,
    sample_surface,
    write_mesh,
    write_point_cloud,
)


@dataclass
class Reconstruction:
    """What one run produced; ``files`` lists what was written (empty without ``out_dir``)."""

    distilled: DistillResult
    mesh: SurfaceMesh
    cloud: PointCloud
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready facts: the distillation's summary plus the surface and the files."""
        return {**self.distilled.summary(), "timings": self.timings, "points": len(self.cloud.points),
                "vertices": len(self.mesh.vertices), "triangles": len(self.mesh.faces),
                "files": [str(f) for f in self.files]}


def reconstruct(synth: ViewModel, views: Sequence[np.ndarray], config: DistillConfig | None = None,
                surface_threshold: float = DEFAULT_SURFACE_THRESHOLD, points: int = 20000,
                out_dir: str | Path | None = None, anchor: int = -1) -> Reconstruction:
    """:func:`reconstruct_steps` run to the end."""
    return reconstruct_steps(synth, views, config, surface_threshold, points, out_dir, anchor).result


def reconstruct_steps(
    synth: ViewModel,
    views: Sequence[np.ndarray],
    config: DistillConfig | None = None,
    surface_threshold: float = DEFAULT_SURFACE_THRESHOLD,
    points: int = 20000,
    out_dir: str | Path | None = None,
    anchor: int = -1,
) -> Stepwise[Progress, Reconstruction]:
    """Distill ``views`` into a field and extract its surface (``EmptySurfaceError`` when there is none).

    Yields ``Progress(done, total, stage)`` after every orbit denoising step (stage ``"orbit"``) and
    every field iteration (``"field"``), one count over both; ``out_dir`` also writes ``points.ply``,
    ``mesh.ply``, ``mesh.obj`` and, with Open3D, ``mesh.glb``.
    """
    config = config or DistillConfig()
    if points < 1:
        raise ValueError(f"points must be at least 1, got {points}")
    orbit_total = config.orbit_views * len(synth.runner.sampler(config.orbit_sampling).levels())
    return Stepwise(_reconstruct(synth, views, config, surface_threshold, points, out_dir, anchor,
                                 orbit_total, orbit_total + config.iterations))


def _reconstruct(synth: ViewModel, views: Sequence[np.ndarray], config: DistillConfig,
                 surface_threshold: float, points: int, out_dir: str | Path | None, anchor: int, orbit_total: int,
                 total: int) -> Generator[Progress, None, Reconstruction]:
    distilling = distill_steps(synth, views, config, anchor=anchor)
    for state in distilling:
        yield Progress((0 if state.stage == "orbit" else orbit_total) + state.done, total, state.stage)
    distilled = distilling.result
    started = time.perf_counter()
    mesh = extract_mesh(distilled.field, surface_threshold)
    cloud = sample_surface(mesh, distilled.field, points, seed=config.seed)
    files = write_files(out_dir, mesh, cloud) if out_dir is not None else []
    timings = {**distilled.timings, "extract_s": time.perf_counter() - started}
    timings["total_s"] = distilled.timings["total_s"] + timings["extract_s"]
    return Reconstruction(distilled, mesh, cloud, files, timings)


def write_files(out_dir: str | Path, mesh: SurfaceMesh, cloud: PointCloud) -> list[Path]:
    """Write ``points.ply``, ``mesh.ply``, ``mesh.obj`` and, with Open3D, ``mesh.glb``; returns their paths.

    Its own function so that a caller that may be cancelled (the ROS reconstruct job) writes only
    once it knows it delivers.
    """
    out = Path(out_dir)
    files = [write_point_cloud(out / "points.ply", cloud), write_mesh(out / "mesh.ply", mesh),
             write_mesh(out / "mesh.obj", mesh)]
    if open3d_module() is not None:
        files.append(write_mesh(out / "mesh.glb", mesh))
    return files
