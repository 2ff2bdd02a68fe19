"""sensor_msgs/Image <-> numpy in both directions, padding and byte order included, and bad messages refused."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from nvs_fusion_ros.ros.image_conversions import (
    ENCODINGS,
    ImageConversionError,
    image_to_numpy,
    image_to_rgb8,
    mask_from_image,
    numpy_to_image,
)


def sample_array(encoding: str, height: int = 5, width: int = 7) -> np.ndarray:
    channels, dtype = ENCODINGS[encoding]
    rng = np.random.default_rng(3)
    shape = (height, width) if channels == 1 else (height, width, channels)
    if dtype == np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def raw_message(array: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Build a message by hand (not with the converter under test): rows padded, chosen byte order."""
    wire = array.astype(array.dtype.newbyteorder(">" if bigendian else "<"))
    rows = wire.reshape(array.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=array.shape[0], width=array.shape[1], encoding=encoding, is_bigendian=int(bigendian),
                step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_round_trip_keeps_pixels_and_header(encoding: str) -> None:
    array = sample_array(encoding)
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = numpy_to_image(array, encoding, header)
    assert (msg.encoding, msg.height, msg.width) == (encoding, 5, 7)
    assert msg.step * msg.height == len(msg.data)
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 345
    back = image_to_numpy(msg)
    assert back.dtype == array.dtype and np.array_equal(back, array)


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "16UC1", "32FC1"])
@pytest.mark.parametrize("bigendian", [False, True])
def test_reads_padded_rows_in_either_byte_order(encoding: str, bigendian: bool) -> None:
    array = sample_array(encoding)
    assert np.array_equal(image_to_numpy(raw_message(array, encoding, pad=6, bigendian=bigendian)), array)


def test_rgb8_for_the_model_from_each_colour_layout() -> None:
    rgb = sample_array("rgb8")
    assert np.array_equal(image_to_rgb8(raw_message(rgb, "rgb8")), rgb)
    assert np.array_equal(image_to_rgb8(raw_message(rgb[..., ::-1].copy(), "bgr8", pad=2)), rgb)
    opaque = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    assert np.array_equal(image_to_rgb8(raw_message(opaque, "rgba8")), rgb)
    transparent = opaque.copy()
    transparent[..., 3] = 0
    assert (image_to_rgb8(raw_message(transparent[..., [2, 1, 0, 3]].copy(), "bgra8")) == 255).all()


def test_single_channel_encodings_become_grey_rgb() -> None:
    mono = sample_array("mono8")
    out = image_to_rgb8(raw_message(mono, "mono8"))
    assert out.shape == (*mono.shape, 3) and np.array_equal(out[..., 1], mono)
    wide = np.array([[0, 65535, 257 * 100]], np.uint16)
    assert image_to_rgb8(raw_message(wide, "16UC1", bigendian=True))[0, :, 0].tolist() == [0, 255, 100]
    depth = np.array([[-1.0, 0.5, 2.0]], np.float32)
    assert image_to_rgb8(raw_message(depth, "32FC1"))[0, :, 0].tolist() == [0, 128, 255]
    with pytest.raises(ImageConversionError, match="1 non-finite pixels of 4"):
        image_to_rgb8(raw_message(np.array([[0.5, np.nan, 0.2, 0.1]], np.float32), "32FC1"))


def test_mask_must_be_mono8() -> None:
    mono = sample_array("mono8")
    assert np.array_equal(mask_from_image(raw_message(mono, "mono8")), mono)
    with pytest.raises(ImageConversionError, match="mono8"):
        mask_from_image(raw_message(sample_array("rgb8"), "rgb8"))


def bad_messages() -> dict[str, tuple[Image, str]]:
    good = raw_message(sample_array("rgb8"), "rgb8")
    wrong_encoding = raw_message(sample_array("rgb8"), "yuv422")
    short_step = raw_message(sample_array("rgb8"), "rgb8")
    short_step.step = 20
    short_step.data = bytes(20 * 5)
    too_short = raw_message(sample_array("rgb8"), "rgb8")
    too_short.data = bytes(good.data)[:-1]
    empty = Image(height=0, width=7, encoding="rgb8", step=21)
    return {
        "encoding": (wrong_encoding, "unsupported encoding 'yuv422'"),
        "step": (short_step, "step 20 is smaller than width x bytes per pixel = 21"),
        "length": (too_short, "data holds 104 bytes but step x height = 21 x 5 = 105"),
        "empty": (empty, "empty image"),
    }


@pytest.mark.parametrize("case", ["encoding", "step", "length", "empty"])
def test_bad_messages_raise_a_specific_error(case: str) -> None:
    msg, reason = bad_messages()[case]
    with pytest.raises(ImageConversionError, match=reason):
        image_to_rgb8(msg)
    assert issubclass(ImageConversionError, ValueError)


def test_writing_refuses_arrays_that_do_not_fit_the_encoding() -> None:
    with pytest.raises(ImageConversionError, match="rgb8 needs a uint8 array of shape"):
        numpy_to_image(np.zeros((4, 4), np.uint8), "rgb8")
    with pytest.raises(ImageConversionError, match="32FC1 needs a float32"):
        numpy_to_image(np.zeros((4, 4), np.float64), "32FC1")
    with pytest.raises(ImageConversionError, match="unsupported encoding"):
        numpy_to_image(np.zeros((4, 4, 3), np.uint8), "rgb16")
    with pytest.raises(ImageConversionError, match="empty"):
        numpy_to_image(np.zeros((0, 4, 3), np.uint8), "rgb8")
