"""A worker thread with a bounded latest-wins queue, so ROS callbacks never wait for inference.

A job is a callable with a *kind* ("synthesize", "orbit", later "reconstruct"). At most one
job per kind waits: a newer job of the same kind replaces the waiting one (the stale one is
counted as dropped), and waiting jobs of different kinds run in the order they were first
queued. A failing job is reported and counted (``last_error`` holds it until a job succeeds);
the worker goes on with the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)

Job = Callable[[], None]


class LatestWinsWorker:
    """Runs queued jobs one at a time on its own thread (one waiting slot per job kind)."""

    def __init__(self, name: str = "worker", on_error: Callable[[str, Exception], None] | None = None):
        """``on_error(kind, exc)`` reports a failed job (e.g. to a ROS logger); default: Python logging."""
        self._on_error = on_error or (lambda kind, exc: log.error("%s job failed: %s", kind, exc, exc_info=exc))
        self._waiting: OrderedDict[str, Job] = OrderedDict()
        self._condition = threading.Condition()
        self._stopping = False
        self.dropped = 0
        self.failed = 0
        self.done = 0
        self.busy_with: str | None = None
        self.last_error = ""
        self.last_duration_s = float("nan")
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, kind: str, job: Job) -> bool:
        """Queue ``job``; True when it replaced a waiting job of the same kind (that one is dropped)."""
        with self._condition:
            if self._stopping:
                raise RuntimeError("the worker has been stopped")
            replaced = kind in self._waiting
            if replaced:
                self.dropped += 1
            self._waiting[kind] = job
            self._condition.notify()
            return replaced

    def waiting(self) -> list[str]:
        with self._condition:
            return list(self._waiting)

    def cancel_all(self) -> int:
        """Forget waiting jobs (not the running one), e.g. on reset; returns how many."""
        with self._condition:
            count = len(self._waiting)
            self._waiting.clear()
            return count

    def idle(self) -> bool:
        with self._condition:
            return not self._waiting and self.busy_with is None

    def stop(self, timeout: float | None = None) -> None:
        """Drop waiting jobs, let the running one finish, and end the thread."""
        with self._condition:
            self._stopping = True
            self._waiting.clear()
            self._condition.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                kind, job = self._waiting.popitem(last=False)
                self.busy_with = kind
            started = time.perf_counter()
            try:
                job()
            except Exception as exc:  # a failed job must not end the worker; it is logged and counted
                self._on_error(kind, exc)
                with self._condition:
                    self.failed += 1
                    self.last_error = f"{kind}: {exc}"
            else:
                with self._condition:
                    self.done += 1
                    self.last_error = ""
            with self._condition:
                self.busy_with = None
                self.last_duration_s = time.perf_counter() - started
