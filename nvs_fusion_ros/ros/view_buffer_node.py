"""``view_buffer``: camera images in, a small set of pose-free key views out.

Subscribes to every topic in ``image_topics`` (and optionally a RegionOfInterest to crop
to and a mono8 object mask whose background is painted white), keeps the key views that
``synthesis.key_views.KeyViewSet`` admits, and publishes the whole set on ``views``
(rgb8, ``image_size`` x ``image_size``, each with its source image's header; RELIABLE +
TRANSIENT_LOCAL, depth ``max_views``) whenever it changes. The protocol, and why a late
subscriber ends up with exactly the current set, is in ``synthesis/key_views.py``.
``reset`` (std_msgs/Empty) empties the set and publishes the protocol's reset marker (an
Image with no pixels), so a receiver, live or late, forgets the views before it. (The
publisher used to be destroyed and recreated instead: destroying its QoS event waitables from
a callback while the executor waited on them made rclpy raise ``InvalidHandle``, and every
reset cost a DDS discovery round.)
A frame that cannot be a key view (non-finite, one flat colour, smaller than 8x8 after the
ROI, or an empty mask) is dropped with one throttled log line that says why, counted by cause in
``dropped`` (``CAUSES``; ``node_base``).

A whole camera frame is not a key view: the model's views show one object filling a white frame,
and a scene letterboxed to ``image_size`` (64 px) is a table with a speck on it. So an image that
has neither a mask nor an ROI (none configured, or none received yet) and whose longer side
exceeds ``max_uncropped_size`` is refused, counted in ``dropped["uncropped"]``, with one throttled
warning naming the ways to select the object: ``roi_topic``, ``mask_topic``, or ``rgbd:=true``
(``rgbd_completion`` segments it with depth). Refusing rather than guessing (a centre crop,
saliency) because a wrong guess is silent: it pollutes the key-view set that every synthesis and
completion composes over, while a refusal says what to do. Images up to ``max_uncropped_size``
(object crops from a detector, the sample views) are taken whole; 0 takes every image whole.

Camera topics are subscribed with ``input_qos`` (default ``auto``: RELIABLE and BEST_EFFORT
publishers alike, ``qos.subscribe_input``); ``images_received`` counts the images that arrived.
Other nodes named like this one in the domain are reported in the log (``peers``). ``/diagnostics`` ("key views"):
the views held, the images received and masked, resets, and the dropped images by cause (WARN with a peer warning).

With ``mask_topic``, each image waits (the last ``MASK_WAIT_IMAGES`` per topic) for the mask
stamped like it, within ``mask_slop`` (``rgbd.pairing``; message_filters is not available on
pip-only installs): a key view is masked by its own frame's mask, never by a newer frame's, and
images no mask answers are passed over (a masker may segment only every few frames). The ROI
has no stamp: the latest received one applies (``rgbd_completion`` publishes a frame's ROI
before its mask, so the ROI is that frame's when its mask arrives).
"""

from __future__ import annotations

from functools import partial

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image, RegionOfInterest
from std_msgs.msg import Empty, Header

from ..rgbd.pairing import MASKED_STREAMS, StampPairer
from ..synthesis.key_views import KeyViewSet, check_min_view_difference, prepare_key_view
from .harness import node_main
from .image_conversions import image_to_rgb8, mask_from_image, numpy_to_image, reset_marker, stamp_ns
from .node_base import WARN_EVERY_S, NodeBase
from .parameters import ParamSpec, on_parameters_set, optional_topic_name, topic_names
from .peers import PeerWatch
from .qos import INPUT_QOS_CHOICES, latched_qos, reset_qos, subscribe_input

NODE_NAME = "view_buffer"
PEER_CHECK_PERIOD_S = 2.0
#: why an image is dropped: unreadable or no key view (bad encoding, degenerate view, a mask that does not fit it),
#: an unreadable mask, a whole scene with no mask or ROI to select the object
CAUSES = ("image", "mask", "uncropped")
MASK_WAIT_IMAGES = 30  # images per topic that wait for their mask: 1 s at 30 Hz covers a segmenter's latency

