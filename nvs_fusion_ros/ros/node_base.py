"""What every node of the package does the same way, so each node's module holds only what is its own.

- Parameters: declared from the node's ``ParamSpec`` table before anything else (``parameters.declare``), read
  with ``value``.
- Outputs: ``output`` is the one way to add a published topic (reliable, volatile, the given depth:
  ``qos.output_qos``); every message a request produces carries the input's header (``request_header`` for
  inputs without one: the node clock's stamp when the request arrived).
- Dropped input: ``drop(cause, text)`` counts it in ``dropped[cause]`` and logs one line per cause at most every
  ``WARN_EVERY_S`` (the count so far in it), so a stream of bad messages neither floods the log nor hides a second
  cause behind the first; the counts go on ``/diagnostics``.
- Diagnostics: ``start_diagnostics`` publishes ``diagnostic_statuses()`` on ``/diagnostics`` every
  ``DIAGNOSTICS_PERIOD_S``; ``status`` builds each one (named ``<node>: <what>``, the drop counts among its values),
  ``worker_status`` the one of a node that runs requests on a worker (its state, counts and last error).
- Services: ``answer`` fills a Trigger's response; answers that queue work name the stamp the outputs will carry
  (``header_text``).
- Key views: ``subscribe_key_views`` receives view_buffer's set into ``views`` (``key_view_topic.store_key_view``:
  a reset marker empties it); ``views_received`` counts the messages.
- Jobs: ``start_worker`` makes a ``LatestWinsWorker`` the node owns; ``stop_jobs`` (the harness calls it before the
  context goes, so Ctrl-C cancels a running job at its next step) and ``destroy_node`` stop them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger

from ..synthesis.key_views import ReceivedViews
from ..synthesis.worker import LatestWinsWorker
from .harness import JOB_STOP_TIMEOUT_S
from .key_view_topic import store_key_view
from .parameters import ParamSpec, declare
from .qos import latched_qos, output_qos

WARN_EVERY_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
#: the cause under which ``subscribe_key_views`` counts a views message it cannot read
VIEW_CAUSE = "view"


def answer(response: Trigger.Response, success: bool, message: str) -> Trigger.Response:
    """A Trigger service's answer."""
    response.success, response.message = success, message
    return response


def header_text(header: Header) -> str:
    """A header's stamp as ROS prints it (seconds.nanoseconds), for answers and log lines."""
    return f"{header.stamp.sec}.{header.stamp.nanosec:09d}"


