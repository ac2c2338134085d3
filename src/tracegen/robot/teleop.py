"""Teleoperation core (ROS-free): an operator's twist -> a Cartesian velocity the FR3 may execute.

A front-end (keyboard, SpaceMouse, joystick) streams twists; :class:`TwistLimiter` turns each into
the TCP velocity to command, inside the same :class:`~tracegen.robot.safety.SafetyEnvelope` as the
IK controller (shared code, one ``config/safety.yaml``):

1. refuse non-finite input and unknown frames;
2. express the twist in the base frame ``fr3_link0`` (a twist in ``fr3_hand_tcp`` is rotated by
   the TCP's current orientation);
3. scale it down to the Cartesian speed limits (linear and angular, direction kept);
4. workspace box: the position the TCP would reach after ``lookahead_s`` at that velocity goes
   through :meth:`SafetyEnvelope.clip_cartesian_step`; the velocity becomes the clipped step over
   ``lookahead_s``. Components leaving the box vanish and the approach to a wall slows down in
   proportion to the distance left (the TCP never crosses it; a TCP outside the box may only move
   back in);
5. joints: the joint velocity ``dq = J^+ [v; w]`` must stay within the envelope's joint velocity
   limits (the whole twist is scaled down if not) and no joint may reach its position limit
   (minus margin) within ``lookahead_s`` (scaled down the same way).

Accelerations and jerks are limited by franky itself (Ruckig, with the relative dynamics factors
of the node): every new velocity is reached smoothly from the current one.

:class:`Deadman` holds the newest command and says when it expired: the arm must stop when no
command arrived for ``deadman_timeout_s`` (default 200 ms).

Frames and units: linear velocities in m/s, angular in rad/s, both in base-frame axes unless a
name says otherwise; the linear velocity is that of the TCP point (``fr3_hand_tcp``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from tracegen.errors import InputError
from tracegen.robot.errors import SafetyViolationError
from tracegen.robot.safety import SafetyEnvelope
from tracegen.robot_assets import BASE_FRAME, TCP_FRAME

#: Frames a twist may be expressed in.
TWIST_FRAMES = (BASE_FRAME, TCP_FRAME)
#: Velocities below this are treated as zero (m/s or rad/s).
ZERO_VELOCITY = 1e-6


@dataclass(frozen=True)
class TeleopSettings:
    """Behaviour of the limiter and the deadman (limits themselves come from the safety envelope)."""

    deadman_timeout_s: float = 0.2
    #: Horizon of the workspace and joint-limit checks: the TCP slows down when it would reach
    #: a wall or a joint limit within this time, seconds.
    lookahead_s: float = 0.3
    #: Fraction of the envelope's Cartesian speed limits the operator may use (0..1].
    speed_fraction: float = 1.0

    def __post_init__(self) -> None:
        for name, low, high in (
            ("deadman_timeout_s", 0.01, 5.0),
            ("lookahead_s", 0.01, 5.0),
            ("speed_fraction", 0.01, 1.0),
        ):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and low <= value <= high):
                raise InputError(f"teleop setting {name} is {value}: it must lie in [{low}, {high}]")


@dataclass(frozen=True)
class TwistCommand:
    """What the operator asked for: ``linear_m_s [3]``, ``angular_rad_s [3]`` in ``frame``."""

    linear_m_s: tuple[float, float, float]
    angular_rad_s: tuple[float, float, float]
    frame: str = BASE_FRAME
    #: When the operator's device produced it (ROS time, ns; 0: unknown).
    stamp_ns: int = 0

    @property
    def is_zero(self) -> bool:
        return max(map(abs, (*self.linear_m_s, *self.angular_rad_s))) < ZERO_VELOCITY


@dataclass(frozen=True)
class VelocityCommand:
    """The velocity to command: TCP ``linear_m_s [3]`` and ``angular_rad_s [3]`` in base-frame axes."""

    linear_m_s: np.ndarray
    angular_rad_s: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def is_zero(self) -> bool:
        return float(max(np.abs(self.linear_m_s).max(), np.abs(self.angular_rad_s).max())) < ZERO_VELOCITY


def _vector3(name: str, value: object) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise SafetyViolationError(f"twist {name} must be 3 finite numbers, got {np.asarray(value).tolist()}")
    return array


class TwistLimiter:
    """Operator twist -> :class:`VelocityCommand` within the envelope (see the module docstring)."""

    def __init__(self, envelope: SafetyEnvelope, kinematics, settings: TeleopSettings | None = None) -> None:
        self.envelope = envelope
        self.kinematics = kinematics  # a tracegen.robot.kinematics.Fr3Kinematics (Pinocchio)
        self.settings = settings or TeleopSettings()

    def limit(self, command: TwistCommand, q_rad: np.ndarray) -> VelocityCommand:
        """Raises :class:`SafetyViolationError` for non-finite twists, ``InputError`` for unknown frames."""
        linear = _vector3("linear", command.linear_m_s)
        angular = _vector3("angular", command.angular_rad_s)
        if command.frame not in TWIST_FRAMES:
            raise InputError(
                f"twist frame {command.frame!r} is not supported: use {BASE_FRAME} (base axes) or "
                f"{TCP_FRAME} (gripper axes) in the header's frame_id"
            )
        q = np.asarray(q_rad, dtype=np.float64)
        pose, jacobian = self.kinematics.tcp_pose_and_jacobian(q)
        rotation, position = np.asarray(pose.rotation), np.asarray(pose.translation)
        if command.frame == TCP_FRAME:
            linear, angular = rotation @ linear, rotation @ angular
        notes: list[str] = []
        limits = self.envelope.limits
        fraction = self.settings.speed_fraction
        for name, vector, limit, unit in (
            ("linear", linear, limits.max_linear_speed_m_s * fraction, "m/s"),
            ("angular", angular, limits.max_angular_speed_rad_s * fraction, "rad/s"),
        ):
            speed = float(np.linalg.norm(vector))
            if speed > limit:
                vector *= limit / speed
                notes.append(f"{name} speed {speed:.3f} {unit} scaled to the limit {limit:.3f} {unit}")
        horizon = self.settings.lookahead_s
        target, box_notes = self.envelope.clip_cartesian_step(position, position + linear * horizon, horizon)
        if box_notes and "workspace" in box_notes[0]:
            clipped = (target - position) / horizon
            if np.linalg.norm(clipped - linear) > ZERO_VELOCITY:
                notes.append(f"slowed at the workspace box ({limits.workspace.describe()})")
            linear = clipped
        scale, joint_note = self._joint_scale(q, jacobian, np.concatenate([linear, angular]))
        if joint_note:
            notes.append(joint_note)
        return VelocityCommand(linear * scale, angular * scale, tuple(notes))

    def _joint_scale(self, q: np.ndarray, jacobian: np.ndarray, twist: np.ndarray) -> tuple[float, str]:
        """Largest factor in [0, 1] keeping ``dq = J^+ twist`` within joint velocity and position limits."""
        if np.abs(twist).max() < ZERO_VELOCITY:
            return 1.0, ""
        dq = np.linalg.pinv(jacobian, rcond=1e-4) @ twist
        limits = self.envelope.limits
        scale, reason = 1.0, ""
        speed_ratio = np.abs(dq) / limits.velocity_limit_rad_s
        if speed_ratio.max() > 1.0:
            joint = int(np.argmax(speed_ratio))
            scale, reason = 1.0 / float(speed_ratio.max()), f"joint {joint + 1} velocity limit"
        horizon = self.settings.lookahead_s
        room = np.where(dq > 0.0, limits.q_upper_rad - q, q - limits.q_lower_rad)
        travel = np.abs(dq) * horizon
        with np.errstate(divide="ignore", invalid="ignore"):
            position_scale = np.where(travel > room, np.clip(room, 0.0, None) / travel, 1.0)
        if position_scale.min() < scale:
            joint = int(np.argmin(position_scale))
            scale, reason = float(position_scale.min()), f"joint {joint + 1} near its position limit"
        if scale >= 1.0:
            return 1.0, ""
        return scale, f"twist scaled by {scale:.2f} ({reason})"


def ee_linear_velocity(
    linear_tcp_m_s: np.ndarray,
    angular_rad_s: np.ndarray,
    tcp_position_m: np.ndarray,
    ee_position_m: np.ndarray,
) -> np.ndarray:
    """The linear velocity of the robot's end-effector point that gives the TCP ``linear_tcp_m_s``.

    franky commands the twist of libfranka's end effector (``O_T_EE``); when it differs from our
    TCP, a rotation moves the two points differently: ``v_ee = v_tcp - w x (p_tcp - p_ee)``.
    """
    return np.asarray(linear_tcp_m_s) - np.cross(angular_rad_s, np.asarray(tcp_position_m) - ee_position_m)


class Deadman:
    """The newest operator command and its arrival time; thread-safe.

    :meth:`take` hands the worker a command once; :meth:`active` says whether the newest one is
    younger than the timeout (else the arm must stop).
    """

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = float(timeout_s)
        self._condition = threading.Condition()
        self._command: TwistCommand | None = None
        self._received_s = -math.inf
        self._fresh = False
        self._sequence = 0  # counts puts: wakes the worker once per put

    def put(self, command: TwistCommand, now_s: float) -> None:
        with self._condition:
            self._command, self._received_s, self._fresh = command, now_s, True
            self._sequence += 1
            self._condition.notify_all()

    def clear(self) -> None:
        with self._condition:
            self._command, self._received_s, self._fresh = None, -math.inf, False

    def wait(self, seen: int, timeout_s: float) -> int:
        """Block until a command newer than put number ``seen`` arrives or ``timeout_s`` passed;
        returns the number of the newest put (pass it to the next call)."""
        with self._condition:
            self._condition.wait_for(lambda: self._sequence != seen, timeout_s)
            return self._sequence

    def take(self, now_s: float) -> tuple[TwistCommand | None, bool]:
        """``(command, fresh)``: the newest command if still within the timeout (else None), and
        whether it arrived since the last call."""
        with self._condition:
            fresh, self._fresh = self._fresh, False
            if self._command is None or now_s - self._received_s > self.timeout_s:
                return None, False
            return self._command, fresh

    def age_s(self, now_s: float) -> float:
        with self._condition:
            return now_s - self._received_s
