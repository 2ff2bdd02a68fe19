"""``rgbd_completion``: colour + registered depth + CameraInfo in; the object's mask and ROI for the key-view buffer, and on
request the metric completion of its hidden side, in the colour camera's frame.

Inputs (``input_qos``; ``auto`` receives RELIABLE and BEST_EFFORT drivers alike, ``qos.subscribe_input``): ``colour_topic``,
``depth_topic`` (16UC1 mm or 32FC1 m, registered to the colour image), ``camera_info_topic``, paired by header stamp within
``sync_slop`` seconds (``rgbd.pairing``), optionally ``roi_topic`` (RegionOfInterest) to choose the object; flying pixels
(``max_grazing_deg``) leave a depth image before it is segmented. ``reset`` (std_msgs/Empty, as for view_buffer and
novel_view): forget the paired frame, the messages waiting to pair, the ROI and the key views, drop a queued completion and
cancel the running one; nothing from before a reset is published after it, and ``~/complete`` refuses until a new frame.

Outputs: ``~/mask`` (mono8, 255 = object) and ``~/roi`` (the training framing of the object, clipped) for a paired frame
at most every ``mask_period`` s, segmented on a thread of their own (the newest frame's wins); point ``view_buffer``'s
``mask_topic`` and ``roi_topic`` at them. ``views`` (view_buffer's key-view set, received like ``novel_view`` does, a
reset marker clears it): ``~/complete`` composes the model over the current key views (up to ``max_views`` - 1, those
stamped apart from the anchor) with the latest paired frame as the anchor, the newest view, the only one with depth;
``completion_mode`` (``rgbd.pipeline.MODES``) chooses the model and the geometric shapes together (the default), the
model alone, or the shapes alone.
``~/complete`` (std_srvs/Trigger) refuses (success False, saying why) without a paired frame, when it is more than
``max_frame_age`` s older than the newest colour, depth or CameraInfo message received (``rgbd.frame_state``), or when
no object stands on the plane in it; else it queues the completion and answers with the frame's stamp and age. The job
publishes ``~/object_cloud`` (PointCloud2 x y z rgb confidence, ``rgbd_messages``), ``~/object_mesh`` (Marker
TRIANGLE_LIST) and ``~/collision_mesh`` (shape_msgs/Mesh), in the colour image's frame_id at its stamp, in metres.

Bad input never stops the node: each cause (``CAUSES``: an unreadable message, a depth empty or of the wrong size, colour
frames with no depth or CameraInfo within ``sync_slop``, no object on the plane) is counted in ``dropped``, logged at
most once per ``WARN_EVERY_S`` and shown on ``/diagnostics`` with the node's progress (``node_base``).

A paired frame is segmented once (``rgbd.frame_state.PairedFrame``): its mask, the check ``~/complete`` makes and the
completion share that segmentation.
"""

from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, RegionOfInterest
from shape_msgs.msg import Mesh
from std_msgs.msg import Empty, Header
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker

from ..diffusion.sampling_spec import SamplingSpec
from ..model.assets import asset_path
from ..rgbd.completion import CompletionConfig
from ..rgbd.depth import check_depth
from ..rgbd.frame_state import FrameState, PairedFrame
from ..rgbd.pipeline import CompletionOptions, complete_scene_steps
from ..rgbd.placement import clipped_roi, fit_placement
from ..rgbd.segmentation import mask_image
from ..synthesis.synthesizer import NovelViewSynthesizer
from ..synthesis.worker import JobControl
from .cloud_messages import triangle_marker
from .harness import node_main
from .image_conversions import image_to_rgb8, numpy_to_image, stamp_ns
from .node_base import VIEW_CAUSE, NodeBase, answer
from .qos import reset_qos, subscribe_input
from .rgbd_messages import collision_mesh, confidence_cloud, depth_from_image, intrinsics_from_info
from .rgbd_params import PARAMETERS

NODE_NAME = "rgbd_completion"
CAUSES = ("colour", "depth", "camera_info", "frame", "no_depth", "no_info", "segmentation", VIEW_CAUSE)


