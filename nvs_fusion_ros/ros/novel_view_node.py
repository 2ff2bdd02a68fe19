"""``novel_view``: key views in, synthesized views, hypotheses and uncertainty out.

Inputs
  ``views`` (sensor_msgs/Image, RELIABLE + TRANSIENT_LOCAL): the key-view set of ``view_buffer``, received by the
      rule of ``synthesis.key_views.ReceivedViews`` (a reset marker clears it), a view keyed by its stamp, frame_id
      *and* pixels, so cameras that stamp 0 or repeat stamps still give distinct views. ``max_views`` must equal the
      buffer's (else a ``peers`` warning). Jobs get the views oldest first by header stamp, arrival breaking ties.
  ``target_angle`` (std_msgs/Float32, radians, any finite value): one synthesis request. Like ``target_angles``,
      measured from the newest key view (the last one) for a relative-mode model (checkpoint ``angle_reference:
      relative``), in the object's canonical frame otherwise; the node logs which at start.
  ``reset`` (std_msgs/Empty): forget the views, drop waiting requests and cancel the running one at its
      next step; nothing requested before the reset is published after it.
  ``~/synthesize_orbit`` (std_srvs/Trigger): queue an orbit over ``target_angles``; it answers as soon as the job is
      queued, with the stamp the outputs will carry.
  ``~/reconstruct`` (std_srvs/Trigger): distill the held views into a 3D model (``reconstruction.pipeline.reconstruct``:
      an orbit of ``reconstruction_orbit_views`` views at ``steps`` DDIM steps, then ``reconstruction_iterations``
      field iterations on a ``reconstruction_grid``³ grid, mode seeking after the first third unless
      ``reconstruction_mode_seeking`` is False). It answers when queued, with the stamp the outputs will carry, and
      refuses (success False, with the reason) without views or while a reconstruction is already waiting or running.
  With ``rate`` > 0 a timer requests the next angle of ``target_angles`` (cycling) at that rate.
Outputs (RELIABLE, depth ``output_qos_depth``), one message each per request; layouts in ``novel_view_jobs``:
``~/image`` (the first hypothesis), ``~/mean`` (the mean of the K hypotheses: the best single guess; the hypotheses
are the plausible alternatives), ``~/hypotheses`` (K tiles), ``~/weights`` (32FC1, one tile per key view, oldest
first), ``~/uncertainty`` (32FC1), ``~/orbit`` (one per angle), ``~/points`` (PointCloud2, x y z rgb) and ``~/mesh``
(Marker TRIANGLE_LIST) in the unit-less object frame (radius 0.5, ``novel_view_params.object_frame``):
``reconstruction_frame_id``, by default the views' frame_id + ``_nvs_object``, never the camera's own frame (no
transform connects the two); also written under ``reconstruction_output_dir`` when set.
``/diagnostics``: "novel view synthesis" and "3D reconstruction".
A moving object's clip is ``video_synthesis``'s (``video_node``).

Headers: Float32 and Trigger carry no header, so every output of a request carries the stamp of the node clock when
the request was received (the timer's tick in periodic mode) and the frame_id of the newest key view. Every job
parameter is read at that moment too (``novel_view_params.Request``).

The model runs on a worker thread with one latest-wins slot per job kind (``synthesis.worker``), so callbacks never
wait for inference; a newer request replaces a waiting one and the drop is counted. The worker's lifecycle, dropped
input by cause, /diagnostics, the key-view subscription and the stamps are ``node_base``'s. A reconstruction shares the one
engine and thread: view requests wait in their slots behind it ("busy: reconstruct" in diagnostics), never refused
or lost.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from std_msgs.msg import Empty, Float32, Header
from std_srvs.srv import Trigger

from ..synthesis.synthesizer import NovelViewSynthesizer
from .harness import node_main
from .node_base import VIEW_CAUSE, NodeBase, answer, header_text, worker_status
from .novel_view_jobs import RECONSTRUCT, NovelViewJobs
from .novel_view_params import PARAMETERS, Request, object_frame
from .peers import PeerWatch
from .qos import output_qos, reset_qos

NODE_NAME = "novel_view"
SYNTHESIZE, ORBIT = "synthesize", "orbit"  # the worker's job kinds, with RECONSTRUCT
CAUSES = (VIEW_CAUSE, "target_angle", "no_views")


class NovelViewNode(NodeBase):
    """Runs ``NovelViewSynthesizer`` on the key views; see the module docstring for the interface."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, PARAMETERS, CAUSES, **node_options)
        value = self.value
        self.synthesizer = NovelViewSynthesizer.from_checkpoint(
            value("model_file_path") or None, engine=value("engine"), device=value("device"),
            max_views=value("max_views"), engine_file_path=value("engine_file_path") or None,
            force_engine_update=value("force_engine_update"), enable_fp16=value("enable_fp16"))
        self._next_angle = 0
        self.resets = 0
        self.jobs = NovelViewJobs(self, self.synthesizer, value("output_qos_depth"))
        self.worker = self.start_worker(NODE_NAME, on_error=self._job_failed)

        views_topic = self.subscribe_key_views(value("max_views"))
        self.create_subscription(Float32, "target_angle", self._on_target_angle, output_qos(10))
        self.create_subscription(Empty, "reset", self._on_reset, reset_qos())
        self.create_service(Trigger, "~/synthesize_orbit", self._on_synthesize_orbit)
        self.create_service(Trigger, "~/reconstruct", self._on_reconstruct)
        self.peers = PeerWatch(self, views_topic, value("max_views"))
        self.start_diagnostics()
        if value("rate") > 0.0:
            self.create_timer(1.0 / value("rate"), self._on_tick)
        relative = self.synthesizer.runner.relative
        self.get_logger().info(f"engine {self.synthesizer.runner.describe()}, model {self.synthesizer.checkpoint.path}; "
                               + ("target angles from the newest key view" if relative else "canonical target angles"))

    # --- inputs ------------------------------------------------------------------------------------

    def _on_reset(self, _msg: Empty) -> None:
        with self.views_lock:
            self.views.clear()
        reconstructing = RECONSTRUCT in self.worker.waiting() or self.worker.busy_with == RECONSTRUCT
        cancelled = self.worker.cancel_all()  # returns once a job that was publishing has finished doing so
        if reconstructing:
            self.jobs.reconstruction_cancelled()
        self.resets += 1
        self.get_logger().info(f"reset: views cleared, {cancelled} waiting or running request(s) cancelled")

    def _on_target_angle(self, msg: Float32) -> None:
        if not np.isfinite(msg.data):
            return self.drop("target_angle", f"dropped target angle {msg.data}: not finite")
        self._request(float(msg.data))

    def _on_tick(self) -> None:
        angles = self.value("target_angles")
        if angles:
            self._request(angles[self._next_angle % len(angles)])
            self._next_angle += 1

    def _snapshot(self) -> tuple[list[np.ndarray], Header, Request] | None:
        """The views to condition on, the header the answer will carry and the job parameters; None without views."""
        with self.views_lock:
            if not len(self.views):
                return None
            views, frame_id = self.views.newest_last()
        return views, self.request_header(frame_id), Request.snapshot(self.value)

    def _request(self, angle: float) -> None:
        snapshot = self._snapshot()
        if snapshot is None:
            return self.drop("no_views", "no key views received yet; request dropped")
        views, header, request = snapshot
        job = partial(self.jobs.synthesize, views=views, angle=angle, request=request, header=header,
                      received=time.monotonic())
        if self.worker.submit(SYNTHESIZE, job):
            self.get_logger().debug("a waiting request was replaced by a newer one")

    def _on_synthesize_orbit(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        snapshot = self._snapshot()
        if snapshot is None or not snapshot[2].target_angles:
            return answer(response, False, "no key views received yet" if snapshot is None else "target_angles is empty")
        views, header, request = snapshot
        self.worker.submit(ORBIT, partial(self.jobs.orbit, views=views, request=request, header=header,
                                          received=time.monotonic()))
        return answer(response, True, f"queued an orbit of {len(request.target_angles)} views on ~/orbit, "
                                      f"stamped {header_text(header)}")

    def _on_reconstruct(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        # Service callbacks share the node's mutually exclusive default group, so check-then-submit cannot race.
        if RECONSTRUCT in self.worker.waiting() or self.worker.busy_with == RECONSTRUCT:
            return answer(response, False, "a reconstruction is already waiting or running; see /diagnostics for its progress")
        snapshot = self._snapshot()
        if snapshot is None:
            return answer(response, False, "no key views received yet")
        views, header, request = snapshot
        header.frame_id = object_frame(header.frame_id, request.frame_id)
        self.worker.submit(RECONSTRUCT, partial(self.jobs.reconstruct, views=views, request=request, header=header,
                                                received=time.monotonic()))
        return answer(response, True, f"queued a reconstruction of {len(views)} views ({request.distill.iterations} "
                                      f"iterations) on ~/points and ~/mesh, stamped {header_text(header)}")

    def _job_failed(self, kind: str, exc: Exception) -> None:
        self.get_logger().error(f"{kind} request failed: {exc}")
        if kind == RECONSTRUCT:
            self.jobs.reconstruction_failed(str(exc))

    # --- diagnostics -------------------------------------------------------------------------------

    def diagnostic_statuses(self) -> list[DiagnosticStatus]:
        """"novel view synthesis" (WARN with the last error or a peer warning) and "3D reconstruction"."""
        engine = self.synthesizer.runner.describe()
        held = {"engine": engine, "model": str(self.synthesizer.checkpoint.path),
                "last_latency_s": f"{self.jobs.last_latency_s:.3f}", "views_held": len(self.views),
                "resets": self.resets}
        level, message = self.jobs.reconstruction
        if RECONSTRUCT in self.worker.waiting():  # a reset may cancel it before it starts, so it is not stored
            level, message = DiagnosticStatus.OK, f"reconstruction: waiting; {message}"
        return [worker_status(self, "novel view synthesis", self.worker, held, self.peers.poll(), engine),
                self.status("3D reconstruction", level, message, hardware_id=engine, drops=False)]


def main(args: list[str] | None = None) -> int:
    return node_main(NovelViewNode, args)
