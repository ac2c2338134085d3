"""The FR3 (or franky-sim) through franky: motions, gripper, error mapping, recovery.

- Connection: ``franky.Robot(ip, realtime_config=RealtimeConfig.Ignore)`` (libfranka refuses
  to run without a realtime kernel otherwise; the motion loop runs in franky's thread either
  way) and ``franky.Gripper(ip)`` when ``use_gripper``. The relative dynamics factors
  (velocity, acceleration, jerk; 0..1) scale franky's own limits for every motion.
- Motions: a :class:`~tracegen.robot.trajectory.JointTrajectory` becomes one
  ``JointWaypointMotion``: per waypoint the position, the velocity to pass it with, and the
  segment's duration as ``minimum_time`` (segments longer than 0.4 s are split, see
  ``MAX_WAYPOINT_SEGMENT_S``); franky (Ruckig) makes it jerk-limited. It is sent
  asynchronously; a new one takes over from the running one seamlessly.
- Missed control ticks: franky extrapolates the state and re-plans the running waypoint segment,
  and the re-planned segment again lasts at least its whole ``minimum_time``. A control loop that
  misses ticks often (franky-sim and the graph sharing 2 busy cores; rare with a real-time
  kernel talking to an FR3) therefore slows a motion down, an 8.9 s path to over a minute; it stays on
  its path. The controller waits for it: an arm stage has no deadline of its own.
- Planner failures: franky's Ruckig intermittently refuses a valid motion ("Motion planner
  failed with error code -111"); the rest of the motion is re-sent (at most PLANNER_RETRIES).
- Stopping: a ``JointStopMotion`` (decelerates within the limits, same control mode), and
  ``Robot.stop()`` if that cannot be sent; the gripper is stopped too.
- Errors, mapped onto :mod:`tracegen.robot.errors`: ``NetworkException`` (and the
  ``RuntimeError`` franky raises once the connection is gone) -> ``RobotUnavailableError``,
  the connection is dropped and must be made again; ``ControlException`` (reflexes such as a
  collision, preempted motions) and ``CommandException`` -> ``RobotMotionError`` marked
  recoverable; anything else franky raises -> ``RobotMotionError`` not recoverable.

franky is imported in :meth:`FrankyRobot.connect`, so this module imports without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegen.errors import InputError
from tracegen.robot.errors import GripperError, RobotMotionError, RobotUnavailableError
from tracegen.robot.interface import RobotState
from tracegen.robot.trajectory import JointTrajectory

#: libfranka waits up to 60 s for an address that does not answer. The connection is made on a
#: thread of its own; :meth:`FrankyRobot.connect` waits this long for it and otherwise reports
#: "still connecting", so the controller stays responsive (and says what it waits for).
CONNECT_WAIT_S = 0.5
#: The robot's state carries its clock; if it stands still this long the connection is dead even
#: when franky has not noticed yet (e.g. the robot vanished while a motion was being started).
STATE_TIMEOUT_S = 1.5
#: Seconds between gripper width reads (each is a network round trip to the gripper).
GRIPPER_READ_PERIOD_S = 0.1
#: Longest waypoint segment sent to franky. Its motion planner (Ruckig) intermittently fails to
#: synchronise a single slow segment with a long ``minimum_time`` ("Motion planner failed with
#: error code -111", seen against franky-sim from about 2 s on), so longer segments are split.
MAX_WAYPOINT_SEGMENT_S = 0.4
#: Times one motion is re-sent after Ruckig fails to synchronise it (see :meth:`motion_finished`).
PLANNER_RETRIES = 2
#: How long :meth:`FrankyRobot.close` waits for a stopped gripper action to end.
GRIPPER_CLOSE_WAIT_S = 1.0


def _keep_forever(*objects: Any) -> None:
    """Never destroy ``objects``: one more reference each, which nothing will release.

    franky's ``Gripper.move_async``/``grasp_async`` return a ``std::future`` from ``std::async``;
    destroying it joins the thread that waits in libfranka for the gripper's answer, with no
    timeout and the GIL held. A gripper that never answers (franky-sim's did not, on a busy
    machine) then freezes the whole process, at once or at interpreter exit. So an unfinished
    action's future, and the gripper whose pointer its thread holds, are leaked on purpose.
    """
    for obj in objects:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


@dataclass(frozen=True)
class DynamicsFactors:
    """franky's relative dynamics factors: fractions of the robot's velocity, acceleration, jerk limits."""

    velocity: float = 0.3
    acceleration: float = 0.3
    jerk: float = 0.3

    def __post_init__(self) -> None:
        for name in ("velocity", "acceleration", "jerk"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                raise InputError(f"dynamics factor {name} must lie in (0, 1], got {value}")


class FrankyRobot:
    """:class:`~tracegen.robot.interface.RobotInterface` over franky (see the module docstring)."""

    def __init__(self, ip: str, *, dynamics: DynamicsFactors | None = None, use_gripper: bool = True) -> None:
        if not ip or not isinstance(ip, str):
            raise InputError(f"robot IP must be a host name or address, got {ip!r}")
        self.ip = ip
        self.dynamics = dynamics or DynamicsFactors()
        self.use_gripper = use_gripper
        self._franky: Any = None
        self._robot: Any = None
        self._gripper: Any = None
        self._gripper_future: Any = None
        self._gripper_width_m: float | None = None
        self._gripper_read_s = 0.0
        self._motion_active = False
        # The motion being executed, and how often franky's planner may still be retried on it.
        self._trajectory: JointTrajectory | None = None
        self._planner_retries_left = 0
        self.gripper_warning = ""
        self._connect_thread: threading.Thread | None = None
        self._connect_result: Any = None
        self._robot_time: int | None = None
        self._robot_time_seen_s = 0.0

    @property
    def description(self) -> str:
        return f"franky FR3 at {self.ip}"

    @property
    def connected(self) -> bool:
        return self._robot is not None

    # --- connection ------------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, or report progress of a connection attempt still under way (see CONNECT_WAIT_S)."""
        try:
            import franky  # only needed with a robot
        except ImportError as exc:
            raise RobotUnavailableError(
                f"franky is not installed ({exc}): pip install franky-control"
            ) from None
        self._franky = franky
        if self._connect_thread is None:
            self._connect_result = None
            self._connect_thread = threading.Thread(
                target=self._connect_blocking, name="franky-connect", daemon=True
            )
            self._connect_thread.start()
        self._connect_thread.join(CONNECT_WAIT_S)
        if self._connect_thread.is_alive():
            raise RobotUnavailableError(
                f"no answer from the robot at {self.ip} yet; still connecting (libfranka gives up after 60 s)"
            )
        self._connect_thread, result = None, self._connect_result
        if isinstance(result, BaseException):
            raise RobotUnavailableError(f"cannot connect to the robot at {self.ip}: {result}")
        self._robot, self._motion_active = result, False
        self._robot_time, self._robot_time_seen_s = None, time.monotonic()
        self._gripper, self.gripper_warning = None, ""
        if self.use_gripper:
            try:
                self._gripper = franky.Gripper(self.ip)
                self._gripper_width_m = float(self._gripper.width)
            except Exception as exc:
                self._gripper = None
                self.gripper_warning = f"no gripper at {self.ip} ({exc}); gripper commands will fail"

    def _connect_blocking(self) -> None:
        franky = self._franky
        try:
            robot = franky.Robot(self.ip, realtime_config=franky.RealtimeConfig.Ignore)
            robot.relative_dynamics_factor = franky.RelativeDynamicsFactor(
                self.dynamics.velocity, self.dynamics.acceleration, self.dynamics.jerk
            )
        except Exception as exc:  # franky raises several unrelated types here
            self._connect_result = exc
        else:
            self._connect_result = robot

    def _lost(self, exc: BaseException) -> RobotUnavailableError:
        """Forget the connection (franky objects are unusable after a network error)."""
        self._release_gripper_action()
        self._robot, self._gripper, self._motion_active = None, None, False
        return RobotUnavailableError(f"lost the connection to the robot at {self.ip}: {exc}")

    def _map_error(self, exc: BaseException, during: str) -> Exception:
        franky = self._franky
        if isinstance(exc, franky.NetworkException) or (isinstance(exc, RuntimeError) and "Net" in str(exc)):
            return self._lost(exc)
        recoverable = isinstance(exc, (franky.ControlException, franky.CommandException))
        return RobotMotionError(f"{during} failed: {type(exc).__name__}: {exc}", recoverable=recoverable)

    def _require(self) -> Any:
        if self._robot is None:
            raise RobotUnavailableError(f"not connected to the robot at {self.ip}")
        return self._robot

    # --- state -----------------------------------------------------------------------------------

    def read_state(self) -> RobotState:
        robot = self._require()
        try:
            state = robot.state
            q, dq = np.array(state.q, dtype=np.float64), np.array(state.dq, dtype=np.float64)
            ee_pose = np.array(state.O_T_EE.matrix, dtype=np.float64)
            robot_time = state.time.to_msec()
        except Exception as exc:
            raise self._map_error(exc, "reading the robot state") from None
        now = time.monotonic()
        if robot_time != self._robot_time:
            self._robot_time, self._robot_time_seen_s = robot_time, now
        elif now - self._robot_time_seen_s > STATE_TIMEOUT_S:
            raise self._lost(RuntimeError(f"its state has not changed for {STATE_TIMEOUT_S} s"))
        return RobotState(q, dq, self._read_gripper_width(), ee_pose)

    def _read_gripper_width(self) -> float | None:
        if self._gripper is None:
            return None
        now = time.monotonic()
        if now - self._gripper_read_s >= GRIPPER_READ_PERIOD_S:
            self._gripper_read_s = now
            try:
                self._gripper_width_m = float(self._gripper.width)
            except Exception as exc:
                self.gripper_warning = f"cannot read the gripper width: {exc}"
        return self._gripper_width_m

    def dynamic_limits(self) -> tuple[np.ndarray, np.ndarray] | None:
        robot = self._require()
        try:
            velocity = np.asarray(robot.joint_velocity_limit.max, dtype=np.float64) * self.dynamics.velocity
            acceleration = (
                np.asarray(robot.joint_acceleration_limit.max, dtype=np.float64) * self.dynamics.acceleration
            )
        except Exception:
            return None
        return velocity, acceleration

    def has_errors(self) -> bool:
        robot = self._require()
        try:
            return bool(robot.has_errors)
        except Exception as exc:
            raise self._map_error(exc, "reading the error state") from None

    # --- motion ----------------------------------------------------------------------------------

    def execute(self, trajectory: JointTrajectory) -> None:
        self._trajectory, self._planner_retries_left = (
            trajectory.resampled(MAX_WAYPOINT_SEGMENT_S),
            PLANNER_RETRIES,
        )
        self._send(self._trajectory, first=1)

    def _send(self, trajectory: JointTrajectory, first: int) -> None:
        """Send waypoints ``first..`` of a (resampled) trajectory as one asynchronous motion."""
        robot = self._require()
        franky = self._franky
        waypoints = []
        for q, dq, duration_s in zip(
            trajectory.q_rad[first:],
            trajectory.dq_rad_s[first:],
            trajectory.segment_durations_s[first - 1 :],
            strict=True,
        ):
            waypoints.append(
                franky.JointWaypoint(
                    franky.JointState(q, dq),
                    minimum_time=franky.Duration(max(1, math.ceil(duration_s * 1000))),
                )
            )
        try:
            robot.move(franky.JointWaypointMotion(waypoints), asynchronous=True)
        except Exception as exc:
            raise self._map_error(exc, "starting the motion") from None
        self._motion_active = True

    def motion_finished(self) -> bool:
        robot = self._require()
        if not self._motion_active:
            return True
        try:
            finished = bool(robot.join_motion(0.0))  # True when the motion ended; raises its error
        except Exception as exc:
            self._motion_active = False
            if self._retry_after_planner_failure(exc):
                return False
            raise self._map_error(exc, "the motion") from None
        if finished:
            self._motion_active = False
        return finished

    def _retry_after_planner_failure(self, exc: BaseException) -> bool:
        """Re-send the rest of the motion after franky's planner (Ruckig) failed to synchronise it.

        franky intermittently rejects a valid, limit-checked waypoint motion with "Motion planner
        failed with error code -111" (about 2 in 5 runs of test_robot_franky.py against
        franky-sim, also with waypoints at rest). The motion is stopped, not the robot's fault and
        no reflex: recover, then send the waypoints after the one nearest the arm's position
        again (the same checked trajectory), at most PLANNER_RETRIES times per motion.
        """
        if (
            self._trajectory is None
            or self._planner_retries_left <= 0
            or "Motion planner failed" not in str(exc)
        ):
            return False
        self._planner_retries_left -= 1
        try:
            robot = self._require()
            if robot.has_errors:
                robot.recover_from_errors()
            q_now = np.array(robot.state.q, dtype=np.float64)
        except Exception:
            return False
        trajectory = self._trajectory
        nearest = int(np.argmin(np.abs(trajectory.q_rad - q_now).max(axis=1)))
        self._send(trajectory, first=min(nearest + 1, len(trajectory.q_rad) - 1))
        return True

    def stop(self) -> None:
        robot = self._robot
        if robot is None:
            return
        franky = self._franky
        self._trajectory, self._planner_retries_left = None, 0  # a stopped motion is never re-sent
        try:
            robot.move(franky.JointStopMotion(), asynchronous=True)
        except Exception:  # fall back to preempting whatever runs; nothing more can be done after that
            with contextlib.suppress(Exception):
                robot.stop()
        self._motion_active = True  # the stop motion; motion_finished reports when it is over
        if self._gripper_action_running():
            self._request_gripper_stop()

    # --- gripper ---------------------------------------------------------------------------------

    def _require_gripper(self) -> Any:
        if self._gripper is None:
            raise GripperError(self.gripper_warning or f"no gripper connected at {self.ip}")
        return self._gripper

    def _require_busy_free_gripper(self) -> Any:
        """The gripper, once its last action has ended: franky joins a running action before it
        starts the next one, which blocks for as long as the gripper does not answer."""
        gripper = self._require_gripper()
        if self._gripper_action_running():
            raise GripperError(
                "the gripper has not ended its previous action (it does not answer): stop, "
                "check the gripper and its connection, then recover"
            )
        self._gripper_future = None
        return gripper

    def gripper_move(self, width_m: float, speed_m_s: float) -> None:
        gripper = self._require_busy_free_gripper()
        try:
            self._gripper_future = gripper.move_async(float(width_m), float(speed_m_s))
        except Exception as exc:
            raise GripperError(f"gripper move to {width_m:.3f} m failed: {exc}") from None

    def gripper_grasp(self, width_m: float, speed_m_s: float, force_n: float) -> None:
        gripper = self._require_busy_free_gripper()
        try:
            # epsilon_outer = the full stroke: succeed on whatever the fingers close on.
            self._gripper_future = gripper.grasp_async(
                float(width_m), float(speed_m_s), float(force_n), epsilon_inner=0.08, epsilon_outer=0.08
            )
        except Exception as exc:
            raise GripperError(f"gripper grasp failed: {exc}") from None

    def _gripper_action_running(self, wait_s: float = 0.0) -> bool:
        """Whether the last gripper action has not ended (waiting up to ``wait_s`` for it)."""
        future = self._gripper_future
        if future is None:
            return False
        try:
            return not future.wait(wait_s)
        except Exception:  # franky raised the action's own error: it has ended
            return False

    def _request_gripper_stop(self) -> None:
        """libfranka's stop on a thread of its own: it waits for the gripper's answer, and a
        gripper that does not answer must not block the controller (franky's ``stop_async``
        would first join the running action)."""
        gripper = self._gripper

        def stop() -> None:
            with contextlib.suppress(Exception):
                gripper.stop()

        threading.Thread(target=stop, name="gripper-stop", daemon=True).start()

    def _release_gripper_action(self, wait_s: float = 0.0) -> None:
        """Forget the last gripper action; one still running after ``wait_s`` is never destroyed,
        nor is its gripper (see :func:`_keep_forever`)."""
        if self._gripper_action_running(wait_s):
            _keep_forever(self._gripper_future, self._gripper)
        self._gripper_future = None

    def gripper_finished(self) -> bool:
        future = self._gripper_future
        if future is None:
            return True
        try:
            if not future.wait(0):
                return False
            succeeded = bool(future.get())
        except Exception as exc:
            self._gripper_future = None
            raise GripperError(f"gripper action failed: {exc}") from None
        self._gripper_future = None
        if not succeeded:
            raise GripperError("the gripper reported failure (nothing grasped, or blocked)")
        return True

    # --- recovery --------------------------------------------------------------------------------

    def recover(self) -> bool:
        robot = self._require()
        try:
            return bool(robot.recover_from_errors())
        except Exception as exc:
            raise self._map_error(exc, "error recovery") from None

    def close(self) -> None:
        if self._gripper_action_running():
            self._request_gripper_stop()
            self._release_gripper_action(GRIPPER_CLOSE_WAIT_S)
        self._robot, self._gripper, self._gripper_future = None, None, None