class RgbdCompletionNode(NodeBase):
    """See the module docstring."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, PARAMETERS, CAUSES, **node_options)
        value = self.value
        options = {n: value(n) for n in ("num_hypotheses", "azimuths", "max_grazing_deg")}
        sampling = SamplingSpec.build(*map(value, ("sampler", "steps", "eta", "seed", "sampler_options")))
        self.options = CompletionOptions(**options, sampling=sampling, mode=value("completion_mode"),
                                         completion=CompletionConfig(resolution=value("resolution")))
        self.synthesizer: NovelViewSynthesizer | None = None
        if self.options.needs_model:
            self.synthesizer = NovelViewSynthesizer.from_checkpoint(value("model_file_path") or asset_path("completion"),
                                                                    engine=value("engine"), device=value("device"),
                                                                    max_views=value("max_views"))
        self.frames: FrameState[PairedFrame[Header]] = FrameState(round(value("sync_slop") * 1e9))
        self.mask_period_s: float = value("mask_period")
        self.min_confidence: float = value("min_confidence")
        self.paired = self.completions = self.resets = 0
        self._roi: tuple[int, int, int, int] | None = None
        self._last_mask_s = -np.inf
        self._topics = {"depth": value("depth_topic"), "info": value("camera_info_topic")}
        self._state = (DiagnosticStatus.OK, "waiting for a paired colour + depth + CameraInfo frame")
        self.worker = self.start_worker(NODE_NAME, on_error=lambda kind, exc: self._finish(DiagnosticStatus.ERROR,
                                                                                             f"{kind} failed: {exc}"))
        # masks on their own thread, newest frame first: a segmentation (~0.1 s) must not stall the camera callbacks
        self.masker = self.start_worker(f"{NODE_NAME}_mask", on_error=lambda _kind, exc: self.get_logger().error(str(exc)))
        qos = (value("input_qos"), value("input_qos_depth"))
        subscribe_input(self, Image, value("colour_topic"), self._on_colour, *qos)
        subscribe_input(self, Image, value("depth_topic"), self._on_depth, *qos)
        subscribe_input(self, CameraInfo, value("camera_info_topic"), self._on_info, *qos)
        self.subscribe_key_views(value("max_views"))
        self.create_subscription(Empty, "reset", self._on_reset, reset_qos())
        if value("roi_topic"):
            subscribe_input(self, RegionOfInterest, value("roi_topic"), self._on_roi, *qos)
        self.mask_pub = self.output(Image, "~/mask", 5)
        self.roi_pub = self.output(RegionOfInterest, "~/roi", 5)
        self.cloud_pub = self.output(PointCloud2, "~/object_cloud", 2)
        self.mesh_pub = self.output(Marker, "~/object_mesh", 2)
        self.collision_pub = self.output(Mesh, "~/collision_mesh", 2)
        self.create_service(Trigger, "~/complete", self._on_complete)
        self.start_diagnostics()
        how = (f"samples {self.options.num_hypotheses} hypotheses at {self.options.azimuths} azimuths"
               if self.options.needs_model else "fits the geometric shapes (no model)")
        self.get_logger().info(f"pairing {value('colour_topic')}, {value('depth_topic')} and {value('camera_info_topic')} "
                               f"within {value('sync_slop')} s; ~/complete ({self.options.mode}) {how} and publishes the "
                               f"completed points of confidence at least {self.min_confidence:g}")

    # --- inputs --------------------------------------------------------------------------------------

    def _on_reset(self, _msg: Empty) -> None:
        """Forget the scene: nothing received or requested before the reset may be completed or published after it."""
        self.frames.reset()
        self._roi = None
        self._last_mask_s = -np.inf  # the new scene's first frame gets its mask at once
        with self.views_lock:
            self.views.clear()
        cancelled = self.worker.cancel_all()  # returns once a job that was publishing has finished doing so
        self.masker.cancel_all()
        self.resets += 1
        self._state = (DiagnosticStatus.OK, "reset: waiting for a paired colour + depth + CameraInfo frame")
        self.get_logger().info(f"reset: paired frame, waiting messages, ROI and key views cleared, {cancelled} queued or "
                               "running completion(s) cancelled")

    def _on_colour(self, msg: Image) -> None:
        self.frames.received(stamp_ns(msg.header))
        try:
            rgb = image_to_rgb8(msg)
        except ValueError as exc:  # ImageConversionError, or anything else the message makes numpy refuse
            return self.drop("colour", f"dropped a colour image: {exc}")
        self._add("colour", msg.header, (msg.header, rgb))

    def _on_depth(self, msg: Image) -> None:
        self.frames.received(stamp_ns(msg.header))
        try:
            depth = depth_from_image(msg)
        except ValueError as exc:  # DepthError, or anything else the message makes numpy refuse
            return self.drop("depth", f"dropped a depth image: {exc}")
        self._add("depth", msg.header, depth)

    def _on_info(self, msg: CameraInfo) -> None:
        self.frames.received(stamp_ns(msg.header))
        try:
            intrinsics = intrinsics_from_info(msg)
        except ValueError as exc:
            return self.drop("camera_info", f"dropped a CameraInfo: {exc}")
        self._add("info", msg.header, intrinsics)

    def _other_views(self, anchor: Header) -> list[np.ndarray]:
        """The key views stamped apart from the anchor's frame (that one *is* the anchor), newest last."""
        with self.views_lock:
            held = self.views.by_stamp()
        others = [image for key, image in held
                  if abs(key[0] * 1_000_000_000 + key[1] - stamp_ns(anchor)) > self.frames.slop_ns]
        return others[-(self.views.max_views - 1):] if self.views.max_views > 1 else []

    def _on_roi(self, msg: RegionOfInterest) -> None:
        self._roi = (msg.x_offset, msg.y_offset, msg.width, msg.height)

    def _add(self, stream: str, header: Header, item: object) -> None:
        pair = self.frames.add(stream, stamp_ns(header), item)
        if self.frames.newly_unpaired():
            for name, nearest in self.frames.pairer.missing.items():
                away = "none received recently" if nearest is None else f"the nearest is {nearest / 1e9:.3f} s away"
                self.drop(f"no_{name}", f"colour frames find no {self._topics[name]} message within sync_slop "
                           f"{self.frames.slop_ns / 1e9} s of their stamps ({away}; check that it publishes, "
                           "and the drivers' stamps)")
        if pair is None:
            return
        (header, colour), depth, intrinsics = pair["colour"], pair["depth"], pair["info"]
        try:
            check_depth(depth, intrinsics, colour.shape)
        except ValueError as exc:
            return self.drop("frame", f"dropped a paired frame: {exc}")
        self.paired += 1
        frame = PairedFrame(header, colour, depth, intrinsics, self.options)
        self.frames.keep(stamp_ns(header), frame)
        if time.monotonic() - self._last_mask_s >= self.mask_period_s:
            self._last_mask_s = time.monotonic()
            roi = self._roi
            self.masker.submit("mask", lambda control: self._publish_mask(control, frame, roi))

    def _publish_mask(self, control: JobControl, frame: PairedFrame[Header], roi: tuple[int, int, int, int] | None) -> None:
        intrinsics = frame.intrinsics
        try:
            seg = frame.segmented(roi).segmentation  # kept with the frame: ~/complete and the completion reuse it
            x, y, w, h = clipped_roi(fit_placement(seg).view_box(intrinsics), intrinsics.width, intrinsics.height)
        except ValueError as exc:  # NothingAbovePlaneError, DepthError, or a placement that cannot be fitted
            return self.drop("segmentation", f"no object mask: {exc}")
        with control.delivering():  # the ROI first: view_buffer applies the latest ROI when the mask pairs with its image
            self.roi_pub.publish(RegionOfInterest(x_offset=x, y_offset=y, width=w, height=h, do_rectify=False))
            self.mask_pub.publish(numpy_to_image(mask_image(seg.mask), "mono8", frame.meta))

    # --- ~/complete ----------------------------------------------------------------------------------

    def _on_complete(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        refusal = self.frames.refusal(self.get_parameter("max_frame_age").value)
        if refusal is not None:
            return self._refuse(response, refusal)
        frame, roi = self.frames.latest, self._roi
        try:
            frame.segmented(roi)
        except ValueError as exc:  # NothingAbovePlaneError, DepthError (both ValueErrors) or any other bad input
            return self._refuse(response, f"{exc} (the frame {self.frames.describe()})")
        header = frame.meta
        others = self._other_views(header)
        replaced = self.worker.submit("complete", lambda control: self._complete(control, frame, roi, others))
        self._state = (DiagnosticStatus.OK, "queued")
        return answer(response, True, f"queued the completion of the frame {self.frames.describe()} in "
                                      f"{header.frame_id!r} with {len(others)} other key view(s)"
                                      + (" (replacing a waiting one)" if replaced else ""))

    def _refuse(self, response: Trigger.Response, reason: str) -> Trigger.Response:
        self.get_logger().error(f"completion refused: {reason}")
        self._state = (DiagnosticStatus.ERROR, f"refused: {reason}")
        return answer(response, False, f"refused: {reason}")

    def _complete(self, control: JobControl, frame: PairedFrame[Header], roi: tuple[int, int, int, int] | None,
                  others: list[np.ndarray]) -> None:
        header, colour, depth, intrinsics = frame.meta, frame.colour, frame.depth, frame.intrinsics
        try:
            run = complete_scene_steps(colour, depth, intrinsics, self.synthesizer, self.options, roi, key_views=others,
                                       prepared=frame.segmented(roi))
            for state in run:
                control.check(state.done, state.total)
                self._state = (DiagnosticStatus.OK, f"sampling hypotheses: step {state.done}/{state.total}")
            result = run.result
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

    def diagnostic_statuses(self) -> list[DiagnosticStatus]:
        level, message = self._state
        values = {"paired_frames": self.paired, "completions": self.completions, "resets": self.resets,
                  "completion_mode": self.options.mode,
                  "model": str(self.synthesizer.checkpoint.path) if self.synthesizer is not None else "none"}
        return [self.status("rgbd completion", level, message, values, hardware_id=NODE_NAME)]


def main(args: list[str] | None = None) -> int:
    return node_main(RgbdCompletionNode, args)
