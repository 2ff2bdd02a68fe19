"""Load any mesh a user has (through trimesh) and bake it into files pybullet renders with its colours.

pybullet's own OBJ loader reads geometry and one ``map_Kd`` texture per shape; it ignores MTL
``Kd`` colours, decodes only some JPEG variants and reads no STL/PLY/GLB/DAE/OFF colours at all.
So every file is read with trimesh into :class:`Surface` records (triangles, plus either a texture
with UVs or one RGBA colour per face), and :func:`bake` writes pybullet-friendly OBJ files:

* all colour-only surfaces of an object become ONE OBJ whose faces index cells of a small
  palette texture (a PNG), so per-material and per-face colours survive in a single body;
* each textured surface becomes its own OBJ + MTL + PNG (textures re-saved as PNG, whatever they
  were: JPEG, palette PNG, embedded GLB images), with UVs wrapped into [0, 1] per face.

A file that cannot be loaded raises :class:`MeshError` with a short reason; the caller counts it.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

LOG = logging.getLogger(__name__)

#: File suffixes read through trimesh (DAE needs pycollada, which requirements.txt pins).
MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".dae", ".off")
DEFAULT_RGBA = (0.7, 0.7, 0.7, 1.0)  # a surface without any colour would be white on white
MAX_TEXTURE_SIDE = 512  # views are rendered at 128 px; bigger textures only cost time
PALETTE_CELL = 4  # pixels per palette colour, so neighbouring cells never bleed into a sample
MAX_PALETTE_COLOURS = 4096


class MeshError(RuntimeError):
    """A mesh that cannot be rendered; the object is skipped, the run goes on.

    ``reason`` is a short category (for the per-reason counts), the message says the details.
    """

    def __init__(self, message: str, reason: str = "invalid mesh") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Surface:
    """Triangles of one material: a texture with per-vertex UVs, or one RGBA colour per face."""

    vertices: np.ndarray  # (V, 3) float64
    faces: np.ndarray  # (F, 3) int64
    face_rgba: np.ndarray | None = None  # (F, 4) float in [0, 1]; None when textured
    uv: np.ndarray | None = None  # (V, 2) float
    texture: Image.Image | None = None  # RGB

    @property
    def textured(self) -> bool:
        return self.texture is not None

    def transformed(self, matrix: np.ndarray) -> Surface:
        """The surface under a 4x4 affine transform; a mirroring transform flips the winding."""
        vertices = self.vertices @ matrix[:3, :3].T + matrix[:3, 3]
        faces = self.faces[:, ::-1] if np.linalg.det(matrix[:3, :3]) < 0 else self.faces
        return replace(self, vertices=vertices, faces=faces)

    def coloured(self, rgba: tuple[float, ...]) -> Surface:
        """The surface painted one colour (a URDF material overriding an untextured mesh)."""
        if self.textured:
            return self
        return replace(self, face_rgba=np.tile(np.asarray(rgba, dtype=np.float64), (len(self.faces), 1)))


@dataclass(frozen=True)
class MeshPart:
    """One baked OBJ of an object, with its vertices in the object's (link) frame."""

    obj_path: Path
    vertices: np.ndarray  # (V, 3)
    faces: np.ndarray  # (F, 3) int


# --------------------------------------------------------------------------- loading


def load_surfaces(path: str | Path, texture: str | Path | None = None) -> list[Surface]:
    """Every triangle surface of a mesh file, in the file's own frame and units.

    ``texture`` is applied to surfaces that carry UVs but no image of their own (an OBJ whose
    MTL is missing, or whose material the source names elsewhere, e.g. in MuJoCo XML).
    """
    import trimesh  # imported here: loading trimesh's plugins costs every CLI call otherwise

    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshError(f"{path.name}: not a mesh format trimesh reads here ({', '.join(MESH_SUFFIXES)})",
                        "unsupported format")
    if not path.is_file() or path.stat().st_size == 0:
        raise MeshError(f"{path}: missing or empty file", "empty file")
    override = _open_texture(texture) if texture is not None else None
    try:
        scene = trimesh.load(str(path), force="scene", process=False)
        meshes = [g for g in scene.dump(concatenate=False) if isinstance(g, trimesh.Trimesh)]
    except Exception as error:  # third-party parsers raise anything on a bad file
        raise MeshError(f"trimesh cannot read {path.name}: {type(error).__name__}: {error}", "unreadable") from error
    surfaces = [s for mesh in meshes if (s := _surface(mesh, override)) is not None]
    if not surfaces:
        raise MeshError(f"{path.name}: no triangles", "no triangles")
    vertices = np.concatenate([s.vertices for s in surfaces])
    if not np.isfinite(vertices).all():
        raise MeshError(f"{path.name}: non-finite vertices", "invalid mesh")
    return surfaces