PARAMETERS = (
    ParamSpec("image_topics", ["/camera/image_raw"], "Camera image topics to take key views from.", read_only=True,
              check=topic_names("image_topics")),
    ParamSpec("roi_topic", "", "sensor_msgs/RegionOfInterest topic to crop images to; '' = none.", read_only=True,
              check=optional_topic_name("roi_topic")),
    ParamSpec("mask_topic", "", "mono8 object-mask topic (non-zero = object; background painted white); '' = none.",
              read_only=True, check=optional_topic_name("mask_topic")),
    ParamSpec("mask_slop", 0.005, "Most seconds between an image's stamp and its mask's (with mask_topic).",
              read_only=True, float_range=(0.0, 1.0)),
    ParamSpec("max_views", 6, "Most key views kept; also the depth of the transient-local 'views' topic.",
              read_only=True, int_range=(1, 32)),
    ParamSpec("min_view_difference", 0.02,
              "A view is a key view only if the mean absolute difference of its 32x32 greyscale letterboxed "
              "thumbnail to every kept view's is at least this (range 0..1).",
              float_range=(0.0, 1.0)),
    ParamSpec("image_size", 64, "Key views are letterboxed on white to this square size (pixels).", read_only=True,
              int_range=(8, 1024)),
    ParamSpec("max_uncropped_size", 256,
              "Longest side (pixels) of an image taken whole when it has no mask and no ROI; a larger one is a camera "
              "frame of a whole scene and is refused with a warning (set roi_topic or mask_topic, or run "
              "rgbd_completion). 0 = take every image whole.", int_range=(0, 100000)),
    ParamSpec("input_qos", "auto", "QoS of the image, ROI and mask subscriptions: auto (reliable and best-effort "
              "publishers alike), sensor_data (best effort) or reliable.", read_only=True, choices=INPUT_QOS_CHOICES),
    ParamSpec("input_qos_depth", 5, "History depth of the image, ROI and mask subscriptions.", read_only=True,
              int_range=(1, 100)),
)