class NodeBase(Node):
    """A node with the package's parameters, outputs, drop counts, diagnostics, key views and workers."""

    def __init__(self, name: str, parameters: Sequence[ParamSpec], causes: Sequence[str], **node_options: object):
        super().__init__(name, **node_options)
        declare(self, parameters)
        self.dropped = dict.fromkeys(causes, 0)
        self._warned_at: dict[str, float] = {}
        self._workers: list[LatestWinsWorker] = []
        self.views: ReceivedViews | None = None
        self.views_lock = threading.Lock()
        self.views_received = 0  # messages on views, readable or not (tests count deliveries by it)

    def value(self, name: str) -> object:
        """The parameter's current value."""
        return self.get_parameter(name).value

    # --- outputs and stamps ------------------------------------------------------------------------------

    def output(self, msg_type: type, topic: str, depth: int) -> Publisher:
        """A published topic: reliable, volatile, ``depth`` messages of history."""
        return self.create_publisher(msg_type, topic, output_qos(depth))

    def request_header(self, frame_id: str = "") -> Header:
        """The header of a request that came without one: the node clock's stamp now, ``frame_id``."""
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=frame_id)

    # --- dropped input -----------------------------------------------------------------------------------

    def drop(self, cause: str, text: str) -> None:
        """Count a dropped input under ``cause`` and log ``text``, at most once per WARN_EVERY_S per cause."""
        self.dropped[cause] += 1
        now = time.monotonic()
        if now - self._warned_at.get(cause, -float("inf")) >= WARN_EVERY_S:
            self._warned_at[cause] = now
            self.get_logger().warning(f"{text} ({self.dropped[cause]} dropped so far for this cause)")

    # --- diagnostics -------------------------------------------------------------------------------------

    def start_diagnostics(self) -> None:
        """Publish ``diagnostic_statuses()`` on /diagnostics every DIAGNOSTICS_PERIOD_S from now on."""
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", output_qos(10))
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)

    def diagnostic_statuses(self) -> list[DiagnosticStatus]:
        """The node's statuses, each made by ``status``."""
        raise NotImplementedError

    def status(self, what: str, level: bytes, message: str, values: dict[str, object] | None = None,
               hardware_id: str = "", drops: bool = True) -> DiagnosticStatus:
        """One status, ``<node>: <what>``, its values as text, with ``dropped_<cause>`` counts unless ``drops`` is
        False (a node's second status, so each count shows once)."""
        values = {**(values or {}), **({f"dropped_{k}": v for k, v in self.dropped.items()} if drops else {})}
        return DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: {what}", message=message,
                                hardware_id=hardware_id or self.get_name(),
                                values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])

    def _publish_diagnostics(self) -> None:
        self._diagnostics.publish(DiagnosticArray(header=self.request_header(), status=self.diagnostic_statuses()))

    # --- key views ---------------------------------------------------------------------------------------

    def subscribe_key_views(self, max_views: int) -> str:
        """Receive view_buffer's ``views`` into ``self.views`` (at most ``max_views``); returns the topic's resolved
        name. An unreadable view is dropped under ``VIEW_CAUSE``."""
        self.views = ReceivedViews(max_views)
        return self.create_subscription(Image, "views", self._on_view, latched_qos(max_views)).topic_name

    def _on_view(self, msg: Image) -> None:
        self.views_received += 1
        try:
            store_key_view(self.views, self.views_lock, msg)
        except ValueError as exc:
            self.drop(VIEW_CAUSE, f"dropped a key view: {exc}")

    # --- jobs --------------------------------------------------------------------------------------------

    def start_worker(self, name: str, on_error: Callable[[str, Exception], None]) -> LatestWinsWorker:
        """A job thread with one latest-wins slot per job kind, stopped with the node."""
        worker = LatestWinsWorker(name, on_error=on_error)
        self._workers.append(worker)
        return worker

    def stop_jobs(self, timeout: float = JOB_STOP_TIMEOUT_S) -> bool:
        """Cancel each worker's running job at its next step and join it (``harness.RosSession.close``); False when
        one did not end within ``timeout``."""
        ended = True
        for worker in self._workers:
            running, cancelled = worker.busy_with, worker.cancelled
            if not worker.stop(timeout):
                ended = False
                self.get_logger().error(f"shutdown: the running {running} job did not stop within {timeout:.0f} s")
            elif worker.cancelled > cancelled:
                self.get_logger().info(f"shutdown: {worker.cancelled - cancelled} job(s) cancelled (was running: "
                                       f"{running})")
        return ended

    def destroy_node(self) -> None:
        for worker in getattr(self, "_workers", ()):  # absent when declaring failed and rclpy cleans up the node
            worker.stop(JOB_STOP_TIMEOUT_S)  # waits only when the harness's stop_jobs has not already
        super().destroy_node()


def worker_status(node: NodeBase, what: str, worker: LatestWinsWorker, held: dict[str, object], warnings: list[str],
                  hardware_id: str) -> DiagnosticStatus:
    """The status of a node that runs requests on ``worker``: its state and counts, what the node holds (``held``),
    WARN with the last error or a warning (e.g. ``peers``)."""
    state = f"busy: {worker.busy_with}" if worker.busy_with else "idle"
    values = {**held, "requests_dropped": worker.dropped, "requests_done": worker.done, "requests_failed": worker.failed,
              "requests_cancelled": worker.cancelled, "waiting": ",".join(worker.waiting()), "state": state,
              "last_error": worker.last_error, "warnings": " | ".join(warnings)}
    problems = ([f"last error: {worker.last_error}"] if worker.last_error else []) + warnings
    return node.status(what, DiagnosticStatus.WARN if problems else DiagnosticStatus.OK, "; ".join([state, *problems]),
                       values, hardware_id)
