"""The receiving end of view_buffer's ``views`` topic, shared by every node that composes over its key views.

One rule for all of them: a reset marker empties the store (the views before it belong to a
scene that is gone), any other message is converted to RGB and kept under its stamp, frame_id and
pixels (``ReceivedViews.key``), so a repeated publication of the same view is not counted twice.
"""

from __future__ import annotations

import threading

from sensor_msgs.msg import Image

from ..synthesis.key_views import ReceivedViews
from .image_conversions import image_to_rgb8, is_reset_marker


def store_key_view(views: ReceivedViews, lock: threading.Lock, msg: Image) -> None:
    """Apply one ``views`` message to ``views`` under ``lock``; raises ValueError (the store unchanged) for a bad image."""
    if is_reset_marker(msg):
        with lock:
            views.clear()
        return
    image = image_to_rgb8(msg)
    stamp = msg.header.stamp
    with lock:
        views.receive(ReceivedViews.key(stamp.sec, stamp.nanosec, msg.header.frame_id, image), image)
