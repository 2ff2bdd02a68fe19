"""The pybullet dataset renderer: NMR layout, camera conventions, determinism, broken meshes."""

from __future__ import annotations

import argparse
import math
import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pybullet as p
import pytest
import yaml

from nvs_fusion_ros import cameras
from nvs_fusion_ros.datasets import placement, scene
from nvs_fusion_ros.datasets import render_dataset as rd
from nvs_fusion_ros.datasets.meshes import load_surfaces
from nvs_fusion_ros.datasets.sources import Source

SIZE = 32

CUBE_OBJ = """mtllib none.mtl
v -1 -1 -1
v 1 -1 -1
v 1 1 -1
v -1 1 -1
v -1 -1 1
v 1 -1 1
v 1 1 1
v -1 1 1
f 1/1/1 4/1/1 3/1/1 2/1/1
f 5//2 6//2 7//2 8//2
f 1 2 6 5
f 2 3 7 6
f 3 4 8 7
f -8 -4 -1 -5
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, rd.RenderReport]:
    root = tmp_path_factory.mktemp("nmr")
    return root, rd.render_dataset(root, size=SIZE, limit=3, val_count=1, test_count=1, seed=3)


@pytest.fixture
def mesh_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "meshes"
    (folder / "sub").mkdir(parents=True)
    # Offset and anisotropic, so that centring and scaling are exercised.
    (folder / "sub" / "cube.obj").write_text(CUBE_OBJ.replace("v -1", "v 4").replace("v 1", "v 6"))
    (folder / "garbage.obj").write_text("v a b c\nf 1 2 3\nthis is not an obj\n")
    (folder / "empty.obj").write_text("")
    return folder


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_layout(rendered: tuple[Path, rd.RenderReport]) -> None:
    root, report = rendered
    assert (report.rendered, report.skipped) == (3, 0)
    synset = root / rd.RANDOM_URDFS_SYNSET
    objects = sorted(d.name for d in synset.iterdir() if d.is_dir())
    assert len(objects) == 3
    for name in objects:
        images = sorted((synset / name / "image").glob("*.png"))
        masks = sorted((synset / name / "mask").glob("*.png"))
        assert [f.name for f in images] == [f"{i:04d}.png" for i in range(24)]
        assert [f.name for f in masks] == [f.name for f in images]
        image = cv2.imread(str(images[0]), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(masks[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
        assert mask.shape == (SIZE, SIZE) and set(np.unique(mask)) == {0, 255}
        far_from_object = cv2.dilate(mask, np.ones((3, 3), np.uint8)) == 0
        assert (image[far_from_object] == 255).all(), "background is white"


def test_cameras_npz_matches_shared_conventions(rendered: tuple[Path, rd.RenderReport]) -> None:
    root, _ = rendered
    obj = next(d for d in (root / rd.RANDOM_URDFS_SYNSET).iterdir() if d.is_dir())
    with np.load(obj / "cameras.npz") as data:
        assert data["azimuth"].shape == (24,)
        elevation = float(data["elevation"])  # drawn per object from the default 10-50 degrees
        assert math.radians(10.0) <= elevation <= math.radians(50.0)
        for i in range(24):
            cam = cameras.OrbitCamera(cameras.view_azimuth(i), elevation, width=SIZE, height=SIZE)
            np.testing.assert_allclose(data[f"world_mat_{i}"], cam.view_matrix(), atol=1e-12)
            np.testing.assert_allclose(data[f"camera_mat_{i}"], cam.projection_matrix(), atol=1e-12)
            assert math.isclose(data["azimuth"][i], 2 * math.pi * i / 24)
        assert float(data["distance"]) == cameras.DEFAULT_DISTANCE
        assert float(data["fov_deg"]) == cameras.DEFAULT_FOV_DEG
        assert str(data["source"]) == "random_urdfs" and 0.0 <= float(data["yaw"]) < 2 * math.pi


def test_each_object_draws_its_own_elevation(rendered: tuple[Path, rd.RenderReport]) -> None:
    root, _ = rendered
    elevations = set()
    for obj in (d for d in (root / rd.RANDOM_URDFS_SYNSET).iterdir() if d.is_dir()):
        with np.load(obj / "cameras.npz") as data:
            elevations.add(round(float(data["elevation"]), 9))
    assert len(elevations) == 3


def test_normalised_mesh_fits_bounding_sphere(rendered: tuple[Path, rd.RenderReport]) -> None:
    root, _ = rendered
    for obj in (d for d in (root / rd.RANDOM_URDFS_SYNSET).iterdir() if d.is_dir()):
        with np.load(obj / "mesh_normalized.npz") as mesh:
            vertices, faces = mesh["vertices"], mesh["faces"]
        assert vertices.dtype == np.float32 and faces.dtype == np.int32 and faces.shape[1] == 3
        used = vertices[np.unique(faces)]
        centre = (used.min(axis=0) + used.max(axis=0)) / 2
        np.testing.assert_allclose(centre, 0.0, atol=1e-5)
        assert math.isclose(np.linalg.norm(used, axis=1).max(), cameras.OBJECT_RADIUS, rel_tol=1e-4)


def test_metadata_and_disjoint_splits(rendered: tuple[Path, rd.RenderReport]) -> None:
    root, _ = rendered
    metadata = yaml.safe_load((root / "metadata.yaml").read_text())
    assert metadata == {"99999999": {"id": "99999999", "name": "random_urdfs"}}
    synset = root / rd.RANDOM_URDFS_SYNSET
    splits = {s: (synset / f"softras_{s}.lst").read_text().split() for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1, 1, 1]
    names = [n for names in splits.values() for n in names]
    assert sorted(names) == sorted(d.name for d in synset.iterdir() if d.is_dir())


def test_deterministic_under_seed(rendered: tuple[Path, rd.RenderReport], tmp_path: Path) -> None:
    root, _ = rendered
    rd.render_dataset(tmp_path, size=SIZE, limit=3, val_count=1, test_count=1, seed=3)
    first, again = root / rd.RANDOM_URDFS_SYNSET, tmp_path / rd.RANDOM_URDFS_SYNSET
    for split in ("train", "val", "test"):
        assert (first / f"softras_{split}.lst").read_text() == (again / f"softras_{split}.lst").read_text()
    for obj in (d.name for d in first.iterdir() if d.is_dir()):
        for view in ("0000.png", "0013.png"):
            np.testing.assert_array_equal(read_rgb(first / obj / "image" / view), read_rgb(again / obj / "image" / view))


def test_split_objects_is_seeded_and_disjoint() -> None:
    names = [f"{i:03d}" for i in range(40)]
    splits = rd.split_objects(names, val_count=5, test_count=7, seed=1)
    assert rd.split_objects(list(reversed(names)), 5, 7, seed=1) == splits
    assert rd.split_objects(names, 5, 7, seed=2) != splits
    assert (len(splits["val"]), len(splits["test"]), len(splits["train"])) == (5, 7, 28)
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == names


def test_off_centre_point_projects_where_cameras_says() -> None:
    """pybullet gets our matrices column-major: a small sphere must land on OrbitCamera.project."""
    client = p.connect(p.DIRECT)
    try:
        point = np.array([0.35, 0.2, 0.3])
        shape = p.createVisualShape(p.GEOM_SPHERE, radius=0.05, physicsClientId=client)
        p.createMultiBody(
            baseMass=0, baseVisualShapeIndex=shape, basePosition=point.tolist(), physicsClientId=client
        )
        for cam in scene.orbit_cameras(64, 30.0)[::4]:
            _, mask = scene.render_view(client, cam)
            rows, cols = np.nonzero(mask)
            expected = cam.project(point[None])[0]
            assert np.hypot(cols.mean() + 0.5 - expected[0], rows.mean() + 0.5 - expected[1]) < 1.0
    finally:
        p.disconnect(client)


def test_centre_projects_to_image_centre(mesh_folder: Path, tmp_path: Path) -> None:
    cam = cameras.OrbitCamera(cameras.view_azimuth(5), width=SIZE, height=SIZE)
    np.testing.assert_allclose(cam.project(np.zeros((1, 3)))[0], [SIZE / 2, SIZE / 2])
    out = tmp_path / "out"
    rd.render_dataset(out, sources=mesh_folder, size=SIZE, val_count=0, test_count=0)
    mask_dir = out / rd.CUSTOM_SYNSET / "sub_cube" / "mask"
    for mask_file in sorted(mask_dir.glob("*.png"))[::3]:
        rows, cols = np.nonzero(cv2.imread(str(mask_file), cv2.IMREAD_GRAYSCALE))
        assert abs(cols.mean() + 0.5 - SIZE / 2) < 1.5 and abs(rows.mean() + 0.5 - SIZE / 2) < 1.5


def test_broken_meshes_are_skipped_and_counted(mesh_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = rd.render_dataset(out, sources=mesh_folder, size=SIZE, val_count=0, test_count=0, orientation="file")
    assert (report.rendered, report.skipped) == (1, 2)
    assert report.skipped_names == ["custom/empty", "custom/garbage"]
    assert report.failures == {"obj: empty file": 1, "obj: unreadable": 1}
    synset = out / rd.CUSTOM_SYNSET
    assert len(list((synset / "sub_cube" / "image").glob("*.png"))) == 24
    assert (synset / "softras_train.lst").read_text() == "sub_cube\n"
    assert yaml.safe_load((out / "metadata.yaml").read_text())[rd.CUSTOM_SYNSET]["name"] == "custom"
    with np.load(synset / "sub_cube" / "mesh_normalized.npz") as mesh:
        assert mesh["faces"].shape == (12, 3)
        np.testing.assert_allclose(np.abs(mesh["vertices"]), cameras.OBJECT_RADIUS / math.sqrt(3), rtol=1e-5)


def test_obj_polygons_are_triangulated(tmp_path: Path) -> None:
    path = tmp_path / "cube.obj"
    path.write_text(CUBE_OBJ)  # quads, mixed v/vt/vn forms, negative indices, a missing MTL
    surfaces = load_surfaces(path)
    vertices = np.concatenate([s.vertices for s in surfaces])
    assert sum(len(s.faces) for s in surfaces) == 12
    np.testing.assert_allclose(np.abs(vertices), 1.0)


@pytest.mark.slow
def test_cli_registers_render_dataset(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    rd.add_cli(parser.add_subparsers())
    args = parser.parse_args(["render-dataset", "--out", str(tmp_path), "--limit", "1", "--size", "16",
                              "--val", "0", "--test", "0", "--workers", "2"])
    assert args.func(args) == 0
    assert len(list((tmp_path / rd.RANDOM_URDFS_SYNSET).glob("*/image/0023.png"))) == 1


def _crash_or_hang(job: int) -> tuple[int, str | None]:
    """A stand-in renderer for the pool (module level, so spawned workers import it): job 1 kills its
    worker the way a pybullet segfault does, job 2 hangs."""
    if job == 1:
        os.kill(os.getpid(), signal.SIGSEGV)
    if job == 2:
        time.sleep(120)
    return job, None


@pytest.mark.slow
def test_a_job_whose_worker_dies_or_hangs_is_reported_and_the_rest_render() -> None:
    results = list(scene.run_jobs(list(range(6)), 2, _crash_or_hang, lambda job, reason, detail: (job, reason),
                                  timeout_s=10))
    assert sorted(results) == [(0, None), (1, "worker died"), (2, "timed out"), (3, None), (4, None), (5, None)]


def test_a_lost_object_counts_as_a_failure_of_its_format() -> None:
    job = rd.make_job(Source("mug", Path("mug.obj")), Path("out"), 16, "file", (30.0, 30.0), False, 0)
    assert rd.lost_object(job, "worker died", "exit code -11") == (job.source, "worker died (exit code -11)",
                                                                   "obj: worker died")


def _box_corners(rotation: np.ndarray) -> np.ndarray:
    """The corners of a 4 x 2 x 1 box, turned by ``rotation``."""
    return np.array([[x, y, z] for x in (-2, 2) for y in (-1, 1) for z in (-0.5, 0.5)], float) @ rotation.T


def test_principal_axes_put_the_longest_axis_on_x_and_the_shortest_up() -> None:
    angle = 0.7
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    tilt = np.array([[1, 0, 0], [0, np.cos(0.4), -np.sin(0.4)], [0, np.sin(0.4), np.cos(0.4)]])
    corners = _box_corners(turn @ tilt)
    rotation = placement.principal_axes_rotation(corners)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    aligned = corners @ rotation.T
    np.testing.assert_allclose(np.abs(aligned).max(axis=0), [2.0, 1.0, 0.5], atol=1e-9)


def test_quaternion_matches_pybullets_rotation_matrix() -> None:
    p = scene.pybullet()
    rng = np.random.default_rng(0)
    for _ in range(20):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        q = q * np.sign(np.linalg.det(q))
        back = np.asarray(p.getMatrixFromQuaternion(scene.quaternion(q))).reshape(3, 3)
        np.testing.assert_allclose(back, q, atol=1e-6)
