"""Trace -> end-effector plan: follow the grid points that lie on the gripper.

The recipe (DESIGN.md; the TraceGen authors describe the fallback):

1. Back-project the 3D trace into the camera frame and move it into the robot base frame with
   the hand-eye extrinsic ``T_base_camera``: ``points [N, S, 3]``.
2. Find the grid points on the gripper in the reference image (step 0): the gripper's
   collision geometry, posed by forward kinematics at the joint state of that image, projected
   into the image (:class:`~tracegen.ee_retarget.gripper_geometry.GripperGeometry`); a query
   point counts if it falls inside the silhouette and its 3D position lies on the geometry.
3. Per step k, fit the rigid motion ``D_k`` taking those points from step 0 to step k (Kabsch in
   RANSAC, :mod:`tracegen.ee_retarget.rigid`). When too few points are rigidly consistent, or
   they are too thin to fix a rotation, fall back to their mean displacement with the
   orientation held from the previous step. The TCP pose is ``T_k = D_k T_0`` with ``T_0`` the
   forward kinematics at the current joint state.
4. Infer gripper open/close from object points moving with the gripper
   (:mod:`tracegen.ee_retarget.grasp`).
5. Time the steps ``step_duration_s`` apart and pass the path through the shared safety
   envelope (no NaN, inside the workspace box, within the Cartesian speed limits: clipped or
   refused, with the reason in ``notes``).

Only the valid steps of the trace (``step_valid``) are used. 2D-only traces are refused: without
depth there is no 3D motion to follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracegen.ee_retarget.config import RetargetConfig
from tracegen.ee_retarget.grasp import gripper_actions, infer_gripper_states
from tracegen.ee_retarget.gripper_geometry import GripperGeometry
from tracegen.ee_retarget.rigid import ransac_rigid
from tracegen.errors import TraceError
from tracegen.robot.kinematics import MAX_GRIPPER_WIDTH_M, Fr3Kinematics, as_joint_vector
from tracegen.robot.plan import EndEffectorPlan
from tracegen.robot.safety import CartesianPath, SafetyEnvelope
from tracegen.trace import Trace, transform_points

#: How each step's pose was obtained.
METHOD_START, METHOD_RIGID, METHOD_MEAN, METHOD_HELD = "start", "rigid", "mean", "held"


@dataclass(frozen=True, eq=False)
class RetargetResult:
    """The plan and how it was made (for logs, diagnostics and tests).

    Attributes:
        plan: the end-effector plan (safety-checked).
        gripper_points: ``[N]`` bool, the grid points taken to lie on the gripper.
        methods: per step, ``start`` / ``rigid`` / ``mean`` / ``held`` (no gripper point valid).
        inliers: ``[S]`` rigid inliers per step (0 where the mean was used).
        gripper_states: per step True (closed), False (open), None (unknown).
        notes: what the safety envelope clipped.
    """

    plan: EndEffectorPlan
    gripper_points: np.ndarray
    methods: tuple[str, ...]
    inliers: np.ndarray
    gripper_states: tuple[bool | None, ...]
    notes: tuple[str, ...]

    def summary(self) -> str:
        counts = {m: self.methods.count(m) for m in (METHOD_RIGID, METHOD_MEAN, METHOD_HELD)}
        return (
            f"{int(self.gripper_points.sum())} gripper points; steps: {counts[METHOD_RIGID]} rigid, "
            f"{counts[METHOD_MEAN]} mean displacement, {counts[METHOD_HELD]} held"
        )


def _inverse(transform: np.ndarray) -> np.ndarray:
    inverse = np.eye(4)
    inverse[:3, :3] = transform[:3, :3].T
    inverse[:3, 3] = -transform[:3, :3].T @ transform[:3, 3]
    return inverse


def _spread_m(points_m: np.ndarray) -> float:
    """Second singular value of the centred points / sqrt(M): their extent across the thinnest line."""
    if points_m.shape[0] < 3:
        return 0.0
    singular = np.linalg.svd(points_m - points_m.mean(axis=0), compute_uv=False)
    return float(singular[1] / np.sqrt(points_m.shape[0]))


class TraceRetargeter:
    """Turns 3D traces into end-effector plans for one camera extrinsic and one FR3 model."""

    def __init__(
        self,
        kinematics: Fr3Kinematics,
        T_base_camera: np.ndarray,
        config: RetargetConfig | None = None,
        envelope: SafetyEnvelope | None = None,
    ) -> None:
        self.kinematics = kinematics
        self.geometry = GripperGeometry(kinematics)
        self.T_base_camera = np.asarray(T_base_camera, dtype=np.float64)
        if self.T_base_camera.shape != (4, 4) or not np.isfinite(self.T_base_camera).all():
            raise TraceError(
                f"T_base_camera must be a finite 4x4 transform, got shape {self.T_base_camera.shape}"
            )
        self.T_camera_base = _inverse(self.T_base_camera)
        self.config = config or RetargetConfig()
        self.envelope = envelope or SafetyEnvelope()

    def find_gripper_points(
        self, trace: Trace, points_base_m: np.ndarray, q_rad: np.ndarray, gripper_width_m: float
    ) -> np.ndarray:
        """``[N]`` bool: query points inside the projected gripper whose 3D position lies on it."""
        in_silhouette = self.geometry.silhouette_contains(
            trace.query_uv_px,
            q_rad,
            gripper_width_m,
            self.T_camera_base,
            trace.intrinsics,
            margin_px=self.config.gripper_margin_px,
        )
        on_geometry = (
            self.geometry.distance_m(points_base_m, q_rad, gripper_width_m) <= self.config.gripper_distance_m
        )
        selected = in_silhouette & on_geometry
        if selected.sum() < self.config.min_gripper_points:
            raise TraceError(
                f"{int(in_silhouette.sum())} grid points fall on the projected gripper and "
                f"{int(selected.sum())} of them at its depth (within {self.config.gripper_distance_m} m); "
                f"at least {self.config.min_gripper_points} are needed. Is the gripper in view of the "
                "camera, and does the calibration (T_base_camera) match it?"
            )
        return selected

    def retarget(
        self, trace: Trace, q_rad: np.ndarray, gripper_width_m: float, *, stamp_ns: int = 0
    ) -> RetargetResult:
        """The end-effector plan for ``trace`` made at joint state ``q_rad [7]``; raises on bad input.

        Raises :class:`TraceError` for traces that cannot be retargeted (2D, no motion, no
        gripper in view) and :class:`~tracegen.robot.errors.SafetyViolationError` for paths the
        envelope refuses.
        """
        cfg = self.config
        if not trace.is_3d:
            raise TraceError(
                "the trace is 2D-only (is_3d = false): retargeting needs depth; run the model with depth"
            )
        num_steps = trace.num_valid_steps
        if num_steps < 2:
            raise TraceError("the trace has no step after its query step: there is no motion to follow")
        q = as_joint_vector("joint state", q_rad)
        width = (
            float(np.clip(gripper_width_m, 0.0, MAX_GRIPPER_WIDTH_M)) if np.isfinite(gripper_width_m) else 0.0
        )
        points = transform_points(self.T_base_camera, trace.to_xyz_m()[:, :num_steps])
        valid = trace.point_valid[:, :num_steps]
        gripper = self.find_gripper_points(trace, points[:, 0], q, width)

        T_0 = self.kinematics.fk(q)
        poses = np.empty((num_steps, 4, 4))
        poses[0] = T_0
        methods = [METHOD_START]
        inliers = np.zeros(num_steps, dtype=int)
        rng = np.random.default_rng(cfg.seed)
        for k in range(1, num_steps):
            use = gripper & valid[:, k]
            if not use.any():
                poses[k], methods = poses[k - 1], [*methods, METHOD_HELD]
                continue
            p, q_k = points[use, 0], points[use, k]
            fit = None
            if use.sum() >= cfg.min_rigid_points:
                fit = ransac_rigid(
                    p, q_k, threshold_m=cfg.ransac_threshold_m, iterations=cfg.ransac_iterations, rng=rng
                )
            rigid = (
                fit is not None
                and fit.num_inliers >= cfg.min_rigid_points
                and fit.num_inliers >= cfg.min_inlier_fraction * use.sum()
                and _spread_m(p[fit.inliers]) >= cfg.min_point_spread_m
            )
            if rigid:
                poses[k] = fit.matrix() @ T_0
                inliers[k] = fit.num_inliers
                methods.append(METHOD_RIGID)
            else:
                poses[k] = poses[k - 1].copy()
                poses[k, :3, 3] = T_0[:3, 3] + (q_k - p).mean(axis=0)
                methods.append(METHOD_MEAN)
        motions = poses @ _inverse(T_0)
        states, _ = infer_gripper_states(points, valid, gripper, motions, poses[:, :3, 3], cfg)
        actions, widths = gripper_actions(states, cfg)
        times = np.arange(num_steps) * cfg.step_duration_s
        checked, notes = self.envelope.check_cartesian_path(
            CartesianPath(poses, times), workspace_policy=cfg.workspace_policy, speed_policy=cfg.speed_policy
        )
        plan = EndEffectorPlan(
            poses=checked.poses,
            times_s=checked.times_s,
            gripper=actions,
            gripper_width_m=widths,
            stamp_ns=stamp_ns,
            tcp_frame=self.kinematics.tcp_frame_name,
            notes=notes,
        )
        return RetargetResult(plan, gripper, tuple(methods), inliers, tuple(states), notes)
