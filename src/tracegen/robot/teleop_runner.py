"""The teleoperation worker (ROS-free): operator commands in, franky velocity motions out.

:class:`TeleopRunner` owns the robot (a :class:`~tracegen.robot.franky_teleop.FrankyTeleopRobot`,
normally wrapped in :class:`~tracegen.robot.ownership.OwnedRobot`) and drives it from one thread.
The thread wakes at once when a twist arrives (so the command-to-motion latency is a thread
wake-up plus the limiter) and otherwise every ``loop_period_s``:

- connects, and retries every ``reconnect_period_s`` (refused while another node owns the arm);
- reads the state and reports it (``on_state``, every ``state_period_s``);
- ``teleop`` mode: limits the newest twist (:class:`~tracegen.robot.teleop.TwistLimiter`, with
  the current joint state, every tick so the workspace and joint-limit slow-downs follow the
  arm) and sends it as a velocity motion held for the deadman time; once no twist arrived for
  ``deadman_timeout_s`` it sends a stop motion (smooth deceleration) and reports it;
- ``kinesthetic`` mode: puts the arm in hand-guiding mode and commands nothing (twists are
  refused with a log); the state is still reported, so the recorder records what the person does;
- gripper: close (grasp) / open requests, one at a time;
- e-stop: stops at once and refuses commands until :meth:`reset_estop`; a robot error (reflex,
  lost connection) stops too and engages the e-stop: recovery only on request.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from tracegen.errors import InputError
from tracegen.robot.controller import StatusLevel
from tracegen.robot.errors import GripperError, RobotMotionError, RobotUnavailableError, SafetyViolationError
from tracegen.robot.interface import RobotState
from tracegen.robot.teleop import Deadman, TwistCommand, TwistLimiter, VelocityCommand, ee_linear_velocity


class TeleopMode(str, Enum):
    TELEOP = "teleop"
    KINESTHETIC = "kinesthetic"


@dataclass(frozen=True)
class RunnerConfig:
    mode: TeleopMode = TeleopMode.TELEOP
    loop_period_s: float = 0.01
    state_period_s: float = 0.02
    reconnect_period_s: float = 2.0
    gripper_speed_m_s: float = 0.05
    gripper_force_n: float = 20.0
    gripper_open_width_m: float = 0.08
    guiding_free_axes: tuple[bool, ...] = (True,) * 6
    guiding_elbow: bool = True
    #: Send franky's set_guiding_mode at connection (False: leave hand-guiding as configured in
    #: Desk; franky-sim does not implement the command).
    guiding_set_mode: bool = True
    #: How long to wait for the robot to confirm the guiding mode, seconds.
    guiding_timeout_s: float = 3.0


@dataclass(frozen=True)
class IssuedCommand:
    """A velocity motion as it was sent: the twist it answers, the velocity, when (monotonic, ns)."""

    source: TwistCommand
    velocity: VelocityCommand
    issued_ns: int


StateCallback = Callable[[RobotState, np.ndarray], None]
CommandCallback = Callable[[IssuedCommand], None]
StatusCallback = Callable[[StatusLevel, str], None]
NoteCallback = Callable[[str], None]


def _ignore(*_: object) -> None:
    return None


class TeleopRunner:
    """Drives the robot from operator commands (see the module docstring)."""

    def __init__(
        self,
        robot,
        limiter: TwistLimiter,
        config: RunnerConfig | None = None,
        *,
        on_state: StateCallback = _ignore,
        on_command: CommandCallback = _ignore,
        on_status: StatusCallback = _ignore,
        on_note: NoteCallback = _ignore,
    ) -> None:
        self.robot = robot
        self.limiter = limiter
        self.config = config or RunnerConfig()
        self.deadman = Deadman(limiter.settings.deadman_timeout_s)
        self._on_state, self._on_command, self._on_status = on_state, on_command, on_status
        self._on_note = on_note
        self._lock = threading.Lock()
        self._status: tuple[StatusLevel, str] = (StatusLevel.WARN, "starting")
        self._estop_reason: str | None = None
        self._estop_new = False
        self._reset_request: threading.Event | None = None
        self._reset_result: tuple[bool, str] = (False, "")
        self._gripper_request: bool | None = None
        self._moving = False
        self._guiding_failed = False
        self._last_note = ""
        self._last_connect_s = -np.inf
        self._last_state_s = -np.inf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracegen-teleop", daemon=True)

    # --- public API (any thread) ---------------------------------------------------------------

    def start(self) -> TeleopRunner:
        self._thread.start()
        return self

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Stop the worker, then the arm, then close the robot (each bounded by ``timeout_s``)."""
        self._stop.set()
        self.deadman.put(TwistCommand((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)), -np.inf)  # wake the worker
        if self._thread.is_alive():
            self._thread.join(timeout_s)

        def stop_and_close() -> None:
            try:
                if self.robot.connected:
                    self.robot.stop()
                    # A gripper action still running when franky's Gripper is destroyed crashed
                    # the process (franky-sim); let it end first (bounded by the join below).
                    while not self._gripper_done():
                        time.sleep(0.05)
            except Exception as exc:
                self._set_status(StatusLevel.ERROR, f"stopping the arm at shutdown failed: {exc}")
            finally:
                self.robot.close()

        # A robot call that never returns (a dead connection) must not keep the process alive;
        # the lease is released by the kernel when the process ends anyway.
        closer = threading.Thread(target=stop_and_close, name="tracegen-teleop-close", daemon=True)
        closer.start()
        closer.join(timeout_s)

    @property
    def status(self) -> tuple[StatusLevel, str]:
        with self._lock:
            return self._status

    @property
    def estop_active(self) -> bool:
        with self._lock:
            return self._estop_reason is not None

    def submit_twist(self, command: TwistCommand) -> str | None:
        """Queue an operator twist; returns why it is refused right away, or None."""
        if self.config.mode is TeleopMode.KINESTHETIC:
            return "kinesthetic mode: the arm is moved by hand, twists are ignored"
        with self._lock:
            estop = self._estop_reason
        if estop is not None:
            return f"e-stop active ({estop}): call the reset_estop service"
        self.deadman.put(command, time.monotonic())
        return None

    def submit_gripper(self, close: bool) -> None:
        with self._lock:
            self._gripper_request = bool(close)

    def estop(self, reason: str) -> None:
        with self._lock:
            if self._estop_reason is None:
                self._estop_reason, self._estop_new = reason or "e-stop", True
        self.deadman.clear()
        self.deadman.put(TwistCommand((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)), -np.inf)  # wake the worker

    def reset_estop(self, timeout_s: float = 5.0) -> tuple[bool, str]:
        request = threading.Event()
        with self._lock:
            self._reset_request = request
        if not request.wait(timeout_s):
            return False, f"the teleop worker did not answer within {timeout_s} s"
        with self._lock:
            return self._reset_result

    # --- worker ------------------------------------------------------------------------------------

    def _run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:
                self._set_status(StatusLevel.ERROR, f"internal error: {type(exc).__name__}: {exc}")
                with contextlib.suppress(Exception):
                    self.robot.stop()
                self._moving = False
                time.sleep(self.config.loop_period_s)
            seen = self.deadman.wait(seen, self.config.loop_period_s)

    def _tick(self) -> None:
        self._serve_reset()
        if not self.robot.connected:
            self._try_connect()
            return
        try:
            state = self.robot.read_state()
            now = time.monotonic()
            if now - self._last_state_s >= self.config.state_period_s:
                self._last_state_s = now
                self._on_state(state, self.limiter.kinematics.tcp_jacobian(state.q_rad) @ state.dq_rad_s)
            self._step(state)
        except RobotUnavailableError as exc:
            self._moving = False
            self.robot.close()
            self._last_connect_s = time.monotonic()
            self._set_status(
                StatusLevel.ERROR, f"{exc}; reconnecting every {self.config.reconnect_period_s:g} s"
            )
        except RobotMotionError as exc:
            with contextlib.suppress(RobotUnavailableError):
                self.robot.stop()
            self._moving = False
            self.estop(f"robot error: {exc}")
            with self._lock:
                self._estop_new = False
            self._set_status(StatusLevel.ERROR, f"robot error: {exc}; call reset_estop to recover")

    def _step(self, state: RobotState) -> None:
        with self._lock:
            estop_new, self._estop_new = self._estop_new, False
            estop_reason = self._estop_reason
            gripper, self._gripper_request = self._gripper_request, None
        if estop_new:
            self.robot.stop()
            self._moving = False
            self._set_status(StatusLevel.ERROR, f"e-stop active ({estop_reason}): call reset_estop")
            return
        if estop_reason is not None:
            return
        self._serve_gripper(gripper)
        if self.config.mode is TeleopMode.KINESTHETIC:
            return
        if self._moving:
            self.robot.poll_error()
        now = time.monotonic()
        command, fresh = self.deadman.take(now)
        if command is None:
            if self._moving:
                self.robot.stop()
                self._moving = False
                age_ms = self.deadman.age_s(now) * 1000
                self._set_status(
                    StatusLevel.OK,
                    f"deadman: no twist for {min(age_ms, 1e6):.0f} ms "
                    f"(deadman_timeout {self.deadman.timeout_s * 1000:.0f} ms): stopped the arm; "
                    "waiting for twists",
                )
            return
        try:
            velocity = self.limiter.limit(command, state.q_rad)
        except (SafetyViolationError, InputError) as exc:
            self.deadman.clear()
            if self._moving:
                self.robot.stop()
                self._moving = False
            self._set_status(StatusLevel.WARN, f"refused a twist: {exc}; the arm is stopped")
            return
        tcp = self.limiter.kinematics.fk(state.q_rad)[:3, 3]
        ee = state.T_base_ee_reported[:3, 3] if state.T_base_ee_reported is not None else tcp
        linear_ee = ee_linear_velocity(velocity.linear_m_s, velocity.angular_rad_s, tcp, ee)
        self.robot.move_velocity(linear_ee, velocity.angular_rad_s, self.deadman.timeout_s)
        issued_ns = time.monotonic_ns()
        self._moving = True
        note = "; ".join(velocity.notes)
        if note != self._last_note:
            self._last_note = note
            if note:
                self._on_note(f"twist limited: {note}")
        if fresh:
            self._on_command(IssuedCommand(command, velocity, issued_ns))
        if not self.status[1].startswith("teleoperating"):
            self._set_status(StatusLevel.OK, "teleoperating")

    def _gripper_done(self) -> bool:
        try:
            return self.robot.gripper_finished()
        except GripperError:
            return True

    def _serve_gripper(self, close: bool | None) -> None:
        try:
            self.robot.gripper_finished()
        except GripperError as exc:
            self._set_status(StatusLevel.WARN, f"gripper: {exc}")
        if close is None:
            return
        try:
            if close:
                self.robot.gripper_grasp(0.0, self.config.gripper_speed_m_s, self.config.gripper_force_n)
            else:
                self.robot.gripper_move(self.config.gripper_open_width_m, self.config.gripper_speed_m_s)
        except GripperError as exc:
            self._set_status(StatusLevel.WARN, f"gripper {'close' if close else 'open'} refused: {exc}")

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
            self.estop("the robot reported errors at connection")
            with self._lock:
                self._estop_new = False
            self._set_status(StatusLevel.ERROR, "the robot reports errors: call reset_estop to recover")
            return
        if self.config.mode is TeleopMode.KINESTHETIC:
            if self.config.guiding_set_mode and not self._guiding_failed:
                problem = self._set_guiding()
                if problem:
                    self._guiding_failed = True
                    self._set_status(
                        StatusLevel.ERROR,
                        f"could not set the guiding mode: {problem}; set guiding.set_mode false and "
                        "enable hand-guiding in Desk (README, Teleoperation)",
                    )
                    return
            self._set_status(
                StatusLevel.OK,
                f"kinesthetic mode on {self.robot.description}: the node commands nothing; press the "
                "guiding buttons at the flange and move the arm by hand; its state is published",
            )
            return
        self._set_status(StatusLevel.OK, f"connected to {self.robot.description}: waiting for twists")

    def _set_guiding(self) -> str:
        """franky's set_guiding_mode with a timeout (an unanswered command would block forever)."""
        result: list[str] = []

        def call() -> None:
            try:
                self.robot.set_guiding(self.config.guiding_free_axes, self.config.guiding_elbow)
                result.append("")
            except (RobotMotionError, RobotUnavailableError) as exc:
                result.append(str(exc))

        thread = threading.Thread(target=call, name="tracegen-guiding", daemon=True)
        thread.start()
        thread.join(self.config.guiding_timeout_s)
        if not result:
            return f"the robot did not answer within {self.config.guiding_timeout_s:g} s"
        return result[0]

    def _serve_reset(self) -> None:
        with self._lock:
            request, self._reset_request = self._reset_request, None
        if request is None:
            return
        try:
            recovered = True
            if self.robot.connected and self.robot.has_errors():
                recovered = self.robot.recover()
            result = (recovered, "e-stop released" if recovered else "the robot's error recovery failed")
        except (RobotUnavailableError, RobotMotionError) as exc:
            recovered, result = False, f"e-stop kept: error recovery failed: {exc}"
            result = (False, result)
        with self._lock:
            if recovered:
                self._estop_reason, self._estop_new = None, False
            self._reset_result = result
        self.deadman.clear()
        if recovered:
            self._set_status(StatusLevel.OK, "e-stop released: waiting for twists")
        request.set()

    def _set_status(self, level: StatusLevel, message: str) -> None:
        with self._lock:
            changed = self._status != (level, message)
            self._status = (level, message)
        if changed:
            self._on_status(level, message)
