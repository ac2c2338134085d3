"""The safety envelope: every command is checked here before it can reach the arm.

One module for every producer of robot commands (the retarget node, the IK controller, the
teleoperation node of issue 9), so they all enforce the same limits, loaded from one file
(``config/safety.yaml``):

- a workspace box for the TCP position in the base frame ``fr3_link0``;
- joint position limits (the FR3 datasheet's, minus a margin), joint velocity and acceleration
  limits (the datasheet's, scaled down by ``velocity_scale`` / ``acceleration_scale``);
- a Cartesian speed limit for the TCP (linear and angular);
- finite numbers and proper rotations everywhere.

Checks either *refuse* (raise :class:`SafetyViolationError` with the reason: what, where, the value
seen, the limit) or, for Cartesian paths and only when the policy is ``clip``, *clip*: project
positions into the box and slow segments down to the speed limit, returning a note per clipping
that says what was changed. Joint commands are never clipped: clipping joints would change the
path in ways the plan did not ask for, so a violation there is a bug upstream and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from tracegen.errors import InputError
from tracegen.robot.errors import SafetyViolationError
from tracegen.robot.trajectory import JointTrajectory

# FR3 datasheet ("Robot and interface specifications", Franka Robotics): joint space limits.
FR3_Q_MIN_RAD = (-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159)
FR3_Q_MAX_RAD = (2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159)
FR3_DQ_MAX_RAD_S = (2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26)
FR3_DDQ_MAX_RAD_S2 = (10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0)

#: Tolerance on rotation matrices (orthonormality and determinant).
ROTATION_TOLERANCE = 1e-5
#: Samples per trajectory segment for the Cartesian checks of a joint trajectory.
CARTESIAN_SAMPLES_PER_SEGMENT = 8
#: Relative slack of the Cartesian path speed check (float rounding of times and poses between
#: nodes), and the margin a segment slowed by the clip policy keeps below the limit, so that a
#: clipped path always passes the same check again (the IK controller re-checks every plan).
SPEED_CHECK_TOLERANCE = 1e-9
SPEED_CLIP_MARGIN = 1e-6
#: Slack on the Cartesian speed of a *joint* trajectory: joint interpolation between waypoints
#: bends the straight Cartesian segments a little, which a 10 % allowance covers.
JOINT_PATH_SPEED_SLACK = 1.1


class SafetyPolicy(str, Enum):
    """What a Cartesian check does with a violation it could repair."""

    REJECT = "reject"
    CLIP = "clip"


def _vector(name: str, value: Any, size: int) -> tuple[float, ...]:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (size,) or not np.isfinite(array).all():
        raise InputError(f"safety limit {name} must be {size} finite numbers, got {value!r}")
    return tuple(float(v) for v in array)


@dataclass(frozen=True)
class WorkspaceBox:
    """Axis-aligned box in the base frame that the TCP must stay inside, metres."""

    min_xyz_m: tuple[float, float, float] = (0.15, -0.55, 0.01)
    max_xyz_m: tuple[float, float, float] = (0.80, 0.55, 0.75)

    def __post_init__(self) -> None:
        low = _vector("workspace.min_xyz_m", self.min_xyz_m, 3)
        high = _vector("workspace.max_xyz_m", self.max_xyz_m, 3)
        if any(lo >= hi for lo, hi in zip(low, high, strict=True)):
            raise InputError(f"workspace box min {list(low)} must be below max {list(high)} on every axis")
        object.__setattr__(self, "min_xyz_m", low)
        object.__setattr__(self, "max_xyz_m", high)

    def contains(self, points_m: np.ndarray) -> np.ndarray:
        """``[...]`` bool: the points ``[..., 3]`` inside the box (boundary included)."""
        return np.all((points_m >= self.min_xyz_m) & (points_m <= self.max_xyz_m), axis=-1)

    def clip(self, points_m: np.ndarray) -> np.ndarray:
        return np.clip(points_m, self.min_xyz_m, self.max_xyz_m)

    def describe(self) -> str:
        return (
            f"x {self.min_xyz_m[0]:g}..{self.max_xyz_m[0]:g}, "
            f"y {self.min_xyz_m[1]:g}..{self.max_xyz_m[1]:g}, "
            f"z {self.min_xyz_m[2]:g}..{self.max_xyz_m[2]:g} m"
        )


@dataclass(frozen=True)
class SafetyLimits:
    """Every limit of the envelope (see the module docstring); defaults are the FR3's, conservative."""

    workspace: WorkspaceBox = field(default_factory=WorkspaceBox)
    q_min_rad: tuple[float, ...] = FR3_Q_MIN_RAD
    q_max_rad: tuple[float, ...] = FR3_Q_MAX_RAD
    joint_margin_rad: float = 0.05
    dq_max_rad_s: tuple[float, ...] = FR3_DQ_MAX_RAD_S
    ddq_max_rad_s2: tuple[float, ...] = FR3_DDQ_MAX_RAD_S2
    velocity_scale: float = 0.3
    acceleration_scale: float = 0.3
    max_linear_speed_m_s: float = 0.25
    max_angular_speed_rad_s: float = 1.0
    #: Under the clip policy, positions farther outside the box than this are refused anyway.
    max_clip_distance_m: float = 0.05

    def __post_init__(self) -> None:
        for name in ("q_min_rad", "q_max_rad", "dq_max_rad_s", "ddq_max_rad_s2"):
            object.__setattr__(self, name, _vector(name, getattr(self, name), 7))
        if any(lo >= hi for lo, hi in zip(self.q_min_rad, self.q_max_rad, strict=True)):
            raise InputError(f"joint limits q_min {self.q_min_rad} must be below q_max {self.q_max_rad}")
        if min(self.dq_max_rad_s) <= 0 or min(self.ddq_max_rad_s2) <= 0:
            raise InputError("joint velocity and acceleration limits must be positive")
        checks = {
            "joint_margin_rad": (0.0, 0.5),
            "velocity_scale": (0.01, 1.0),
            "acceleration_scale": (0.01, 1.0),
            "max_linear_speed_m_s": (0.001, 2.0),
            "max_angular_speed_rad_s": (0.001, 5.0),
            "max_clip_distance_m": (0.0, 1.0),
        }
        for name, (low, high) in checks.items():
            value = float(getattr(self, name))
            if not (math.isfinite(value) and low <= value <= high):
                raise InputError(f"safety limit {name} is {value}: it must lie in [{low}, {high}]")
            object.__setattr__(self, name, value)
        if np.any(self.q_lower_rad >= self.q_upper_rad):
            raise InputError(
                f"joint_margin_rad {self.joint_margin_rad} leaves no room between the joint limits"
            )

    @property
    def q_lower_rad(self) -> np.ndarray:
        """``[7]`` lowest joint positions a command may use (limit plus margin)."""
        return np.array(self.q_min_rad) + self.joint_margin_rad

    @property
    def q_upper_rad(self) -> np.ndarray:
        return np.array(self.q_max_rad) - self.joint_margin_rad

    @property
    def velocity_limit_rad_s(self) -> np.ndarray:
        """``[7]`` joint velocities a command may use (datasheet x velocity_scale)."""
        return np.array(self.dq_max_rad_s) * self.velocity_scale

    @property
    def acceleration_limit_rad_s2(self) -> np.ndarray:
        return np.array(self.ddq_max_rad_s2) * self.acceleration_scale

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "safety limits") -> SafetyLimits:
        """Build from the nested layout of config/safety.yaml (sections workspace, joints, cartesian)."""
        if not isinstance(data, Mapping):
            raise InputError(f"{source} must be a mapping with sections workspace, joints, cartesian")
        known = {
            "workspace": {"min_xyz_m", "max_xyz_m", "max_clip_distance_m"},
            "joints": {
                "q_min_rad",
                "q_max_rad",
                "margin_rad",
                "dq_max_rad_s",
                "ddq_max_rad_s2",
                "velocity_scale",
                "acceleration_scale",
            },
            "cartesian": {"max_linear_speed_m_s", "max_angular_speed_rad_s"},
        }
        for section, values in data.items():
            if section not in known or not isinstance(values, Mapping):
                raise InputError(f"{source}: unknown section {section!r}; expected {sorted(known)}")
            unknown = set(values) - known[section]
            if unknown:
                raise InputError(
                    f"{source}: unknown keys {sorted(unknown)} in {section}; known {sorted(known[section])}"
                )
        workspace = data.get("workspace", {})
        joints = data.get("joints", {})
        cartesian = data.get("cartesian", {})
        defaults = cls()
        try:
            return cls(
                workspace=WorkspaceBox(
                    workspace.get("min_xyz_m", defaults.workspace.min_xyz_m),
                    workspace.get("max_xyz_m", defaults.workspace.max_xyz_m),
                ),
                q_min_rad=joints.get("q_min_rad", defaults.q_min_rad),
                q_max_rad=joints.get("q_max_rad", defaults.q_max_rad),
                joint_margin_rad=joints.get("margin_rad", defaults.joint_margin_rad),
                dq_max_rad_s=joints.get("dq_max_rad_s", defaults.dq_max_rad_s),
                ddq_max_rad_s2=joints.get("ddq_max_rad_s2", defaults.ddq_max_rad_s2),
                velocity_scale=joints.get("velocity_scale", defaults.velocity_scale),
                acceleration_scale=joints.get("acceleration_scale", defaults.acceleration_scale),
                max_linear_speed_m_s=cartesian.get("max_linear_speed_m_s", defaults.max_linear_speed_m_s),
                max_angular_speed_rad_s=cartesian.get(
                    "max_angular_speed_rad_s", defaults.max_angular_speed_rad_s
                ),
                max_clip_distance_m=workspace.get("max_clip_distance_m", defaults.max_clip_distance_m),
            )
        except (TypeError, ValueError) as exc:
            raise InputError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: Path | str) -> SafetyLimits:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read the safety limits {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise InputError(f"safety limits {path} are not valid YAML: {exc}") from None
        return cls.from_mapping(data or {}, source=str(path))


@dataclass(frozen=True, eq=False)
class CartesianPath:
    """TCP poses ``T_base_tcp [N, 4, 4]`` at ``times_s [N]`` (from 0, strictly increasing)."""

    poses: np.ndarray
    times_s: np.ndarray

    @property
    def positions_m(self) -> np.ndarray:
        return self.poses[:, :3, 3]


def _angles_between(rotations_a: np.ndarray, rotations_b: np.ndarray) -> np.ndarray:
    """Rotation angle (rad) between corresponding 3x3 rotations ``[N, 3, 3]``."""
    relative = np.einsum("nji,njk->nik", rotations_a, rotations_b)
    cos = (np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))


