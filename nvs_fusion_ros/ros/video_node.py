"""``video_synthesis``: a moving object's camera stream in, the object from other azimuths frame by frame out.

Inputs
  ``frames_topic`` (sensor_msgs/Image, ``input_qos``): the camera stream of the moving object, ideally cropped to it
      (it is letterboxed on white to the model's size). The node keeps the last ``video_frames`` key frames, at least
      ``video_frame_period`` s apart by header stamp (``synthesis.frame_buffer``); a stamp older than the last kept
      one starts a new clip.
  ``reset`` (std_msgs/Empty): forget the frames, drop a waiting clip and cancel the running one at its next step;
      nothing requested before the reset is published after it.
  ``~/synthesize_video`` (std_srvs/Trigger): the held clip from every azimuth of ``target_angles`` (radians, as for
      ``novel_view``), composed by ``synthesis.video_synthesizer`` (``video_method``: Diffusion²'s composition of the
      view and temporal models, or per-frame ViewFusion); answers when queued, or refuses with the reason.

Outputs
  ``~/video`` (sensor_msgs/Image rgb8, RELIABLE, depth ``output_qos_depth``): one image per azimuth v and frame f,
      frame by frame, stamped with frame f's own header stamp, frame_id ``nvs_view_<v>``.
  ``/diagnostics``: "video synthesis": engine, models, frames held, the worker's counts, dropped frames.

The models run on a worker thread (``synthesis.worker``): a newer clip request replaces a waiting one, and the
camera callbacks never wait for inference. Every job parameter is read when the request arrives (``VideoRequest``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from functools import partial

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Empty, Header
from std_srvs.srv import Trigger

from ..synthesis.frame_buffer import Frame, FrameBuffer
from ..synthesis.video_synthesizer import VideoSynthesizer
from ..synthesis.worker import JobControl
from .harness import node_main
from .image_conversions import image_to_rgb8, numpy_to_image
from .node_base import NodeBase, answer, worker_status
from .parameters import on_parameters_set
from .peers import PeerWatch
from .qos import reset_qos, subscribe_input
from .video_params import PARAMETERS, VideoRequest

NODE_NAME = "video_synthesis"
VIDEO = "video"  # the worker's job kind
VIDEO_FRAME_ID = "nvs_view_{}"  # frame_id of ~/video cell (v, f)
CAUSES = ("frame",)


class VideoSynthesisNode(NodeBase):
    """Runs ``VideoSynthesizer`` on the kept frames; see the module docstring for the interface."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, PARAMETERS, CAUSES, **node_options)
        value = self.value
        self.video = VideoSynthesizer.from_checkpoints(
            value("model_file_path") or None, value("temporal_model_file_path") or None, engine=value("engine"),
            device=value("device"), engine_file_path=value("engine_file_path") or None,
            force_engine_update=value("force_engine_update"), enable_fp16=value("enable_fp16"))
        self.frames: FrameBuffer[Header] = FrameBuffer(value("video_frames"), value("video_frame_period"))
        self._frames_lock = threading.Lock()  # the camera callback, the service and the parameter callback share it
        self.resets = 0
        self.last_latency_s = float("nan")
        self.worker = self.start_worker(NODE_NAME, on_error=lambda kind, exc: self.get_logger().error(
            f"{kind} request failed: {exc}"))
        on_parameters_set(self, PARAMETERS, self._apply_parameters)

        self.video_pub = self.output(Image, "~/video", value("output_qos_depth"))
        subscribe_input(self, Image, value("frames_topic"), self._on_frame, value("input_qos"), 5)
        self.create_subscription(Empty, "reset", self._on_reset, reset_qos())
        self.create_service(Trigger, "~/synthesize_video", self._on_synthesize_video)
        self.peers = PeerWatch(self)
        self.start_diagnostics()
        self.get_logger().info(f"engine {self.video.views.runner.describe()}, models {self.video.views.checkpoint.path} "
                               f"and {self.video.temporal.path}; keeping {self.frames.capacity} frames of "
                               f"{value('frames_topic')}")

    def _apply_parameters(self, params: list[Parameter]) -> None:
        with self._frames_lock:
            for param in params:
                if param.name == "video_frame_period":
                    self.frames.period = float(param.value)

    def _on_frame(self, msg: Image) -> None:
        stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
        with self._frames_lock:
            if not self.frames.accepts(stamp):
                return  # not a key frame: skip decoding it (cameras run much faster than video_frame_period)
        try:
            image = image_to_rgb8(msg)
        except ValueError as exc:
            return self.drop("frame", f"dropped a frame: {exc}")
        with self._frames_lock:
            restarts = self.frames.restarts
            self.frames.offer(stamp, msg.header, image)
            if self.frames.restarts != restarts:
                self.get_logger().warning("a frame stamped before the last kept one: started a new clip")

    def _on_reset(self, _msg: Empty) -> None:
        with self._frames_lock:
            self.frames.clear()
        cancelled = self.worker.cancel_all()  # returns once a job that was publishing has finished doing so
        self.resets += 1
        self.get_logger().info(f"reset: frames cleared, {cancelled} waiting or running request(s) cancelled")

    def _on_synthesize_video(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._frames_lock:
            frames = self.frames.frames()
        request = VideoRequest.snapshot(self.value)
        problem = "no frames received yet" if not frames else request.problem
        if problem:
            return answer(response, False, problem)
        self.worker.submit(VIDEO, partial(self._video_clip, frames=frames, request=request, received=time.monotonic()))
        views = len(request.target_angles)
        return answer(response, True, f"queued a {request.video_method} clip of {views} views x {len(frames)} frames on "
                                      f"~/video ({views * len(frames)} images)")

    def _video_clip(self, control: JobControl, frames: Sequence[Frame[Header]], request: VideoRequest,
                    received: float) -> None:
        assert request.video_settings is not None
        angles = request.target_angles
        run = self.video.synthesize_steps([[frame.image] for frame in frames], angles, request.video_method,
                                          request.video_settings, seed=request.seed)
        for state in run:
            control.check(state.done, state.total)
        result = run.result
        messages = [numpy_to_image(result.images[v, f], "rgb8",
                                   Header(stamp=frame.meta.stamp, frame_id=VIDEO_FRAME_ID.format(v)))
                    for f, frame in enumerate(frames) for v in range(len(angles))]
        with control.delivering():
            for msg in messages:
                self.video_pub.publish(msg)
            self.last_latency_s = time.monotonic() - received

    def diagnostic_statuses(self) -> list[DiagnosticStatus]:
        engine = self.video.views.runner.describe()
        held = {"engine": engine, "model": str(self.video.views.checkpoint.path),
                "temporal_model": str(self.video.temporal.path), "last_latency_s": f"{self.last_latency_s:.3f}",
                "frames_held": len(self.frames), "resets": self.resets}
        return [worker_status(self, "video synthesis", self.worker, held, self.peers.poll(), engine)]


def main(args: list[str] | None = None) -> int:
    return node_main(VideoSynthesisNode, args)
