"""sensor_msgs/Image <-> numpy, and camera images to the model's RGB uint8.

Uses cv_bridge when it imports (a full ROS install) and this module's own converter
otherwise (pip-only installs, where cv_bridge is not available). Either way the message
is checked first, so a bad message raises the same ``ImageConversionError`` (a
``ValueError``) with a message that says what is wrong, and callers drop it with one log line.
"""

from __future__ import annotations

import importlib.util
import sys

import cv2
import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

#: encoding -> (channels, element dtype); the encodings docs/DESIGN.md §5 asks nodes to accept
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
    "mono8": (1, np.dtype(np.uint8)),
    "16UC1": (1, np.dtype(np.uint16)),
    "32FC1": (1, np.dtype(np.float32)),
}

_CV_BRIDGE = importlib.util.find_spec("cv_bridge") is not None


class ImageConversionError(ValueError):
    """A sensor_msgs/Image that cannot be read, or an array that cannot be written as one."""


def check_image_message(msg: Image) -> tuple[int, np.dtype]:
    """Refuse unsupported encodings and inconsistent sizes; return (channels, dtype)."""
    if msg.encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {msg.encoding!r}; supported: {', '.join(ENCODINGS)}")
    channels, dtype = ENCODINGS[msg.encoding]
    if msg.width == 0 or msg.height == 0:
        raise ImageConversionError(f"empty image ({msg.width}x{msg.height})")
    row_bytes = msg.width * channels * dtype.itemsize
    if msg.step < row_bytes:
        raise ImageConversionError(f"step {msg.step} is smaller than width x bytes per pixel = {row_bytes} ({msg.encoding})")
    if len(msg.data) != msg.step * msg.height:
        raise ImageConversionError(
            f"data holds {len(msg.data)} bytes but step x height = {msg.step} x {msg.height} = {msg.step * msg.height}"
        )
    return channels, dtype


def stamp_ns(header: Header) -> int:
    """A header's stamp in integer nanoseconds (how messages are paired and ordered)."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def reset_marker(header: Header) -> Image:
    """The ``views`` protocol's reset marker: an Image with no pixels (``synthesis/key_views.py``)."""
    return Image(header=header, height=0, width=0, encoding="rgb8", step=0)


def is_reset_marker(msg: Image) -> bool:
    return msg.height == 0 and msg.width == 0 and len(msg.data) == 0


def image_to_numpy(msg: Image) -> np.ndarray:
    """The pixels in the message's own encoding: (H, W) or (H, W, C), native byte order, row padding removed."""
    channels, dtype = check_image_message(msg)
    if _CV_BRIDGE:
        from cv_bridge import CvBridge, CvBridgeError

        try:
            return np.asarray(CvBridge().imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        except CvBridgeError as exc:
            raise ImageConversionError(str(exc)) from exc
    wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    rows = np.frombuffer(memoryview(msg.data), np.uint8).reshape(msg.height, msg.step)
    pixels = rows[:, : msg.width * channels * dtype.itemsize].copy().view(wire).astype(dtype)
    return pixels.reshape(msg.height, msg.width, channels) if channels > 1 else pixels.reshape(msg.height, msg.width)


def numpy_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """An array in ``encoding``'s layout as a sensor_msgs/Image (native byte order, no row padding)."""
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    channels, dtype = ENCODINGS[encoding]
    expected = 2 if channels == 1 else 3
    if array.ndim != expected or (channels > 1 and array.shape[2] != channels) or array.dtype != dtype:
        raise ImageConversionError(
            f"{encoding} needs a {dtype} array of shape (H, W{'' if channels == 1 else f', {channels}'}), "
            f"got {array.dtype} {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageConversionError(f"empty image {array.shape}")
    if _CV_BRIDGE:
        from cv_bridge import CvBridge

        msg = CvBridge().cv2_to_imgmsg(np.ascontiguousarray(array), encoding=encoding)
    else:
        msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding,
                    is_bigendian=int(sys.byteorder == "big"), step=array.shape[1] * channels * dtype.itemsize)
        msg.data = np.ascontiguousarray(array).tobytes()
    if header is not None:
        msg.header = header
    return msg


def image_to_rgb8(msg: Image) -> np.ndarray:
    """A camera image as the model's input, (H, W, 3) uint8 RGB.

    Alpha is composited onto white (the training background); mono8 is replicated to three
    channels; 16UC1 maps 0..65535 and 32FC1 maps 0.0..1.0 (clipped) linearly to 0..255; a 32FC1 image
    with a non-finite pixel is refused.
    """
    pixels = image_to_numpy(msg)
    encoding = msg.encoding
    if encoding == "16UC1":
        pixels = (pixels.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif encoding == "32FC1":
        bad = int(np.count_nonzero(~np.isfinite(pixels)))
        if bad:  # NaN has no intensity: refused, not silently painted black
            raise ImageConversionError(f"32FC1 image holds {bad} non-finite pixels of {pixels.size}")
        pixels = (np.clip(pixels, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB)
    if encoding in ("rgba8", "bgra8"):
        alpha = pixels[..., 3:].astype(np.float32) / 255.0
        pixels = (pixels[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB) if encoding.startswith("bgr") else np.ascontiguousarray(pixels)


def mask_from_image(msg: Image) -> np.ndarray:
    """An object mask (mono8, non-zero = object) as an (H, W) uint8 array."""
    if msg.encoding != "mono8":
        raise ImageConversionError(f"a mask must be mono8, got {msg.encoding!r}")
    return image_to_numpy(msg)
