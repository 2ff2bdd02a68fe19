"""Meshes of any format rendered upright with their colours; named sources; stratified object splits."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
import yaml
from PIL import Image

from nvs_fusion_ros.datasets import render_dataset as rd
from nvs_fusion_ros.datasets import sources
from nvs_fusion_ros.datasets.meshes import load_surfaces

SIZE = 32
RED, BLUE, GREEN, YELLOW = (220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 220, 20)


def _box(low: tuple[float, float, float], high: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(bounds=np.array([low, high], dtype=float))


def _obj_records(mesh: trimesh.Trimesh, offset: int) -> tuple[list[str], list[str]]:
    vertices = [f"v {x:g} {y:g} {z:g}" for x, y, z in mesh.vertices]
    faces = [f"f {a + offset + 1} {b + offset + 1} {c + offset + 1}" for a, b, c in mesh.faces]
    return vertices, faces


def _write_material_tower(path: Path) -> None:
    """A 1 x 1 x 3 tower, z-up: the lower two thirds red, the top third blue, by MTL material."""
    lower, upper = _box((0, 0, 0), (1, 1, 2)), _box((0, 0, 2), (1, 1, 3))
    lower_v, lower_f = _obj_records(lower, 0)
    upper_v, upper_f = _obj_records(upper, len(lower.vertices))
    path.with_suffix(".mtl").write_text(
        "newmtl red\nKd {:.3f} {:.3f} {:.3f}\nnewmtl blue\nKd {:.3f} {:.3f} {:.3f}\n".format(
            *(c / 255 for c in RED), *(c / 255 for c in BLUE)))
    path.write_text("\n".join([f"mtllib {path.stem}.mtl", *lower_v, *upper_v, "usemtl red", *lower_f,
                               "usemtl blue", *upper_f, ""]))


def _write_textured_tower(path: Path) -> None:
    """A 1 x 1 x 3 tower with UVs into a green JPEG texture (pybullet cannot read every JPEG)."""
    mesh = _box((0, 0, 0), (1, 1, 3))
    vertices, _ = _obj_records(mesh, 0)
    uvs = [f"vt {0.1 + 0.8 * x:g} {0.1 + 0.8 * z / 3:g}" for x, _, z in mesh.vertices]
    faces = [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in mesh.faces]
    Image.new("RGB", (16, 16), GREEN).save(path.parent / "green.jpg", format="JPEG", quality=95)
    path.with_suffix(".mtl").write_text("newmtl skin\nKd 1 1 1\nmap_Kd green.jpg\n")
    path.write_text("\n".join([f"mtllib {path.stem}.mtl", "usemtl skin", *vertices, *uvs, *faces, ""]))


@pytest.fixture(scope="module")
def household(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, rd.RenderReport]:
    folder = tmp_path_factory.mktemp("meshes")
    _write_material_tower(folder / "material_tower.obj")
    _write_textured_tower(folder / "textured_tower.obj")
    _box((0, 0, 0), (1, 1, 3)).export(folder / "tower.stl")
    ply = _box((0, 0, 0), (1, 1, 3))
    ply.visual.face_colors = np.tile([*YELLOW, 255], (len(ply.faces), 1))
    ply.export(folder / "yellow_tower.ply")
    (folder / "broken.ply").write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\n1 2\n")
    (folder / "notes.txt").write_text("not a mesh")
    out = tmp_path_factory.mktemp("rendered")
    return out, rd.render_dataset(out, sources=folder, size=SIZE, val_count=0, test_count=1, seed=1)


def _views(obj: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(cv2.cvtColor(cv2.imread(str(obj / "image" / f"{i:04d}.png")), cv2.COLOR_BGR2RGB),
             cv2.imread(str(obj / "mask" / f"{i:04d}.png"), cv2.IMREAD_GRAYSCALE) > 0) for i in range(24)]


def _near(image: np.ndarray, colour: tuple[int, int, int], tolerance: float = 60.0) -> np.ndarray:
    """Pixels of the colour's hue under any light: the colour's direction, not its brightness."""
    pixels = image.astype(np.float64)
    scale = (pixels @ np.asarray(colour, float)) / float(np.dot(colour, colour))
    return (np.linalg.norm(pixels - scale[..., None] * np.asarray(colour, float), axis=-1) < tolerance) & (scale > 0.3)


def test_good_meshes_render_and_the_broken_one_is_counted(household: tuple[Path, rd.RenderReport]) -> None:
    root, report = household
    assert report.per_source == {"custom": 4}
    assert report.skipped_names == ["custom/broken"]
    assert report.failures == {"ply: unreadable": 1, "txt: not a mesh format": 1}
    synset = root / rd.CUSTOM_SYNSET
    assert sorted(d.name for d in synset.iterdir() if d.is_dir()) == [
        "material_tower", "textured_tower", "tower", "yellow_tower"]


def test_objects_stand_upright_on_their_lowest_point(household: tuple[Path, rd.RenderReport]) -> None:
    root, _ = household
    for obj in (d for d in (root / rd.CUSTOM_SYNSET).iterdir() if d.is_dir()):
        with np.load(obj / "cameras.npz") as data, np.load(obj / "mesh_normalized.npz") as mesh:
            elevation, rotation = np.degrees(float(data["elevation"])), data["rotation"]
            assert 10.0 <= elevation <= 50.0 and str(data["orientation"]) == "upright"
            np.testing.assert_allclose(rotation[2], [0, 0, 1], atol=1e-12)  # only a yaw about the vertical
            assert float(mesh["vertices"][:, 2].min()) == pytest.approx(float(data["support_z"]), abs=1e-6)
            heights = np.ptp(mesh["vertices"], axis=0)
            assert heights[2] > 1.9 * max(heights[0], heights[1])  # the 3-high tower stands
        for _, mask in _views(obj):  # tall in every view: its height is vertical in the image
            rows, cols = np.nonzero(mask)
            assert np.ptp(rows) > 1.3 * np.ptp(cols)


def test_material_and_texture_colours_survive(household: tuple[Path, rd.RenderReport]) -> None:
    root, _ = household
    synset = root / rd.CUSTOM_SYNSET
    for image, mask in _views(synset / "material_tower"):
        red, blue = _near(image, RED) & mask, _near(image, BLUE) & mask
        assert red.sum() > 10 and blue.sum() > 3
        assert np.nonzero(blue)[0].mean() < np.nonzero(red)[0].mean()  # the blue top is above the red base
    for name, colour in (("textured_tower", GREEN), ("yellow_tower", YELLOW)):
        for image, mask in _views(synset / name)[::6]:
            assert _near(image, colour)[mask].mean() > 0.8, name
    grey = _views(synset / "tower")[0][0][_views(synset / "tower")[0][1]]
    assert np.ptp(grey.astype(int), axis=1).max() < 12  # the STL without colours is grey


def test_splits_are_disjoint_by_object_and_stratified_by_source() -> None:
    assert rd.stratified_counts({"a": 600, "b": 40, "c": 5, "d": 1}, 80) == {"a": 74, "b": 5, "c": 1, "d": 0}
    assert sum(rd.stratified_counts({"a": 500, "b": 500}, 81).values()) == 81


def test_named_pybullet_source_splits(tmp_path: Path) -> None:
    report = rd.render_dataset(tmp_path, named=["pybullet"], random_urdfs=2, limit=6, size=16, val_count=1,
                               test_count=2, seed=0)
    assert report.per_source == {"pybullet": 6}
    synset = tmp_path / sources.SYNSETS["pybullet"]
    splits = {s: (synset / f"softras_{s}.lst").read_text().split() for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [3, 1, 2]
    everything = [name for names in splits.values() for name in names]
    assert sorted(everything) == sorted(set(everything)) == sorted(d.name for d in synset.iterdir() if d.is_dir())
    assert yaml.safe_load((tmp_path / "metadata.yaml").read_text()) == {"99999993": {"id": "99999993", "name": "pybullet"}}


def test_sweethome3d_catalogue_keeps_household_models_sized_and_y_up(tmp_path: Path) -> None:
    box = _box((0, 0, 0), (1, 2, 3))  # y (the catalogue's up) is 2, z (its depth) is 3
    entries = {1: ("Kitchen", "false"), 2: ("Vehicles", "false"), 3: ("Living room", "true")}
    catalogue = "".join(
        f"id#{i}=x#{i}\nname#{i}=Caf\\u00e9 {i}\ncategory#{i}={category}\nmodel#{i}=/lib/m{i}/m{i}.obj\n"
        f"width#{i}=10\ndepth#{i}=30\nheight#{i}=20\ndoorOrWindow#{i}={door}\n" for i, (category, door) in entries.items())
    archive = tmp_path / "furniture"
    archive.mkdir()
    with zipfile.ZipFile(archive / "Lib.sh3f", "w") as zipped:
        zipped.writestr("PluginFurnitureCatalog.properties", catalogue.encode("latin-1"))
        for i in entries:
            zipped.writestr(f"lib/m{i}/m{i}.obj", box.export(file_type="obj"))
    listed = sources.sweethome3d_sources(archive)
    assert [s.object_id for s in listed] == ["Lib_m1"]
    assert sources.parse_properties(catalogue)["name#1"] == "Café 1"
    surfaces = sources.read_object(listed[0], tmp_path / "work")
    extent = np.ptp(np.concatenate([s.vertices for s in surfaces]), axis=0)
    np.testing.assert_allclose(extent, [10, 30, 20], atol=1e-9)  # width x, depth y, height z (up)


def test_formats_load_through_trimesh(tmp_path: Path) -> None:
    mesh = _box((0, 0, 0), (1, 2, 3))
    for suffix in ("obj", "stl", "ply", "off", "glb", "dae"):
        path = tmp_path / f"box.{suffix}"
        mesh.export(path)
        surfaces = load_surfaces(path)
        vertices = np.concatenate([s.vertices for s in surfaces])
        assert sum(len(s.faces) for s in surfaces) == 12, suffix
        np.testing.assert_allclose(np.ptp(vertices, axis=0), [1, 2, 3], atol=1e-6, err_msg=suffix)


def test_embedded_glb_texture_is_kept(tmp_path: Path) -> None:
    mesh = _box((0, 0, 0), (1, 1, 1))
    uv = np.random.default_rng(0).uniform(size=(len(mesh.vertices), 2))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.new("RGB", (8, 8), RED))
    mesh.export(tmp_path / "textured.glb")
    (surface,) = load_surfaces(tmp_path / "textured.glb")
    assert surface.textured and surface.texture.getpixel((3, 3)) == RED
