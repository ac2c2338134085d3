"""Inverse kinematics of the FR3 TCP: damped least squares, or a QP with pink.

Both solvers take a target ``T_base_tcp`` (4x4, base frame ``fr3_link0``) and a seed
``q_rad [7]`` (the current or previous configuration, so successive waypoints stay on one
branch) and return an :class:`IkResult`. Joint bounds are the safety envelope's (datasheet
limits minus the margin), so a converged solution always passes the envelope.

- :class:`DlsIkSolver`: Newton steps ``dq = J^T (J J^T + lambda^2 I)^-1 e`` on the 6D error
  ``e = (p* - p, R log(R^T R*))`` in base axes, with *singularity damping*: lambda grows
  from ``damping`` to ``max_damping`` as the manipulability ``sqrt(det(J J^T))`` falls below
  ``manipulability_threshold`` (Nakamura and Hanafusa's variable damping). Steps are capped and
  joints clamped to their bounds.
- :class:`PinkIkSolver`: differential IK as a QP (pink over qpsolvers/daqp): a frame task on
  the TCP and a light posture task towards the seed, subject to joint position limits and joint
  velocity limits over the integration step ``dt_s``; pink's Levenberg-Marquardt damping
  regularises near singularities. Slower per iteration than DLS, but the limits are
  constraints of the QP instead of clamps.

Targets beyond the arm's reach are refused before iterating; otherwise a solver that does not
converge within tolerance (after restarts from a few other seeds) reports how close it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pinocchio as pin

from tracegen.errors import InputError
from tracegen.robot.errors import UnreachableError
from tracegen.robot.kinematics import Fr3Kinematics, as_joint_vector
from tracegen.robot.safety import SafetyLimits

#: The FR3's shoulder (joint 2 axis) in the base frame, and the farthest its TCP gets from it:
#: 0.316 + 0.0825 (link 3 and 4) + 0.384 + 0.0825 (link 5) + 0.088 + 0.107 + 0.1034 (wrist,
#: flange, hand TCP) ~ 1.06 m along the bent chain; fully stretched the distance is smaller.
SHOULDER_M = np.array([0.0, 0.0, 0.333])
MAX_REACH_M = 1.06
#: A 'ready' posture (elbow up, TCP down in front of the robot) used as an alternative seed.
READY_Q_RAD = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])
SOLVERS = ("dls", "pink")


@dataclass(frozen=True)
class IkSettings:
    """Tolerances and tuning shared by both solvers (units in the names)."""

    position_tolerance_m: float = 1e-4
    orientation_tolerance_rad: float = 1e-3
    max_iterations: int = 100
    #: lambda of the damped least squares away from singularities (DLS), pink's QP damping.
    damping: float = 1e-3
    #: lambda at a singularity (DLS).
    max_damping: float = 0.05
    #: Manipulability below which the DLS damping grows.
    manipulability_threshold: float = 0.01
    #: Largest joint step of one DLS iteration, radians.
    max_step_rad: float = 0.3
    #: Integration step of pink's differential IK, seconds (joint velocity limits apply over it).
    dt_s: float = 0.1
    #: Extra seeds tried when the given seed does not converge (READY_Q_RAD, then random ones).
    restarts: int = 2
    #: Largest joint change between successive waypoints of a path before it counts as a jump
    #: to another IK branch (refused), radians.
    max_joint_step_rad: float = 0.8

    def __post_init__(self) -> None:
        positive = (
            "position_tolerance_m",
            "orientation_tolerance_rad",
            "damping",
            "max_damping",
            "manipulability_threshold",
            "max_step_rad",
            "dt_s",
            "max_joint_step_rad",
        )
        for name in positive:
            value = float(getattr(self, name))
            if not np.isfinite(value) or value <= 0:
                raise InputError(f"IK setting {name} must be a positive number, got {value}")
        if int(self.max_iterations) < 1 or int(self.restarts) < 0:
            raise InputError(
                f"IK max_iterations must be >= 1 and restarts >= 0, got {self.max_iterations}, "
                f"{self.restarts}"
            )


@dataclass(frozen=True)
class IkResult:
    """One IK solve: the configuration reached and how far its TCP is from the target."""

    q_rad: np.ndarray
    converged: bool
    position_error_m: float
    orientation_error_rad: float
    iterations: int

    def describe(self) -> str:
        return (
            f"{'converged' if self.converged else 'did not converge'} in {self.iterations} iterations, "
            f"{self.position_error_m * 1000:.2f} mm and {np.degrees(self.orientation_error_rad):.2f} deg "
            "from the target"
        )


class IkSolver(Protocol):
    """What the controller needs from an IK solver."""

    kinematics: Fr3Kinematics
    settings: IkSettings

    def solve(self, T_base_target: np.ndarray, q_seed_rad: np.ndarray) -> IkResult: ...


def pose_errors(current: pin.SE3, target: pin.SE3) -> tuple[np.ndarray, np.ndarray]:
    """Position error and rotation vector (both in base axes) that take ``current`` to ``target``."""
    position_error = target.translation - current.translation
    rotation_error = current.rotation @ pin.log3(current.rotation.T @ target.rotation)
    return position_error, rotation_error


def as_target(T_base_target: np.ndarray) -> pin.SE3:
    target = np.asarray(T_base_target, dtype=np.float64)
    if target.shape != (4, 4) or not np.isfinite(target).all():
        raise InputError(f"an IK target must be a finite 4x4 pose, got shape {target.shape}")
    rotation = target[:3, :3]
    if np.abs(rotation.T @ rotation - np.eye(3)).max() > 1e-5 or np.linalg.det(rotation) < 0.0:
        raise InputError("the IK target's rotation is not orthonormal")
    return pin.SE3(rotation, target[:3, 3])


class _SolverBase:
    """Bounds, seeds and the reach check shared by both solvers."""

    def __init__(
        self, kinematics: Fr3Kinematics, settings: IkSettings | None, limits: SafetyLimits | None
    ) -> None:
        self.kinematics = kinematics
        self.settings = settings or IkSettings()
        limits = limits or SafetyLimits()
        self.lower_rad = np.maximum(limits.q_lower_rad, kinematics.lower_rad)
        self.upper_rad = np.minimum(limits.q_upper_rad, kinematics.upper_rad)
        self.velocity_limit_rad_s = np.minimum(limits.velocity_limit_rad_s, kinematics.velocity_limit_rad_s)
        self._rng = np.random.default_rng(0)

    def _seeds(self, q_seed: np.ndarray) -> list[np.ndarray]:
        seeds = [
            np.clip(q_seed, self.lower_rad, self.upper_rad),
            np.clip(READY_Q_RAD, self.lower_rad, self.upper_rad),
        ]
        for _ in range(max(0, self.settings.restarts - 1)):
            seeds.append(self._rng.uniform(self.lower_rad, self.upper_rad))
        return seeds[: 1 + self.settings.restarts]

    def solve(self, T_base_target: np.ndarray, q_seed_rad: np.ndarray) -> IkResult:
        """Solve from the seed, then from the alternative seeds while it does not converge."""
        target = as_target(T_base_target)
        q_seed = as_joint_vector("q_seed_rad", q_seed_rad)
        reach = float(np.linalg.norm(target.translation - SHOULDER_M))
        if reach > MAX_REACH_M:
            raise UnreachableError(
                f"target {np.round(target.translation, 4).tolist()} m is {reach:.3f} m from the FR3's "
                f"shoulder; the arm reaches at most {MAX_REACH_M} m"
            )
        best: IkResult | None = None
        iterations = 0
        for seed in self._seeds(q_seed):
            result = self._solve_from(target, seed)
            iterations += result.iterations
            if best is None or result.position_error_m + 0.1 * result.orientation_error_rad < (
                best.position_error_m + 0.1 * best.orientation_error_rad
            ):
                best = result
            if result.converged:
                break
        assert best is not None
        return IkResult(
            best.q_rad, best.converged, best.position_error_m, best.orientation_error_rad, iterations
        )

    def _converged(self, position_error: np.ndarray, rotation_error: np.ndarray) -> bool:
        return bool(
            np.linalg.norm(position_error) <= self.settings.position_tolerance_m
            and np.linalg.norm(rotation_error) <= self.settings.orientation_tolerance_rad
        )

    def _solve_from(self, target: pin.SE3, q: np.ndarray) -> IkResult:
        raise NotImplementedError


class DlsIkSolver(_SolverBase):
    """Damped least squares with variable (singularity) damping; see the module docstring."""

    def __init__(
        self,
        kinematics: Fr3Kinematics,
        settings: IkSettings | None = None,
        limits: SafetyLimits | None = None,
    ) -> None:
        super().__init__(kinematics, settings, limits)

    def _solve_from(self, target: pin.SE3, q: np.ndarray) -> IkResult:
        s = self.settings
        q = q.copy()
        for iteration in range(1, s.max_iterations + 1):
            current, jac = self.kinematics.tcp_pose_and_jacobian(q)
            position_error, rotation_error = pose_errors(current, target)
            if self._converged(position_error, rotation_error):
                return self._result(q, position_error, rotation_error, True, iteration - 1)
            jj_t = jac @ jac.T
            manipulability = float(np.sqrt(max(np.linalg.det(jj_t), 0.0)))
            damping = s.damping
            if manipulability < s.manipulability_threshold:
                damping += (s.max_damping - s.damping) * (
                    1.0 - manipulability / s.manipulability_threshold
                ) ** 2
            error = np.concatenate([position_error, rotation_error])
            step = jac.T @ np.linalg.solve(jj_t + damping**2 * np.eye(6), error)
            largest = float(np.abs(step).max())
            if largest > s.max_step_rad:
                step *= s.max_step_rad / largest
            q = np.clip(q + step, self.lower_rad, self.upper_rad)
        current = self.kinematics.tcp_placement(q)
        position_error, rotation_error = pose_errors(current, target)
        converged = self._converged(position_error, rotation_error)
        return self._result(q, position_error, rotation_error, converged, s.max_iterations)

    @staticmethod
    def _result(
        q: np.ndarray,
        position_error: np.ndarray,
        rotation_error: np.ndarray,
        converged: bool,
        iterations: int,
    ) -> IkResult:
        return IkResult(
            q,
            converged,
            float(np.linalg.norm(position_error)),
            float(np.linalg.norm(rotation_error)),
            iterations,
        )


class PinkIkSolver(_SolverBase):
    """Differential IK as a QP with pink (joint position and velocity limits as constraints)."""

    def __init__(
        self,
        kinematics: Fr3Kinematics,
        settings: IkSettings | None = None,
        limits: SafetyLimits | None = None,
        *,
        qp_solver: str = "daqp",
    ) -> None:
        super().__init__(kinematics, settings, limits)
        import pink
        import pink.limits
        import pink.tasks
        import qpsolvers

        if qp_solver not in qpsolvers.available_solvers:
            raise InputError(
                f"QP solver {qp_solver!r} is not installed; available: {qpsolvers.available_solvers}"
            )
        self._pink = pink
        self._qp_solver = qp_solver
        # A copy of the model whose position limits are the envelope's, for pink's ConfigurationLimit.
        self._model = kinematics.model.copy()
        self._model.lowerPositionLimit = self.lower_rad.copy()
        self._model.upperPositionLimit = self.upper_rad.copy()
        self._data = self._model.createData()
        self._frame_task = pink.tasks.FrameTask(
            kinematics.tcp_frame_name, position_cost=1.0, orientation_cost=1.0, lm_damping=1e-3
        )
        self._posture_task = pink.tasks.PostureTask(cost=1e-3)
        self._limits = [
            pink.limits.ConfigurationLimit(self._model, config_limit_gain=0.5),
            pink.limits.VelocityLimit(self._model, self.velocity_limit_rad_s),
        ]

    def _solve_from(self, target: pin.SE3, q: np.ndarray) -> IkResult:
        s = self.settings
        pink = self._pink
        configuration = pink.Configuration(self._model, self._data, q.copy(), copy_data=False)
        world_target = self.kinematics.T_world_base * target  # pink works in the URDF root's frame
        self._frame_task.set_target(world_target)
        self._posture_task.set_target(q.copy())
        tasks = (self._frame_task, self._posture_task)
        for iteration in range(1, s.max_iterations + 1):
            current = configuration.get_transform_frame_to_world(self.kinematics.tcp_frame_name)
            position_error, rotation_error = pose_errors(current, world_target)
            if self._converged(position_error, rotation_error):
                return DlsIkSolver._result(
                    configuration.q.copy(), position_error, rotation_error, True, iteration - 1
                )
            velocity = pink.solve_ik(
                configuration,
                tasks,
                s.dt_s,
                solver=self._qp_solver,
                damping=s.damping,
                limits=self._limits,
                safety_break=False,
            )
            configuration.integrate_inplace(velocity, s.dt_s)
        current = configuration.get_transform_frame_to_world(self.kinematics.tcp_frame_name)
        position_error, rotation_error = pose_errors(current, world_target)
        converged = self._converged(position_error, rotation_error)
        return DlsIkSolver._result(
            configuration.q.copy(), position_error, rotation_error, converged, s.max_iterations
        )


def make_solver(
    name: str,
    kinematics: Fr3Kinematics,
    settings: IkSettings | None = None,
    limits: SafetyLimits | None = None,
) -> IkSolver:
    """``dls`` or ``pink``."""
    if name == "dls":
        return DlsIkSolver(kinematics, settings, limits)
    if name == "pink":
        return PinkIkSolver(kinematics, settings, limits)
    raise InputError(f"unknown IK solver {name!r}: expected one of {list(SOLVERS)}")


def solve_path(
    solver: IkSolver, poses: Sequence[np.ndarray] | np.ndarray, q_start_rad: np.ndarray
) -> np.ndarray:
    """IK for every pose ``[N, 4, 4]`` in order, each seeded with the previous solution.

    Returns ``q_rad [N, 7]``; raises :class:`UnreachableError` naming the first waypoint that
    cannot be reached within tolerance, or whose solution jumps to another IK branch.
    """
    q = as_joint_vector("q_start_rad", q_start_rad)
    solutions = []
    for index, pose in enumerate(np.asarray(poses, dtype=np.float64)):
        try:
            result = solver.solve(pose, q)
        except UnreachableError as exc:
            raise UnreachableError(f"waypoint {index}: {exc}") from None
        if not result.converged:
            raise UnreachableError(
                f"waypoint {index} at {np.round(pose[:3, 3], 4).tolist()} m is not reachable within the "
                f"joint limits: the IK {result.describe()}"
            )
        jump = float(np.abs(result.q_rad - q).max())
        if index > 0 and jump > solver.settings.max_joint_step_rad:
            raise UnreachableError(
                f"waypoint {index}: the IK solution jumps {jump:.2f} rad from waypoint {index - 1} "
                f"(more than {solver.settings.max_joint_step_rad} rad): the path crosses a singularity or a "
                "joint limit"
            )
        solutions.append(result.q_rad)
        q = result.q_rad
    return np.stack(solutions)
