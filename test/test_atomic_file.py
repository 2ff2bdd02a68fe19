"""Cached files written by two processes at once (novel_view and rgbd_completion start together)."""

from pathlib import Path

import pytest

from nvs_fusion_ros.atomic_file import atomic_path


def test_two_interleaved_writers_use_their_own_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "viewfusion.onnx"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second and first.parent == second.parent == tmp_path
        first.write_bytes(b"first")
        second.write_bytes(b"second")  # with one shared name this would overwrite the first writer's file
        assert first.read_bytes() == b"first"
    assert target.read_bytes() == b"first"  # the outer writer finished last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["viewfusion.onnx"]


def test_a_failed_write_leaves_neither_temporary_nor_target(tmp_path: Path) -> None:
    target = tmp_path / "calibration.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("export failed")
    assert list(tmp_path.iterdir()) == []
