"""sensor_msgs/Image <-> numpy for the encodings the stack uses, without cv_bridge.

cv_bridge is not installable from PyPI for ROS 2 (the PyPI ``cv-bridge`` is a ROS 1 port that
maps 16UC1 to 8 bits: wrong for depth), so the four encodings the camera and model need are
converted here: ``rgb8``/``bgr8`` ``[H, W, 3]`` uint8, ``16UC1`` ``[H, W]`` uint16 (RealSense
depth in millimetres), ``32FC1`` ``[H, W]`` float32 (depth in metres). Row padding (``step``
larger than a row) and big-endian data are honoured; anything else raises :class:`ImageError`
naming the field and value.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

from tracegen.errors import InputError

#: encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "16UC1": (np.dtype(np.uint16), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
COLOR_ENCODINGS = ("rgb8", "bgr8")
DEPTH_ENCODINGS = ("16UC1", "32FC1")
MAX_SIDE_PX = 16384


class ImageError(InputError):
    """An Image message whose fields are inconsistent or whose encoding is not supported here."""


def image_to_numpy(msg: Image) -> np.ndarray:
    """The pixels of ``msg`` as a new ``[H, W]`` or ``[H, W, C]`` native-endian array."""
    if msg.encoding not in ENCODINGS:
        raise ImageError(
            f"image encoding {msg.encoding!r} is not supported: expected one of {list(ENCODINGS)}"
        )
    dtype, channels = ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < height <= MAX_SIDE_PX and 0 < width <= MAX_SIDE_PX):
        raise ImageError(f"image size {width}x{height} is empty or absurd")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageError(
            f"image step {step} is shorter than a {msg.encoding} row of {width} px ({row_bytes} bytes)"
        )
    data = msg.data
    if len(data) != step * height:
        raise ImageError(
            f"image data has {len(data)} bytes but step {step} x height {height} = {step * height}"
        )
    try:
        buffer = np.frombuffer(data, dtype=np.uint8)  # bytes or array.array('B'): no copy
    except TypeError:
        buffer = np.asarray(data, dtype=np.uint8)
    rows = buffer.reshape(height, step)[:, :row_bytes]
    byte_order = ">" if msg.is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder(byte_order))
    shape = (height, width, channels) if channels > 1 else (height, width)
    return pixels.reshape(shape).astype(dtype, copy=True)


def numpy_to_image(array: np.ndarray, encoding: str, *, frame_id: str = "", stamp=None) -> Image:
    """An Image holding ``array`` (shape and dtype must match ``encoding``), little-endian, unpadded."""
    if encoding not in ENCODINGS:
        raise ImageError(f"cannot encode {encoding!r}: expected one of {list(ENCODINGS)}")
    dtype, channels = ENCODINGS[encoding]
    array = np.asarray(array)
    expected_ndim = 3 if channels > 1 else 2
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels) or array.dtype != dtype:
        raise ImageError(
            f"{encoding} needs a {'[H, W, 3]' if channels > 1 else '[H, W]'} {dtype} array, "
            f"got {list(array.shape)} {array.dtype}"
        )
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels * dtype.itemsize
    msg.data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).tobytes()
    return msg


def color_to_rgb(msg: Image) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB from an rgb8 or bgr8 image."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageError(
            f"colour image has encoding {msg.encoding!r}: expected rgb8 or bgr8 (realsense-ros "
            "publishes rgb8 on color/image_raw)"
        )
    pixels = image_to_numpy(msg)
    return pixels if msg.encoding == "rgb8" else np.ascontiguousarray(pixels[..., ::-1])


def depth_to_metres(msg: Image) -> np.ndarray:
    """``[H, W]`` float32 metres from 16UC1 millimetres or 32FC1 metres; 0 where no reading.

    Non-finite and negative values become 0 (no reading), the convention of 16UC1.
    """
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ImageError(
            f"depth image has encoding {msg.encoding!r}: expected 16UC1 (millimetres, realsense-ros "
            "aligned_depth_to_color) or 32FC1 (metres)"
        )
    pixels = image_to_numpy(msg)
    if msg.encoding == "16UC1":
        return pixels.astype(np.float32) / np.float32(1000.0)
    return np.where(np.isfinite(pixels) & (pixels > 0), pixels, np.float32(0.0)).astype(np.float32)
