"""From a fitted field to geometry: a coloured triangle mesh, a coloured surface point cloud, files.

The surface is where a voxel's opacity (1 - exp(-optical depth of one voxel)) crosses
``level``; the mesh comes from marching cubes (scikit-image) on the padded grid, so
it is closed even where the object touches the cube. Stray blobs (floaters from
inconsistent synthesized views) are dropped as connected components much smaller
than the largest. With Open3D importable (``pip install open3d-cpu`` plus the system
``libusb-1.0-0``), Open3D cleans the mesh, computes normals and writes PLY/OBJ/GLB;
without it, scipy/numpy do the same cleanup and small writers produce PLY and OBJ.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.measure import marching_cubes

from .config import DEFAULT_SURFACE_THRESHOLD
from .field import VoxelField

log = logging.getLogger(__name__)



class EmptySurfaceError(ValueError):
    """The field has no surface at the requested level (empty, all opaque, or not finite)."""


@dataclass
class SurfaceMesh:
    """A triangle mesh with per-vertex colours (uint8) and unit normals, in the field's (object) frame."""

    vertices: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int32
    colors: np.ndarray  # (V, 3) uint8
    normals: np.ndarray  # (V, 3) float32


@dataclass
class PointCloud:
    """Coloured surface points with normals."""

    points: np.ndarray  # (N, 3) float32
    colors: np.ndarray  # (N, 3) uint8
    normals: np.ndarray  # (N, 3) float32


def open3d_module() -> ModuleType | None:
    """Open3D when it imports (it needs libusb-1.0 at load time), else None."""
    try:
        return importlib.import_module("open3d")
    except (ImportError, OSError):
        return None


def voxel_opacity(field: VoxelField) -> np.ndarray:
    """Opacity of one voxel at every grid vertex, (R, R, R) float32 indexed [x, y, z]."""
    with torch.no_grad():
        return (1.0 - torch.exp(-field.voxel_optical_depth())).cpu().numpy().astype(np.float32)


def field_colors(field: VoxelField, points: np.ndarray) -> np.ndarray:
    """The field's RGB at world points (N, 3) as uint8."""
    with torch.no_grad():
        _, rgb = field.query(torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)))
    return (rgb.clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)


def extract_mesh(field: VoxelField, surface_threshold: float = DEFAULT_SURFACE_THRESHOLD,
                 min_component_fraction: float = 0.1) -> SurfaceMesh:
    """Marching cubes at voxel opacity ``surface_threshold``; components under ``min_component_fraction`` of
    the largest are dropped."""
    if not 0.0 < surface_threshold < 1.0:
        raise ValueError(f"surface threshold is a voxel opacity in (0, 1), got {surface_threshold}")
    opacity = voxel_opacity(field)
    if not np.isfinite(opacity).all():
        raise EmptySurfaceError("the field holds non-finite densities: no surface can be extracted")
    if opacity.max() <= surface_threshold:
        raise EmptySurfaceError(
            f"the field is empty: no voxel reaches opacity {surface_threshold} (max {opacity.max():.3g}); "
            "fit longer, or lower the surface threshold"
        )
    if opacity.min() >= surface_threshold:
        raise EmptySurfaceError(
            f"the field is opaque everywhere (min voxel opacity {opacity.min():.3g} >= {surface_threshold})")
    padded = np.pad(opacity, 1, constant_values=0.0)
    spacing = field.voxel_size
    vertices, faces, _, _ = marching_cubes(padded, level=surface_threshold, spacing=(spacing,) * 3, gradient_direction="ascent",
                                        allow_degenerate=False)
    vertices = vertices - (field.half_extent + spacing)
    o3d = open3d_module()
    vertices, faces, normals = (_clean_open3d(o3d, vertices, faces, min_component_fraction) if o3d is not None
                                else _clean_numpy(vertices, faces, min_component_fraction))
    if len(faces) == 0:
        raise EmptySurfaceError("no triangles are left after removing degenerate ones and small components")
    return SurfaceMesh(vertices.astype(np.float32), faces.astype(np.int32), field_colors(field, vertices),
                       normals.astype(np.float32))


def _clean_open3d(o3d: ModuleType, vertices: np.ndarray, faces: np.ndarray,
                  min_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(vertices), o3d.utility.Vector3iVector(faces))
    mesh.remove_duplicated_vertices()
    mesh.remove_degenerate_triangles()
    clusters, sizes, _ = mesh.cluster_connected_triangles()
    sizes = np.asarray(sizes)
    if len(sizes):
        mesh.remove_triangles_by_mask(sizes[np.asarray(clusters)] < min_fraction * sizes.max())
    mesh.remove_unreferenced_vertices()
    mesh.compute_vertex_normals()
    return np.asarray(mesh.vertices), np.asarray(mesh.triangles), np.asarray(mesh.vertex_normals)


