"""Dynamic synthesis: VideoSynthesizer, the frame buffer, ``synthesize-video`` and ``evaluate-video`` on real files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from nvs_fusion_ros.cli import main
from nvs_fusion_ros.datasets import render_dataset as rd
from nvs_fusion_ros.datasets import render_dynamic as rdy
from nvs_fusion_ros.diffusion.schedules import linear_schedule
from nvs_fusion_ros.evaluation.evaluate_video import frame_change
from nvs_fusion_ros.model.checkpoint import load_checkpoint, save_checkpoint
from nvs_fusion_ros.model.temporal_unet import TemporalUNet, temporal_preset
from nvs_fusion_ros.synthesis.frame_buffer import FrameBuffer
from nvs_fusion_ros.synthesis.synthesizer import NovelViewSynthesizer
from nvs_fusion_ros.synthesis.video_cli import evenly_spaced, read_clip
from nvs_fusion_ros.synthesis.video_synthesizer import CompositionSettings, VideoSynthesizer

TINY_SIZE = 16
ANGLES = [0.0, math.pi / 2, math.pi]


def clip(frames: int = 4, seed: int = 0) -> list[list[np.ndarray]]:
    """A moving grey bar, one 24x24 view per frame."""
    images = []
    for f in range(frames):
        image = np.full((24, 24, 3), 255, np.uint8)
        image[8:16, 2 + 4 * f : 8 + 4 * f] = 40 + 30 * seed
        images.append([image])
    return images


def synthesizer(tiny_checkpoint: Path, temporal_checkpoint: Path | None) -> VideoSynthesizer:
    views = NovelViewSynthesizer.from_checkpoint(tiny_checkpoint, engine="torch", device="cpu")
    temporal = None if temporal_checkpoint is None else load_checkpoint(temporal_checkpoint, kind="temporal")
    return VideoSynthesizer(views, temporal)


def test_per_frame_and_composition_share_the_reference_row(tiny_checkpoint: Path, temporal_checkpoint: Path) -> None:
    synth = synthesizer(tiny_checkpoint, temporal_checkpoint)
    settings = CompositionSettings(steps=4, rollback_steps=2)
    per_frame = synth.synthesize(clip(), ANGLES, "per-frame", settings, seed=5)
    run = synth.synthesize_steps(clip(), ANGLES, "composition", settings, seed=5)
    calls = [(state.done, state.total) for state in run]
    composed = run.result
    assert calls == [(i, 8) for i in range(1, 9)], "one progress count over the reference and the matrix passes"
    assert per_frame.images.shape == composed.images.shape == (3, 4, TINY_SIZE, TINY_SIZE, 3)
    assert per_frame.images.dtype == np.uint8 and len(per_frame.inputs) == 4
    # Same column noise: the reference D_time sees is exactly frame 0 of the per-frame matrix.
    np.testing.assert_array_equal(composed.reference, per_frame.images[:, 0])
    np.testing.assert_array_equal(per_frame.reference, per_frame.images[:, 0])
    assert np.abs(composed.images.astype(int) - per_frame.images).max() > 0, "the temporal model must change the matrix"
    again = synth.synthesize(clip(), ANGLES, "composition", settings, seed=5)
    np.testing.assert_array_equal(again.images, composed.images)
    assert composed.seeds == [5, 6, 7]


def test_weight_one_composition_is_per_frame_viewfusion(tiny_checkpoint: Path, temporal_checkpoint: Path) -> None:
    synth = synthesizer(tiny_checkpoint, temporal_checkpoint)
    only_views = CompositionSettings(steps=4, weight=1.0, rollback_steps=0)
    composed = synth.synthesize(clip(), ANGLES, "composition", only_views, seed=1)
    per_frame = synth.synthesize(clip(), ANGLES, "per-frame", only_views, seed=1)
    np.testing.assert_array_equal(composed.images, per_frame.images)


def test_frames_are_synthesized_from_their_own_views(tiny_checkpoint: Path) -> None:
    synth = synthesizer(tiny_checkpoint, None)
    settings = CompositionSettings(steps=3, rollback_steps=0)
    base = synth.synthesize(clip(), ANGLES, "per-frame", settings, seed=2)
    frames = clip()
    frames[2] = clip(seed=4)[2]  # another view at frame 2 only
    changed = synth.synthesize(frames, ANGLES, "per-frame", settings, seed=2)
    differs = [bool(np.any(base.images[:, f] != changed.images[:, f])) for f in range(4)]
    assert differs == [False, False, True, False]


def test_bad_requests_and_models_raise_clear_errors(tiny_checkpoint: Path, temporal_checkpoint: Path,
                                                    tmp_path: Path) -> None:
    no_temporal = synthesizer(tiny_checkpoint, None)
    with pytest.raises(ValueError, match="temporal model"):
        no_temporal.synthesize(clip(), ANGLES, "composition")
    with pytest.raises(ValueError, match="unknown method"):
        no_temporal.synthesize(clip(), ANGLES, "optical-flow")
    with pytest.raises(ValueError, match="at least one frame"):
        no_temporal.synthesize([], ANGLES, "per-frame")
    with pytest.raises(ValueError, match="rollback_steps"):
        CompositionSettings(steps=3, rollback_steps=4)
    with pytest.raises(ValueError, match="weight"):
        CompositionSettings(weight=1.5)
    other = tmp_path / "other_schedule.pt"
    save_checkpoint(other, TemporalUNet(temporal_preset("temporal-tiny")), linear_schedule(1e-4, 0.1, 50))
    views = NovelViewSynthesizer.from_checkpoint(tiny_checkpoint, engine="torch", device="cpu")
    with pytest.raises(ValueError, match="noise schedules"):
        VideoSynthesizer(views, load_checkpoint(other, kind="temporal"))


def test_frame_buffer_keeps_the_last_key_frames() -> None:
    buffer: FrameBuffer[int] = FrameBuffer(capacity=3, period=0.5)
    kept = [buffer.offer(t, i, np.zeros((2, 2, 3), np.uint8)) for i, t in enumerate([0.0, 0.2, 0.5, 0.5, 1.1, 1.7, 2.2])]
    assert kept == [True, False, True, False, True, True, True]
    assert buffer.accepts(2.8) and not buffer.accepts(2.5) and not buffer.accepts(2.2) and buffer.accepts(0.1)
    assert [f.meta for f in buffer.frames()] == [4, 5, 6]  # bounded: the oldest went first
    assert buffer.offer(1.0, 7, np.zeros((2, 2, 3), np.uint8)) and buffer.restarts == 1
    assert [f.meta for f in buffer.frames()] == [7], "an older stamp starts a new clip"
    with pytest.raises(ValueError, match="capacity"):
        FrameBuffer(0)


def test_read_clip_takes_evenly_spaced_frames_of_a_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    assert writer.isOpened()
    for f in range(10):
        writer.write(np.full((24, 32, 3), 20 * f, np.uint8))  # frame f is uniformly grey 20·f
    writer.release()
    frames = read_clip([str(path)], 4)  # frames 0, 3, 6, 9
    assert [f.shape for f in frames] == [(24, 32, 3)] * 4
    assert [round(float(f.mean()) / 20) for f in frames] == [0, 3, 6, 9]
    with pytest.raises(FileNotFoundError):
        read_clip([str(tmp_path / "absent.mp4")], 4)


def test_evenly_spaced_frames() -> None:
    assert evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert evenly_spaced(3, 8) == [0, 1, 2]
    with pytest.raises(ValueError, match="no frames"):
        evenly_spaced(0, 3)


def test_synthesize_video_cli_writes_the_matrix(tiny_checkpoint: Path, temporal_checkpoint: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    for f, (image,) in enumerate(clip(frames=6)):
        Image.fromarray(image).save(folder / f"{f:03d}.png")
    out = tmp_path / "out"
    code = main(["synthesize-video", str(folder), "--frames", "3", "--angles", "0", "180", "--steps", "3",
                 "--rollback", "1", "--seed", "0", "--model", str(tiny_checkpoint), "--temporal-model",
                 str(temporal_checkpoint), "--engine", "torch", "--device", "cpu", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3 and summary["method"] == "composition"
    assert sorted(p.parent.name for p in out.glob("view_*/frame_*.png")) == ["view_00_0deg"] * 3 + ["view_01_180deg"] * 3
    with Image.open(out / "clip.gif") as gif:
        assert gif.n_frames == 3
    assert (out / "contact_sheet.png").stat().st_size > 0
    assert '"frames": 3' in capsys.readouterr().out


def test_evaluate_video_runs_three_methods_on_held_out_clips(tiny_checkpoint: Path, temporal_checkpoint: Path,
                                                             tmp_path: Path) -> None:
    root = tmp_path / "dynamic"
    job = rdy.tumbling_jobs(root, 1, 0, frames=3, size=TINY_SIZE, elevation_deg=30.0)[0]
    assert rdy.render_clip(job) == (job.clip_id, None)
    rd.write_split_lists(job.out_dir.parent, {"train": [], "val": [], "test": [job.clip_id]})
    rd.write_metadata(root, rdy.TUMBLING_SYNSET, "dynamic_tumbling")
    out = tmp_path / "eval"
    code = main(["evaluate-video", "--data", str(root), "--frames", "3", "--steps", "3", "--rollback", "2",
                 "--model", str(tiny_checkpoint), "--temporal-model", str(temporal_checkpoint), "--engine", "torch",
                 "--device", "cpu", "--examples", "1", "--out", str(out)])
    assert code == 0
    report = json.loads((out / "evaluation_video.json").read_text())
    assert set(report["results"]) == {"per_frame", "composition", "composition_rollback"}
    for result in report["results"].values():
        assert set(result) == {"psnr", "ssim", "frame_change", "tc_excess", "seconds"}
        assert math.isfinite(result["psnr"]) and 0 < result["frame_change"]
        assert result["tc_excess"] == pytest.approx(result["frame_change"] - report["truth_frame_change"])
    assert report["truth_frame_change"] > 0, "a tumbling object changes between frames"
    assert (out / "matrix_00.png").is_file() and "composition_rollback" in (out / "evaluation_video.md").read_text()


def test_frame_change_is_the_mean_absolute_step() -> None:
    matrix = np.zeros((2, 3, 4, 4, 3), np.uint8)
    matrix[:, 1] = 255
    assert frame_change(matrix) == pytest.approx(1.0)  # 0 -> 1 -> 0: every step changes by 1
