"""The FR3 through franky for teleoperation: Cartesian velocity motions, smooth stops, hand-guiding.

Extends :class:`~tracegen.robot.franky_robot.FrankyRobot` (connection, state, gripper, error
mapping and recovery are shared) with:

- :meth:`FrankyTeleopRobot.move_velocity`: one ``CartesianVelocityMotion`` (asynchronous), which
  replaces the running one seamlessly. Its ``duration`` is the deadman timeout: franky holds
  the velocity that long after reaching it and then decelerates by itself, so the arm stops
  even if this process dies between two commands.
- :meth:`FrankyTeleopRobot.stop`: a ``CartesianVelocityStopMotion`` (franky requires the same
  control signal type as the running motion), decelerating within franky's limits. A running
  gripper action is left to finish (a grasp is force-limited): calling franky's ``Gripper.stop``
  during a grasp blocked the process for good against franky-sim.
- :meth:`FrankyTeleopRobot.set_guiding`: franky's ``set_guiding_mode`` for kinesthetic teaching
  (which axes the person may move by hand once the guiding buttons are pressed).
- :meth:`FrankyTeleopRobot.robot_time_s`: the robot's own clock (franky-sim runs slower than
  wall time on a loaded machine; measured velocities use it).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np

from tracegen.robot.franky_robot import FrankyRobot


class FrankyTeleopRobot(FrankyRobot):
    """:class:`FrankyRobot` plus velocity motions (see the module docstring)."""

    def move_velocity(self, linear_m_s: np.ndarray, angular_rad_s: np.ndarray, hold_s: float) -> None:
        """Command the end effector's twist (base-frame axes), held ``hold_s`` after it is reached."""
        robot = self._require()
        franky = self._franky
        twist = franky.Twist(
            np.asarray(linear_m_s, dtype=np.float64), np.asarray(angular_rad_s, dtype=np.float64)
        )
        motion = franky.CartesianVelocityMotion(
            franky.RobotVelocity(twist), duration=franky.Duration(max(1, math.ceil(hold_s * 1000)))
        )
        try:
            robot.move(motion, asynchronous=True)
        except Exception as exc:
            raise self._map_error(exc, "starting the velocity motion") from None
        self._motion_active = True

    def stop(self) -> None:
        robot = self._robot
        if robot is None:
            return
        franky = self._franky
        try:
            robot.move(franky.CartesianVelocityStopMotion(), asynchronous=True)
        except Exception:  # another control type is running: preempt it
            with contextlib.suppress(Exception):
                robot.stop()
        self._motion_active = False

    def poll_error(self) -> None:
        """Raise the error of the running motion if it failed (reflex, connection); else nothing."""
        robot = self._require()
        try:
            robot.poll_motion()
        except Exception as exc:
            self._motion_active = False
            raise self._map_error(exc, "the velocity motion") from None

    def set_guiding(self, free_axes: Sequence[bool] = (True,) * 6, elbow: bool = True) -> None:
        """Which Cartesian axes (x, y, z, roll, pitch, yaw) a person may move in hand-guiding."""
        robot = self._require()
        try:
            robot.set_guiding_mode(list(free_axes), bool(elbow))
        except Exception as exc:
            raise self._map_error(exc, "setting the guiding mode") from None

    def robot_time_s(self) -> float:
        robot = self._require()
        try:
            return float(robot.state.time.to_msec()) / 1000.0
        except Exception as exc:
            raise self._map_error(exc, "reading the robot time") from None
