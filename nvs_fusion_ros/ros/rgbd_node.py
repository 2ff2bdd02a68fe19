"""``rgbd_completion``: colour + registered depth + CameraInfo in; the object's mask and ROI for the key-view buffer, and on
request the metric completion of its hidden side, in the colour camera's frame.

Inputs (``input_qos``): ``colour_topic``, ``depth_topic`` (16UC1 mm or 32FC1 m, registered to the colour image),
``camera_info_topic``, paired by header stamp within ``sync_slop`` seconds (``rgbd.pairing``), and optionally ``roi_topic``
(RegionOfInterest) to choose the object. Flying pixels (``max_grazing_deg``) leave a depth image before it is segmented.

Outputs: ``~/mask`` (mono8, 255 = object) and ``~/roi`` (the training framing of the object, clipped) for each paired frame
at most every ``mask_period`` s; point ``view_buffer``'s ``mask_topic`` and ``roi_topic`` at them. ``views`` (view_buffer's
key-view set, received like ``novel_view`` does, a reset marker clears it): ``~/complete`` composes the model over the
current key views (up to ``max_views`` - 1, those stamped apart from the anchor) with the latest paired frame as the anchor,
the newest view, the only one with depth. ``completion_mode`` chooses what completes (``rgbd.pipeline.MODES``): the
model's hypotheses and the geometric shapes together (``hybrid``, the default), the model alone, or the geometric shapes
alone (``geometric``: no model is loaded, no key views are used). ``~/complete`` (std_srvs/Trigger) checks that an
object stands on the plane in the latest paired frame (else refuses, saying why), queues the completion and answers; the
job publishes ``~/object_cloud`` (PointCloud2 x y z rgb confidence, ``rgbd_messages``), ``~/object_mesh`` (Marker
TRIANGLE_LIST) and ``~/collision_mesh`` (shape_msgs/Mesh), all in the colour image's frame_id at its stamp, in metres.
Progress and problems: ``/diagnostics``.

Bad input never stops the node: each cause (``CAUSES``: an unreadable colour, depth or CameraInfo message, a paired frame
whose depth is empty or the wrong size, colour frames that found no depth or no CameraInfo within ``sync_slop`` (never sent,
or stamped apart), no object on the plane) is counted in ``dropped`` and logged at most once per ``WARN_EVERY_S``.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, RegionOfInterest
from shape_msgs.msg import Mesh
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from ..rgbd.completion import CompletionConfig
from ..rgbd.depth import MAX_GRAZING_DEG, Intrinsics, check_depth, remove_flying_pixels
from ..rgbd.pairing import StampPairer
from ..rgbd.pipeline import MIN_CONFIDENCE, MODES, CompletionOptions, complete_scene
from ..rgbd.placement import clipped_roi, fit_placement
from ..rgbd.segmentation import mask_image, segment_object
from ..synthesis.key_views import ReceivedViews
from ..synthesis.synthesizer import RGBD_MODEL, NovelViewSynthesizer, rgbd_model_path
from ..synthesis.worker import JobControl, LatestWinsWorker
from .cloud_messages import triangle_marker
from .harness import JOB_STOP_TIMEOUT_S, node_main
from .image_conversions import image_to_rgb8, numpy_to_image, stamp_ns
from .key_view_topic import store_key_view
from .novel_view_params import PARAMETERS as NOVEL_VIEW_PARAMETERS
from .parameters import ParamSpec, declare, optional_topic_name, topic_name
from .qos import INPUT_QOS_CHOICES, input_qos, latched_qos, output_qos
from .rgbd_messages import collision_mesh, confidence_cloud, depth_from_image, intrinsics_from_info

NODE_NAME = "rgbd_completion"
WARN_EVERY_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
CAUSES = ("colour", "depth", "camera_info", "frame", "no_depth", "no_info", "segmentation", "view")

PARAMETERS = (
    ParamSpec("colour_topic", "/camera/color/image_raw", "Colour image topic.", read_only=True,
              check=topic_name("colour_topic")),
    ParamSpec("depth_topic", "/camera/aligned_depth_to_color/image_raw",
              "Depth registered to the colour image: 16UC1 (mm) or 32FC1 (m).", read_only=True,
              check=topic_name("depth_topic")),
    ParamSpec("camera_info_topic", "/camera/color/camera_info", "CameraInfo of the colour image.", read_only=True,
              check=topic_name("camera_info_topic")),
    ParamSpec("roi_topic", "", "RegionOfInterest choosing the object; '' = the object nearest the image centre.",
              read_only=True, check=optional_topic_name("roi_topic")),
    ParamSpec("sync_slop", 0.02, "Most seconds between the colour, depth and CameraInfo stamps of one frame.",
              read_only=True, float_range=(0.0, 1.0)),
    ParamSpec("mask_period", 0.2, "Least seconds between published masks (segmentation costs CPU).",
              read_only=True, float_range=(0.0, 60.0)),
    *(spec for spec in NOVEL_VIEW_PARAMETERS if spec.name in ("engine", "device", "max_views")),
    ParamSpec("completion_mode", CompletionOptions.mode, "What completes the hidden side: 'hybrid' (the model's "
              "hypotheses and the geometric shapes voting together), 'model' (the model's alone) or 'geometric' (mirror, "
              "revolution, hull and view-ray shapes alone: no model is loaded).", read_only=True, choices=MODES),
    ParamSpec("model_file_path", "", f"Checkpoint (.pt); '' = {RGBD_MODEL} (camera-relative household model).", read_only=True),
    ParamSpec("samples", CompletionOptions.samples,
              "K occlusion hypotheses per azimuth; confidence is their agreement (K = 8: steps of 1/8).",
              read_only=True, int_range=(1, 32)),
    ParamSpec("azimuths", CompletionOptions.azimuths, "Orbit azimuths of the hidden side.", read_only=True, int_range=(2, 36)),
    ParamSpec("steps", CompletionOptions.steps, "Denoising steps per sample.", read_only=True, int_range=(1, 1000)),
    ParamSpec("seed", 0, "Base seed of the hypotheses.", read_only=True, int_range=(0, 2**31 - 1)),
    ParamSpec("min_confidence", MIN_CONFIDENCE, "Completed points less sure than this are left out of ~/object_cloud "
              "(confidence: the weighted share of the hypotheses that agree, the model's K and the geometric shapes "
              "weighing the same in the hybrid mode; 0 = every point; the visible points always stay).", read_only=True,
              float_range=(0.0, 1.0)),
    ParamSpec("max_grazing_deg", MAX_GRAZING_DEG, "Depth jumps steeper than a surface seen this far from face-on are "
              "flying pixels, dropped (rgbd.depth); 90 = keep all.", read_only=True, float_range=(1.0, 90.0)),
    ParamSpec("resolution", 64, "Carving grid resolution per axis.", read_only=True, int_range=(16, 160)),
    ParamSpec("input_qos", "sensor_data", "QoS of the input subscriptions.", read_only=True, choices=INPUT_QOS_CHOICES),
    ParamSpec("input_qos_depth", 5, "History depth of the input subscriptions.", read_only=True, int_range=(1, 100)),
)


class RgbdCompletionNode(Node):
    """See the module docstring."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, **node_options)
        declare(self, PARAMETERS)
        value = lambda name: self.get_parameter(name).value  # noqa: E731
        self.options = CompletionOptions(**{n: value(n) for n in ("samples", "azimuths", "steps", "seed", "max_grazing_deg")},
                                         mode=value("completion_mode"),
                                         completion=CompletionConfig(resolution=value("resolution")))
        self.synthesizer: NovelViewSynthesizer | None = None
        if self.options.needs_model:
            self.synthesizer = NovelViewSynthesizer.from_checkpoint(value("model_file_path") or rgbd_model_path(),
                                                                    engine=value("engine"), device=value("device"),
                                                                    max_views=value("max_views"))
        self.key_views = ReceivedViews(value("max_views"))
        self._views_lock = threading.Lock()
        self.pairer: StampPairer[object] = StampPairer(round(value("sync_slop") * 1e9))
        self.mask_period_s: float = value("mask_period")
        self.min_confidence: float = value("min_confidence")
        self.dropped = dict.fromkeys(CAUSES, 0)
        self.paired = 0
        self.completions = 0
        self._warned_at: dict[str, float] = {}
        self._latest: tuple[Header, np.ndarray, np.ndarray, object] | None = None
        self._roi: tuple[int, int, int, int] | None = None
        self._last_mask_s = -np.inf
        self._unpaired_seen = 0
        self._topics = {"depth": value("depth_topic"), "info": value("camera_info_topic")}
        self._state = (DiagnosticStatus.OK, "waiting for a paired colour + depth + CameraInfo frame")
        self.worker = LatestWinsWorker(NODE_NAME, on_error=lambda kind, exc: self._finish(DiagnosticStatus.ERROR,
                                                                                            f"{kind} failed: {exc}"))
        qos = input_qos(value("input_qos"), value("input_qos_depth"))
        self.create_subscription(Image, value("colour_topic"), self._on_colour, qos)
        self.create_subscription(Image, value("depth_topic"), self._on_depth, qos)
        self.create_subscription(CameraInfo, value("camera_info_topic"), self._on_info, qos)
        self.create_subscription(Image, "views", self._on_view, latched_qos(value("max_views")))
        if value("roi_topic"):
            self.create_subscription(RegionOfInterest, value("roi_topic"), self._on_roi, qos)
        self.mask_pub = self.create_publisher(Image, "~/mask", output_qos(5))
        self.roi_pub = self.create_publisher(RegionOfInterest, "~/roi", output_qos(5))
        self.cloud_pub = self.create_publisher(PointCloud2, "~/object_cloud", output_qos(2))
        self.mesh_pub = self.create_publisher(Marker, "~/object_mesh", output_qos(2))
        self.collision_pub = self.create_publisher(Mesh, "~/collision_mesh", output_qos(2))
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", output_qos(10))
        self.create_service(Trigger, "~/complete", self._on_complete)
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        how = (f"samples {self.options.samples} hypotheses at {self.options.azimuths} azimuths"
               if self.options.needs_model else "fits the geometric shapes (no model)")
        self.get_logger().info(f"pairing {value('colour_topic')}, {value('depth_topic')} and {value('camera_info_topic')} "
                               f"within {value('sync_slop')} s; ~/complete ({self.options.mode}) {how} and publishes the "
                               f"completed points of confidence at least {self.min_confidence:g}")

    # --- inputs --------------------------------------------------------------------------------------

    def _drop(self, cause: str, text: str) -> None:
        """Count a dropped input and log it, at most once per WARN_EVERY_S per cause."""
        self.dropped[cause] += 1
        now = time.monotonic()
        if now - self._warned_at.get(cause, -np.inf) >= WARN_EVERY_S:
            self._warned_at[cause] = now
            self.get_logger().warning(f"{text} ({self.dropped[cause]} dropped so far for this cause)")

    def _on_colour(self, msg: Image) -> None:
        try:
            rgb = image_to_rgb8(msg)
        except ValueError as exc:  # ImageConversionError, or anything else the message makes numpy refuse
            return self._drop("colour", f"dropped a colour image: {exc}")
        self._add("colour", msg.header, (msg.header, rgb))

    def _on_depth(self, msg: Image) -> None:
        try:
            depth = depth_from_image(msg)
        except ValueError as exc:  # DepthError, or anything else the message makes numpy refuse
            return self._drop("depth", f"dropped a depth image: {exc}")
        self._add("depth", msg.header, depth)

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intrinsics = intrinsics_from_info(msg)
        except ValueError as exc:
            return self._drop("camera_info", f"dropped a CameraInfo: {exc}")
        self._add("info", msg.header, intrinsics)

    def _on_view(self, msg: Image) -> None:
        try:
            store_key_view(self.key_views, self._views_lock, msg)
        except ValueError as exc:
            self._drop("view", f"dropped a key view: {exc}")

    def _other_views(self, anchor: Header) -> list[np.ndarray]:
        """The key views stamped apart from the anchor's frame (that one *is* the anchor), newest last."""
        with self._views_lock:
            held = self.key_views.by_stamp()
        others = [image for key, image in held
                  if abs(key[0] * 1_000_000_000 + key[1] - stamp_ns(anchor)) > self.pairer.slop_ns]
        return others[-(self.key_views.max_views - 1):] if self.key_views.max_views > 1 else []

    def _on_roi(self, msg: RegionOfInterest) -> None:
        self._roi = (msg.x_offset, msg.y_offset, msg.width, msg.height)

    def _add(self, stream: str, header: Header, item: object) -> None:
        pair = self.pairer.add(stream, stamp_ns(header), item)
        if self.pairer.unpaired > self._unpaired_seen:
            self._unpaired_seen = self.pairer.unpaired
            for name, nearest in self.pairer.missing.items():
                away = "none received recently" if nearest is None else f"the nearest is {nearest / 1e9:.3f} s away"
                self._drop(f"no_{name}", f"colour frames find no {self._topics[name]} message within sync_slop "
                           f"{self.pairer.slop_ns / 1e9} s of their stamps ({away}; check that it publishes, "
                           "and the drivers' stamps)")
        if pair is None:
            return
        (header, colour), depth, intrinsics = pair["colour"], pair["depth"], pair["info"]
        try:
            check_depth(depth, intrinsics, colour.shape)
        except ValueError as exc:
            return self._drop("frame", f"dropped a paired frame: {exc}")
        self.paired += 1
        self._latest = (header, colour, depth, intrinsics)
        if time.monotonic() - self._last_mask_s >= self.mask_period_s:
            self._last_mask_s = time.monotonic()
            self._publish_mask(header, colour, depth, intrinsics)

    def _publish_mask(self, header: Header, colour: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics) -> None:
        try:
            depth = remove_flying_pixels(depth, intrinsics, self.options.max_grazing_deg)  # as complete_scene does
            seg = segment_object(colour, depth, intrinsics, self.options.segmentation, self._roi)
            x, y, w, h = clipped_roi(fit_placement(seg).view_box(intrinsics), intrinsics.width, intrinsics.height)
        except ValueError as exc:  # NothingAbovePlaneError, DepthError, or a placement that cannot be fitted
            return self._drop("segmentation", f"no object mask: {exc}")
        # the ROI first: view_buffer applies the latest ROI when the mask pairs with its image
        self.roi_pub.publish(RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h, do_rectify=False))
        self.mask_pub.publish(numpy_to_image(mask_image(seg.mask), "mono8", header))

    # --- ~/complete ----------------------------------------------------------------------------------

    def _on_complete(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self._latest is None:
            response.success, response.message = False, ("no paired colour + depth + CameraInfo frame yet; "
                                                         "see /diagnostics for dropped inputs")
            return response
        (header, colour, depth, intrinsics), roi = self._latest, self._roi
        try:
            segment_object(colour, remove_flying_pixels(depth, intrinsics, self.options.max_grazing_deg), intrinsics,
                           self.options.segmentation, roi)
        except ValueError as exc:  # NothingAbovePlaneError, DepthError (both ValueErrors) or any other bad input
            self.get_logger().error(f"completion refused: {exc}")
            self._state = (DiagnosticStatus.ERROR, f"refused: {exc}")
            response.success, response.message = False, f"refused: {exc}"
            return response
        others = self._other_views(header)
        replaced = self.worker.submit("complete", lambda control: self._complete(control, header, colour, depth,
                                                                                 intrinsics, roi, others))
        stamp = f"{header.stamp.sec}.{header.stamp.nanosec:09d}"
        response.success = True
        response.message = (f"queued the completion of the frame stamped {stamp} in {header.frame_id!r} with "
                            f"{len(others)} other key view(s)") + (
            " (replacing a waiting one)" if replaced else "")
        self._state = (DiagnosticStatus.OK, "queued")
        return response

    def _complete(self, control: JobControl, header: Header, colour: np.ndarray, depth: np.ndarray,
                  intrinsics: Intrinsics, roi: tuple[int, int, int, int] | None, others: list[np.ndarray]) -> None:
        def progress(done: int, total: int) -> None:
            control.check()
            self._state = (DiagnosticStatus.OK, f"sampling hypotheses: azimuth {done}/{total}")

        try:
            result = complete_scene(colour, depth, intrinsics, self.synthesizer, self.options, progress, roi,
                                    callback=lambda _step, _steps: control.check(), key_views=others)
        except ValueError as exc:  # NothingAbovePlaneError, CompletionError, or a placement that cannot be fitted
            return self._finish(DiagnosticStatus.ERROR, f"refused: {exc}")
        points, colors, confidence = result.cloud(self.min_confidence)
        done = result.completion
        with control.delivering():
            self.cloud_pub.publish(confidence_cloud(points, colors, confidence, header))
            self.mesh_pub.publish(triangle_marker(done.mesh_vertices, done.mesh_faces, done.mesh_colors, header,
                                                  namespace=NODE_NAME))
            self.collision_pub.publish(collision_mesh(done.mesh_vertices, done.mesh_faces))
        self.completions += 1
        visible = len(result.segmentation.points)
        completed = len(points) - visible
        self._finish(DiagnosticStatus.OK, f"published {visible} visible + {completed} completed points ("
                     f"{len(done.points) - completed} below min_confidence {self.min_confidence:g} left out), "
                     f"a {len(done.mesh_faces)}-triangle mesh in {result.timings['total_s']:.1f} s")

    def _finish(self, level: bytes, message: str) -> None:
        self._state = (level, message)
        (self.get_logger().info if level == DiagnosticStatus.OK else self.get_logger().error)(message)

    def _publish_diagnostics(self) -> None:
        level, message = self._state
        values = {"paired_frames": self.paired, "completions": self.completions,
                  "completion_mode": self.options.mode,
                  "model": str(self.synthesizer.checkpoint.path) if self.synthesizer is not None else "none",
                  **{f"dropped_{k}": v for k, v in self.dropped.items()}}
        status = DiagnosticStatus(level=level, name=f"{self.get_name()}: rgbd completion", message=message,
                                  hardware_id=NODE_NAME, values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self._diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))

    def stop_jobs(self, timeout: float) -> None:
        """Called by the harness before the context goes: cancel and join the completion worker."""
        self.worker.stop(timeout)

    def destroy_node(self) -> None:
        worker = getattr(self, "worker", None)  # absent when the model failed to load and rclpy cleans up the node
        if worker is not None:
            worker.stop(JOB_STOP_TIMEOUT_S)  # waits only when the harness's stop_jobs has not already
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return node_main(RgbdCompletionNode, args)
