"""The frame ``rgbd_completion`` would complete: colour, depth and CameraInfo paired by stamp (``pairing``), the
newest paired one kept, and how old it is by the camera's own clock. ROS-free, so the reset and staleness rules hold
the same in the node and in a plain test.

Age is measured against the newest colour, depth or CameraInfo stamp *received*, not the node's clock: a recorded bag,
sim time or a camera on another machine with its own clock change nothing, and what it catches is the failure that
matters: frames keep arriving but no longer pair (depth lost in transport, a CameraInfo that stopped), so the kept
frame falls behind the scene. A camera that stops altogether leaves the kept frame the newest; the answer then still
says how long ago it paired (``describe``), by this process's steady clock.

A kept frame is a ``PairedFrame``: its segmentation is computed on first use and kept with it, so the mask thread,
the check ``~/complete`` makes before it queues a completion and the completion itself share one segmentation of
the frame instead of each running their own.
"""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

import numpy as np

from .depth import Intrinsics
from .pairing import Paired, StampPairer
from .pipeline import CompletionOptions, SegmentedFrame, segment_frame

T = TypeVar("T")
M = TypeVar("M")
ROI = tuple[int, int, int, int]


def stamp_text(stamp_ns: int) -> str:
    """A stamp as ROS prints it: seconds.nanoseconds."""
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


class PairedFrame(Generic[M]):
    """One paired colour + depth + intrinsics frame (``meta``: what the caller stamps it with, e.g. its header) and its
    ``segment_frame`` per ROI, each computed once, whichever thread asks first (the others wait for it); a failure
    is kept too, and raised again to every asker. ``segmentations`` counts the computations."""

    def __init__(self, meta: M, colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics,
                 options: CompletionOptions):
        self.meta, self.colour, self.depth, self.intrinsics, self.options = meta, colour, depth, intrinsics, options
        self.segmentations = 0
        self._lock = threading.Lock()
        self._segmented: dict[ROI | None, SegmentedFrame | ValueError] = {}

    def segmented(self, roi: ROI | None = None) -> SegmentedFrame:
        """The frame segmented within ``roi``; raises the ValueError (NothingAbovePlaneError, DepthError) it raised."""
        with self._lock:
            if roi not in self._segmented:
                self.segmentations += 1
                try:
                    self._segmented[roi] = segment_frame(self.colour, self.depth, self.intrinsics, self.options, roi)
                except ValueError as exc:
                    self._segmented[roi] = exc
            found = self._segmented[roi]
        if isinstance(found, ValueError):
            raise found
        return found


class FrameState(Generic[T]):
    """The pairer, the latest paired frame (any object, with its stamp) and the newest stamp received; ``reset``
    forgets all three."""

    def __init__(self, slop_ns: int):
        self.slop_ns = slop_ns
        self.reset()

    def reset(self) -> None:
        self.pairer: StampPairer[object] = StampPairer(self.slop_ns)
        self.unpaired_seen = 0  # pairer.unpaired already reported
        self.latest: T | None = None
        self.latest_ns = 0
        self.newest_ns: int | None = None
        self._kept_at = 0.0

    def received(self, stamp_ns: int) -> None:
        """A colour, depth or CameraInfo message arrived (readable or not)."""
        self.newest_ns = stamp_ns if self.newest_ns is None else max(self.newest_ns, stamp_ns)

    def add(self, stream: str, stamp_ns: int, item: object) -> Paired[object] | None:
        return self.pairer.add(stream, stamp_ns, item)

    def newly_unpaired(self) -> bool:
        """True once per growth of the pairer's unpaired count (so each is reported once)."""
        grew = self.pairer.unpaired > self.unpaired_seen
        self.unpaired_seen = self.pairer.unpaired
        return grew

    def keep(self, stamp_ns: int, frame: T) -> None:
        self.latest, self.latest_ns, self._kept_at = frame, stamp_ns, time.monotonic()

    def age_s(self) -> float:
        """Seconds from the kept frame's stamp to the newest stamp received."""
        return ((self.newest_ns or self.latest_ns) - self.latest_ns) / 1e9

    def refusal(self, max_age_s: float) -> str | None:
        """Why the kept frame may not be completed (none yet, or older than ``max_age_s``), or None."""
        if self.latest is None:
            return "no paired colour + depth + CameraInfo frame yet; see /diagnostics for dropped inputs"
        if self.age_s() > max_age_s:
            return (f"the latest paired frame (stamped {stamp_text(self.latest_ns)}) is {self.age_s():.3f} s older than "
                    f"the newest colour, depth or CameraInfo message received (max_frame_age {max_age_s:g} s): frames "
                    "arrive but no longer pair; see /diagnostics for dropped inputs")
        return None

    def describe(self) -> str:
        """The kept frame's stamp and age, for the ~/complete answer."""
        return (f"stamped {stamp_text(self.latest_ns)} ({self.age_s():.3f} s older than the newest message, paired "
                f"{time.monotonic() - self._kept_at:.1f} s ago)")