def _clean_numpy(vertices: np.ndarray, faces: np.ndarray, min_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    corners = vertices[faces]
    areas = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    faces = faces[areas > 1e-12]
    if len(faces):
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
        graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(len(vertices),) * 2)
        _, labels = connected_components(graph, directed=False)
        face_labels = labels[faces[:, 0]]
        sizes = np.bincount(face_labels)
        faces = faces[sizes[face_labels] >= min_fraction * sizes.max()]
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    vertices, faces = vertices[used], remap[faces]
    return vertices, faces, vertex_normals(vertices, faces)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted mean of the adjacent faces' normals, unit length."""
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def sample_triangles(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points spread uniformly over a triangle mesh's area: (points (N, 3) float64, their face indices)."""
    if count < 1:
        raise ValueError(f"point count must be positive, got {count}")
    corners = vertices[faces].astype(np.float64)
    areas = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    if len(areas) == 0 or not areas.sum() > 0:
        raise EmptySurfaceError("the mesh has no area to sample points on")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(areas), size=count, p=areas / areas.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1.0
    u, v = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    tri = corners[chosen]
    return tri[:, 0] + u[:, None] * (tri[:, 1] - tri[:, 0]) + v[:, None] * (tri[:, 2] - tri[:, 0]), chosen


def sample_surface(mesh: SurfaceMesh, field: VoxelField, count: int = 20000, seed: int = 0) -> PointCloud:
    """``count`` points spread uniformly over the mesh, coloured from the field, with their faces' normals."""
    points, chosen = sample_triangles(mesh.vertices, mesh.faces, count, seed)
    corners = mesh.vertices[mesh.faces[chosen]].astype(np.float64)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    return PointCloud(points.astype(np.float32), field_colors(field, points), normals.astype(np.float32))


# --------------------------------------------------------------------------- files


def write_mesh(path: str | Path, mesh: SurfaceMesh) -> Path:
    """Write the mesh as .ply, .obj or .glb (GLB needs Open3D), with vertex colours and normals."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".ply", ".obj", ".glb"):
        raise ValueError(f"unsupported mesh format {path.suffix!r}; use .ply, .obj or .glb")
    path.parent.mkdir(parents=True, exist_ok=True)
    o3d = open3d_module()
    if o3d is not None:
        out = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices.astype(np.float64)),
                                        o3d.utility.Vector3iVector(mesh.faces))
        out.vertex_colors = o3d.utility.Vector3dVector(mesh.colors.astype(np.float64) / 255.0)
        out.vertex_normals = o3d.utility.Vector3dVector(mesh.normals.astype(np.float64))
        if not o3d.io.write_triangle_mesh(str(path), out, write_triangle_uvs=False):
            raise OSError(f"Open3D could not write {path}")
    elif suffix == ".ply":
        _write_ply(path, mesh.vertices, mesh.colors, mesh.normals, mesh.faces)
    elif suffix == ".obj":
        _write_obj(path, mesh)
    else:
        raise ValueError("writing GLB needs Open3D (pip install open3d-cpu; apt-get install libusb-1.0-0)")
    return path


def write_point_cloud(path: str | Path, cloud: PointCloud) -> Path:
    """Write the points as a .ply with colours and normals."""
    path = Path(path)
    if path.suffix.lower() != ".ply":
        raise ValueError(f"point clouds are written as .ply, got {path.suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    o3d = open3d_module()
    if o3d is None:
        _write_ply(path, cloud.points, cloud.colors, cloud.normals, None)
        return path
    out = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(cloud.points.astype(np.float64)))
    out.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64) / 255.0)
    out.normals = o3d.utility.Vector3dVector(cloud.normals.astype(np.float64))
    if not o3d.io.write_point_cloud(str(path), out):
        raise OSError(f"Open3D could not write {path}")
    return path


def _write_ply(path: Path, points: np.ndarray, colors: np.ndarray, normals: np.ndarray, faces: np.ndarray | None) -> None:
    """Binary little-endian PLY: float x y z nx ny nz, uchar red green blue, optional uchar-int face lists."""
    vertex = np.empty(len(points), dtype=[("p", "<f4", 3), ("n", "<f4", 3), ("c", "u1", 3)])
    vertex["p"], vertex["n"], vertex["c"] = points, normals, colors
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(points)}",
              "property float x", "property float y", "property float z",
              "property float nx", "property float ny", "property float nz",
              "property uchar red", "property uchar green", "property uchar blue"]
    if faces is not None:
        header += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    with path.open("wb") as handle:
        handle.write(("\n".join([*header, "end_header"]) + "\n").encode("ascii"))
        handle.write(vertex.tobytes())
        if faces is not None:
            face = np.empty(len(faces), dtype=[("n", "u1"), ("i", "<i4", 3)])
            face["n"], face["i"] = 3, faces
            handle.write(face.tobytes())


def _write_obj(path: Path, mesh: SurfaceMesh) -> None:
    """OBJ with the common ``v x y z r g b`` vertex-colour extension and per-vertex normals."""
    rows = np.concatenate([mesh.vertices.astype(np.float64), mesh.colors.astype(np.float64) / 255.0], axis=1)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f} {r:.4f} {g:.4f} {b:.4f}" for x, y, z, r, g, b in rows]
    lines += [f"vn {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.normals]
    lines += [f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in mesh.faces + 1]
    path.write_text("\n".join(lines) + "\n")
