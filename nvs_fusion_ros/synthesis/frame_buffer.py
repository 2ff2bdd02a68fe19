"""The last F key frames of a camera stream, for dynamic (multi-frame) synthesis. ROS-free.

A frame is kept when its stamp is at least ``period`` seconds after the last kept one, so F frames
span F·period seconds of motion whatever the camera rate; a stamp older than the last kept one
(a bag that loops, a clock reset) starts a new clip, because mixing two timelines would make a
nonsense clip. Memory is bounded: at most ``capacity`` frames, oldest dropped first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

Meta = TypeVar("Meta")


@dataclass(frozen=True)
class Frame(Generic[Meta]):
    """One kept frame: its stamp in seconds, what the caller attached (e.g. a ROS header) and the image."""

    stamp: float
    meta: Meta
    image: np.ndarray


class FrameBuffer(Generic[Meta]):
    """Keeps the last ``capacity`` frames at least ``period`` seconds apart; see the module docstring."""

    def __init__(self, capacity: int, period: float = 0.0):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if not period >= 0.0:
            raise ValueError(f"period must be >= 0 seconds, got {period}")
        self.capacity = capacity
        self.period = period
        self._frames: deque[Frame[Meta]] = deque(maxlen=capacity)
        self.restarts = 0

    def __len__(self) -> int:
        return len(self._frames)

    def accepts(self, stamp: float) -> bool:
        """Whether ``offer`` would keep a frame with this stamp (check it before decoding the image)."""
        if not self._frames:
            return True
        last = self._frames[-1].stamp
        if stamp < last:
            return True  # a new clip
        return stamp != last and stamp - last >= self.period  # the same frame again (two topics) is not kept

    def offer(self, stamp: float, meta: Meta, image: np.ndarray) -> bool:
        """Keep the frame if it is a key frame; True when kept."""
        if not self.accepts(stamp):
            return False
        if self._frames and stamp < self._frames[-1].stamp:
            self._frames.clear()
            self.restarts += 1
        self._frames.append(Frame(stamp, meta, image))
        return True

    def frames(self) -> list[Frame[Meta]]:
        """The kept frames, oldest first (a copy: safe to hand to another thread)."""
        return list(self._frames)

    def clear(self) -> None:
        self._frames.clear()