class ViewBufferNode(NodeBase):
    """Keeps and publishes the key-view set; see the module docstring for topics and protocol."""

    def __init__(self, **node_options: object):
        super().__init__(NODE_NAME, PARAMETERS, CAUSES, **node_options)
        value = self.value
        self.key_views: KeyViewSet[Header] = KeyViewSet(value("max_views"), value("min_view_difference"))
        self.image_size: int = value("image_size")
        self._roi: tuple[int, int, int, int] | None = None
        self._masked = self._mask_pairers()
        self.masked_images = 0  # images that met their mask
        self.resets = 0
        self.images_received = 0  # camera images that arrived (each once, whichever subscription delivered it)
        on_parameters_set(self, PARAMETERS, self._apply_parameters)

        qos = (value("input_qos"), value("input_qos_depth"))
        for topic in value("image_topics"):
            subscribe_input(self, Image, topic, partial(self._on_image, topic), *qos)
        if value("roi_topic"):
            subscribe_input(self, RegionOfInterest, value("roi_topic"), self._on_roi, *qos)
        if value("mask_topic"):
            subscribe_input(self, Image, value("mask_topic"), self._on_mask, *qos)
        self.create_subscription(Empty, "reset", self._on_reset, reset_qos())
        # not a request's output but the current set, which a late subscriber needs whole: transient local
        self._views_publisher = self.create_publisher(Image, "views", latched_qos(self.key_views.max_views))
        self.peers = PeerWatch(self)
        self.create_timer(PEER_CHECK_PERIOD_S, self.peers.poll)
        self.start_diagnostics()
        self.get_logger().info(
            f"keeping up to {self.key_views.max_views} key views from {value('image_topics')} "
            f"(min_view_difference {self.key_views.min_view_difference})"
        )

    def _mask_pairers(self) -> dict[str, StampPairer[Image]]:
        """With mask_topic, one pairer per image topic, empty: images and masks waiting for each other."""
        value = self.value
        return {topic: StampPairer(round(value("mask_slop") * 1e9), MASK_WAIT_IMAGES, MASKED_STREAMS)
                for topic in (value("image_topics") if value("mask_topic") else [])}

    def _apply_parameters(self, params: list[Parameter]) -> None:
        for param in params:
            if param.name == "min_view_difference":
                self.key_views.min_view_difference = check_min_view_difference(param.value)

    def _on_image(self, topic: str, msg: Image) -> None:
        self.images_received += 1
        pairer = self._masked.get(topic)
        if pairer is None:
            return self._offer(topic, msg, None)
        self._pair(topic, pairer, pairer.add("image", stamp_ns(msg.header), msg))

    def _on_mask(self, msg: Image) -> None:
        for topic, pairer in self._masked.items():
            self._pair(topic, pairer, pairer.add("mask", stamp_ns(msg.header), msg))

    def _pair(self, topic: str, pairer: StampPairer[Image], pair: object) -> None:
        if pair is None:
            if pairer.unpaired and not self.masked_images:
                self.get_logger().warning(
                    f"no image from {topic} has met a mask on {self.value('mask_topic')} within "
                    f"mask_slop yet: check that the masker stamps masks with their image's stamp",
                    throttle_duration_sec=WARN_EVERY_S)
            return
        self.masked_images += 1
        try:
            mask = mask_from_image(pair["mask"])  # type: ignore[index]
        except ValueError as exc:
            return self.drop("mask", f"dropped a mask: {exc}")
        self._offer(topic, pair["image"], mask)  # type: ignore[index]

    def _uncropped(self, topic: str, msg: Image) -> bool:
        """True (after a throttled warning) for a whole camera frame: no mask, no ROI, larger than max_uncropped_size."""
        limit = self.value("max_uncropped_size")
        if self._roi is not None or not limit or max(msg.width, msg.height) <= limit:
            return False
        roi_topic = self.value("roi_topic")
        waiting = f"no ROI received on {roi_topic} yet" if roi_topic else "no roi_topic or mask_topic is set"
        self.drop("uncropped",
                  f"refused an image from {topic}: a {msg.width}x{msg.height} frame with no mask or ROI ({waiting}) is "
                  f"a whole scene, and shrunk to {self.image_size} px the object would be a speck. Select the object: "
                  "set roi_topic (a detector's RegionOfInterest) or mask_topic (a mono8 mask), or with a depth camera "
                  "launch with rgbd:=true (nvs-fusion launch --rgbd); or set max_uncropped_size to 0 to take whole "
                  "frames anyway")
        return True

    def _offer(self, topic: str, msg: Image, mask: object) -> None:
        if mask is None and self._uncropped(topic, msg):
            return
        try:
            view = prepare_key_view(image_to_rgb8(msg), self.image_size, self._roi, mask)
        except ValueError as exc:
            return self.drop("image", f"dropped an image from {topic}: {exc}")
        offer = self.key_views.offer(view, msg.header)
        if not offer.decision.changed:
            self.get_logger().debug(f"image from {topic} not kept: {offer.decision.value}")
            return
        self.get_logger().info(
            f"key view {offer.decision.value} from {topic} (closest difference {offer.closest_difference:.3f}); "
            f"{len(self.key_views)} held"
        )
        for kept in self.key_views.views:
            self._views_publisher.publish(numpy_to_image(kept.image, "rgb8", kept.meta))

    def _on_roi(self, msg: RegionOfInterest) -> None:
        self._roi = (msg.x_offset, msg.y_offset, msg.width, msg.height)

    def _on_reset(self, _msg: Empty) -> None:
        self.key_views.clear()
        self._masked = self._mask_pairers()  # an image from before the reset must not meet its mask after it
        self._views_publisher.publish(reset_marker(self.request_header()))
        self.resets += 1
        self.get_logger().info("reset: key views cleared")

    def diagnostic_statuses(self) -> list[DiagnosticStatus]:
        warnings = self.peers.warnings
        values = {"views_held": len(self.key_views), "images_received": self.images_received,
                  "masked_images": self.masked_images, "resets": self.resets, "warnings": " | ".join(warnings)}
        level = DiagnosticStatus.WARN if warnings else DiagnosticStatus.OK
        message = "; ".join([f"{len(self.key_views)} of {self.key_views.max_views} key views", *warnings])
        return [self.status("key views", level, message, values)]


def main(args: list[str] | None = None) -> int:
    return node_main(ViewBufferNode, args)
