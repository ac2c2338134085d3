"""sensor_msgs/CameraInfo <-> :class:`tracegen.trace.CameraIntrinsics`.

Follows realsense-ros: rectified streams, ``plumb_bob`` with zero distortion, P = [K | 0].
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo

from tracegen.errors import TraceError
from tracegen.trace import CameraIntrinsics


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics, frame_id: str = "") -> CameraInfo:
    """A CameraInfo for a rectified pinhole image (no distortion)."""
    msg = CameraInfo()
    msg.header.frame_id = frame_id
    msg.width = intrinsics.width_px
    msg.height = intrinsics.height_px
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    k = intrinsics.matrix()
    msg.k = k.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    msg.p = np.hstack([k, np.zeros((3, 1))]).ravel().tolist()
    return msg


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """Intrinsics from a CameraInfo; raises :class:`TraceError` on empty or absurd values."""
    k = np.asarray(msg.k, dtype=np.float64)
    if msg.width == 0 or msg.height == 0 or not k.any():
        raise TraceError(
            f"camera_info is empty (width={msg.width}, height={msg.height}, k all zero: "
            f"{not k.any()}): the camera driver has not been calibrated or sent no intrinsics"
        )
    if np.any(np.asarray(msg.d, dtype=np.float64) != 0.0):
        raise TraceError(
            f"camera_info has distortion {list(msg.d)}: tracegen expects rectified images "
            "(realsense-ros publishes its colour stream rectified)"
        )
    return CameraIntrinsics.from_matrix(k, msg.width, msg.height)
