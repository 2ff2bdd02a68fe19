"""A worker thread with a bounded latest-wins queue, so ROS callbacks never wait for inference.

A job is a callable with a *kind* ("synthesize", "orbit", "reconstruct", "video") that takes
its ``JobControl``. At most one job per kind waits: a newer job of the same kind replaces the
waiting one (the stale one is counted as dropped), and waiting jobs of different kinds run in
the order they were first queued. A failing job is reported and counted (``last_error`` holds
it until a job succeeds); the worker goes on with the next one.

Cancellation (a reset, a shutdown) must not wait for a whole reconstruction, and a job that
ends after a reset must not publish results from views the user asked to forget. So:

- ``cancel_all`` forgets the waiting jobs *and* marks the running one cancelled;
- a running job drives the library's step-by-step calls and calls ``control.check`` between
  steps: it raises ``JobCancelled`` at the next denoising step or field iteration, and the
  worker counts a clean cancel (not a failure);
- a job publishes inside ``with control.delivering():``, which raises ``JobCancelled`` when
  the job was cancelled and holds the worker's lock while it publishes, so a cancel either
  comes first (nothing is published) or waits until the publishing is over (everything was
  published before the cancel returned): nothing from before a reset is published after it;
- ``stop`` cancels, then joins the thread (bounded, and only once: a later stop does not wait
  again), so a process can shut its middleware down only once no job is inside native code or
  about to publish.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The running job was cancelled (reset or shutdown); raised from its step callbacks."""


class JobControl:
    """What a running job sees of its worker: whether it was cancelled, and the publishing guard."""

    def __init__(self, lock: threading.Condition):
        self._lock = lock
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True

    def check(self, done: int = 0, total: int = 0) -> None:
        """Raise ``JobCancelled`` once cancelled; a job calls it between steps with how far it got."""
        if self._cancelled:
            raise JobCancelled(f"cancelled after {done}/{total} steps" if total else "cancelled")

    @contextmanager
    def delivering(self) -> Iterator[None]:
        """Publish inside this block: it raises ``JobCancelled`` if cancelled, and a cancel waits for it."""
        with self._lock:
            self.check()
            yield


Job = Callable[[JobControl], None]


class LatestWinsWorker:
    """Runs queued jobs one at a time on its own thread (one waiting slot per job kind)."""

    def __init__(self, name: str = "worker", on_error: Callable[[str, Exception], None] | None = None):
        """``on_error(kind, exc)`` reports a failed job (e.g. to a ROS logger); default: Python logging."""
        self._on_error = on_error or (lambda kind, exc: log.error("%s job failed: %s", kind, exc, exc_info=exc))
        self._waiting: OrderedDict[str, Job] = OrderedDict()
        self._condition = threading.Condition()
        self._stopping = False
        self._joined = False  # a stop already waited for the thread (ended or timed out)
        self._running: JobControl | None = None
        self.dropped = 0
        self.failed = 0
        self.done = 0
        self.cancelled = 0  # waiting jobs forgotten plus running jobs stopped by cancel_all / stop
        self.busy_with: str | None = None
        self.last_error = ""
        self.last_duration_s = float("nan")
        # Daemon only as a last resort: stop() joins it, and a bounded join that times out is logged.
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
        """Forget the waiting jobs and cancel the running one (e.g. on reset); returns how many."""
        with self._condition:
            count = len(self._waiting)
            self._waiting.clear()
            self.cancelled += count
            if self._running is not None and not self._running.cancelled:
                self._running.cancel()
                count += 1
            return count

    def idle(self) -> bool:
        with self._condition:
            return not self._waiting and self.busy_with is None

    def stop(self, timeout: float | None = None) -> bool:
        """Cancel everything and end the thread; True when it ended within ``timeout``.

        Only the first stop waits: a later one (``destroy_node`` after the harness's ``stop_jobs``)
        returns at once whether the thread has ended, so a stuck job is waited for once, not twice.
        """
        with self._condition:
            if self._joined:
                return not self._thread.is_alive()
            self._stopping = True
        self.cancel_all()
        with self._condition:
            self._condition.notify()
        self._thread.join(timeout)
        with self._condition:
            self._joined = True
        if self._thread.is_alive():
            log.warning("worker %s still running a %s job after %s s", self._thread.name, self.busy_with, timeout)
            return False
        return True

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                kind, job = self._waiting.popitem(last=False)
                self.busy_with = kind
                control = self._running = JobControl(self._condition)
            started = time.perf_counter()
            try:
                job(control)
            except JobCancelled:
                with self._condition:
                    self.cancelled += 1
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
                self._running = None
                self.last_duration_s = time.perf_counter() - started
