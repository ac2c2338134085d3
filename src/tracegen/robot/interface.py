"""What the controller needs from an arm with a gripper: the :class:`RobotInterface` protocol.

Two implementations: :class:`~tracegen.robot.franky_robot.FrankyRobot` (a Franka FR3 or
franky-sim, through franky) and :class:`~tracegen.robot.dry_run.DryRunRobot` (no robot: it
replays what it is sent, so everything downstream still sees a moving arm).

Contract: one thread uses a robot object (the controller's worker). Motions and gripper
actions are *asynchronous*: :meth:`execute` and :meth:`gripper_move` return at once, and
:meth:`motion_finished` / :meth:`gripper_finished` are polled. A new :meth:`execute` replaces
the running motion. Failures raise :class:`~tracegen.robot.errors.RobotError` subclasses:
``RobotUnavailableError`` (not connected, connection lost), ``RobotMotionError`` (the robot
aborted the motion, e.g. a reflex), ``GripperError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tracegen.robot.trajectory import JointTrajectory


@dataclass(frozen=True)
class RobotState:
    """Measured state: joints ``q_rad [7]``, ``dq_rad_s [7]``; gripper width (None: no gripper).

    ``T_base_ee_reported`` is the end-effector pose the robot computes itself (libfranka's
    ``O_T_EE``, 4x4 in the base frame), when it reports one: an independent check of our own
    forward kinematics.
    """

    q_rad: np.ndarray
    dq_rad_s: np.ndarray
    gripper_width_m: float | None
    T_base_ee_reported: np.ndarray | None = None


class RobotInterface(Protocol):
    """An FR3-like arm with a parallel gripper (see the module docstring for the contract)."""

    @property
    def description(self) -> str:
        """Which robot, for logs: e.g. ``franky FR3 at 172.16.0.2`` or ``dry run``."""
        ...

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None:
        """Connect (or reconnect); raises ``RobotUnavailableError`` saying why it cannot."""
        ...

    def read_state(self) -> RobotState: ...

    def dynamic_limits(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``[7]`` joint velocity and acceleration limits the robot enforces itself (None: unknown)."""
        ...

    def execute(self, trajectory: JointTrajectory) -> None:
        """Start following the trajectory (asynchronous; replaces a running motion)."""
        ...

    def motion_finished(self) -> bool:
        """True once the last motion ended; raises ``RobotMotionError`` if it failed."""
        ...

    def stop(self) -> None:
        """Bring the arm to rest as fast as its limits allow and stop the gripper (best effort)."""
        ...

    def gripper_move(self, width_m: float, speed_m_s: float) -> None:
        """Start moving the fingers to ``width_m`` (open)."""
        ...

    def gripper_grasp(self, width_m: float, speed_m_s: float, force_n: float) -> None:
        """Start closing on an object of about ``width_m`` (0: whatever is there)."""
        ...

    def gripper_finished(self) -> bool:
        """True once the last gripper action ended; raises ``GripperError`` if it failed."""
        ...

    def has_errors(self) -> bool:
        """The robot is in an error state (after a reflex) and refuses motions until recovered."""
        ...

    def recover(self) -> bool:
        """Automatic error recovery (franky's ``recover_from_errors``); True if it succeeded."""
        ...

    def close(self) -> None: ...