def _surface(mesh, override: Image.Image | None) -> Surface | None:
    """One trimesh mesh as a Surface: textured when it has an image (own or ``override``) and UVs."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0 or len(vertices) == 0 or faces.min() < 0 or faces.max() >= len(vertices):
        return None
    visual = mesh.visual
    if visual.kind == "texture":
        material = visual.material
        if hasattr(material, "to_simple") and not hasattr(material, "image"):
            material = material.to_simple()  # PBR (GLB/GLTF): base colour texture and factor
        image = getattr(material, "image", None)
        image = override if image is None else image
        uv = getattr(visual, "uv", None)
        if image is not None and uv is not None and len(uv) == len(vertices):
            return Surface(vertices, faces, uv=np.asarray(uv, dtype=np.float64), texture=_rgb(image))
        diffuse = getattr(material, "diffuse", None)
        rgba = np.asarray(diffuse, dtype=np.float64) / 255.0 if diffuse is not None else np.asarray(DEFAULT_RGBA)
        return Surface(vertices, faces, face_rgba=np.tile(rgba, (len(faces), 1)))
    if visual.kind in ("face", "vertex"):
        if visual.kind == "face":
            colours = np.asarray(visual.face_colors, dtype=np.float64)
        else:
            colours = np.asarray(visual.vertex_colors, dtype=np.float64)[faces].mean(axis=1)
        return Surface(vertices, faces, face_rgba=colours / 255.0)
    return Surface(vertices, faces, face_rgba=np.tile(np.asarray(DEFAULT_RGBA), (len(faces), 1)))


def _open_texture(path: str | Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return _rgb(image)
    except OSError as error:
        raise MeshError(f"cannot read texture {path}: {error}", "bad texture") from error


def _rgb(image: Image.Image) -> Image.Image:
    """An RGB copy no larger than MAX_TEXTURE_SIDE (alpha would make pybullet draw holes)."""
    rgb = image.convert("RGB")
    side = max(rgb.size)
    if side > MAX_TEXTURE_SIDE:
        factor = MAX_TEXTURE_SIDE / side
        rgb = rgb.resize((max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor))), Image.BILINEAR)
    return rgb


# --------------------------------------------------------------------------- geometry


def points(surfaces: list[Surface]) -> np.ndarray:
    """Every vertex used by a face, stacked (V, 3)."""
    return np.concatenate([s.vertices[np.unique(s.faces)] for s in surfaces])


def merged(surfaces: list[Surface]) -> tuple[np.ndarray, np.ndarray]:
    """All surfaces as one triangle mesh (vertices, faces)."""
    vertices, faces, offset = [], [], 0
    for s in surfaces:
        vertices.append(s.vertices)
        faces.append(s.faces + offset)
        offset += len(s.vertices)
    return np.concatenate(vertices), np.concatenate(faces)


# --------------------------------------------------------------------------- baking


def bake(surfaces: list[Surface], folder: Path) -> list[MeshPart]:
    """Write the surfaces as pybullet-loadable OBJ files in ``folder`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    plain = [s for s in surfaces if not s.textured]
    if plain:
        parts.append(_bake_palette(plain, folder / "colours"))
    for k, surface in enumerate(s for s in surfaces if s.textured):
        parts.append(_bake_textured(surface, folder / f"texture{k:03d}"))
    return parts


def _bake_palette(surfaces: list[Surface], stem: Path) -> MeshPart:
    """One OBJ for every colour-only surface, each face's UVs at its colour's palette cell."""
    vertices, faces = merged(surfaces)
    rgb = np.concatenate([s.face_rgba[:, :3] for s in surfaces])
    levels = 255
    codes = np.rint(np.clip(rgb, 0, 1) * levels).astype(np.int64)
    colours, index = np.unique(codes, axis=0, return_inverse=True)
    while len(colours) > MAX_PALETTE_COLOURS:  # dense per-vertex colours: coarser levels
        levels //= 2
        codes = np.rint(np.clip(rgb, 0, 1) * levels).astype(np.int64)
        colours, index = np.unique(codes, axis=0, return_inverse=True)
    index = index.reshape(-1)
    per_row = 64
    rows = math.ceil(len(colours) / per_row)
    cells = np.full((rows * per_row, 3), 255, dtype=np.uint8)
    cells[: len(colours)] = np.rint(colours * 255.0 / levels).astype(np.uint8)
    image = np.repeat(np.repeat(cells.reshape(rows, per_row, 3), PALETTE_CELL, 0), PALETTE_CELL, 1)
    cell = np.arange(len(colours))
    uv = np.stack([((cell % per_row) + 0.5) / per_row, 1.0 - ((cell // per_row) + 0.5) / rows], axis=1)
    _write_obj(stem, vertices, faces, uv, np.repeat(index[:, None], 3, axis=1), Image.fromarray(image))
    return MeshPart(stem.with_suffix(".obj"), vertices, faces)


def _bake_textured(surface: Surface, stem: Path) -> MeshPart:
    """One OBJ + MTL + PNG; every face's UVs shifted by whole turns into [0, 1] (tiling is lost
    only where one face spans more than a whole texture)."""
    face_uv = surface.uv[surface.faces]  # (F, 3, 2)
    face_uv = face_uv - np.floor(face_uv.min(axis=1, keepdims=True))
    face_uv = np.clip(face_uv, 0.0, 1.0)
    uv = face_uv.reshape(-1, 2)
    uv_index = np.arange(len(uv)).reshape(-1, 3)
    _write_obj(stem, surface.vertices, surface.faces, uv, uv_index, surface.texture)
    return MeshPart(stem.with_suffix(".obj"), surface.vertices, surface.faces)


def _write_obj(stem: Path, vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, uv_index: np.ndarray,
               texture: Image.Image) -> None:
    """OBJ with ``v``/``vt``/``f v/vt`` records, its MTL naming the PNG texture, and the PNG."""
    texture.save(stem.with_suffix(".png"), format="PNG")
    stem.with_suffix(".mtl").write_text(f"newmtl m\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nmap_Kd {stem.name}.png\n")
    buffer = io.StringIO()
    buffer.write(f"mtllib {stem.name}.mtl\nusemtl m\n")
    np.savetxt(buffer, vertices, fmt="v %.6g %.6g %.6g")
    np.savetxt(buffer, uv, fmt="vt %.6f %.6f")
    records = np.stack([faces + 1, uv_index + 1], axis=2).reshape(-1, 6)
    np.savetxt(buffer, records, fmt="f %d/%d %d/%d %d/%d")
    stem.with_suffix(".obj").write_text(buffer.getvalue())
