"""Damped-least-squares inverse kinematics on MuJoCo's site Jacobian (``mj_jacSite``).

Hand-written (about twenty lines) because robosuite's and mink's IK would pull in their
dependency trees, and the corpus only needs a tool point to follow smooth waypoints from a
warm start: dq = J^T (J J^T + lambda^2 I)^-1 e, with e = [position error; orientation error].
"""

from __future__ import annotations

import numpy as np


def orientation_error(rot_current: np.ndarray, rot_target: np.ndarray) -> np.ndarray:
    """Small-angle rotation vector taking ``rot_current`` to ``rot_target`` (both 3x3, world)."""
    return 0.5 * sum(np.cross(rot_current[:, i], rot_target[:, i]) for i in range(3))


def solve_ik(
    model,
    data,
    site_id: int,
    joint_ids: list[int],
    target_pos_m: np.ndarray,
    target_rot: np.ndarray | None = None,
    iterations: int = 60,
    damping: float = 0.03,
    rotation_weight: float = 0.4,
    tolerance_m: float = 5e-4,
) -> float:
    """Move ``data.qpos`` of ``joint_ids`` (hinges) so the site reaches the target; in place.

    Returns the remaining position error in metres. Joint limits are respected by clipping.
    """
    import mujoco

    qadr = model.jnt_qposadr[joint_ids]
    dadr = model.jnt_dofadr[joint_ids]
    limited = model.jnt_limited[joint_ids].astype(bool)
    lo, hi = model.jnt_range[joint_ids].T
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    error_m = np.inf
    for _ in range(iterations):
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        pos = data.site_xpos[site_id]
        err = target_pos_m - pos
        error_m = float(np.linalg.norm(err))
        rows = [err]
        mujoco.mj_jacSite(model, data, jacp, jacr, site_id)
        jac = [jacp[:, dadr]]
        if target_rot is not None:
            rows.append(
                rotation_weight * orientation_error(data.site_xmat[site_id].reshape(3, 3), target_rot)
            )
            jac.append(rotation_weight * jacr[:, dadr])
            rot_ok = np.linalg.norm(rows[-1]) < 0.01
        else:
            rot_ok = True
        if error_m < tolerance_m and rot_ok:
            break
        e = np.concatenate(rows)
        j = np.vstack(jac)
        dq = j.T @ np.linalg.solve(j @ j.T + damping**2 * np.eye(j.shape[0]), e)
        q = data.qpos[qadr] + np.clip(dq, -0.3, 0.3)
        data.qpos[qadr] = np.where(limited, np.clip(q, lo, hi), q)
    mujoco.mj_kinematics(model, data)
    return float(np.linalg.norm(target_pos_m - data.site_xpos[site_id]))
