"""A robot that is not there: it records every command and replays the motion it was sent.

The dry run is how the controller runs with no robot (parameter ``dry_run``): IK, timing and
safety checks run as usual, and the state it reports follows the commanded trajectory in wall
time, so ``/joint_states`` and the TCP pose show the planned motion. Also the robot of the
controller's unit tests. Nothing here pretends to be physics: the state is the command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tracegen.robot.interface import RobotState
from tracegen.robot.kinematics import MAX_GRIPPER_WIDTH_M, as_joint_vector
from tracegen.robot.trajectory import JointTrajectory

#: Where a dry run starts: franky-sim's initial configuration (TCP 0.55 m in front, 0.52 m up).
DEFAULT_INITIAL_Q_RAD = (0.0, 0.0, 0.0, -1.57, 0.0, 1.57, 0.785)


@dataclass
class SentCommand:
    """One command the dry run received: kind (execute, stop, gripper_move, gripper_grasp) and data."""

    kind: str
    time_s: float
    trajectory: JointTrajectory | None = None
    width_m: float | None = None


@dataclass
class _GripperMotion:
    start_s: float
    start_width_m: float
    target_width_m: float
    speed_m_s: float

    def width_at(self, now_s: float) -> float:
        travel = self.target_width_m - self.start_width_m
        duration = abs(travel) / self.speed_m_s
        fraction = 1.0 if duration <= 0 else min(1.0, (now_s - self.start_s) / duration)
        return self.start_width_m + travel * fraction

    def finished(self, now_s: float) -> bool:
        return now_s - self.start_s >= abs(self.target_width_m - self.start_width_m) / self.speed_m_s


@dataclass
class DryRunRobot:
    """:class:`~tracegen.robot.interface.RobotInterface` without hardware (see the module docstring)."""

    initial_q_rad: tuple[float, ...] = DEFAULT_INITIAL_Q_RAD
    initial_gripper_width_m: float = 0.04
    clock: Callable[[], float] = time.monotonic
    sent: list[SentCommand] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._q = as_joint_vector("initial_q_rad", self.initial_q_rad)
        self._dq = np.zeros(7)
        self._trajectory: JointTrajectory | None = None
        self._start_s = 0.0
        self._gripper = _GripperMotion(0.0, self.initial_gripper_width_m, self.initial_gripper_width_m, 1.0)
        self._connected = False

    @property
    def description(self) -> str:
        return "dry run (no robot)"

    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        self._connected = True

    def _advance(self) -> None:
        if self._trajectory is None:
            return
        q, dq = self._trajectory.sample(self.clock() - self._start_s)
        self._q, self._dq = (
            q,
            dq if self.clock() - self._start_s < self._trajectory.duration_s else np.zeros(7),
        )

    def read_state(self) -> RobotState:
        self._advance()
        return RobotState(self._q.copy(), self._dq.copy(), float(self._gripper.width_at(self.clock())))

    def dynamic_limits(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def execute(self, trajectory: JointTrajectory) -> None:
        self._advance()
        self.sent.append(SentCommand("execute", self.clock(), trajectory=trajectory))
        self._trajectory, self._start_s = trajectory, self.clock()

    def motion_finished(self) -> bool:
        return self._trajectory is None or self.clock() - self._start_s >= self._trajectory.duration_s

    def stop(self) -> None:
        self._advance()
        self.sent.append(SentCommand("stop", self.clock()))
        self._trajectory, self._dq = None, np.zeros(7)
        now = self.clock()
        self._gripper = _GripperMotion(now, self._gripper.width_at(now), self._gripper.width_at(now), 1.0)

    def _gripper_to(self, kind: str, width_m: float, speed_m_s: float) -> None:
        now = self.clock()
        target = float(np.clip(width_m, 0.0, MAX_GRIPPER_WIDTH_M))
        self.sent.append(SentCommand(kind, now, width_m=target))
        self._gripper = _GripperMotion(now, self._gripper.width_at(now), target, max(speed_m_s, 1e-3))

    def gripper_move(self, width_m: float, speed_m_s: float) -> None:
        self._gripper_to("gripper_move", width_m, speed_m_s)

    def gripper_grasp(self, width_m: float, speed_m_s: float, force_n: float) -> None:
        self._gripper_to("gripper_grasp", width_m, speed_m_s)

    def gripper_finished(self) -> bool:
        return self._gripper.finished(self.clock())

    def has_errors(self) -> bool:
        return False

    def recover(self) -> bool:
        return True

    def close(self) -> None:
        self._connected = False

    def commands(self, kind: str) -> list[SentCommand]:
        return [c for c in self.sent if c.kind == kind]
