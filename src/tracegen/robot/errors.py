"""Errors of the robot side: refused commands, unreachable targets, and failures of the arm.

Two families, because callers handle them differently (franka_ros2 habits):

- :class:`SafetyViolationError` and :class:`UnreachableError` are *refusals*: the command was bad
  (out of the workspace, too fast, NaN, beyond the arm's reach). Nothing was sent; report the
  reason and go on with the next command.
- :class:`RobotError` and its subclasses are *failures* of the arm or its connection: stop,
  report, and recover only when it is provably safe (never retry the failed command blindly).
"""

from __future__ import annotations

from tracegen.errors import InputError, TracegenError


class SafetyViolationError(InputError):
    """A command outside the safety envelope (workspace, limits, speed, non-finite values)."""


class UnreachableError(InputError):
    """An end-effector target the inverse kinematics cannot reach within tolerance."""


class RobotError(TracegenError):
    """The arm or gripper failed, or cannot be reached."""


class RobotUnavailableError(RobotError):
    """No connection to the robot (not reachable at its address, or the connection was lost)."""


class RobotMotionError(RobotError):
    """A motion was aborted by the robot (a reflex such as a collision, a limit violation).

    ``recoverable`` says whether franky's automatic error recovery may be tried: true for
    reflexes and motion aborts, false when the robot state is unknown.
    """

    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable


class GripperError(RobotError):
    """The gripper refused or failed a command."""
