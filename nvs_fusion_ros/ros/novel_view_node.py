"""``novel_view``: key views in, synthesized views, hypotheses and uncertainty out.

Inputs
  ``views`` (sensor_msgs/Image, RELIABLE + TRANSIENT_LOCAL): the key-view set of ``view_buffer``,
      received by the rule of ``synthesis.key_views.ReceivedViews`` (``max_views`` must equal
      the buffer's; the shipped config sets both).
  ``target_angle`` (std_msgs/Float32, radians, canonical azimuth): one synthesis request.
  ``reset`` (std_msgs/Empty): forget the views and any waiting request.
  ``~/synthesize_orbit`` (std_srvs/Trigger): queue an orbit over ``target_angles``; it answers
      as soon as the job is queued, with the stamp the outputs will carry.
  ``~/reconstruct`` (std_srvs/Trigger): distill the held views into a 3D model
      (``reconstruction.distill``: an orbit of ``reconstruction_orbit_views`` views at ``steps``
      DDIM steps, then ``reconstruction_iterations`` field iterations on a ``reconstruction_grid``³
      grid, mode seeking after the first third unless ``reconstruction_mode_seeking`` is False).
      It answers as soon as the job is queued, with the stamp the outputs will carry, and refuses
      (success False, with the reason) when no views are held or a reconstruction is already
      waiting or running.
  With ``rate`` > 0 a timer requests the next angle of ``target_angles`` (cycling) at that rate.
  Dynamic mode only (``mode: dynamic``, for moving objects):
  ``frames_topic`` (sensor_msgs/Image, ``input_qos``): the camera stream of the moving object,
      ideally cropped to it (it is letterboxed on white to the model's size). The node keeps the
      last ``video_frames`` key frames, at least ``video_frame_period`` s apart by header stamp
      (``synthesis.frame_buffer``); a stamp older than the last kept one starts a new clip.
  ``~/synthesize_video`` (std_srvs/Trigger): synthesize the held clip from every azimuth of
      ``target_angles`` (``synthesis.video_synthesizer``: Diffusion² score composition of the view
      model and the temporal model, ``video_weight``, ``video_rollback_steps``; or ``per-frame``
      ViewFusion). Answers when queued, refusing with the reason when no frames are held.

Outputs (RELIABLE, depth ``output_qos_depth``), one message each per request:
  ``~/image`` rgb8: sample 0 at the target angle.
  ``~/hypotheses`` rgb8: all K samples tiled left to right, tile k = columns [k*S, (k+1)*S) of an
      S x K*S image (S = the model's image size).
  ``~/weights`` 32FC1: the per-view weight maps (each in [0, 1], summing to 1 over views at every
      pixel) tiled the same way, S x N*S, tile i = the i-th key view (oldest first).
  ``~/uncertainty`` 32FC1: per-pixel std over the K samples (zeros when K = 1).
  ``~/orbit`` rgb8: one message per angle of ``target_angles``, in that order.
  ``~/video`` rgb8 (dynamic mode): the synthesized clip, one Image per cell of the V x F matrix,
      published frame by frame (oldest first) and within a frame view by view. Cell (v, f) carries
      the header stamp of its source frame f and frame_id ``nvs_view_<v>``, v indexing
      ``target_angles`` (so the azimuth of the cell is ``target_angles[v]``): a subscriber groups
      cells by stamp into frames and by frame_id into views.
  ``~/points`` (sensor_msgs/PointCloud2): ``reconstruction_points`` surface points, float32 x, y, z
      + packed rgb (``cloud_messages``); ``~/mesh`` (visualization_msgs/Marker): the surface as a
      TRIANGLE_LIST with per-vertex colours, alpha 1, unit scale. Both are in the object's canonical
      frame (units of the normalised object, ``cameras.OBJECT_RADIUS``), named by ``reconstruction_frame_id``
      ('' = the views' frame_id); with ``reconstruction_output_dir`` set they are also written to
      ``<dir>/reconstruction_<sec>_<nanosec>/{points.ply, mesh.ply, mesh.obj}``.
  ``/diagnostics``: two statuses. "novel view synthesis": engine, model, last latency, views held,
      requests dropped/done/failed, state ("idle" or "busy: <job kind>", e.g. "busy: reconstruct").
      "3D reconstruction": OK while idle ("no reconstruction yet" / the last result) or running
      ("reconstruction: 120/300 iterations"), ERROR with the reason when the last one failed, e.g.
      an empty field (``EmptySurfaceError``): nothing is published then, one error line is logged,
      and the node goes on serving.

Headers: std_msgs/Float32 and Trigger carry no header, so every output of a request carries
the stamp of the node clock when the request was received (the timer's tick in periodic mode)
and the frame_id of the newest key view.

The model runs on a worker thread with one latest-wins slot per job kind
(``synthesis.worker``), so callbacks never wait for inference; a newer request replaces a
waiting one and the drop is counted. ``self.synthesizer`` and ``self.worker`` are public so
other jobs can share the loaded engine: ``self.worker.submit(kind, job)``.

Policy while a reconstruction runs: it shares the one engine and the one worker thread, which
runs one job at a time. View requests (``target_angle``, the timer, ``~/synthesize_orbit``) are
still accepted; they wait in their latest-wins slots (a newer angle replaces a waiting one) and
are answered after the reconstruction, so a robot sees "busy: reconstruct" in diagnostics and a
latency of up to a whole reconstruction, never a refused or lost newest request.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Empty, Float32, Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from ..diffusion.score_composition import RENOISE_MODES
from ..engines.factory import ENGINES
from ..model.checkpoint import load_checkpoint
from ..reconstruction.distill import DistillConfig, distill
from ..reconstruction.extract import DEFAULT_LEVEL, extract_mesh, sample_surface, write_mesh, write_point_cloud
from ..synthesis.frame_buffer import FrameBuffer
from ..synthesis.key_views import ReceivedViews
from ..synthesis.synthesizer import NovelViewSynthesizer
from ..synthesis.video_synthesizer import METHODS as VIDEO_METHODS
from ..synthesis.video_synthesizer import CompositionSettings, VideoSynthesizer, default_temporal_model_path
from ..synthesis.worker import LatestWinsWorker
from .cloud_messages import point_cloud2, triangle_marker
from .executor import node_main
from .image_conversions import image_to_rgb8, numpy_to_image
from .parameters import ParamSpec, declare, finite_list
from .qos import INPUT_QOS_CHOICES, input_qos, latched_qos, output_qos

NODE_NAME = "novel_view"
WARN_EVERY_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
RECONSTRUCT = "reconstruct"  # the worker's job kind
VIDEO = "video"
VIDEO_FRAME_ID = "nvs_view_{}"  # frame_id of ~/video cell (v, f)


def _device_problem(device: str) -> str | None:
    ok = device in ("auto", "cpu", "cuda") or device.startswith("cuda:")
    return None if ok else f"device must be auto, cpu, cuda or cuda:N, got {device!r}"


PARAMETERS = (
    ParamSpec("engine", "auto", "Inference engine; auto picks the fastest available here.", read_only=True,
              choices=ENGINES),
    ParamSpec("device", "auto", "auto, cpu, cuda or cuda:N.", read_only=True, check=_device_problem),
    ParamSpec("model_file_path", "", "Checkpoint (.pt); '' = the shipped default model.", read_only=True),
    ParamSpec("engine_file_path", "", "TensorRT plan path; '' = the engine cache.", read_only=True),
    ParamSpec("force_engine_update", False, "Rebuild the ONNX export / TensorRT plan even if cached.", read_only=True),
    ParamSpec("enable_fp16", True, "Build TensorRT plans with FP16 enabled.", read_only=True),
    ParamSpec("num_hypotheses", 4, "Samples K per target-angle request (occlusion hypotheses).", int_range=(1, 32)),
    ParamSpec("steps", 25, "Denoising steps (ddim, dpmpp2m); ddpm always runs the full schedule.", int_range=(1, 2000)),
    ParamSpec("sampler", "ddim", "Reverse-process sampler.", choices=NovelViewSynthesizer.SAMPLERS),
    ParamSpec("seed", -1, "Base seed (hypothesis k uses seed + k); -1 = random per request.",
              int_range=(-1, 2**31 - 1)),
    ParamSpec("max_views", 6, "Most views composed per step; must equal view_buffer's max_views.", read_only=True,
              int_range=(1, 32)),
    ParamSpec("target_angles", [2 * math.pi * i / 8 for i in range(8)],
              "Azimuths (radians) of the orbit service and of periodic mode.", check=finite_list("target_angles")),
    ParamSpec("rate", 0.0, "Periodic mode: requests per second over target_angles; 0 = off.", read_only=True,
              float_range=(0.0, 100.0)),
    ParamSpec("output_qos_depth", 10, "History depth of the output topics.", read_only=True, int_range=(1, 1000)),
    ParamSpec("reconstruction_iterations", DistillConfig.iterations,
              "~/reconstruct: field iterations (the first third fits the orbit, the rest seeks modes).",
              int_range=(1, 100000)),
    ParamSpec("reconstruction_mode_seeking", DistillConfig.mode_seeking,
              "~/reconstruct: SparseFusion mode seeking after the first third; False fits the orbit only (faster)."),
    ParamSpec("reconstruction_grid", DistillConfig.grid_resolution, "~/reconstruct: voxel grid resolution per axis.",
              int_range=(8, 256)),
    ParamSpec("reconstruction_orbit_views", DistillConfig.orbit_views,
              "~/reconstruct: synthesized views evenly spaced in azimuth (DDIM, ``steps`` each).", int_range=(2, 72)),
    ParamSpec("reconstruction_level", DEFAULT_LEVEL, "~/reconstruct: surface level, as the opacity of one voxel.",
              float_range=(0.001, 0.999)),
    ParamSpec("reconstruction_points", 20000, "~/reconstruct: points sampled on the surface for ~/points.",
              int_range=(1, 1000000)),
    ParamSpec("reconstruction_frame_id", "", "frame_id of ~/points and ~/mesh (the object frame); '' = the views'."),
    ParamSpec("reconstruction_output_dir", "", "Also write PLY/OBJ files of each reconstruction here; '' = don't.",
              read_only=True),
    ParamSpec("mode", "static", "static: key views of a still object; dynamic: also the frames stream and ~/video.",
              read_only=True, choices=("static", "dynamic")),
    ParamSpec("temporal_model_file_path", "", "Dynamic mode: temporal checkpoint; '' = the shipped default.",
              read_only=True),
    ParamSpec("video_frames", 8, "Dynamic mode: frames F kept and synthesized.", read_only=True, int_range=(1, 64)),
    ParamSpec("video_frame_period", 0.25, "Dynamic mode: least time (s, by header stamp) between kept frames.",
              float_range=(0.0, 3600.0)),
    ParamSpec("video_method", "composition", "Dynamic mode: composition (Diffusion²) or per-frame ViewFusion.",
              choices=VIDEO_METHODS),
    ParamSpec("video_weight", CompositionSettings.weight, "Dynamic mode: s, the view model's share of the composite.",
              float_range=(0.0, 1.0)),
    ParamSpec("video_rollback_steps", CompositionSettings.rollback_steps,
              "Dynamic mode: variance-reducing rollback steps (at most steps).", int_range=(0, 2000)),
    ParamSpec("video_renoise_mode", CompositionSettings.renoise_mode,
              "Dynamic mode: rollback re-noising, forward (exact forward process) or paper (Diffusion²'s rule).",
              choices=RENOISE_MODES),
    ParamSpec("frames_topic", "/camera/image_raw", "Dynamic mode: camera image topic of the moving object.",
              read_only=True, check=lambda topic: None if topic else "frames_topic must not be empty"),
    ParamSpec("input_qos", "sensor_data", "Dynamic mode: QoS of the frames_topic subscription.", read_only=True,
              choices=INPUT_QOS_CHOICES),
)


def tile(images: Sequence[np.ndarray]) -> np.ndarray:
    """Square images side by side: tile i is columns [i*S, (i+1)*S) (the ~/hypotheses and ~/weights layout)."""
    return np.concatenate(list(images), axis=1)


def untile(image: np.ndarray) -> list[np.ndarray]:
    """The square tiles of a ``tile`` image, left to right."""
    size = image.shape[0]
    if image.shape[1] % size:
        raise ValueError(f"a {image.shape[1]}x{size} image is not a row of {size}x{size} tiles")
    return [image[:, i * size : (i + 1) * size] for i in range(image.shape[1] // size)]


class NovelViewNode(Node):
    """Runs ``NovelViewSynthesizer`` on the key views; see the module docstring for the interface."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, **node_options)
        declare(self, PARAMETERS)
        value = lambda name: self.get_parameter(name).value  # noqa: E731
        self.synthesizer = NovelViewSynthesizer.from_checkpoint(
            value("model_file_path") or None,
            engine=value("engine"),
            device=value("device"),
            max_views=value("max_views"),
            engine_file_path=value("engine_file_path") or None,
            force_engine_update=value("force_engine_update"),
            enable_fp16=value("enable_fp16"),
        )
        self.video: VideoSynthesizer | None = None
        if value("mode") == "dynamic":
            temporal = load_checkpoint(value("temporal_model_file_path") or default_temporal_model_path(),
                                       map_location=self.synthesizer.denoiser.device, kind="temporal")
            self.video = VideoSynthesizer(self.synthesizer, temporal)
        self.frames: FrameBuffer[Header] = FrameBuffer(value("video_frames"), value("video_frame_period"))
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.worker = LatestWinsWorker(NODE_NAME, on_error=self._job_failed)
        self.views = ReceivedViews(value("max_views"))
        self._views_lock = threading.Lock()
        self._newest_frame_id = ""
        self._last_latency_s = float("nan")
        self._next_angle = 0
        self._reconstruction = (DiagnosticStatus.OK, "no reconstruction yet")  # (level, message) for diagnostics

        depth = value("output_qos_depth")
        self._outputs = {
            name: self.create_publisher(Image, f"~/{name}", output_qos(depth))
            for name in ("image", "hypotheses", "weights", "uncertainty", "orbit", "video")
        }
        self._points = self.create_publisher(PointCloud2, "~/points", output_qos(depth))
        self._mesh = self.create_publisher(Marker, "~/mesh", output_qos(depth))
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", output_qos(10))
        self.create_subscription(Image, "views", self._on_view, latched_qos(value("max_views")))
        self.create_subscription(Float32, "target_angle", self._on_target_angle, output_qos(10))
        self.create_subscription(Empty, "reset", self._on_reset, output_qos(10))
        self.create_service(Trigger, "~/synthesize_orbit", self._on_synthesize_orbit)
        self.create_service(Trigger, "~/reconstruct", self._on_reconstruct)
        if self.video is not None:
            self.create_subscription(Image, value("frames_topic"), self._on_frame, input_qos(value("input_qos"), 5))
            self.create_service(Trigger, "~/synthesize_video", self._on_synthesize_video)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        if value("rate") > 0.0:
            self.create_timer(1.0 / value("rate"), self._on_tick)
        self.get_logger().info(f"engine {self.synthesizer.denoiser.describe()}, model {self.synthesizer.checkpoint.path}")

    # --- inputs ------------------------------------------------------------------------------------

    def _rgb8_or_none(self, msg: Image, what: str) -> np.ndarray | None:
        """The message as RGB, or None after a throttled warning naming the problem (the node goes on)."""
        try:
            return image_to_rgb8(msg)
        except ValueError as exc:
            self.get_logger().warning(f"dropped a {what}: {exc}", throttle_duration_sec=WARN_EVERY_S)
            return None

    def _on_view(self, msg: Image) -> None:
        image = self._rgb8_or_none(msg, "view")
        if image is None:
            return
        with self._views_lock:
            self.views.receive((msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id), image)
            self._newest_frame_id = msg.header.frame_id

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

    def _apply_parameters(self, params: list) -> None:
        with self._views_lock:
            for param in params:
                if param.name == "video_frame_period":
                    self.frames.period = float(param.value)

    def _on_reset(self, _msg: Empty) -> None:
        with self._views_lock:
            self.views.clear()
            self.frames.clear()
        cancelled = self.worker.cancel_all()
        self.get_logger().info(f"reset: views cleared, {cancelled} waiting request(s) cancelled")

    def _on_target_angle(self, msg: Float32) -> None:
        if not math.isfinite(msg.data):
            self.get_logger().warning(f"dropped target angle {msg.data}: not finite", throttle_duration_sec=WARN_EVERY_S)
            return
        self._request(float(msg.data))

    def _on_tick(self) -> None:
        angles = self.get_parameter("target_angles").value
        if angles:
            self._request(angles[self._next_angle % len(angles)])
            self._next_angle += 1

    def _on_synthesize_orbit(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        angles = list(self.get_parameter("target_angles").value)
        snapshot = self._snapshot()
        if snapshot is None or not angles:
            response.success = False
            response.message = "no key views received yet" if snapshot is None else "target_angles is empty"
            return response
        views, header = snapshot
        received = time.monotonic()
        self.worker.submit("orbit", lambda: self._orbit_job(views, angles, header, received))
        response.success = True
        response.message = (f"queued an orbit of {len(angles)} views on ~/orbit, "
                            f"stamped {header.stamp.sec}.{header.stamp.nanosec:09d}")
        return response

    def _on_reconstruct(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        # Service callbacks share the node's mutually exclusive default group, so check-then-submit cannot race.
        if RECONSTRUCT in self.worker.waiting() or self.worker.busy_with == RECONSTRUCT:
            response.success = False
            response.message = "a reconstruction is already waiting or running; see /diagnostics for its progress"
            return response
        snapshot = self._snapshot()
        if snapshot is None:
            response.success = False
            response.message = "no key views received yet"
            return response
        views, header = snapshot
        value = lambda name: self.get_parameter(name).value  # noqa: E731
        header.frame_id = value("reconstruction_frame_id") or header.frame_id
        seed = value("seed")
        config = DistillConfig(iterations=value("reconstruction_iterations"), mode_seeking=value("reconstruction_mode_seeking"),
                               grid_resolution=value("reconstruction_grid"),
                               orbit_views=value("reconstruction_orbit_views"), orbit_steps=value("steps"),
                               seed=secrets.randbits(31) if seed < 0 else seed)
        level, points = value("reconstruction_level"), value("reconstruction_points")
        received = time.monotonic()
        self.worker.submit(RECONSTRUCT, lambda: self._reconstruct_job(views, config, level, points, header, received))
        response.success = True
        response.message = (f"queued a reconstruction of {len(views)} views ({config.iterations} iterations) on ~/points "
                            f"and ~/mesh, stamped {header.stamp.sec}.{header.stamp.nanosec:09d}")
        return response

    def _on_synthesize_video(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._views_lock:
            frames = self.frames.frames()
        angles = list(self.get_parameter("target_angles").value)
        value = lambda name: self.get_parameter(name).value  # noqa: E731
        problem = None if frames else "no frames received yet"
        if not angles:
            problem = "target_angles is empty"
        try:
            settings = CompositionSettings(steps=value("steps"), weight=value("video_weight"),
                                           rollback_steps=value("video_rollback_steps"),
                                           renoise_mode=value("video_renoise_mode"))
        except ValueError as exc:
            problem = problem or str(exc)
        if problem:
            response.success = False
            response.message = problem
            return response
        method, seed = value("video_method"), value("seed")
        received = time.monotonic()
        self.worker.submit(VIDEO, lambda: self._video_job(frames, angles, method, settings, None if seed < 0 else seed,
                                                          received))
        response.success = True
        response.message = (f"queued a {method} clip of {len(angles)} views x {len(frames)} frames on ~/video "
                            f"({len(angles) * len(frames)} images)")
        return response

    def _snapshot(self) -> tuple[list[np.ndarray], Header] | None:
        """The views to condition on and the header the answer will carry; None without views."""
        with self._views_lock:
            if not len(self.views):
                return None
            return self.views.images(), Header(stamp=self.get_clock().now().to_msg(), frame_id=self._newest_frame_id)

    def _request(self, angle: float) -> None:
        snapshot = self._snapshot()
        if snapshot is None:
            self.get_logger().warning("no key views received yet; request dropped", throttle_duration_sec=WARN_EVERY_S)
            return
        views, header = snapshot
        received = time.monotonic()
        if self.worker.submit("synthesize", lambda: self._synthesize_job(views, angle, header, received)):
            self.get_logger().debug("a waiting request was replaced by a newer one")

    # --- jobs (worker thread) ----------------------------------------------------------------------

    def _sampling(self) -> dict[str, object]:
        seed = self.get_parameter("seed").value
        return {"steps": self.get_parameter("steps").value, "sampler": self.get_parameter("sampler").value,
                "seed": None if seed < 0 else seed}

    def _synthesize_job(self, views: Sequence[np.ndarray], angle: float, header: Header, received: float) -> None:
        result = self.synthesizer.synthesize(views, angle, num_samples=self.get_parameter("num_hypotheses").value,
                                             **self._sampling())
        self._outputs["image"].publish(numpy_to_image(result.images[0], "rgb8", header))
        self._outputs["hypotheses"].publish(numpy_to_image(tile(result.images), "rgb8", header))
        self._outputs["weights"].publish(numpy_to_image(tile(result.weights), "32FC1", header))
        self._outputs["uncertainty"].publish(numpy_to_image(result.uncertainty, "32FC1", header))
        self._last_latency_s = time.monotonic() - received

    def _orbit_job(self, views: Sequence[np.ndarray], angles: Sequence[float], header: Header, received: float) -> None:
        # A full set leaves no room for generated views, so the orbit then conditions on the user views only.
        autoregressive = len(views) < self.synthesizer.max_views
        result = self.synthesizer.orbit(views, angles, autoregressive=autoregressive, **self._sampling())
        for image in result.images:
            self._outputs["orbit"].publish(numpy_to_image(image, "rgb8", header))
        self._last_latency_s = time.monotonic() - received

    def _video_job(self, frames: Sequence, angles: Sequence[float], method: str, settings: CompositionSettings,
                   seed: int | None, received: float) -> None:
        assert self.video is not None
        result = self.video.synthesize([[frame.image] for frame in frames], angles, method, settings, seed=seed)
        for f, frame in enumerate(frames):
            for v in range(len(angles)):
                header = Header(stamp=frame.meta.stamp, frame_id=VIDEO_FRAME_ID.format(v))
                self._outputs["video"].publish(numpy_to_image(result.images[v, f], "rgb8", header))
        self._last_latency_s = time.monotonic() - received

    def _reconstruct_job(self, views: Sequence[np.ndarray], config: DistillConfig, level: float, points: int,
                         header: Header, received: float) -> None:
        def progress(done: int, total: int) -> None:
            self._reconstruction = (DiagnosticStatus.OK, f"reconstruction: {done}/{total} iterations")

        self._reconstruction = (DiagnosticStatus.OK, f"reconstruction: synthesizing {config.orbit_views} orbit views")
        result = distill(self.synthesizer, views, config, progress=progress)
        mesh = extract_mesh(result.field, level)  # EmptySurfaceError: reported by _job_failed, nothing is published
        cloud = sample_surface(mesh, result.field, points, seed=config.seed)
        cloud_msg = point_cloud2(cloud.points, cloud.colors, header)
        mesh_msg = triangle_marker(mesh.vertices, mesh.faces, mesh.colors, header)
        self._points.publish(cloud_msg)
        self._mesh.publish(mesh_msg)
        self._last_latency_s = time.monotonic() - received
        summary = f"{len(cloud.points)} points, {len(mesh.faces)} triangles in {self._last_latency_s:.1f} s"
        out_dir = self.get_parameter("reconstruction_output_dir").value
        if out_dir:
            folder = Path(out_dir) / f"reconstruction_{header.stamp.sec}_{header.stamp.nanosec:09d}"
            write_point_cloud(folder / "points.ply", cloud)
            write_mesh(folder / "mesh.ply", mesh)
            write_mesh(folder / "mesh.obj", mesh)
            summary += f", written to {folder}"
        self._reconstruction = (DiagnosticStatus.OK, f"last reconstruction: {summary}")

    def _job_failed(self, kind: str, exc: Exception) -> None:
        self.get_logger().error(f"{kind} request failed: {exc}")
        if kind == RECONSTRUCT:
            self._reconstruction = (DiagnosticStatus.ERROR, f"reconstruction failed: {exc}")

    # --- diagnostics -------------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        worker = self.worker
        state = f"busy: {worker.busy_with}" if worker.busy_with else "idle"
        values = {
            "engine": self.synthesizer.denoiser.describe(),
            "model": str(self.synthesizer.checkpoint.path),
            "last_latency_s": f"{self._last_latency_s:.3f}",
            "views_held": str(len(self.views)),
            "frames_held": str(len(self.frames)) if self.video is not None else "n/a (static mode)",
            "requests_dropped": str(worker.dropped),
            "requests_done": str(worker.done),
            "requests_failed": str(worker.failed),
            "waiting": ",".join(worker.waiting()),
            "state": state,
            "last_error": worker.last_error,
        }
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if worker.last_error else DiagnosticStatus.OK,
            name=f"{self.get_fully_qualified_name()}: novel view synthesis",
            message=f"{state}; last error: {worker.last_error}" if worker.last_error else state,
            hardware_id=values["engine"],
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        level, message = self._reconstruction
        if RECONSTRUCT in worker.waiting():  # a reset may cancel it before it starts, so it is not stored
            level, message = DiagnosticStatus.OK, f"reconstruction: waiting; {message}"
        reconstruction = DiagnosticStatus(level=level, name=f"{self.get_fully_qualified_name()}: 3D reconstruction",
                                          message=message, hardware_id=values["engine"])
        self._diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                                  status=[status, reconstruction]))

    def destroy_node(self) -> None:
        worker = getattr(self, "worker", None)  # absent when the model failed to load and rclpy cleans up the node
        if worker is not None:
            worker.stop(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return node_main(NovelViewNode, args)
