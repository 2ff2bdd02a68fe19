"""The one in-process ROS harness: a context, an executor spinning on a thread, and an ordered teardown.

The console scripts, the launch-free bringup, the demo, the benchmarks and the tests all run
nodes through ``RosSession``, so shutdown happens one way everywhere:

1. stop spinning (no new callbacks; the spinner thread is joined, so no executor handle is
   destroyed while it waits);
2. stop each node's jobs (``stop_jobs``: cancel the running job between denoising steps or
   field iterations, then join the worker, bounded) while the context is still valid, so a
   job never publishes on a dead context and no thread is left inside ONNX Runtime or torch;
3. shut the executor down, destroy the nodes, shut the context down.

The executor is rclpy's SingleThreadedExecutor. Every callback here is short (long work runs on
each node's worker thread), and rclpy 9.1's MultiThreadedExecutor (Kilted; rclpy#1452, fixed
upstream by rclpy#1547) yields a callback task again while it still waits in the thread pool:
on an idle machine its spinner thread held the GIL re-submitting the same tasks (thousands of
futures within seconds), and view_buffer took 200 resets at 20 Hz at a few per second and lost
the oldest from its queue. The single-threaded executor runs each task before it waits again.

rclpy's own SIGINT/SIGTERM handlers shut every context down at once (step 3 before step 2), so
the session initialises rclpy without them; ``serve`` installs Python handlers that ask for
the ordered teardown instead and exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

import rclpy
from rclpy._rclpy_pybind11 import RCLError, UnknownROSArgsError
from rclpy.context import Context
from rclpy.exceptions import NameValidationException, ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

log = logging.getLogger(__name__)

SPIN_PERIOD_S = 0.1  # how long the spinner waits for work before it looks at the stop flag
JOB_STOP_TIMEOUT_S = 60.0  # a job is cancelled at its next step; this bounds one step of a slow engine
#: what a node or rclpy raises for a bad start-up value, name or --ros-args: one line, exit status 2
STARTUP_ERRORS = (ValueError, FileNotFoundError, NameValidationException, ParameterException, RCLError,
                  UnknownROSArgsError)


def wait_until(condition: Callable[[], bool], timeout: float, what: str, error: type[Exception] = TimeoutError) -> None:
    """Poll ``condition`` until it holds; raise ``error`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


class RosSession:
    """One rclpy context with a SingleThreadedExecutor; ``add`` nodes, ``start`` spinning, ``close`` once."""

    def __init__(self, args: Sequence[str] | None = None, domain_id: int | None = None):
        """``args``: command-line arguments (``--ros-args`` remappings and parameters apply to every node)."""
        self.context = Context()
        rclpy.init(args=list(args) if args is not None else None, context=self.context, domain_id=domain_id,
                   signal_handler_options=SignalHandlerOptions.NO)
        # Built before any node: a Ctrl-C that lands inside the executor's constructor leaves a half-built
        # object whose __del__ prints a traceback (rclpy's Executor sets _sigint_gc last).
        self.executor = SingleThreadedExecutor(context=self.context)
        self.nodes: list[Node] = []
        self.error: BaseException | None = None  # what ended the spinner, when not a requested stop
        self._stop = threading.Event()
        self._spinner: threading.Thread | None = None
        self._closed = False

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def start(self) -> None:
        self._spinner = threading.Thread(target=self._spin, name="ros-spinner", daemon=True)
        self._spinner.start()

    @property
    def spinning(self) -> bool:
        return self._spinner is not None and self._spinner.is_alive()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        except ExternalShutdownException:
            pass
        except Exception as exc:  # a callback raised: reported by close() and serve()
            if not self._stop.is_set():
                log.error("executor stopped: %s: %s", type(exc).__name__, exc)
                self.error = exc

    def close(self, job_timeout: float = JOB_STOP_TIMEOUT_S) -> None:
        """The ordered teardown of the module docstring; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._spinner is not None:
            self._spinner.join()
        for node in self.nodes:
            stop_jobs = getattr(node, "stop_jobs", None)
            if stop_jobs is not None:
                stop_jobs(job_timeout)
        self.executor.shutdown()
        for node in self.nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> RosSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _StopOnSignal:
    """SIGINT/SIGTERM: a KeyboardInterrupt while nodes are built (model loading), a stop request afterwards."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.serving = False
        self._previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def __enter__(self) -> _StopOnSignal:
        for sig in self._previous:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if not self.serving:
            raise KeyboardInterrupt
        if not self.requested.is_set():
            log.info("%s: shutting down", signal.Signals(signum).name)
        self.requested.set()

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def serve(make_nodes: Callable[[Context], Sequence[Node]], args: Sequence[str] | None = None) -> int:
    """Build nodes, spin until SIGINT/SIGTERM or shutdown, tear down in order; the exit status.

    0 on a signal (also one that arrives while the nodes are built), 2 with one log line when a
    node refuses its parameters or files, 1 when a callback raised.
    """
    with _StopOnSignal() as stop:
        session = None
        try:
            session = RosSession(args)
            for node in make_nodes(session.context):
                session.add(node)
            log.info("running %s; Ctrl-C stops", ", ".join(n.get_fully_qualified_name() for n in session.nodes))
            stop.serving = True
            session.start()
            while not stop.requested.wait(0.25) and session.spinning:
                pass
        except KeyboardInterrupt:  # a signal while the nodes were being built
            log.info("interrupted; shutting down")
        except STARTUP_ERRORS as exc:
            message = " ".join(str(exc).split())
            log.error("unknown ROS arguments %s" if isinstance(exc, UnknownROSArgsError) else "%s", message)
            return 2
        finally:
            stop.serving = True  # a second signal during teardown must not interrupt it
            if session is not None:
                session.close()
        return 1 if session is not None and session.error is not None else 0


def node_main(make_node: Callable[..., Node], args: Sequence[str] | None = None) -> int:
    """The body of a node's console script: ``make_node(context=...)`` served until SIGINT/SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return serve(lambda context: [make_node(context=context)], args)
