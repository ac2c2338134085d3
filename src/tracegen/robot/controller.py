"""The IK controller's core (ROS-free): plans in, safe joint motion out, failures handled.

:class:`PlanCompiler` turns an :class:`~tracegen.robot.plan.EndEffectorPlan` into stages the
robot executes: it checks the Cartesian path against the safety envelope (refusing, never
clipping: the retargeting already clipped what it could), solves the IK of every waypoint from
the current joint state, splits the path where the gripper acts, times each arm segment within
the joint limits (:mod:`~tracegen.robot.trajectory`) and checks the joint trajectories (and the
TCP along them) against the envelope once more. Anything wrong refuses the plan with a reason.

:class:`Controller` owns the robot (a :class:`~tracegen.robot.interface.RobotInterface`) and
runs it from one worker thread, ``loop_period_s`` per tick:

- connects, and reconnects every ``reconnect_period_s`` while the robot is not reachable;
- reads the state and hands it to ``on_state`` (every ``state_period_s``);
- executes the newest accepted plan stage by stage; a newer plan replaces the running one
  (the robot blends into the new motion);
- **e-stop** (:meth:`Controller.estop`): stops the arm at once and refuses plans until
  :meth:`Controller.reset_estop`;
- **stale plans**: a plan whose observation (``stamp_ns``) is older than
  ``stale_plan_timeout_s`` is refused on arrival, and stopped if it is still running then;
- **robot errors**: stop, report (``on_event`` / ``on_status``), and recover with franky's
  error recovery only when it is safe: the error is a recoverable motion abort (a reflex),
  no e-stop is active, and fewer than ``max_auto_recoveries`` recoveries happened since the last
  plan that completed. The failed plan is never retried.

Every plan gets an id and ends in exactly one final event (refused, done, stopped or failed).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum

import numpy as np

from tracegen.errors import InputError
from tracegen.robot.errors import GripperError, RobotMotionError, RobotUnavailableError, UnreachableError
from tracegen.robot.ik import IkSettings, make_solver, solve_path
from tracegen.robot.interface import RobotInterface, RobotState
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen.robot.safety import CartesianPath, SafetyEnvelope, SafetyViolationError
from tracegen.robot.trajectory import JointTrajectory, time_parameterize

logger = logging.getLogger(__name__)

#: Joint motion below which an arm segment is skipped (nothing to move), radians.
MIN_MOTION_RAD = 1e-5
#: Plans stamped further in the future than this are refused (clocks out of sync), seconds.
MAX_FUTURE_STAMP_S = 1.0


class PlanState(str, Enum):
    ACCEPTED = "accepted"
    EXECUTING = "executing"
    DONE = "done"
    REFUSED = "refused"
    STOPPED = "stopped"
    FAILED = "failed"


class StatusLevel(IntEnum):
    """diagnostic_msgs levels."""

    OK = 0
    WARN = 1
    ERROR = 2


@dataclass(frozen=True)
class PlanEvent:
    plan_id: int
    state: PlanState
    reason: str
    stamp_ns: int = 0


@dataclass(frozen=True)
class ArmStage:
    trajectory: JointTrajectory


@dataclass(frozen=True)
class GripperStage:
    action: GripperAction
    width_m: float


@dataclass(frozen=True, eq=False)
class CompiledPlan:
    """A plan ready to execute: its joint waypoints ``[N, 7]`` and the stages in order."""

    plan_id: int
    plan: EndEffectorPlan
    q_waypoints_rad: np.ndarray
    stages: tuple[ArmStage | GripperStage, ...]


@dataclass(frozen=True)
class ControllerConfig:
    """Controller behaviour; limits come from the safety envelope."""

    ik_solver: str = "dls"
    ik: IkSettings = field(default_factory=IkSettings)
    stale_plan_timeout_s: float = 5.0
    #: Single Cartesian targets (no timing of their own) are timed at these TCP speeds.
    target_speed_m_s: float = 0.1
    target_angular_speed_rad_s: float = 0.5
    #: An arm stage is done when franky's motion ended and every joint is this close to its
    #: final target, or ``settle_timeout_s`` after the motion ended.
    settle_tolerance_rad: float = 0.002
    settle_timeout_s: float = 3.0
    gripper_speed_m_s: float = 0.05
    gripper_force_n: float = 20.0
    gripper_timeout_s: float = 10.0
    auto_recover: bool = True
    max_auto_recoveries: int = 2
    reconnect_period_s: float = 2.0
    loop_period_s: float = 0.005
    state_period_s: float = 0.02

    def __post_init__(self) -> None:
        for name in (
            "stale_plan_timeout_s",
            "target_speed_m_s",
            "target_angular_speed_rad_s",
            "settle_tolerance_rad",
            "settle_timeout_s",
            "gripper_speed_m_s",
            "gripper_force_n",
            "gripper_timeout_s",
            "reconnect_period_s",
            "loop_period_s",
            "state_period_s",
        ):
            value = float(getattr(self, name))
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"controller setting {name} must be a positive number, got {value}")


class PlanCompiler:
    """Plan -> checked stages (see the module docstring). Not thread-safe: one caller at a time."""

    def __init__(self, kinematics: Fr3Kinematics, envelope: SafetyEnvelope, config: ControllerConfig) -> None:
        self.kinematics = kinematics
        self.envelope = envelope
        self.config = config
        self.solver = make_solver(config.ik_solver, kinematics, config.ik, envelope.limits)

    def single_target_plan(self, pose: np.ndarray, state: RobotState, *, stamp_ns: int) -> EndEffectorPlan:
        """A plan to one TCP pose, timed by the target speeds from the current TCP pose."""
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise SafetyViolationError(f"the target pose must be a finite 4x4 transform, got {pose.tolist()}")
        current = self.kinematics.fk(state.q_rad)
        distance = float(np.linalg.norm(pose[:3, 3] - current[:3, 3]))
        cos = np.clip((np.trace(current[:3, :3].T @ pose[:3, :3]) - 1.0) / 2.0, -1.0, 1.0)
        duration = max(
            distance / self.config.target_speed_m_s,
            float(np.arccos(cos)) / self.config.target_angular_speed_rad_s,
            0.1,
        )
        return EndEffectorPlan.single_target(
            pose, duration, stamp_ns=stamp_ns, tcp_frame=self.kinematics.tcp_frame_name
        )

    def compile(
        self,
        plan: EndEffectorPlan,
        plan_id: int,
        state: RobotState,
        robot_limits: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> CompiledPlan:
        """Raises :class:`SafetyViolationError`, :class:`UnreachableError` or :class:`InputError`."""
        if plan.tcp_frame != self.kinematics.tcp_frame_name:
            raise InputError(
                f"the plan is for TCP frame {plan.tcp_frame!r} but this controller's TCP is "
                f"{self.kinematics.tcp_frame_name!r}: configure both nodes with the same tcp_frame"
            )
        self.envelope.check_cartesian_path(CartesianPath(plan.poses, plan.times_s))
        q_path = solve_path(self.solver, plan.poses, state.q_rad)
        velocity, acceleration = (
            self.envelope.limits.velocity_limit_rad_s,
            self.envelope.limits.acceleration_limit_rad_s2,
        )
        if robot_limits is not None:
            velocity, acceleration = (
                np.minimum(velocity, robot_limits[0]),
                np.minimum(acceleration, robot_limits[1]),
            )
        stages: list[ArmStage | GripperStage] = []
        segment_q, segment_t = [state.q_rad], [0.0]
        dq_start = np.clip(state.dq_rad_s, -velocity, velocity)
        for index in range(plan.num_waypoints):
            segment_q.append(q_path[index])
            segment_t.append(float(plan.times_s[index]))
            action = GripperAction(int(plan.gripper[index]))
            if action is GripperAction.HOLD and index < plan.num_waypoints - 1:
                continue
            trajectory = self._time_segment(
                np.array(segment_q), np.array(segment_t), dq_start, velocity, acceleration
            )
            if trajectory is not None:
                stages.append(ArmStage(trajectory))
            if action is not GripperAction.HOLD:
                stages.append(GripperStage(action, float(plan.gripper_width_m[index])))
            segment_q, segment_t, dq_start = [q_path[index]], [float(plan.times_s[index])], np.zeros(7)
        return CompiledPlan(plan_id, plan, q_path, tuple(stages))

    def _time_segment(
        self,
        q: np.ndarray,
        t: np.ndarray,
        dq_start: np.ndarray,
        velocity: np.ndarray,
        acceleration: np.ndarray,
    ) -> JointTrajectory | None:
        if np.abs(q - q[0]).max() < MIN_MOTION_RAD and np.abs(dq_start).max() < MIN_MOTION_RAD:
            return None
        trajectory = time_parameterize(q, np.diff(t), velocity, acceleration, dq_start_rad_s=dq_start)
        self.envelope.check_joint_trajectory(trajectory, self.kinematics)
        return trajectory


@dataclass
class _Execution:
    compiled: CompiledPlan
    index: int = 0
    started: bool = False
    started_s: float = 0.0
    motion_end_s: float | None = None


StateCallback = Callable[[RobotState], None]
EventCallback = Callable[[PlanEvent], None]
StatusCallback = Callable[[StatusLevel, str], None]
TrajectoryCallback = Callable[[JointTrajectory], None]


def _ignore(*_: object) -> None:
    return None


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """A callback whose exceptions are logged, never raised into the robot thread."""

    def call(*args: object) -> None:
        try:
            callback(*args)
        except Exception:
            logger.exception("a controller callback failed")

    return call


class Controller:
    """Runs a robot from one worker thread (see the module docstring)."""

    def __init__(
        self,
        robot: RobotInterface,
        compiler: PlanCompiler,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        on_state: StateCallback = _ignore,
        on_event: EventCallback = _ignore,
        on_status: StatusCallback = _ignore,
        on_trajectory: TrajectoryCallback = _ignore,
    ) -> None:
        self.robot = robot
        self.compiler = compiler
        self.config = compiler.config
        self._clock_ns = clock_ns
        self._on_state, self._on_event, self._on_status, self._on_trajectory = (
            on_state,
            on_event,
            on_status,
            on_trajectory,
        )
        self._lock = threading.Lock()
        self._state: RobotState | None = None
        self._pending: CompiledPlan | None = None
        self._current: _Execution | None = None
        self._estop_reason: str | None = None
        self._estop_new = False
        self._reset_request: threading.Event | None = None
        self._reset_result: tuple[bool, str] = (False, "")
        self._next_id = 1
        self._recoveries = 0
        self._last_connect_s = -np.inf
        self._last_state_s = -np.inf
        self._status: tuple[StatusLevel, str] = (StatusLevel.WARN, "starting")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracegen-robot", daemon=True)

    # --- public API (any thread) ---------------------------------------------------------------

    def start(self) -> Controller:
        self._thread.start()
        return self

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop the arm if it moves, end the worker, close the robot."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        try:
            if self.robot.connected and self._current is not None:
                self.robot.stop()
        finally:
            self.robot.close()

    @property
    def state(self) -> RobotState | None:
        with self._lock:
            return self._state

    @property
    def status(self) -> tuple[StatusLevel, str]:
        with self._lock:
            return self._status

    @property
    def estop_active(self) -> bool:
        with self._lock:
            return self._estop_reason is not None

    def submit(self, plan: EndEffectorPlan) -> PlanEvent:
        """Compile and queue a plan; returns its ACCEPTED or REFUSED event (also sent to on_event)."""
        plan_id = self._new_id()
        with self._lock:
            state, estop = self._state, self._estop_reason
        refusal = self._refusal(plan, state, estop)
        if refusal is not None:
            return self._emit(PlanEvent(plan_id, PlanState.REFUSED, refusal, plan.stamp_ns))
        try:
            limits = self.robot.dynamic_limits()
        except Exception:  # advisory: the envelope's limits apply regardless
            limits = None
        try:
            compiled = self.compiler.compile(plan, plan_id, state, limits)
        except (SafetyViolationError, UnreachableError, InputError) as exc:
            return self._emit(PlanEvent(plan_id, PlanState.REFUSED, str(exc), plan.stamp_ns))
        # Announce it before the worker can see it, so a plan's events arrive in order.
        event = self._emit(PlanEvent(plan_id, PlanState.ACCEPTED, self._describe(compiled), plan.stamp_ns))
        replaced: CompiledPlan | None = None
        with self._lock:
            estop = self._estop_reason
            if estop is None:
                replaced, self._pending = self._pending, compiled
        if estop is not None:
            self._event(compiled, PlanState.STOPPED, f"e-stop: {estop}")
        elif replaced is not None:
            self._event(replaced, PlanState.STOPPED, f"replaced by plan {plan_id} before it started")
        return event

    def submit_target(self, pose: np.ndarray, *, stamp_ns: int) -> PlanEvent:
        """One Cartesian target, timed by the controller's target speeds from the current TCP pose."""
        state = self.state
        if state is None:
            return self._emit(PlanEvent(self._new_id(), PlanState.REFUSED, self._no_state_reason(), stamp_ns))
        try:
            plan = self.compiler.single_target_plan(pose, state, stamp_ns=stamp_ns)
        except (SafetyViolationError, InputError) as exc:
            return self._emit(PlanEvent(self._new_id(), PlanState.REFUSED, str(exc), stamp_ns))
        return self.submit(plan)

    def estop(self, reason: str) -> None:
        """Stop the arm now and refuse plans until :meth:`reset_estop` (idempotent)."""
        with self._lock:
            if self._estop_reason is None:
                self._estop_reason = reason or "e-stop"
                self._estop_new = True

    def reset_estop(self, timeout_s: float = 5.0) -> tuple[bool, str]:
        """Release the e-stop and, if the robot reports errors, run its error recovery (on request)."""
        request = threading.Event()
        with self._lock:
            self._reset_request = request
        if not request.wait(timeout_s):
            return False, f"the controller did not answer within {timeout_s} s"
        with self._lock:
            return self._reset_result

    # --- worker ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._tick()
            except Exception as exc:
                self._fail_current(f"internal error: {type(exc).__name__}: {exc}")
                self._set_status(StatusLevel.ERROR, f"internal error: {exc}")
                with contextlib.suppress(Exception):  # stopping is best effort here
                    self.robot.stop()
            self._stop.wait(max(0.0, self.config.loop_period_s - (time.monotonic() - started)))

    def _tick(self) -> None:
        self._serve_reset()
        if not self.robot.connected:
            self._try_connect()
            return
        try:
            state = self.robot.read_state()
        except RobotUnavailableError as exc:
            self._connection_lost(str(exc))
            return
        with self._lock:
            self._state = state
        now = time.monotonic()
        if now - self._last_state_s >= self.config.state_period_s:
            self._last_state_s = now
            self._on_state(state)
        try:
            self._step(state)
        except RobotUnavailableError as exc:
            self._connection_lost(str(exc))
        except (RobotMotionError, GripperError) as exc:
            self._robot_failed(exc)

    def _step(self, state: RobotState) -> None:
        with self._lock:
            estop_new, self._estop_new = self._estop_new, False
            estop_reason = self._estop_reason
            pending, self._pending = self._pending, None
        if estop_new:
            self.robot.stop()
            self._finish_current(PlanState.STOPPED, f"e-stop: {estop_reason}")
            if pending is not None:
                self._event(pending, PlanState.STOPPED, f"e-stop: {estop_reason}")
            self._set_status(
                StatusLevel.ERROR, f"e-stop active ({estop_reason}): call the reset_estop service"
            )
            return
        if estop_reason is not None:
            if pending is not None:
                self._event(pending, PlanState.STOPPED, f"e-stop: {estop_reason}")
            self.robot.motion_finished()  # let the stop motion end (raises its errors)
            return
        if pending is not None:
            self._finish_current(PlanState.STOPPED, f"replaced by plan {pending.plan_id}")
            self._current = _Execution(pending)
        execution = self._current
        if execution is None:
            self.robot.motion_finished()  # a stop motion may still run; raises its errors
            return
        age_s = (self._clock_ns() - execution.compiled.plan.stamp_ns) / 1e9
        if age_s > self.config.stale_plan_timeout_s:
            self.robot.stop()
            self._finish_current(
                PlanState.STOPPED,
                f"stale plan: its observation is {age_s:.2f} s old (stale_plan_timeout_s "
                f"{self.config.stale_plan_timeout_s:g}); stopped the arm",
            )
            self._set_status(StatusLevel.WARN, "stopped a stale plan; waiting for a fresh one")
            return
        self._advance(execution, state)

    def _advance(self, execution: _Execution, state: RobotState) -> None:
        stages = execution.compiled.stages
        if not stages:
            self._finish_current(PlanState.DONE, "nothing to do: the robot is already there")
            return
        stage = stages[execution.index]
        now = time.monotonic()
        if not execution.started:
            if isinstance(stage, ArmStage):
                self.robot.execute(stage.trajectory)
                self._on_trajectory(stage.trajectory)
            elif stage.action is GripperAction.OPEN:
                self.robot.gripper_move(stage.width_m, self.config.gripper_speed_m_s)
            else:
                self.robot.gripper_grasp(
                    stage.width_m, self.config.gripper_speed_m_s, self.config.gripper_force_n
                )
            execution.started, execution.started_s, execution.motion_end_s = True, now, None
            if execution.index == 0:
                self._event(execution.compiled, PlanState.EXECUTING, self._describe(execution.compiled))
                self._set_status(StatusLevel.OK, f"executing plan {execution.compiled.plan_id}")
            return
        if isinstance(stage, ArmStage):
            if not self.robot.motion_finished():
                return
            execution.motion_end_s = execution.motion_end_s or now
            error = float(np.abs(state.q_rad - stage.trajectory.q_rad[-1]).max())
            if (
                error > self.config.settle_tolerance_rad
                and now - execution.motion_end_s < self.config.settle_timeout_s
            ):
                return
        else:
            if not self.robot.gripper_finished():
                if now - execution.started_s > self.config.gripper_timeout_s:
                    raise GripperError(f"the gripper did not finish within {self.config.gripper_timeout_s} s")
                return
        execution.index += 1
        execution.started = False
        if execution.index == len(stages):
            self._recoveries = 0
            self._finish_current(
                PlanState.DONE, f"reached the last of {execution.compiled.plan.num_waypoints} waypoints"
            )
            self._set_status(StatusLevel.OK, f"plan {execution.compiled.plan_id} done: waiting for a plan")

    # --- failures ----------------------------------------------------------------------------------

    def _robot_failed(self, exc: RobotMotionError | GripperError) -> None:
        try:
            self.robot.stop()
        except RobotUnavailableError as lost:
            self._connection_lost(str(lost))
            return
        reason = str(exc)
        self._finish_current(PlanState.FAILED, reason)
        if isinstance(exc, GripperError):
            self._set_status(
                StatusLevel.WARN, f"gripper failed: {reason}; the arm is stopped, waiting for a new plan"
            )
            return
        recoverable = isinstance(exc, RobotMotionError) and exc.recoverable
        with self._lock:
            estop = self._estop_reason is not None
        if (
            recoverable
            and self.config.auto_recover
            and not estop
            and self._recoveries < self.config.max_auto_recoveries
        ):
            self._recoveries += 1
            try:
                recovered = self.robot.recover()
            except RobotUnavailableError as lost:
                self._connection_lost(str(lost))
                return
            except RobotMotionError as again:
                recovered, reason = False, f"{reason}; recovery raised {again}"
            if recovered:
                self._set_status(
                    StatusLevel.WARN,
                    f"recovered from: {reason}; the failed plan is not retried, waiting for a new one",
                )
                return
        self._set_status(StatusLevel.ERROR, f"robot error: {reason}; call the reset_estop service to recover")
        self.estop(f"robot error: {reason}")
        with self._lock:
            self._estop_new = False  # already stopped

    def _connection_lost(self, reason: str) -> None:
        self._fail_current(f"connection lost: {reason}")
        self.robot.close()
        self._last_connect_s = time.monotonic()
        self._set_status(
            StatusLevel.ERROR, f"{reason}; reconnecting every {self.config.reconnect_period_s:g} s"
        )

    def _try_connect(self) -> None:
        now = time.monotonic()
        if now - self._last_connect_s < self.config.reconnect_period_s:
            return
        self._last_connect_s = now
        try:
            self.robot.connect()
            has_errors = self.robot.has_errors()
        except RobotUnavailableError as exc:
            self._set_status(
                StatusLevel.WARN,
                f"waiting for the robot: {exc} (retrying every {self.config.reconnect_period_s:g} s)",
            )
            return
        if has_errors:
            self._set_status(
                StatusLevel.ERROR,
                f"connected to {self.robot.description}, which reports errors: call "
                "the reset_estop service to recover",
            )
            self.estop("the robot reported errors at connection")
            with self._lock:
                self._estop_new = False
            return
        self._set_status(StatusLevel.OK, f"connected to {self.robot.description}: waiting for a plan")

    def _serve_reset(self) -> None:
        with self._lock:
            request, self._reset_request = self._reset_request, None
        if request is None:
            return
        result: tuple[bool, str]
        try:
            if self.robot.connected and self.robot.has_errors():
                recovered = self.robot.recover()
                result = (
                    recovered,
                    "e-stop released; "
                    + ("recovered from robot errors" if recovered else "the robot's error recovery failed"),
                )
            else:
                recovered = True
                result = (True, "e-stop released")
        except (RobotUnavailableError, RobotMotionError) as exc:
            recovered, result = False, (False, f"e-stop kept: error recovery failed: {exc}")
        with self._lock:
            if recovered:
                self._estop_reason, self._estop_new = None, False
                self._recoveries = 0
            self._reset_result = result
        if recovered:
            connected = self.robot.connected
            self._set_status(
                StatusLevel.OK if connected else StatusLevel.WARN,
                "e-stop released: waiting for a plan" if connected else "e-stop released; no robot yet",
            )
        request.set()

    # --- helpers -----------------------------------------------------------------------------------

    def _no_state_reason(self) -> str:
        _, message = self.status
        return f"the robot is not connected ({message})"

    def _refusal(self, plan: EndEffectorPlan, state: RobotState | None, estop: str | None) -> str | None:
        """Why a plan cannot even be compiled now, or None."""
        if estop is not None:
            return f"e-stop active ({estop}): call the reset_estop service"
        if state is None or not self.robot.connected:
            return self._no_state_reason()
        age_s = (self._clock_ns() - plan.stamp_ns) / 1e9
        if age_s > self.config.stale_plan_timeout_s:
            return (
                f"stale plan: its observation is {age_s:.2f} s old "
                f"(stale_plan_timeout_s {self.config.stale_plan_timeout_s:g})"
            )
        if age_s < -MAX_FUTURE_STAMP_S:
            return (
                f"plan stamped {-age_s:.2f} s in the future: are the clocks of the camera PC and this PC "
                "synchronised?"
            )
        return None

    def _new_id(self) -> int:
        with self._lock:
            plan_id, self._next_id = self._next_id, self._next_id + 1
        return plan_id

    def _emit(self, event: PlanEvent) -> PlanEvent:
        self._on_event(event)
        return event

    @staticmethod
    def _describe(compiled: CompiledPlan) -> str:
        arm = [s for s in compiled.stages if isinstance(s, ArmStage)]
        gripper = len(compiled.stages) - len(arm)
        duration = sum(s.trajectory.duration_s for s in arm)
        return (
            f"{compiled.plan.num_waypoints} waypoints, {len(arm)} arm segment(s) taking {duration:.2f} s, "
            f"{gripper} gripper action(s)"
        )

    def _event(self, compiled: CompiledPlan, state: PlanState, reason: str) -> None:
        self._on_event(PlanEvent(compiled.plan_id, state, reason, compiled.plan.stamp_ns))

    def _finish_current(self, state: PlanState, reason: str) -> None:
        execution, self._current = self._current, None
        if execution is not None:
            self._event(execution.compiled, state, reason)

    def _fail_current(self, reason: str) -> None:
        self._finish_current(PlanState.FAILED, reason)

    def _set_status(self, level: StatusLevel, message: str) -> None:
        with self._lock:
            changed = self._status != (level, message)
            self._status = (level, message)
        if changed:
            self._on_status(level, message)
