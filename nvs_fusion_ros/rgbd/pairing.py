"""Pairing messages of several streams by header stamp within a slop (colour + depth + CameraInfo; image + mask).

``message_filters`` (ApproximateTime) is not installable on pip-only ROS (docs/DESIGN.md §3), so
the pairing is written here: each stream keeps its last few items by stamp (nanoseconds);
whenever an item arrives, the newest *primary* item (the first stream) that has an item of every
other stream within ``slop`` of its stamp makes a match (the closest of each), and the primary
and partner items at or before it are dropped, so a match is emitted once and the queues stay
bounded. Streams named in ``kept`` keep their items (a driver may publish CameraInfo less often
than frames).
``unpaired`` counts primary items dropped without partners and ``missing`` says, for the last
one, how far the nearest stamp of each partner stream that failed was (None: none held), so a
caller can say which input does not pair (one throttled log line) instead of staying silent.

``rgbd_completion`` pairs colour, depth and CameraInfo (``RGBD_STREAMS``); ``view_buffer`` pairs
each camera image with the object mask computed from it (``MASKED_STREAMS``), so a key view is
masked by its own frame's mask, not by the newest one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
RGBD_STREAMS = ("colour", "depth", "info")
MASKED_STREAMS = ("image", "mask")


@dataclass(frozen=True)
class Paired(Generic[T]):
    """One primary item with the other streams' items closest to its stamp (all within slop), by stream name."""

    stamp_ns: int
    items: dict[str, T]

    def __getitem__(self, stream: str) -> T:
        return self.items[stream]


class StampPairer(Generic[T]):
    """Keeps up to ``depth`` items per stream and emits matches whose stamps lie within ``slop_ns``."""

    def __init__(self, slop_ns: int, depth: int = 10, streams: tuple[str, ...] = RGBD_STREAMS,
                 kept: tuple[str, ...] = ("info",)):
        if slop_ns < 0 or depth < 1 or len(streams) < 2:
            raise ValueError(f"slop must be >= 0, queue depth >= 1 and streams at least two, got {slop_ns} ns, "
                             f"{depth} and {streams}")
        self.slop_ns = int(slop_ns)
        self.primary, self.partners = streams[0], streams[1:]
        self.kept = tuple(name for name in kept if name in self.partners)
        # partners keep twice as many, so a primary item that falls out still finds the partners it had
        self._queues: dict[str, deque[tuple[int, T]]] = {name: deque(maxlen=depth * (1 if name == self.primary else 2))
                                                         for name in streams}
        self.unpaired = 0
        self.missing: dict[str, int | None] = {}  # stream -> nanoseconds to its nearest stamp, for the last unpaired item

    def add(self, stream: str, stamp_ns: int, item: T) -> Paired[T] | None:
        """Add an item; return the newest complete match it makes possible, if any."""
        if stream not in self._queues:
            raise ValueError(f"unknown stream {stream!r}; one of {tuple(self._queues)}")
        queue = self._queues[stream]
        if stream == self.primary and len(queue) == queue.maxlen:
            self._dropped(queue[0][0])  # the oldest primary item falls out without ever pairing
        queue.append((int(stamp_ns), item))
        return self._match()

    def held(self, stream: str) -> int:
        """How many items of ``stream`` wait for a match."""
        return len(self._queues[stream])

    def _dropped(self, stamp: int) -> None:
        self.unpaired += 1
        self.missing = {}
        for name in self.partners:
            offsets = [abs(s - stamp) for s, _ in self._queues[name]]
            nearest = min(offsets, default=None)
            if nearest is None or nearest > self.slop_ns:
                self.missing[name] = nearest

    def _closest(self, stream: str, stamp: int) -> tuple[int, T] | None:
        best = min(self._queues[stream], key=lambda entry: abs(entry[0] - stamp), default=None)
        return best if best is not None and abs(best[0] - stamp) <= self.slop_ns else None

    def _match(self) -> Paired[T] | None:
        for stamp, item in sorted(self._queues[self.primary], key=lambda entry: -entry[0]):
            found = {name: self._closest(name, stamp) for name in self.partners}
            if any(partner is None for partner in found.values()):
                continue
            primaries = self._queues[self.primary]
            for older in [s for s, _ in primaries if s < stamp]:
                self._dropped(older)
            self._queues[self.primary] = deque(((s, x) for s, x in primaries if s > stamp), maxlen=primaries.maxlen)
            for name, (used, _) in found.items():  # type: ignore[misc]
                if name not in self.kept:
                    q = self._queues[name]
                    self._queues[name] = deque(((s, x) for s, x in q if s > used), maxlen=q.maxlen)
            return Paired(stamp, {self.primary: item, **{name: partner[1] for name, partner in found.items()}})  # type: ignore[index]
        return None
