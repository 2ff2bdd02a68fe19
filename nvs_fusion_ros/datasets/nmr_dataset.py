"""Reader for NMR-layout multi-view datasets (the real NMR_Dataset or our own renders).

Layout: ``<root>/<synset>/<object>/image/0000.png..0023.png`` with optional ``mask/``
and ``cameras.npz``, split lists ``softras_{split}.lst`` (or ``{split}.lst``) per
synset, and ``metadata.yaml`` naming the synsets (docs/DESIGN.md §4).

:class:`NMRViews` yields ViewFusion training samples (paper, Algorithm 1): a random
target view and 1..max_views input views drawn in random order from the other 23.
Input views carry no pose; only the target's azimuth is given: absolute (canonical mode, the
paper's) or measured from the anchor view, the last input (relative mode). Every draw
comes from a generator seeded by (seed, epoch, item), so a sample does not depend on
the DataLoader's worker count or order, and :meth:`NMRViews.set_epoch` renews them.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from torch.utils.data import Dataset

from nvs_fusion_ros import cameras
from nvs_fusion_ros.model.config import ANGLE_REFERENCES
from nvs_fusion_ros.synthesis.tensors import read_rgb, to_tensor

LOG = logging.getLogger(__name__)

VIEW_COUNT = cameras.NMR_VIEW_COUNT
DEFAULT_CACHE_OBJECTS = 1024  # ~300 MB of uint8 at 64x64: the whole rendered set, but bounded


@dataclass(frozen=True)
class NMRObject:
    """One object of the dataset: its category, its folder name and where it lives."""

    synset: str
    name: str
    path: Path

    @property
    def object_id(self) -> str:
        return f"{self.synset}/{self.name}"


def list_categories(root: Path) -> list[str]:
    """Synsets named in ``metadata.yaml``, or every subfolder with split lists when it is absent."""
    metadata = root / "metadata.yaml"
    if metadata.is_file():
        return sorted(str(key) for key in (yaml.safe_load(metadata.read_text()) or {}))
    return sorted(d.name for d in root.iterdir() if d.is_dir() and any(d.glob("*.lst")))


def split_list(synset_dir: Path, split: str) -> list[str]:
    """Object names of a split: ``softras_{split}.lst`` as NMR ships it, else ``{split}.lst``."""
    for name in (f"softras_{split}.lst", f"{split}.lst"):
        path = synset_dir / name
        if path.is_file():
            return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    LOG.warning("no %s split list in %s", split, synset_dir)
    return []


def list_objects(root: Path, split: str, categories: list[str] | None = None) -> list[NMRObject]:
    """Objects of a split across categories; listed objects without a folder are skipped with a warning."""
    objects = []
    for synset in categories or list_categories(root):
        for name in split_list(root / synset, split):
            path = root / synset / name
            if (path / "image").is_dir():
                objects.append(NMRObject(synset, name, path))
            else:
                LOG.warning("listed object %s/%s has no image folder", synset, name)
    return objects


def read_mask(path: Path) -> np.ndarray:
    """A mask as a single-channel uint8 image."""
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise OSError(f"cannot read mask {path}")
    return mask


def _resize(image: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or image.shape[:2] == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def view_files(folder: Path) -> list[Path]:
    """The 24 view files of an image or mask folder, in view order."""
    files = sorted(folder.glob("*.png"))
    if len(files) != VIEW_COUNT:
        raise OSError(f"{folder}: expected {VIEW_COUNT} views, found {len(files)}")
    return files


class NMRViews(Dataset):
    """ViewFusion training samples: one item per object, a random target and 1..max_views inputs."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        max_views: int = 6,
        image_size: int | None = None,
        categories: list[str] | None = None,
        seed: int = 0,
        cache_objects: int = DEFAULT_CACHE_OBJECTS,
        angle_reference: str = "canonical",
    ) -> None:
        if not 1 <= max_views < VIEW_COUNT:
            raise ValueError(f"max_views must be in 1..{VIEW_COUNT - 1}, got {max_views}")
        if angle_reference not in ANGLE_REFERENCES:
            raise ValueError(f"angle_reference must be one of {list(ANGLE_REFERENCES)}, got {angle_reference!r}")
        self.angle_reference = angle_reference
        self.root = Path(root)
        self.split = split
        self.max_views = max_views
        self.image_size = image_size
        self.seed = seed
        self.epoch = 0
        self.cache_objects = cache_objects
        self.objects = list_objects(self.root, split, categories)
        if not self.objects:
            raise ValueError(f"no {split} objects under {self.root}")
        self._make_cache()

    def _make_cache(self) -> None:
        """Per-instance bounded LRU of decoded objects (a class-level cache would pin every dataset)."""
        self._cached_images = functools.lru_cache(maxsize=self.cache_objects)(self._read_images)

    def __getstate__(self) -> dict:
        """Pickle without the cache, for DataLoader workers started by spawn."""
        state = self.__dict__.copy()
        del state["_cached_images"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._make_cache()

    def __len__(self) -> int:
        return len(self.objects)

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of another epoch (call it before each epoch, like DistributedSampler)."""
        self.epoch = epoch

    def _read_images(self, obj_index: int) -> np.ndarray:
        files = view_files(self.objects[obj_index].path / "image")
        return np.stack([_resize(read_rgb(f), self.image_size) for f in files])

    def load_object(self, obj_index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """All 24 views as uint8 (24, H, W, 3) and masks as uint8 0/255 (24, H, W) or None, for evaluation."""
        images = self._cached_images(obj_index)
        mask_dir = self.objects[obj_index].path / "mask"
        if not mask_dir.is_dir():
            return images, None
        masks = [_resize(read_mask(f), self.image_size) for f in view_files(mask_dir)]
        return images, (np.stack(masks) >= 128).astype(np.uint8) * 255

    def load_cameras(self, obj_index: int) -> dict[str, np.ndarray] | None:
        """The object's ``cameras.npz`` arrays, or None when the dataset has none."""
        path = self.objects[obj_index].path / "cameras.npz"
        if not path.is_file():
            return None
        with np.load(path) as data:
            return {key: data[key] for key in data.files}

    def draw(self, index: int) -> tuple[int, np.ndarray]:
        """Target view and input view indices of item ``index`` for the current (seed, epoch)."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        target = int(rng.integers(VIEW_COUNT))
        num_views = int(rng.integers(1, self.max_views + 1))
        others = np.delete(np.arange(VIEW_COUNT), target)
        return target, rng.permutation(others)[:num_views]

    def target_angle(self, target: int, anchor_view: int) -> float:
        """The angle the model is trained on: the target's azimuth in [0, 2π), measured from the
        anchor view's azimuth in relative mode (so turning the object about its up axis changes nothing)."""
        angle = cameras.view_azimuth(target)
        if self.angle_reference == "relative":
            angle -= cameras.view_azimuth(anchor_view)
        return angle % (2.0 * math.pi)

    def __getitem__(self, index: int) -> dict:
        """One sample; the anchor is the last input view (the inputs are a random draw, so any view can be it)."""
        target, inputs = self.draw(index)
        images = self._cached_images(index)
        views = torch.zeros((self.max_views, 3, *images.shape[1:3]), dtype=torch.float32)
        views[: len(inputs)] = to_tensor(images[inputs])
        view_indices = torch.full((self.max_views,), -1, dtype=torch.int64)
        view_indices[: len(inputs)] = torch.from_numpy(inputs)
        return {
            "views": views,
            "num_views": torch.tensor(len(inputs), dtype=torch.int64),
            "target": to_tensor(images[target]),
            "target_angle": torch.tensor(self.target_angle(target, int(inputs[-1])), dtype=torch.float32),
            "anchor": torch.tensor(len(inputs) - 1, dtype=torch.int64),
            "target_index": torch.tensor(target, dtype=torch.int64),
            "view_indices": view_indices,
            "object_id": self.objects[index].object_id,
        }
