"""Key-view selection and the key-view set protocol, free of ROS so plain pytest drives it.

A camera streams many near-identical frames; the model wants a few views that differ.

**Difference measure.** ``view_difference(a, b)`` is the mean absolute difference of the
two views' 32x32 greyscale thumbnails (letterboxed on white like the model's inputs,
intensities in [0, 1]), so it lies in [0, 1]: 0 for identical views; on the shipped
sample object (64x64 renderings, white background) about 0.02 for views 15 degrees apart
and 0.035-0.07 for views 60 degrees or more apart.

**Admission.** A view is a key view only if its difference to *every* kept view is at
least ``min_view_difference``. While the set has room, an admitted view is added.

**When full.** The set's *diversity* is its minimum pairwise difference. An admitted view
replaces the kept view whose removal (and the new view's addition) maximises that
minimum, and only when the resulting set is strictly more diverse than the current one;
otherwise it is dropped. So the set only ever becomes more diverse, and a camera that
keeps looking at the same side cannot flush out the views of the other sides. With
``max_views == 1`` a set has no pairs, and the first view is kept until a reset.

**Publishing protocol** (``views`` topic, RELIABLE + TRANSIENT_LOCAL, depth ``max_views``):
each time the set changes the whole set is published again, one message per view, the
kept views in their order and the newest view last. ``ReceivedViews`` is the receiving
rule: keep the last ``max_views`` *distinct* views, a repeated view moving to the end.
Processing the stream in order then yields exactly the current set, both for a live
subscriber and for a late joiner that gets the last ``max_views`` messages from the
transient-local history. A set only shrinks on reset; the buffer then publishes a *reset
marker* (an Image with no pixels) and a receiver forgets every view it holds when it reads
one (``ReceivedViews.clear``), so the rule holds whether or not the marker is still in the
history a late joiner gets: if it is, everything before it is forgotten; if not, nothing from
before the reset is in the history either.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

from .preprocess import BACKGROUND, letterbox

THUMBNAIL_SIZE = 32

Meta = TypeVar("Meta")


def thumbnail(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 view as a 32x32 greyscale float32 thumbnail in [0, 1] (letterboxed on white)."""
    grey = cv2.cvtColor(letterbox(image, THUMBNAIL_SIZE), cv2.COLOR_RGB2GRAY)
    return grey.astype(np.float32) / 255.0


def view_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in [0, 1]."""
    return float(np.abs(a - b).mean())


def set_diversity(thumbnails: Sequence[np.ndarray]) -> float:
    """Minimum pairwise difference of a set of thumbnails; +inf for fewer than two (no pairs)."""
    return min((view_difference(a, b) for a, b in itertools.combinations(thumbnails, 2)), default=float("inf"))


class Decision(enum.Enum):
    ADDED = "added"
    REPLACED = "replaced"
    TOO_SIMILAR = "too similar to a kept view"
    NOT_MORE_DIVERSE = "set is full and would not become more diverse"

    @property
    def changed(self) -> bool:
        return self in (Decision.ADDED, Decision.REPLACED)


@dataclass
class KeyView(Generic[Meta]):
    """A kept view: the image as published, its thumbnail, and caller data (e.g. the source header)."""

    image: np.ndarray
    thumbnail: np.ndarray
    meta: Meta


@dataclass
class Offer(Generic[Meta]):
    """What ``KeyViewSet.offer`` decided; ``evicted`` is the view a replacement pushed out."""

    decision: Decision
    closest_difference: float
    evicted: KeyView[Meta] | None = None


class KeyViewSet(Generic[Meta]):
    """A bounded set of mutually different views (policy in the module docstring)."""

    def __init__(self, max_views: int, min_view_difference: float):
        if max_views < 1:
            raise ValueError(f"max_views must be at least 1, got {max_views}")
        self.max_views = max_views
        self.min_view_difference = check_min_view_difference(min_view_difference)
        self.views: list[KeyView[Meta]] = []

    def __len__(self) -> int:
        return len(self.views)

    def clear(self) -> None:
        self.views.clear()

    def offer(self, image: np.ndarray, meta: Meta) -> Offer[Meta]:
        """Consider one RGB uint8 view; keep it (adding or replacing) or refuse it, and say why."""
        candidate = KeyView(image, thumbnail(image), meta)
        closest = min((view_difference(candidate.thumbnail, v.thumbnail) for v in self.views), default=1.0)
        if closest < self.min_view_difference:
            return Offer(Decision.TOO_SIMILAR, closest)
        if len(self.views) < self.max_views:
            self.views.append(candidate)
            return Offer(Decision.ADDED, closest)
        current = set_diversity([v.thumbnail for v in self.views])
        best_index, best = -1, current
        for i in range(len(self.views)):
            kept = [v.thumbnail for j, v in enumerate(self.views) if j != i]
            diversity = set_diversity([*kept, candidate.thumbnail])
            if diversity > best:
                best_index, best = i, diversity
        if best_index < 0:
            return Offer(Decision.NOT_MORE_DIVERSE, closest)
        evicted = self.views.pop(best_index)
        self.views.append(candidate)
        return Offer(Decision.REPLACED, closest, evicted)


def check_min_view_difference(value: float) -> float:
    """The admission threshold must lie in [0, 1], the range of ``view_difference``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"min_view_difference must be in [0, 1] (mean absolute thumbnail difference), got {value}")
    return float(value)


