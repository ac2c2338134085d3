"""World -> reference-camera transform: tracked points into the reference camera's (u, v, z).

A point tracked to pixel ``(u_s, v_s)`` with depth ``z_s`` on frame s lies, in camera s, at
``X_s = ((u_s - cx) z_s / fx, (v_s - cy) z_s / fy, z_s)``; in the reference camera r at
``X_r = T_r_world T_world_s X_s`` with ``T_r_world = inv(T_world_r)``; projected back it is
the screen-aligned ``(u, v, z)`` of the trace contract. With a fixed camera every
``T_world_s`` equals ``T_world_r`` and this is the identity: ``(u_s, v_s, z_s)`` as tracked.

Shapes: ``uv_px`` ``[N, S, 2]``, ``z_m`` ``[N, S]`` (NaN = no depth), ``T_world_camera``
``[S, 4, 4]`` (REP-103 optical frames) or None for a fixed camera; results ``uvz`` ``[N, S, 3]``
and ``valid`` ``[N, S]`` (false where depth is missing or the point falls behind the reference
camera).
"""

from __future__ import annotations

import numpy as np

from tracegen.trace import CameraIntrinsics, transform_points, uvz_to_xyz_m, xyz_to_uvz


def to_reference_uvz(
    uv_px: np.ndarray,
    z_m: np.ndarray,
    intrinsics: CameraIntrinsics,
    T_world_camera: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Screen-aligned ``(u, v, z)`` in the camera of step 0 (see the module docstring)."""
    uvz = np.concatenate([uv_px.astype(np.float64), z_m[..., None].astype(np.float64)], axis=-1)
    valid = np.isfinite(uvz).all(axis=-1) & (uvz[..., 2] > 0)
    if T_world_camera is None:
        return uvz, valid
    t_ref_world = np.linalg.inv(T_world_camera[0])
    out = np.full(uvz.shape, np.nan)
    for step in range(uvz.shape[1]):
        ok = valid[:, step]
        if not ok.any():
            continue
        xyz_step = uvz_to_xyz_m(uvz[ok, step], intrinsics)
        xyz_ref = transform_points(t_ref_world @ T_world_camera[step], xyz_step)
        in_front = xyz_ref[:, 2] > 1e-6
        rows = np.flatnonzero(ok)
        out[rows[in_front], step] = xyz_to_uvz(xyz_ref[in_front], intrinsics)
        valid[rows[~in_front], step] = False
    return out, valid