def _check_rotations(poses: np.ndarray) -> None:
    rotations = poses[:, :3, :3]
    error = np.abs(np.einsum("nji,njk->nik", rotations, rotations) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(rotations)
    bad = (error > ROTATION_TOLERANCE) | (np.abs(det - 1.0) > ROTATION_TOLERANCE)
    if bad.any():
        index = int(np.argmax(bad))
        raise SafetyViolationError(
            f"pose {index} is not a rotation (orthonormality error {error[index]:.2e}, "
            f"det {det[index]:.6f}): normalise the quaternion or fix the pose source"
        )
    bottom = np.abs(poses[:, 3] - [0.0, 0.0, 0.0, 1.0]).max(axis=1)
    if (bottom > 0.0).any():
        raise SafetyViolationError(f"pose {int(np.argmax(bottom > 0))} has a bottom row other than [0 0 0 1]")


class SafetyEnvelope:
    """Checks (and where allowed clips) commands against :class:`SafetyLimits`."""

    def __init__(self, limits: SafetyLimits | None = None) -> None:
        self.limits = limits or SafetyLimits()

    # --- Cartesian commands -----------------------------------------------------------------------

    def check_cartesian_path(
        self,
        path: CartesianPath,
        *,
        workspace_policy: SafetyPolicy = SafetyPolicy.REJECT,
        speed_policy: SafetyPolicy = SafetyPolicy.REJECT,
    ) -> tuple[CartesianPath, tuple[str, ...]]:
        """Validate a TCP path; returns the (possibly clipped) path and one note per clipping.

        Always refused: non-finite values, improper rotations, times that are negative or do not
        increase, and positions farther than ``max_clip_distance_m`` outside the workspace box.
        Refused under ``reject``, clipped under ``clip``: positions outside the workspace box
        (projected onto it) and segments faster than the Cartesian speed limits (made longer,
        which delays every later waypoint).
        """
        poses = np.asarray(path.poses, dtype=np.float64)
        times = np.asarray(path.times_s, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 1:
            raise SafetyViolationError(
                f"a Cartesian path needs poses [N >= 1, 4, 4], got shape {poses.shape}"
            )
        if times.shape != (poses.shape[0],):
            raise SafetyViolationError(f"{poses.shape[0]} poses but {times.size} times")
        if not np.isfinite(poses).all():
            index = int(np.argmax(~np.isfinite(poses).all(axis=(1, 2))))
            raise SafetyViolationError(
                f"pose {index} of the path holds NaN or inf: {poses[index, :3].tolist()}"
            )
        if not np.isfinite(times).all() or times[0] < 0.0 or np.any(np.diff(times) <= 0.0):
            raise SafetyViolationError(
                f"path times must be finite, start at >= 0 and increase strictly: {times.tolist()}"
            )
        _check_rotations(poses)
        notes: list[str] = []
        poses = poses.copy()
        positions = poses[:, :3, 3]
        outside = ~self.limits.workspace.contains(positions)
        if outside.any():
            clipped = self.limits.workspace.clip(positions)
            distance = np.linalg.norm(clipped - positions, axis=1)
            first = int(np.argmax(outside))
            too_far = distance > self.limits.max_clip_distance_m
            if workspace_policy is SafetyPolicy.CLIP and too_far.any():
                worst = int(np.argmax(distance))
                raise SafetyViolationError(
                    f"waypoint {worst} at {np.round(positions[worst], 4).tolist()} m is "
                    f"{distance[worst] * 1000:.0f} mm outside the workspace box "
                    f"({self.limits.workspace.describe()}); clipping only repairs up to "
                    f"{self.limits.max_clip_distance_m * 1000:.0f} mm: check the calibration and the trace"
                )
            if workspace_policy is SafetyPolicy.REJECT:
                raise SafetyViolationError(
                    f"{int(outside.sum())} of {len(positions)} waypoints leave the workspace box "
                    f"({self.limits.workspace.describe()}); the first, waypoint {first}, is at "
                    f"{np.round(positions[first], 4).tolist()} m, {distance[first] * 1000:.1f} mm outside"
                )
            poses[:, :3, 3] = clipped
            notes.append(
                f"clipped {int(outside.sum())} waypoints into the workspace box (up to "
                f"{distance.max() * 1000:.1f} mm moved, first at waypoint {first})"
            )
        if poses.shape[0] > 1:
            times, speed_note = self._limit_speed(poses, times, speed_policy)
            if speed_note:
                notes.append(speed_note)
        return CartesianPath(poses, times), tuple(notes)

    def _limit_speed(
        self, poses: np.ndarray, times: np.ndarray, policy: SafetyPolicy
    ) -> tuple[np.ndarray, str | None]:
        dt = np.diff(times)
        linear = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1) / dt
        angular = _angles_between(poses[:-1, :3, :3], poses[1:, :3, :3]) / dt
        ratio = np.maximum(
            linear / self.limits.max_linear_speed_m_s, angular / self.limits.max_angular_speed_rad_s
        )
        too_fast = ratio > 1.0 + SPEED_CHECK_TOLERANCE
        if not too_fast.any():
            return times, None
        worst = int(np.argmax(ratio))
        if policy is SafetyPolicy.REJECT:
            raise SafetyViolationError(
                f"{int(too_fast.sum())} path segments are too fast; the worst, {worst} -> {worst + 1}, "
                f"moves at {linear[worst]:.3f} m/s and {angular[worst]:.3f} rad/s (limits "
                f"{self.limits.max_linear_speed_m_s} m/s, {self.limits.max_angular_speed_rad_s} rad/s)"
            )
        factor = np.where(too_fast, ratio * (1.0 + SPEED_CLIP_MARGIN), 1.0)
        stretched = times[0] + np.concatenate([[0.0], np.cumsum(dt * factor)])
        return stretched, (
            f"slowed {int(too_fast.sum())} segments to the Cartesian speed limit (the worst by "
            f"{ratio[worst]:.2f}x, segment {worst}); the path now takes {stretched[-1]:.2f} s"
        )

    def clip_cartesian_step(
        self, position_from_m: np.ndarray, position_to_m: np.ndarray, dt_s: float
    ) -> tuple[np.ndarray, tuple[str, ...]]:
        """One streamed TCP target (teleoperation): into the box and at most ``speed * dt`` away.

        Returns the target to command and notes saying what was clipped. Non-finite input is
        refused.
        """
        start = np.asarray(position_from_m, dtype=np.float64)
        target = np.asarray(position_to_m, dtype=np.float64)
        if (
            start.shape != (3,)
            or target.shape != (3,)
            or not (np.isfinite(start).all() and np.isfinite(target).all())
        ):
            raise SafetyViolationError(
                f"a TCP step needs two finite 3-vectors, got {start.tolist()} -> {target.tolist()}"
            )
        if not (math.isfinite(dt_s) and dt_s > 0.0):
            raise SafetyViolationError(f"a TCP step needs a positive time step, got {dt_s}")
        notes = []
        if not self.limits.workspace.contains(target):
            target = self.limits.workspace.clip(target)
            notes.append(f"target clipped into the workspace box ({self.limits.workspace.describe()})")
        step = target - start
        max_step = self.limits.max_linear_speed_m_s * dt_s
        length = float(np.linalg.norm(step))
        if length > max_step:
            target = start + step * (max_step / length)
            notes.append(f"step shortened from {length * 1000:.1f} to {max_step * 1000:.1f} mm (speed limit)")
        return target, tuple(notes)

    # --- joint commands ---------------------------------------------------------------------------

    def check_joint_positions(
        self, q_rad: Sequence[float] | np.ndarray, what: str = "joint target"
    ) -> np.ndarray:
        """``q_rad [7]`` within the limits (minus margin); returns it as an array or refuses."""
        q = np.asarray(q_rad, dtype=np.float64).reshape(-1)
        if q.shape != (7,) or not np.isfinite(q).all():
            raise SafetyViolationError(f"{what} must be 7 finite joint positions, got {q.tolist()}")
        low, high = self.limits.q_lower_rad, self.limits.q_upper_rad
        bad = (q < low) | (q > high)
        if bad.any():
            j = int(np.argmax(bad))
            raise SafetyViolationError(
                f"{what}: joint {j + 1} at {q[j]:.4f} rad is outside [{low[j]:.4f}, {high[j]:.4f}] rad "
                f"(FR3 limits minus a {self.limits.joint_margin_rad} rad margin)"
            )
        return q

    def check_joint_trajectory(self, trajectory: JointTrajectory, kinematics: Any | None = None) -> None:
        """Refuse a joint trajectory that breaks a joint limit anywhere (exact for the cubic segments).

        With ``kinematics`` (a :class:`~tracegen.robot.kinematics.Fr3Kinematics`) the TCP along the
        trajectory is checked too: inside the workspace box and within the Cartesian speed limits
        (sampled, with a small allowance for joint-space interpolation).
        """
        for index, q in enumerate(trajectory.q_rad):
            self.check_joint_positions(q, what=f"trajectory waypoint {index}")
        peak_v, peak_a = trajectory.peak_rates()
        v_limit, a_limit = self.limits.velocity_limit_rad_s, self.limits.acceleration_limit_rad_s2
        # A relative tolerance of 1e-9 absorbs rounding in the spline coefficients.
        for name, peak, limit, unit in (
            ("velocity", peak_v, v_limit, "rad/s"),
            ("acceleration", peak_a, a_limit, "rad/s^2"),
        ):
            over = peak > limit * (1.0 + 1e-9)
            if over.any():
                segment, joint = (int(i) for i in np.argwhere(over)[0])
                raise SafetyViolationError(
                    f"trajectory segment {segment}: joint {joint + 1} {name} "
                    f"{peak[segment, joint]:.3f} {unit} exceeds the limit {limit[joint]:.3f} {unit}"
                )
        if kinematics is None:
            return
        fractions = np.linspace(0.0, 1.0, CARTESIAN_SAMPLES_PER_SEGMENT, endpoint=False)
        starts, durations = trajectory.times_s[:-1], trajectory.segment_durations_s
        t = np.concatenate(
            [(starts[:, None] + durations[:, None] * fractions).ravel(), [trajectory.duration_s]]
        )
        q_samples, _ = trajectory.sample(t)
        poses = np.stack([kinematics.fk(q) for q in q_samples])
        positions = poses[:, :3, 3]
        inside = self.limits.workspace.contains(positions)
        if not inside.all():
            index = int(np.argmax(~inside))
            raise SafetyViolationError(
                f"the TCP would leave the workspace box ({self.limits.workspace.describe()}) at "
                f"t = {t[index]:.3f} s, at {np.round(positions[index], 4).tolist()} m"
            )
        dt = np.diff(t)
        linear = np.linalg.norm(np.diff(positions, axis=0), axis=1) / dt
        angular = _angles_between(poses[:-1, :3, :3], poses[1:, :3, :3]) / dt
        if linear.max() > self.limits.max_linear_speed_m_s * JOINT_PATH_SPEED_SLACK:
            index = int(np.argmax(linear))
            raise SafetyViolationError(
                f"the TCP would move at {linear[index]:.3f} m/s at t = {t[index]:.3f} s "
                f"(limit {self.limits.max_linear_speed_m_s} m/s)"
            )
        if angular.max() > self.limits.max_angular_speed_rad_s * JOINT_PATH_SPEED_SLACK:
            index = int(np.argmax(angular))
            raise SafetyViolationError(
                f"the TCP would turn at {angular[index]:.3f} rad/s at t = {t[index]:.3f} s "
                f"(limit {self.limits.max_angular_speed_rad_s} rad/s)"
            )


def quaternion_xyzw_to_matrix(quaternion_xyzw: Sequence[float], what: str = "quaternion") -> np.ndarray:
    """3x3 rotation of a quaternion (x, y, z, w); refuses non-finite or far-from-unit input.

    A norm within 1 % of one is normalised (float32 round trips); anything else is an error.
    """
    quat = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(-1)
    if quat.shape != (4,) or not np.isfinite(quat).all():
        raise SafetyViolationError(f"{what} must be 4 finite numbers (x, y, z, w), got {quat.tolist()}")
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > 0.01:
        raise SafetyViolationError(
            f"{what} {quat.tolist()} has norm {norm:.4f}: a unit quaternion (x, y, z, w) is needed"
        )
    return Rotation.from_quat(quat / norm).as_matrix()
