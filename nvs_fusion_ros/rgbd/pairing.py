"""Pairing colour, depth and CameraInfo messages by header stamp within a slop.

``message_filters`` (ApproximateTime) is not installable on pip-only ROS (docs/DESIGN.md §3), so
the pairing is written here: each stream keeps its last few items by stamp (nanoseconds);
whenever an item arrives, the newest colour item that has a depth *and* a CameraInfo within
``slop`` of its stamp makes a triple (the closest of each), and the colour and depth items at
or before it are dropped, so a triple is emitted once and the queues stay bounded (CameraInfo
items stay: a driver may publish them less often than frames).
``unpaired`` counts colour items dropped without a partner and ``missing`` says, for the last
one, how far the nearest depth and CameraInfo stamps were (None: none held), so a caller can say
which input does not pair (one throttled log line) instead of staying silent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
STREAMS = ("colour", "depth", "info")


@dataclass(frozen=True)
class Paired(Generic[T]):
    """One colour item with the depth and CameraInfo items closest to its stamp (all within slop)."""

    stamp_ns: int
    colour: T
    depth: T
    info: T


class StampPairer(Generic[T]):
    """Keeps up to ``depth`` items per stream and emits triples whose stamps lie within ``slop_ns``."""

    def __init__(self, slop_ns: int, depth: int = 10):
        if slop_ns < 0 or depth < 1:
            raise ValueError(f"slop must be >= 0 and queue depth >= 1, got {slop_ns} ns and {depth}")
        self.slop_ns = int(slop_ns)
        # partners keep twice as many, so a colour item that falls out still finds the partners it had
        self._queues: dict[str, deque[tuple[int, T]]] = {name: deque(maxlen=depth * (1 if name == "colour" else 2))
                                                         for name in STREAMS}
        self.unpaired = 0
        self.missing: dict[str, int | None] = {}  # stream -> nanoseconds to its nearest stamp, for the last unpaired item

    def add(self, stream: str, stamp_ns: int, item: T) -> Paired[T] | None:
        """Add an item; return the newest complete triple it makes possible, if any."""
        if stream not in self._queues:
            raise ValueError(f"unknown stream {stream!r}; one of {STREAMS}")
        queue = self._queues[stream]
        if stream == "colour" and len(queue) == queue.maxlen:
            self._dropped(queue[0][0])  # the oldest colour item falls out without ever pairing
        queue.append((int(stamp_ns), item))
        return self._match()

    def _dropped(self, stamp: int) -> None:
        self.unpaired += 1
        self.missing = {}
        for name in ("depth", "info"):
            offsets = [abs(s - stamp) for s, _ in self._queues[name]]
            nearest = min(offsets, default=None)
            if nearest is None or nearest > self.slop_ns:
                self.missing[name] = nearest

    def _closest(self, stream: str, stamp: int) -> tuple[int, T] | None:
        best = min(self._queues[stream], key=lambda entry: abs(entry[0] - stamp), default=None)
        return best if best is not None and abs(best[0] - stamp) <= self.slop_ns else None

    def _match(self) -> Paired[T] | None:
        for stamp, colour in sorted(self._queues["colour"], key=lambda entry: -entry[0]):
            depth, info = self._closest("depth", stamp), self._closest("info", stamp)
            if depth is None or info is None:
                continue
            colours = self._queues["colour"]
            for older in [s for s, _ in colours if s < stamp]:
                self._dropped(older)
            self._queues["colour"] = deque(((s, c) for s, c in colours if s > stamp), maxlen=colours.maxlen)
            q = self._queues["depth"]
            self._queues["depth"] = deque(((s, x) for s, x in q if s > depth[0]), maxlen=q.maxlen)
            return Paired(stamp, colour, depth[1], info[1])
        return None
