"""``novel_view``: key views in, synthesized views, hypotheses and uncertainty out.

Inputs
  ``views`` (sensor_msgs/Image, RELIABLE + TRANSIENT_LOCAL): the key-view set of ``view_buffer``, received by the
      rule of ``synthesis.key_views.ReceivedViews`` (a reset marker clears it), a view keyed by its stamp, frame_id
      *and* pixels, so cameras that stamp 0 or repeat stamps still give distinct views. ``max_views`` must equal the
      buffer's (else a ``peers`` warning). Jobs get the views oldest first by header stamp, arrival breaking ties.
  ``target_angle`` (std_msgs/Float32, radians, any finite value): one synthesis request. Like ``target_angles``,
      measured from the newest key view (the last one) for a relative-mode model (checkpoint ``angle_reference:
      relative``), in the object's canonical frame otherwise; the node logs which at start.
  ``reset`` (std_msgs/Empty): forget the views and frames, drop waiting requests and cancel the running one at its
      next step; nothing requested before the reset is published after it.
  ``~/synthesize_orbit`` (std_srvs/Trigger): queue an orbit over ``target_angles``; it answers as soon as the job is
      queued, with the stamp the outputs will carry.
  ``~/reconstruct`` (std_srvs/Trigger): distill the held views into a 3D model (``reconstruction.pipeline.reconstruct``:
      an orbit of ``reconstruction_orbit_views`` views at ``steps`` DDIM steps, then ``reconstruction_iterations``
      field iterations on a ``reconstruction_grid``³ grid, mode seeking after the first third unless
      ``reconstruction_mode_seeking`` is False). It answers when queued, with the stamp the outputs will carry, and
      refuses (success False, with the reason) without views or while a reconstruction is already waiting or running.
  With ``rate`` > 0 a timer requests the next angle of ``target_angles`` (cycling) at that rate.
  Dynamic mode only (``mode: dynamic``, for moving objects):
  ``frames_topic`` (sensor_msgs/Image, ``input_qos``): the camera stream of the moving object, ideally cropped to it
      (it is letterboxed on white to the model's size). The node keeps the last ``video_frames`` key frames, at least
      ``video_frame_period`` s apart by header stamp (``synthesis.frame_buffer``); a stamp older than the last kept
      one starts a new clip.
  ``~/synthesize_video`` (std_srvs/Trigger): the held clip from every azimuth of ``target_angles``
      (``synthesis.video_synthesizer``); answers when queued, or refuses with the reason.

Outputs (RELIABLE, depth ``output_qos_depth``), one message each per request; layouts in ``novel_view_jobs``:
``~/image`` (the first hypothesis), ``~/mean`` (the mean of the K hypotheses: the best single guess; the hypotheses
are the plausible alternatives), ``~/hypotheses`` (K tiles), ``~/weights`` (32FC1, one tile per key view, oldest
first), ``~/uncertainty`` (32FC1), ``~/orbit`` (one per angle), ``~/video`` (cell (v, f): the stamp of frame f,
frame_id ``nvs_view_<v>``), ``~/points`` (PointCloud2, x y z rgb) and ``~/mesh`` (Marker TRIANGLE_LIST) in the
unit-less object frame (radius 0.5, ``novel_view_params.object_frame``): ``reconstruction_frame_id``, by default the
views' frame_id + ``_nvs_object``, never the camera's own frame (no transform connects the two); also written under
``reconstruction_output_dir`` when set.
``/diagnostics``: "novel view synthesis" and "3D reconstruction" (``novel_view_diagnostics``).

Headers: Float32 and Trigger carry no header, so every output of a request carries the stamp of the node clock when
the request was received (the timer's tick in periodic mode) and the frame_id of the newest key view. Every job
parameter is read at that moment too (``novel_view_params.Request``).

The model runs on a worker thread with one latest-wins slot per job kind (``synthesis.worker``), so callbacks never
wait for inference; a newer request replaces a waiting one and the drop is counted. A reconstruction shares the one
engine and thread: view requests wait in their slots behind it ("busy: reconstruct" in diagnostics), never refused
or lost.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Empty, Float32, Header
from std_srvs.srv import Trigger

from ..synthesis.frame_buffer import FrameBuffer
from ..synthesis.key_views import ReceivedViews
from ..synthesis.synthesizer import NovelViewSynthesizer
from ..synthesis.video_synthesizer import VideoSynthesizer
from ..synthesis.worker import LatestWinsWorker
from .harness import JOB_STOP_TIMEOUT_S, node_main
from .image_conversions import image_to_rgb8
from .key_view_topic import store_key_view
from .novel_view_diagnostics import diagnostics_array
from .novel_view_jobs import RECONSTRUCT, NovelViewJobs
from .novel_view_params import PARAMETERS, Request, object_frame
from .parameters import declare, on_parameters_set
from .peers import PeerWatch
from .qos import latched_qos, output_qos, reset_qos, subscribe_input

NODE_NAME = "novel_view"
WARN_EVERY_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
SYNTHESIZE, ORBIT, VIDEO = "synthesize", "orbit", "video"  # the worker's job kinds, with RECONSTRUCT


def stamp_text(header: Header) -> str:
    return f"{header.stamp.sec}.{header.stamp.nanosec:09d}"


class NovelViewNode(Node):
    """Runs ``NovelViewSynthesizer`` on the key views; see the module docstring for the interface."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, **node_options)
        declare(self, PARAMETERS)
        value = self._value
        options = {"engine": value("engine"), "device": value("device"), "max_views": value("max_views"),
                   "engine_file_path": value("engine_file_path") or None,
                   "force_engine_update": value("force_engine_update"), "enable_fp16": value("enable_fp16")}
        self.video: VideoSynthesizer | None = None
        if value("mode") == "dynamic":
            self.video = VideoSynthesizer.from_checkpoints(value("model_file_path") or None,
                                                           value("temporal_model_file_path") or None, **options)
            self.synthesizer = self.video.views
        else:
            self.synthesizer = NovelViewSynthesizer.from_checkpoint(value("model_file_path") or None, **options)
        self.frames: FrameBuffer[Header] = FrameBuffer(value("video_frames"), value("video_frame_period"))
        self.views = ReceivedViews(value("max_views"))
        self._views_lock = threading.Lock()
        self._next_angle = 0
        self.resets = 0
        self.views_received = 0  # messages on views, decodable or not (tests count deliveries by it)
        self.jobs = NovelViewJobs(self, self.synthesizer, self.video, value("output_qos_depth"))
        self.worker = LatestWinsWorker(NODE_NAME, on_error=self._job_failed)
        on_parameters_set(self, PARAMETERS, self._apply_parameters)

        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", output_qos(10))
        views = self.create_subscription(Image, "views", self._on_view, latched_qos(value("max_views")))
        self.create_subscription(Float32, "target_angle", self._on_target_angle, output_qos(10))
        self.create_subscription(Empty, "reset", self._on_reset, reset_qos())
        self.create_service(Trigger, "~/synthesize_orbit", self._on_synthesize_orbit)
        self.create_service(Trigger, "~/reconstruct", self._on_reconstruct)
        if self.video is not None:
            subscribe_input(self, Image, value("frames_topic"), self._on_frame, value("input_qos"), 5)
            self.create_service(Trigger, "~/synthesize_video", self._on_synthesize_video)
        self.peers = PeerWatch(self, views.topic_name, value("max_views"))
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        if value("rate") > 0.0:
            self.create_timer(1.0 / value("rate"), self._on_tick)
        relative = self.synthesizer.checkpoint.config.angle_reference == "relative"
        self.get_logger().info(f"engine {self.synthesizer.runner.describe()}, model {self.synthesizer.checkpoint.path}; "
                               + ("target angles from the newest key view" if relative else "canonical target angles"))

    def _value(self, name: str) -> object:
        return self.get_parameter(name).value

    # --- inputs ------------------------------------------------------------------------------------

    def _rgb8_or_none(self, msg: Image, what: str) -> np.ndarray | None:
        """The message as RGB, or None after a throttled warning naming the problem (the node goes on)."""
        try:
            return image_to_rgb8(msg)
        except ValueError as exc:
            self.get_logger().warning(f"dropped a {what}: {exc}", throttle_duration_sec=WARN_EVERY_S)
            return None

    def _on_view(self, msg: Image) -> None:
        self.views_received += 1
        try:
            store_key_view(self.views, self._views_lock, msg)
        except ValueError as exc:
            self.get_logger().warning(f"dropped a view: {exc}", throttle_duration_sec=WARN_EVERY_S)

    def _on_frame(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        with self._views_lock:
            if not self.frames.accepts(stamp):
                return  # not a key frame: skip decoding it (cameras run much faster than video_frame_period)
        image = self._rgb8_or_none(msg, "frame")
        if image is None:
            return
        with self._views_lock:
            restarts = self.frames.restarts
            self.frames.offer(stamp, msg.header, image)
            if self.frames.restarts != restarts:
                self.get_logger().warning("a frame stamped before the last kept one: started a new clip")

    def _apply_parameters(self, params: list[Parameter]) -> None:
        with self._views_lock:
            for param in params:
                if param.name == "video_frame_period":
                    self.frames.period = float(param.value)

    def _on_reset(self, _msg: Empty) -> None:
        with self._views_lock:
            self.views.clear()
            self.frames.clear()
        reconstructing = RECONSTRUCT in self.worker.waiting() or self.worker.busy_with == RECONSTRUCT
        cancelled = self.worker.cancel_all()  # returns once a job that was publishing has finished doing so
        if reconstructing:
            self.jobs.reconstruction_cancelled()
        self.resets += 1
        self.get_logger().info(f"reset: views cleared, {cancelled} waiting or running request(s) cancelled")

    def _on_target_angle(self, msg: Float32) -> None:
        if not np.isfinite(msg.data):
            self.get_logger().warning(f"dropped target angle {msg.data}: not finite", throttle_duration_sec=WARN_EVERY_S)
            return
        self._request(float(msg.data))

    def _on_tick(self) -> None:
        angles = self._value("target_angles")
        if angles:
            self._request(angles[self._next_angle % len(angles)])
            self._next_angle += 1

    def _snapshot(self) -> tuple[list[np.ndarray], Header, Request] | None:
        """The views to condition on, the header the answer will carry and the job parameters; None without views."""
        with self._views_lock:
            if not len(self.views):
                return None
            views, frame_id = self.views.newest_last()
        return views, Header(stamp=self.get_clock().now().to_msg(), frame_id=frame_id), Request.snapshot(self._value)

    def _request(self, angle: float) -> None:
        snapshot = self._snapshot()
        if snapshot is None:
            self.get_logger().warning("no key views received yet; request dropped", throttle_duration_sec=WARN_EVERY_S)
            return
        views, header, request = snapshot
        job = partial(self.jobs.synthesize, views=views, angle=angle, request=request, header=header,
                      received=time.monotonic())
        if self.worker.submit(SYNTHESIZE, job):
            self.get_logger().debug("a waiting request was replaced by a newer one")

    def _on_synthesize_orbit(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        snapshot = self._snapshot()
        if snapshot is None or not snapshot[2].target_angles:
            return _answer(response, False, "no key views received yet" if snapshot is None else "target_angles is empty")
        views, header, request = snapshot
        self.worker.submit(ORBIT, partial(self.jobs.orbit, views=views, request=request, header=header,
                                          received=time.monotonic()))
        return _answer(response, True, f"queued an orbit of {len(request.target_angles)} views on ~/orbit, "
                                 f"stamped {stamp_text(header)}")

    def _on_reconstruct(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        # Service callbacks share the node's mutually exclusive default group, so check-then-submit cannot race.
        if RECONSTRUCT in self.worker.waiting() or self.worker.busy_with == RECONSTRUCT:
            return _answer(response, False, "a reconstruction is already waiting or running; see /diagnostics for its progress")
        snapshot = self._snapshot()
        if snapshot is None:
            return _answer(response, False, "no key views received yet")
        views, header, request = snapshot
        header.frame_id = object_frame(header.frame_id, request.frame_id)
        self.worker.submit(RECONSTRUCT, partial(self.jobs.reconstruct, views=views, request=request, header=header,
                                                received=time.monotonic()))
        return _answer(response, True, f"queued a reconstruction of {len(views)} views ({request.distill.iterations} "
                                 f"iterations) on ~/points and ~/mesh, stamped {stamp_text(header)}")

    def _on_synthesize_video(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._views_lock:
            frames = self.frames.frames()
        request = Request.snapshot(self._value)
        problem = ("no frames received yet" if not frames else "target_angles is empty" if not request.target_angles
                   else request.video_problem)
        if problem:
            return _answer(response, False, problem)
        self.worker.submit(VIDEO, partial(self.jobs.video_clip, frames=frames, request=request,
                                          received=time.monotonic()))
        views = len(request.target_angles)
        return _answer(response, True, f"queued a {request.video_method} clip of {views} views x {len(frames)} frames on "
                                 f"~/video ({views * len(frames)} images)")

    def _job_failed(self, kind: str, exc: Exception) -> None:
        self.get_logger().error(f"{kind} request failed: {exc}")
        if kind == RECONSTRUCT:
            self.jobs.reconstruction_failed(str(exc))

    # --- diagnostics -------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        held = {"views_held": str(len(self.views)), "resets": str(self.resets),
                "frames_held": str(len(self.frames)) if self.video is not None else "n/a (static mode)"}
        self._diagnostics.publish(diagnostics_array(
            self.get_fully_qualified_name(), self.get_clock().now().to_msg(), self.synthesizer, self.worker,
            self.jobs, held, self.peers.poll()))

    def stop_jobs(self, timeout: float = JOB_STOP_TIMEOUT_S) -> bool:
        """Cancel the running job at its next step and join the worker (``harness.RosSession.close``)."""
        running, cancelled = self.worker.busy_with, self.worker.cancelled
        ended = self.worker.stop(timeout)
        if not ended:
            self.get_logger().error(f"shutdown: the running {running} job did not stop within {timeout:.0f} s")
        elif self.worker.cancelled > cancelled:
            self.get_logger().info(f"shutdown: {self.worker.cancelled - cancelled} job(s) cancelled (was running: {running})")
        return ended

    def destroy_node(self) -> None:
        worker = getattr(self, "worker", None)  # absent when the model failed to load and rclpy cleans up the node
        if worker is not None:
            worker.stop(JOB_STOP_TIMEOUT_S)  # waits only when the harness's stop_jobs has not already
        super().destroy_node()


def _answer(response: Trigger.Response, success: bool, message: str) -> Trigger.Response:
    response.success, response.message = success, message
    return response


def main(args: list[str] | None = None) -> int:
    return node_main(NovelViewNode, args)
