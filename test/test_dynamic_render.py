"""The dynamic renderer (render-dataset --dynamic) and its reader: F x 24 views per clip, shared cameras."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from nvs_fusion_ros import cameras
from nvs_fusion_ros.cli import main
from nvs_fusion_ros.datasets import render_dataset as rd
from nvs_fusion_ros.datasets import render_dynamic as rdy
from nvs_fusion_ros.datasets import scene, sources
from nvs_fusion_ros.datasets.video_dataset import VideoClips

SIZE, FRAMES = 24, 3


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One articulated clip (kuka) and one tumbling random_urdfs clip."""
    root = tmp_path_factory.mktemp("dynamic")
    common = dict(frames=FRAMES, size=SIZE, elevation_deg=30.0)
    kuka = rdy.ClipJob("articulated", "kuka_iiwa_000", Path(sources.pybullet_data.getDataPath()) / rdy.ARTICULATED_MODELS[0],
                       root / rdy.ARTICULATED_SYNSET / "kuka_iiwa_000", seed=0, **common)
    tumbling = rdy.tumbling_jobs(root, 1, 0, **common)[0]
    for job in (kuka, tumbling):
        assert rdy.render_clip(job) == (job.clip_id, None)
        scene.write_split_lists(job.out_dir.parent, {"train": [job.clip_id], "val": [], "test": []})
    return root


def clip_dirs(root: Path) -> list[Path]:
    return sorted(d for synset in (rdy.ARTICULATED_SYNSET, rdy.TUMBLING_SYNSET) for d in (root / synset).iterdir() if d.is_dir())


def test_every_clip_has_frames_times_24_views_inside_the_image(clips: Path) -> None:
    for clip in clip_dirs(clips):
        frames = sorted((clip / "frames").iterdir())
        assert [f.name for f in frames] == [f"{i:04d}" for i in range(FRAMES)]
        for frame in frames:
            images = sorted((frame / "image").glob("*.png"))
            assert [f.name for f in images] == [f"{i:04d}.png" for i in range(cameras.NMR_VIEW_COUNT)]
            for path in sorted((frame / "mask").glob("*.png")):
                mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
                assert mask.shape == (SIZE, SIZE) and mask.any(), f"{path} is empty"
                border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
                assert not border.any(), f"{path}: the object leaves the bounding sphere"


def test_cameras_are_the_static_orbit(clips: Path) -> None:
    for clip in clip_dirs(clips):
        with np.load(clip / "cameras.npz") as data:
            expected = scene.orbit_cameras(SIZE, 30.0)
            np.testing.assert_allclose(data["azimuth"], [c.azimuth for c in expected])
            for i in (0, 7, 23):
                np.testing.assert_allclose(data[f"world_mat_{i}"], expected[i].view_matrix())


def test_the_objects_move_between_frames(clips: Path) -> None:
    for clip in clip_dirs(clips):
        first = cv2.imread(str(clip / "frames/0000/image/0003.png")).astype(int)
        last = cv2.imread(str(clip / "frames" / f"{FRAMES - 1:04d}" / "image/0003.png")).astype(int)
        assert np.abs(first - last).max() > 50
    with np.load(clips / rdy.ARTICULATED_SYNSET / "kuka_iiwa_000" / "motion.npz") as motion:
        assert motion["joint_positions"].shape == (FRAMES, 7)
        assert np.ptp(motion["joint_positions"], axis=0).min() > 0


def test_tumbling_frame_zero_is_the_static_render(clips: Path, tmp_path: Path) -> None:
    clip = next(d for d in (clips / rdy.TUMBLING_SYNSET).iterdir() if d.is_dir())
    source = next(s for s in sources.random_urdf_sources() if s.object_id == clip.name)
    job = rd.RenderJob(source, tmp_path / clip.name, SIZE, "principal-axes", 30.0, 0.0, scene.Lighting())
    assert rd.render_object(job)[1] is None
    for view in (0, 9):
        static = cv2.imread(str(tmp_path / clip.name / "image" / f"{view:04d}.png"))
        dynamic = cv2.imread(str(clip / "frames/0000/image" / f"{view:04d}.png"))
        np.testing.assert_array_equal(static, dynamic)
    with np.load(clip / "motion.npz") as motion:
        rotations = motion["rotations"]
    np.testing.assert_allclose(rotations[0], np.eye(3), atol=1e-6)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rotations.shape),
                               atol=1e-5)


def test_reader_yields_single_view_clips_and_matrices(clips: Path) -> None:
    dataset = VideoClips(clips, "train", frames=2, image_size=16)
    assert len(dataset) == 2
    item = dataset[0]
    assert item["frames"].shape == (2, 3, 16, 16) and item["frames"].abs().max() <= 1
    assert float(item["angle"]) == pytest.approx(cameras.view_azimuth(int(item["view_index"])))
    assert (item["first"] == item["frames"][0]).all()
    assert dataset.load_matrix(1).shape == (cameras.NMR_VIEW_COUNT, FRAMES, 16, 16, 3)
    with pytest.raises(ValueError, match="at least 4 frames"):
        VideoClips(clips, "train", frames=4)


def test_cli_renders_a_dynamic_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["render-dataset", "--dynamic", "--out", str(tmp_path), "--size", "16", "--frames", "2",
                 "--clips-per-model", "0", "--limit", "2", "--val", "0", "--test", "1"])
    assert code == 0 and "rendered 2 clips" in capsys.readouterr().out
    assert len((tmp_path / rdy.TUMBLING_SYNSET / "softras_train.lst").read_text().split()) == 1
    assert main(["render-dataset", "--dynamic", "--out", str(tmp_path), "--frames", "1"]) == 2
