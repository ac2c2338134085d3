"""Screen-aligned (u, v, z) <-> camera-frame XYZ (REP-103 optical frame: x right, y down, z forward).

X = (u - cx) z / fx,   Y = (v - cy) z / fy,   Z = z
"""

from __future__ import annotations

import numpy as np

from tracegen.errors import TraceError
from tracegen.trace.checks import as_float_array, check_finite, check_last_dim
from tracegen.trace.intrinsics import CameraIntrinsics


def uvz_to_xyz_m(uvz: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Back-project ``[..., 3]`` (u_px, v_px, z_m) to camera-frame points ``[..., 3]`` in metres."""
    uvz = as_float_array("uvz", uvz)
    check_last_dim("uvz", uvz, 3)
    check_finite("uvz", uvz)
    z_m = uvz[..., 2]
    if (z_m <= 0).any():
        first = tuple(int(i) for i in np.argwhere(z_m <= 0)[0])
        raise TraceError(
            f"uvz has {int((z_m <= 0).sum())} non-positive depths (first {z_m[first]} m at "
            f"{first}): 3D points need z > 0; mark depth holes invalid instead"
        )
    x_m = (uvz[..., 0] - intrinsics.cx_px) * z_m / intrinsics.fx_px
    y_m = (uvz[..., 1] - intrinsics.cy_px) * z_m / intrinsics.fy_px
    return np.stack([x_m, y_m, z_m], axis=-1)


def xyz_to_uvz(xyz_m: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Project camera-frame points ``[..., 3]`` (metres) to (u_px, v_px, z_m) ``[..., 3]``."""
    xyz_m = as_float_array("xyz_m", xyz_m)
    check_last_dim("xyz_m", xyz_m, 3)
    check_finite("xyz_m", xyz_m)
    z_m = xyz_m[..., 2]
    if (z_m <= 0).any():
        first = tuple(int(i) for i in np.argwhere(z_m <= 0)[0])
        raise TraceError(
            f"{int((z_m <= 0).sum())} points lie at or behind the camera (first Z = {z_m[first]} m "
            f"at {first}): they have no pixel coordinates"
        )
    u_px = intrinsics.fx_px * xyz_m[..., 0] / z_m + intrinsics.cx_px
    v_px = intrinsics.fy_px * xyz_m[..., 1] / z_m + intrinsics.cy_px
    return np.stack([u_px, v_px, z_m], axis=-1)


def transform_points(t_a_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Apply the 4x4 homogeneous transform ``T_a_b`` (frame b -> frame a) to ``[..., 3]`` points."""
    t_a_b = as_float_array("T_a_b", t_a_b)
    if t_a_b.shape != (4, 4):
        raise TraceError(f"a rigid transform must be 4x4, got shape {t_a_b.shape}")
    points_b = as_float_array("points", points_b)
    check_last_dim("points", points_b, 3)
    return points_b @ t_a_b[:3, :3].T + t_a_b[:3, 3]
