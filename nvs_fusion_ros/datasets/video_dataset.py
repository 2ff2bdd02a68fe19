"""Reader for the dynamic dataset written by ``render-dataset --dynamic`` (layout in :mod:`.render_dynamic`).

:class:`VideoClips` yields single-view clips for the temporal model: a random view of a clip and
a random window of ``frames`` consecutive frames, conditioned on the window's first frame. Draws
come from a generator seeded by (seed, epoch, item), as :class:`.nmr_dataset.NMRViews` does.
:meth:`VideoClips.load_matrix` returns a clip's whole views x frames matrix for evaluation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .. import cameras
from ..synthesis.tensors import read_rgb, to_tensor
from .nmr_dataset import _resize, list_categories, split_list, view_files

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """One clip: its synset, name, folder and frame count."""

    synset: str
    name: str
    path: Path
    frame_count: int

    @property
    def clip_id(self) -> str:
        return f"{self.synset}/{self.name}"


def list_clips(root: Path, split: str, categories: list[str] | None = None) -> list[Clip]:
    """Clips of a split across synsets that hold clips (static synsets in the same root are ignored)."""
    clips = []
    for synset in categories or list_categories(root):
        for name in split_list(root / synset, split):
            frames = root / synset / name / "frames"
            if frames.is_dir():
                clips.append(Clip(synset, name, root / synset / name, len([d for d in frames.iterdir() if d.is_dir()])))
            elif not (root / synset / name / "image").is_dir():
                LOG.warning("listed clip %s/%s has no frames folder", synset, name)
    return clips


class VideoClips(Dataset):
    """Temporal-model samples: one item per clip, a random view and a random window of ``frames`` frames."""

    def __init__(self, root: str | Path, split: str, frames: int = 8, image_size: int | None = None,
                 categories: list[str] | None = None, seed: int = 0) -> None:
        if frames < 2:
            raise ValueError(f"a clip window needs at least 2 frames, got {frames}")
        self.root, self.split, self.frames = Path(root), split, frames
        self.image_size, self.seed, self.epoch = image_size, seed, 0
        self.clips = [c for c in list_clips(self.root, split, categories) if c.frame_count >= frames]
        if not self.clips:
            raise ValueError(f"no {split} clips with at least {frames} frames under {self.root}")

    def __len__(self) -> int:
        return len(self.clips)

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of another epoch (called by the trainer before each epoch)."""
        self.epoch = epoch

    def _frame_image(self, clip: Clip, frame: int, view: int) -> np.ndarray:
        return _resize(read_rgb(clip.path / "frames" / f"{frame:04d}" / "image" / f"{view:04d}.png"), self.image_size)

    def __getitem__(self, index: int) -> dict:
        clip = self.clips[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        view = int(rng.integers(cameras.NMR_VIEW_COUNT))
        start = int(rng.integers(clip.frame_count - self.frames + 1))
        frames = to_tensor(np.stack([self._frame_image(clip, f, view) for f in range(start, start + self.frames)]))
        return {
            "frames": frames,
            "first": frames[0],
            "angle": torch.tensor(cameras.view_azimuth(view), dtype=torch.float32),
            "view_index": torch.tensor(view, dtype=torch.int64),
            "start_frame": torch.tensor(start, dtype=torch.int64),
            "clip_id": clip.clip_id,
        }

    def load_matrix(self, index: int) -> np.ndarray:
        """All views x all frames of a clip as uint8 (24, F, H, W, 3), for evaluation."""
        clip = self.clips[index]
        per_frame = [
            np.stack([_resize(read_rgb(f), self.image_size) for f in view_files(clip.path / "frames" / f"{frame:04d}" / "image")])
            for frame in range(clip.frame_count)
        ]
        return np.stack(per_frame, axis=1)
