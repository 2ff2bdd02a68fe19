"""The NMR-layout reader: layout fallbacks, sample shapes and ranges, view draws, determinism.

The synthetic dataset paints view ``i`` of object ``k`` in a flat grey of value
``VALUE(k, i)``, so every returned image can be traced back to its view index.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from nvs_fusion_ros.datasets import render_dataset as rd
from nvs_fusion_ros.datasets.nmr_dataset import NMRViews, read_rgb

SIZE = 16
OBJECTS = ("obj_a", "obj_b", "obj_c", "obj_d")


def value(obj: int, view: int) -> int:
    return 8 * view + obj


def write_dataset(root: Path, *, metadata: bool = True, softras: bool = True, masks: bool = True) -> Path:
    synset = root / "02691156"
    for k, name in enumerate(OBJECTS):
        (synset / name / "image").mkdir(parents=True)
        if masks:
            (synset / name / "mask").mkdir()
        for i in range(24):
            cv2.imwrite(str(synset / name / "image" / f"{i:04d}.png"), np.full((SIZE, SIZE, 3), value(k, i), np.uint8))
            if masks:
                cv2.imwrite(str(synset / name / "mask" / f"{i:04d}.png"), np.full((SIZE, SIZE), 255, np.uint8))
    prefix = "softras_" if softras else ""
    (synset / f"{prefix}train.lst").write_text("obj_a\nobj_b\nobj_c\n")
    (synset / f"{prefix}test.lst").write_text("obj_d\n")
    if metadata:
        (root / "metadata.yaml").write_text(yaml.safe_dump({"02691156": {"id": "02691156", "name": "airplane"}}))
    return root


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    return write_dataset(tmp_path)


def pixel_view(image: torch.Tensor, obj: int) -> int:
    """Which view a flat synthetic image shows."""
    grey = round((float(image[0, 0, 0]) + 1.0) * 127.5)
    assert (grey - obj) % 8 == 0
    return (grey - obj) // 8


def test_sample_shapes_ranges_and_padding(dataset_root: Path) -> None:
    data = NMRViews(dataset_root, "train", max_views=6)
    assert len(data) == 3 and [o.name for o in data.objects] == ["obj_a", "obj_b", "obj_c"]
    for index in range(len(data)):
        sample = data[index]
        n = int(sample["num_views"])
        assert 1 <= n <= 6 and sample["num_views"].dtype == torch.int64
        assert sample["views"].shape == (6, 3, SIZE, SIZE) and sample["views"].dtype == torch.float32
        assert sample["target"].shape == (3, SIZE, SIZE)
        assert sample["views"].min() >= -1 and sample["views"].max() <= 1
        assert (sample["views"][n:] == 0).all()
        assert (sample["view_indices"][n:] == -1).all() and (sample["view_indices"][:n] >= 0).all()
        target = int(sample["target_index"])
        assert math.isclose(float(sample["target_angle"]), 2 * math.pi * target / 24, rel_tol=1e-6)
        assert sample["target_angle"].dtype == torch.float32
        assert sample["object_id"] == f"02691156/{OBJECTS[index]}"
        assert pixel_view(sample["target"], index) == target
        shown = [pixel_view(view, index) for view in sample["views"][:n]]
        assert shown == sample["view_indices"][:n].tolist()


def test_inputs_never_include_target_and_cover_view_counts(dataset_root: Path) -> None:
    data = NMRViews(dataset_root, "train", max_views=6, seed=5)
    counts = set()
    for epoch in range(40):
        data.set_epoch(epoch)
        for index in range(len(data)):
            target, inputs = data.draw(index)
            assert target not in inputs and len(set(inputs.tolist())) == len(inputs)
            counts.add(len(inputs))
    assert counts == set(range(1, 7))


def test_deterministic_per_seed_and_epoch(dataset_root: Path) -> None:
    first, second = NMRViews(dataset_root, "train", seed=1), NMRViews(dataset_root, "train", seed=1)
    a, b = first[1], second[1]
    assert all(torch.equal(a[k], b[k]) for k in a if k != "object_id")
    draws = [first.draw(i) for i in range(3)]
    first.set_epoch(1)
    assert [first.draw(i) for i in range(3)] != draws
    first.set_epoch(0)
    assert all(t == u and np.array_equal(v, w) for (t, v), (u, w) in zip(draws, [first.draw(i) for i in range(3)], strict=False))
    other_seed = NMRViews(dataset_root, "train", seed=2)
    assert [other_seed.draw(i)[0] for i in range(3)] + [len(other_seed.draw(i)[1]) for i in range(3)] != [
        d[0] for d in draws
    ] + [len(d[1]) for d in draws]


def test_load_object_masks_and_cameras(dataset_root: Path) -> None:
    data = NMRViews(dataset_root, "test")
    images, masks = data.load_object(0)
    assert images.shape == (24, SIZE, SIZE, 3) and images.dtype == np.uint8
    assert images[7, 0, 0, 0] == value(3, 7)
    assert masks is not None and masks.shape == (24, SIZE, SIZE) and set(np.unique(masks)) == {255}
    assert data.load_cameras(0) is None


def test_fallbacks_without_metadata_softras_lists_or_masks(tmp_path: Path) -> None:
    root = write_dataset(tmp_path, metadata=False, softras=False, masks=False)
    data = NMRViews(root, "train", image_size=8)
    assert len(data) == 3
    assert data[0]["views"].shape == (6, 3, 8, 8)
    images, masks = data.load_object(2)
    assert images.shape == (24, 8, 8, 3) and masks is None


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 2] = 200  # red in BGRA
    rgba[:2, :, 3] = 255
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    rgb = read_rgb(tmp_path / "a.png")
    np.testing.assert_array_equal(rgb[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(rgb[3, 3], [255, 255, 255])


def test_pickles_for_spawned_workers(dataset_root: Path) -> None:
    data = NMRViews(dataset_root, "train", seed=3)
    copy = pickle.loads(pickle.dumps(data))
    assert torch.equal(copy[2]["target"], data[2]["target"])


def test_reads_a_rendered_dataset(tmp_path: Path) -> None:
    rd.render_dataset(tmp_path, size=16, limit=2, val_count=0, test_count=1, seed=0)
    data = NMRViews(tmp_path, "train", max_views=3)
    sample = data[0]
    assert sample["views"].shape == (3, 3, 16, 16) and sample["object_id"].startswith("99999999/")
    assert data.load_cameras(0)["world_mat_0"].shape == (4, 4)
    images, masks = data.load_object(0)
    assert masks is not None and masks.any(axis=(1, 2)).all()
    assert (images[:, 0, 0] == 255).all() and (images[masks == 255] < 255).any()