class ReceivedViews:
    """The receiving side of the publishing protocol: the last ``max_views`` distinct views by key."""

    def __init__(self, max_views: int):
        if max_views < 1:
            raise ValueError(f"max_views must be at least 1, got {max_views}")
        self.max_views = max_views
        self._views: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._views)

    def receive(self, key: Hashable, image: np.ndarray) -> None:
        self._views[key] = image
        self._views.move_to_end(key)
        while len(self._views) > self.max_views:
            self._views.popitem(last=False)

    def clear(self) -> None:
        self._views.clear()

    def keys(self) -> list[Hashable]:
        return list(self._views)

    def images(self) -> list[np.ndarray]:
        return list(self._views.values())

    @staticmethod
    def key(sec: int, nanosec: int, frame_id: str, image: np.ndarray) -> tuple[int, int, str, bytes]:
        """A view's key: its stamp, frame_id *and* pixels, so cameras that stamp 0 or repeat stamps keep distinct
        views distinct (the stamp leads, for ``newest_last``)."""
        return sec, nanosec, frame_id, hashlib.blake2b(image.tobytes(), digest_size=16).digest()

    def by_stamp(self) -> list[tuple[Hashable, np.ndarray]]:
        """(key, image) oldest first by stamp (``key``'s first two fields; a stable sort: arrival breaks ties)."""
        return sorted(self._views.items(), key=lambda view: view[0][:2])  # type: ignore[index]

    def newest_last(self) -> tuple[list[np.ndarray], str]:
        """The views by stamp and the newest's frame_id: the newest last, a relative model's anchor ``views[-1]``,
        also when cameras' frames arrive out of stamp order."""
        held = self.by_stamp()
        return [image for _, image in held], held[-1][0][2]  # type: ignore[index]


# --- preparing a camera frame before it is offered -------------------------------------------------


def mask_background(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Paint everything outside the object mask (mono8, non-zero = object) white, like the training data."""
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.shape[1]}x{image.shape[0]}")
    if not mask.any():
        raise ValueError("the object mask selects no pixel")
    out = image.copy()
    out[mask == 0] = BACKGROUND
    return out


def crop_to_roi(image: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """Crop to a region of interest, clipped to the image; 0 width or height means the full image
    (the sensor_msgs/RegionOfInterest convention)."""
    if width == 0 or height == 0:
        return image
    h, w = image.shape[:2]
    x0, y0 = min(max(x, 0), w), min(max(y, 0), h)
    x1, y1 = min(x0 + width, w), min(y0 + height, h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region of interest x={x} y={y} {width}x{height} lies outside the {w}x{h} image")
    return image[y0:y1, x0:x1]


def prepare_key_view(
    image: np.ndarray, size: int, roi: tuple[int, int, int, int] | None = None, mask: np.ndarray | None = None
) -> np.ndarray:
    """Mask (full frame), then crop, then letterbox to ``size``: the view as the buffer keeps it.

    Raises ValueError for a frame that cannot be a key view (see ``degenerate_view``).
    """
    if mask is not None:
        image = mask_background(image, mask)
    if roi is not None:
        image = crop_to_roi(image, *roi)
    reason = degenerate_view(image)
    if reason is not None:
        raise ValueError(reason)
    return letterbox(image, size)


MIN_VIEW_SIDE = 8  # pixels; below this a view carries no usable appearance (and a 1x1 ROI is a mistake)


def degenerate_view(image: np.ndarray) -> str | None:
    """Why an RGB view (after mask and crop) shows no object, or None: too small, or one flat colour."""
    height, width = image.shape[:2]
    if min(height, width) < MIN_VIEW_SIDE:
        return f"the view is {width}x{height} pixels, below the {MIN_VIEW_SIDE}x{MIN_VIEW_SIDE} minimum"
    if (image == image.reshape(-1, image.shape[-1])[0]).all():
        return f"the view is one flat colour {tuple(int(c) for c in image.reshape(-1, image.shape[-1])[0])}: no object"
    return None
