"""Pinocchio kinematics of the FR3 arm: forward kinematics, Jacobians, a configurable TCP frame.

The model is built from the FR3 URDF (:func:`tracegen.robot_assets.fr3_urdf_path`: franky-sim's
copy, the model the simulator runs). The two finger joints are locked, so configurations are the
7 arm joints ``q_rad [7]`` in the order of ``ARM_JOINT_NAMES``. Poses are 4x4 homogeneous
transforms ``T_base_<frame>`` in the robot base frame ``fr3_link0`` (the URDF root ``base``
coincides with it, but the transform is applied anyway so another URDF stays correct).

The TCP is a frame of the URDF (default ``fr3_hand_tcp``: between the fingertips, z along the
approach direction, the frame franky's ``O_T_EE`` reports) plus an optional translation in that
frame, for tools that extend the fingers.

Pinocchio's ``Data`` is scratch memory: one :class:`Fr3Kinematics` must not be used from two
threads at once (make one per thread; they are cheap, ~10 ms to build).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pinocchio as pin

from tracegen.errors import InputError
from tracegen.robot_assets import ARM_JOINT_NAMES, BASE_FRAME, FINGER_JOINT_NAMES, TCP_FRAME, fr3_urdf_path

#: Name of the frame added when the TCP has an offset from its URDF frame.
OFFSET_TCP_FRAME = "tracegen_tcp"
#: Largest finger opening of the Franka Hand (both fingers together), metres.
MAX_GRIPPER_WIDTH_M = 0.08


def as_joint_vector(name: str, q_rad: Sequence[float] | np.ndarray, size: int = 7) -> np.ndarray:
    """``q_rad`` as a finite float64 vector of ``size`` entries, or an :class:`InputError` naming it."""
    q = np.asarray(q_rad, dtype=np.float64).reshape(-1)
    if q.shape != (size,):
        raise InputError(f"{name} must have {size} joint values, got {q.size}: {q.tolist()}")
    if not np.isfinite(q).all():
        raise InputError(f"{name} has non-finite joint values: {q.tolist()}")
    return q


def pose_matrix(placement: pin.SE3) -> np.ndarray:
    """A Pinocchio SE3 as a 4x4 float64 matrix (a copy)."""
    return np.array(placement.homogeneous, dtype=np.float64)


class Fr3Kinematics:
    """FK and Jacobians of the FR3 arm (fingers locked) at a configurable TCP frame."""

    def __init__(
        self,
        urdf_path: Path | str | None = None,
        *,
        tcp_frame: str = TCP_FRAME,
        tcp_offset_m: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> None:
        self.urdf_path = Path(urdf_path) if urdf_path is not None else fr3_urdf_path()
        self.full_model = pin.buildModelFromUrdf(str(self.urdf_path))
        names = list(self.full_model.names)
        missing = [n for n in (*ARM_JOINT_NAMES, *FINGER_JOINT_NAMES) if n not in names]
        if missing:
            raise InputError(f"{self.urdf_path} is not an FR3 description: joints {missing} are missing")
        finger_ids = [self.full_model.getJointId(n) for n in FINGER_JOINT_NAMES]
        self.model = pin.buildReducedModel(self.full_model, finger_ids, pin.neutral(self.full_model))
        if list(self.model.names[1:]) != list(ARM_JOINT_NAMES):
            raise InputError(f"unexpected FR3 joint order {list(self.model.names[1:])}")
        offset = np.asarray(tcp_offset_m, dtype=np.float64).reshape(-1)
        if offset.shape != (3,) or not np.isfinite(offset).all() or np.linalg.norm(offset) > 0.5:
            raise InputError(
                f"tcp_offset_m must be 3 finite numbers within 0.5 m of the TCP frame, got {offset.tolist()}"
            )
        if not self.model.existFrame(tcp_frame):
            frames = sorted({f.name for f in self.model.frames if f.name.startswith("fr3_")})
            raise InputError(
                f"TCP frame {tcp_frame!r} is not in {self.urdf_path.name}: known frames {frames}"
            )
        self.tcp_frame = tcp_frame
        self.tcp_offset_m = offset
        tcp_id = self.model.getFrameId(tcp_frame)
        if np.any(offset != 0.0):
            parent = self.model.frames[tcp_id]
            frame = pin.Frame(
                OFFSET_TCP_FRAME,
                parent.parentJoint,
                tcp_id,
                parent.placement * pin.SE3(np.eye(3), offset),
                pin.FrameType.OP_FRAME,
            )
            tcp_id = self.model.addFrame(frame)
        self.tcp_frame_name = self.model.frames[tcp_id].name
        self.tcp_frame_id = tcp_id
        self.data = self.model.createData()
        # fr3_link0 is fixed to the URDF root: its pose in Pinocchio's world does not depend on q.
        pin.framesForwardKinematics(self.model, self.data, pin.neutral(self.model))
        self._T_base_world = self.data.oMf[self.model.getFrameId(BASE_FRAME)].inverse()
        self._world_is_base = self._T_base_world.isIdentity(1e-12)

    @property
    def T_world_base(self) -> pin.SE3:
        """Pose of ``fr3_link0`` in Pinocchio's world (the URDF root); identity for the FR3 URDF."""
        return self._T_base_world.inverse()

    # --- limits of the description -------------------------------------------------------------

    @property
    def joint_names(self) -> tuple[str, ...]:
        return ARM_JOINT_NAMES

    @property
    def lower_rad(self) -> np.ndarray:
        """``[7]`` lower joint limits of the URDF."""
        return np.array(self.model.lowerPositionLimit, dtype=np.float64)

    @property
    def upper_rad(self) -> np.ndarray:
        """``[7]`` upper joint limits of the URDF."""
        return np.array(self.model.upperPositionLimit, dtype=np.float64)

    @property
    def velocity_limit_rad_s(self) -> np.ndarray:
        """``[7]`` joint velocity limits of the URDF."""
        return np.array(self.model.velocityLimit, dtype=np.float64)

    # --- kinematics -----------------------------------------------------------------------------

    def _to_base(self, placement: pin.SE3) -> pin.SE3:
        return placement if self._world_is_base else self._T_base_world * placement

    def tcp_placement(self, q_rad: np.ndarray) -> pin.SE3:
        """``T_base_tcp`` as a Pinocchio SE3 (no input checks: the fast path of the IK)."""
        pin.forwardKinematics(self.model, self.data, q_rad)
        return self._to_base(pin.updateFramePlacement(self.model, self.data, self.tcp_frame_id))

    def fk(self, q_rad: Sequence[float] | np.ndarray) -> np.ndarray:
        """``T_base_tcp`` 4x4 at joint positions ``q_rad [7]``."""
        return pose_matrix(self.tcp_placement(as_joint_vector("q_rad", q_rad)))

    def frame_pose(self, q_rad: Sequence[float] | np.ndarray, frame: str) -> np.ndarray:
        """``T_base_<frame>`` 4x4 of any frame of the arm model."""
        if not self.model.existFrame(frame):
            raise InputError(f"frame {frame!r} is not in the FR3 arm model")
        q = as_joint_vector("q_rad", q_rad)
        pin.forwardKinematics(self.model, self.data, q)
        return pose_matrix(
            self._to_base(pin.updateFramePlacement(self.model, self.data, self.model.getFrameId(frame)))
        )

    def tcp_jacobian(self, q_rad: np.ndarray) -> np.ndarray:
        """``[6, 7]`` Jacobian of the TCP: rows (v_xyz, w_xyz) in base-frame axes, at the TCP origin.

        Pinocchio's LOCAL_WORLD_ALIGNED convention; rotated into ``fr3_link0`` axes if the URDF
        root differs from it.
        """
        jac = pin.computeFrameJacobian(
            self.model, self.data, q_rad, self.tcp_frame_id, pin.ReferenceFrame.LOCAL_WORLD_ALIGNED
        )
        if not self._world_is_base:
            rotation = self._T_base_world.rotation
            jac = np.vstack([rotation @ jac[:3], rotation @ jac[3:]])
        return jac

    def tcp_pose_and_jacobian(self, q_rad: np.ndarray) -> tuple[pin.SE3, np.ndarray]:
        """``T_base_tcp`` and the ``[6, 7]`` Jacobian of :meth:`tcp_jacobian` from one kinematics pass."""
        jac = self.tcp_jacobian(q_rad)  # runs the forward kinematics into self.data
        return self._to_base(pin.updateFramePlacement(self.model, self.data, self.tcp_frame_id)), jac

    def within_joint_limits(self, q_rad: np.ndarray, margin_rad: float = 0.0) -> bool:
        return bool(
            np.all(q_rad >= self.lower_rad + margin_rad) and np.all(q_rad <= self.upper_rad - margin_rad)
        )

    def full_configuration(self, q_rad: np.ndarray, gripper_width_m: float) -> np.ndarray:
        """``[9]`` configuration of the full model (arm + both fingers at half the width each)."""
        half = float(np.clip(gripper_width_m, 0.0, MAX_GRIPPER_WIDTH_M)) / 2.0
        q_full = pin.neutral(self.full_model)
        for name, value in zip(ARM_JOINT_NAMES, as_joint_vector("q_rad", q_rad), strict=True):
            q_full[self.full_model.joints[self.full_model.getJointId(name)].idx_q] = value
        for name in FINGER_JOINT_NAMES:
            q_full[self.full_model.joints[self.full_model.getJointId(name)].idx_q] = half
        return q_full
