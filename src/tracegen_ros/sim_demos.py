"""Scripted expert demonstrations in the simulated world, executed and recorded like teleoperation.

The stand-in for teleoperated demos (issue 5): ``sim_camera_node`` (the world and its camera),
``ik_controller_node`` (robot_ip = the simulator's loopback address) and ``demo_recorder_node``
run as child processes, started from the node graph with :mod:`tracegen_ros.bringup`'s
supervisor. Per episode this runner resets the world, starts the recorder, asks the world's
expert service for the next segment (privileged state stays in the simulator), sends each
segment to the IK controller as ``EndEffectorPlan`` messages and waits for their
``plan_status``, and finally stops the recorder (complete) or aborts it (the expert failed;
the bag lands in ``aborted/``, kept apart). Nothing here moves the arm but the IK controller.

Frames: base frame ``fr3_link0``; the top-down gripper's orientation is
``Rz(yaw) @ diag(1, -1, -1)`` (fingers open along the world y axis at yaw 0).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from tracegen.errors import InputError, TracegenError
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen.sim.loopback import free_loopback_address
from tracegen.sim.tasks import make_task
from tracegen.sim.tasks.base import GRIPPER_OPEN_M, ExpertWaypoint

#: Sub-waypoint spacing when a segment is interpolated (the IK controller refuses large joint
#: steps between successive waypoints).
STEP_M = 0.02
STEP_RAD = 0.2
#: Slowest rotation of the gripper about z, rad/s (under the safety envelope's 1 rad/s).
YAW_SPEED_RAD_S = 0.5
#: TCP speed cap, m/s: below the safety envelope's 0.25 m/s, which a plan exactly at it can
#: exceed by rounding (and is then refused).
MAX_TCP_SPEED_M_S = 0.2
MIN_SEGMENT_S = 0.5
#: A gripper width below this closes (grasp); above it the fingers open to the width.
CLOSE_BELOW_M = 0.01
TERMINAL_STATES = {"DONE", "REFUSED", "STOPPED", "FAILED"}


class SimDemoError(TracegenError):
    """The simulated stack did not come up or stopped answering."""


@dataclass(frozen=True)
class SimDemoConfig:
    """What ``tracegen sim-demos`` records.

    Attributes:
        task: block, ball, brush or clothes.
        episodes: how many episodes (seeds ``seed + 1 .. seed + episodes``: each starts with a reset).
        out_dir: the recorder's output directory (complete bags; aborted ones under aborted/).
        seed: base seed.
        robot_ip: loopback address of the simulated arm (empty: a free 127.x.y.z).
        fps: camera rate requested from the simulator.
        max_segments: expert segments per episode before it counts as failed.
        plan_timeout_s: wall-clock limit for one plan (the simulator slows down on a busy CPU).
        settle_s: wait after the last segment before the success check (objects come to rest).
    """

    task: str
    episodes: int
    out_dir: Path
    seed: int = 0
    robot_ip: str = ""
    fps: float = 10.0
    max_segments: int = 6
    plan_timeout_s: float = 900.0
    settle_s: float = 1.0
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        make_task(self.task)  # raises InputError naming the known tasks
        if self.episodes < 1:
            raise InputError(f"--episodes is {self.episodes}: record at least one episode")
        if self.robot_ip and not self.robot_ip.startswith("127."):
            raise InputError(f"--robot-ip is {self.robot_ip}: the simulated arm needs a loopback 127.x.y.z")


@dataclass
class EpisodeResult:
    episode: int
    seed: int
    success: bool
    bag: str
    aborted: bool
    segments: int
    duration_s: float
    message: str = ""
    success_at_reset: bool = False


# --- expert segments -> plans -----------------------------------------------------------------


def gripper_rotation(yaw_rad: float) -> np.ndarray:
    """The top-down gripper's orientation in the base frame."""
    return Rotation.from_euler("z", yaw_rad).as_matrix() @ np.diag([1.0, -1.0, -1.0])


def wrap_symmetric_yaw(yaw_rad: float) -> float:
    """The parallel gripper looks the same turned by pi: keep yaw in (-pi/2, pi/2] (wrist limits)."""
    yaw = math.remainder(yaw_rad, math.pi)
    return math.pi / 2 if yaw <= -math.pi / 2 else yaw


def waypoint_plan(
    waypoint: ExpertWaypoint,
    start_position_m: np.ndarray,
    start_yaw_rad: float,
    previous_width_m: float,
    stamp_ns: int,
) -> EndEffectorPlan:
    """One expert waypoint as a plan: a straight, evenly timed path, then the gripper action.

    The path is interpolated every :data:`STEP_M` / :data:`STEP_RAD` so successive IK solutions
    stay close; it is timed by the waypoint's speed limit (and :data:`YAW_SPEED_RAD_S`).
    """
    target = np.asarray(waypoint.position_m, dtype=np.float64)
    yaw = wrap_symmetric_yaw(waypoint.yaw_rad)
    distance = float(np.linalg.norm(target - start_position_m))
    turn = abs(yaw - start_yaw_rad)
    steps = max(1, math.ceil(distance / STEP_M), math.ceil(turn / STEP_RAD))
    speed = min(waypoint.max_speed_m_s, MAX_TCP_SPEED_M_S)
    duration = max(distance / speed, turn / YAW_SPEED_RAD_S, MIN_SEGMENT_S)
    fractions = np.arange(1, steps + 1) / steps
    poses = np.repeat(np.eye(4)[None], steps, axis=0)
    for i, f in enumerate(fractions):
        poses[i, :3, :3] = gripper_rotation(start_yaw_rad + f * (yaw - start_yaw_rad))
        poses[i, :3, 3] = start_position_m + f * (target - start_position_m)
    gripper = np.full(steps, GripperAction.HOLD, dtype=np.uint8)
    width = np.zeros(steps)
    if abs(waypoint.gripper_width_m - previous_width_m) > 1e-3:
        closing = waypoint.gripper_width_m < CLOSE_BELOW_M
        gripper[-1] = GripperAction.CLOSE if closing else GripperAction.OPEN
        width[-1] = 0.0 if closing else waypoint.gripper_width_m
    return EndEffectorPlan(poses, fractions * duration, gripper, width, stamp_ns=stamp_ns)


# --- the ROS side ----------------------------------------------------------------------------


class PlanStatusWatcher:
    """Collects ik_controller_node's plan_status messages by plan stamp."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._by_stamp: dict[int, list[tuple[str, str]]] = {}

    def add(self, msg: Any) -> None:
        names = {0: "ACCEPTED", 1: "EXECUTING", 2: "DONE", 3: "REFUSED", 4: "STOPPED", 5: "FAILED"}
        with self._condition:
            self._by_stamp.setdefault(int(msg.plan_stamp_ns), []).append(
                (names.get(msg.state, "?"), msg.reason)
            )
            self._condition.notify_all()

    def wait_final(self, stamp_ns: int, timeout_s: float) -> tuple[str, str]:
        def final():
            return next((s for s in self._by_stamp.get(stamp_ns, []) if s[0] in TERMINAL_STATES), None)

        with self._condition:
            self._condition.wait_for(lambda: final() is not None, timeout_s)
            return final() or ("TIMEOUT", f"no final plan_status within {timeout_s:g} s")


class SimDemoRunner:
    """The three nodes as child processes plus this process's rclpy client node."""

    def __init__(self, config: SimDemoConfig, echo: Callable[[str], None] = print) -> None:
        self.config = config
        self.echo = echo
        self.task = make_task(config.task)
        self.robot_ip = config.robot_ip or free_loopback_address()
        self._supervisor = None
        self._context = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout_s: float = 180.0) -> SimDemoRunner:
        from tracegen.runtime_env import ros_environment
        from tracegen_ros.bringup import Supervisor, make_work_dir, prepare_commands

        nodes = self._resolved_nodes()
        work_dir = make_work_dir()
        children = prepare_commands(nodes, work_dir)
        quiet = self.config.log_dir is not None
        self._supervisor = Supervisor(
            children,
            ros_environment(),
            echo=(lambda _line: None) if quiet else self.echo,
            log_dir=self.config.log_dir,
        )
        try:
            self._supervisor.start()
            self._start_client()
            self._wait_ready(timeout_s)
        except BaseException:
            self.close()  # the nodes started so far must not outlive a failed start
            raise
        return self

    def _resolved_nodes(self) -> list:
        from tracegen_ros.graph import ResolvedNode, argument_values, resolve, tracegen_graph

        graph = tracegen_graph().select(["camera", "ik_controller_node", "demo_recorder"])
        values = argument_values(
            graph, {"use_sim": "true", "robot_ip": self.robot_ip, "record_demos": "true"}
        )
        extra = {
            "sim_camera_node": {
                "task": self.task.name,
                "seed": int(self.config.seed),
                "fps": float(self.config.fps),
            },
            # Plans are stamped when sent; the simulator may run slower than real time.
            "ik_controller_node": {"stale_plan_timeout_s": 3600.0},
            "demo_recorder_node": {
                "output_dir": str(Path(self.config.out_dir).expanduser().resolve()),
                "task": self.task.name,
                "instruction": self.task.instructions[0],
                "instruction_variants": list(self.task.instructions[1:]),
            },
        }
        return [
            ResolvedNode(
                n.spec, n.params_file, {**n.parameters, **extra.get(n.spec.executable, {})}, n.arguments
            )
            for n in resolve(graph, values)
        ]

    def _start_client(self) -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        from std_srvs.srv import Trigger

        from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
        from tracegen.msg import PlanStatus
        from tracegen_ros.qos import COMMAND_QOS
        from tracegen_ros.sim_episode import SimEpisodeClient

        self._context = Context()
        # Ctrl-C must raise KeyboardInterrupt in the waiting main thread (rclpy's own handler
        # would only shut the context down and leave it waiting on a plan).
        rclpy.init(context=self._context, signal_handler_options=SignalHandlerOptions.NO)
        self._node = rclpy.create_node("sim_demos", context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()
        self.client = SimEpisodeClient(self._node)
        self._plans = self._node.create_publisher(EndEffectorPlanMsg, "/tracegen/ee_plan", COMMAND_QOS)
        self._status = PlanStatusWatcher()
        self._node.create_subscription(PlanStatus, "/tracegen/plan_status", self._status.add, COMMAND_QOS)
        self._tcp_seen = threading.Event()
        from geometry_msgs.msg import PoseStamped

        self._node.create_subscription(
            PoseStamped, "/tracegen/tcp_pose", lambda _m: self._tcp_seen.set(), COMMAND_QOS
        )
        self._recorder = {
            name: self._node.create_client(Trigger, f"/tracegen/demo_recorder/{name}")
            for name in ("start", "stop", "abort")
        }
        self._estop = {
            name: self._node.create_client(Trigger, f"/tracegen/{name}") for name in ("estop", "reset_estop")
        }
        self._trigger = Trigger

    def _check_children(self) -> None:
        for child in self._supervisor.children:
            code = child.process.poll() if child.process is not None else None
            if code is not None:
                raise SimDemoError(
                    f"{child.name} exited with status {code} while recording sim demos"
                    + (f" (see {self.config.log_dir}/{child.name}.log)" if self.config.log_dir else "")
                )

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self._tcp_seen.is_set() or self.client.state is None:
            self._check_children()
            if time.monotonic() > deadline:
                raise SimDemoError(
                    f"the simulated stack was not ready after {timeout_s:g} s (task state: "
                    f"{self.client.state is not None}, IK controller connected: {self._tcp_seen.is_set()})"
                )
            time.sleep(0.2)
        for name, client in self._recorder.items():
            if not client.wait_for_service(timeout_sec=max(deadline - time.monotonic(), 1.0)):
                raise SimDemoError(f"the demo recorder's {name} service did not appear")
        self.echo(f"simulated {self.task.name} stack ready (arm at {self.robot_ip})")

    def close(self) -> None:
        if self._context is not None:
            import rclpy

            self._executor.shutdown()
            self._node.destroy_node()
            rclpy.try_shutdown(context=self._context)
            self._thread.join(timeout=5.0)
            self._context = None
        if self._supervisor is not None:
            self._supervisor.stop_all()
            self._supervisor = None

    def __enter__(self) -> SimDemoRunner:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- episodes -----------------------------------------------------------------------------

    def _recorder_call(self, name: str, timeout_s: float = 60.0) -> tuple[bool, str]:
        future = self._recorder[name].call_async(self._trigger.Request())
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout_s):
            raise SimDemoError(f"the demo recorder did not answer {name} within {timeout_s:g} s")
        response = future.result()
        return bool(response.success), str(response.message)

    def stop_arm(self) -> None:
        """Stop a plan that is still running (e-stop, then release it) so the world can be reset."""
        for name in ("estop", "reset_estop"):
            client = self._estop[name]
            if not client.wait_for_service(timeout_sec=30.0):
                raise SimDemoError(f"the IK controller's {name} service is not available")
            future = client.call_async(self._trigger.Request())
            done = threading.Event()
            future.add_done_callback(lambda _f, done=done: done.set())
            if not done.wait(60.0):
                raise SimDemoError(f"the IK controller did not answer {name} within 60 s")
            time.sleep(1.0)

    def reset_world(self, attempts: int = 60) -> Any:
        """Reset, waiting while the arm is still moving (the world refuses meanwhile); after a
        while the running motion is stopped through the IK controller's e-stop."""
        from tracegen_ros.sim_episode import SimEpisodeError

        for attempt in range(attempts):
            try:
                return self.client.reset(timeout_s=60.0)
            except SimEpisodeError as exc:
                if "motion runs" not in str(exc) or attempt == attempts - 1:
                    raise
                if attempt == 10:
                    self.stop_arm()
                time.sleep(2.0)
        raise AssertionError("unreachable")

    def execute(self, waypoint: ExpertWaypoint, start_m: np.ndarray, start_yaw: float, width_m: float) -> str:
        """Send one waypoint's plan and wait for its final status; returns '' or why it failed."""
        from tracegen_ros.robot_msgs import plan_to_msg

        stamp_ns = self._node.get_clock().now().nanoseconds
        plan = waypoint_plan(waypoint, start_m, start_yaw, width_m, stamp_ns)
        self._plans.publish(plan_to_msg(plan))
        state, reason = self._status.wait_final(stamp_ns, self.config.plan_timeout_s)
        return "" if state == "DONE" else f"plan {state}: {reason}"

    def run_episode(self) -> EpisodeResult:
        started = time.monotonic()
        info = self.reset_world()
        at_reset = self.client.wait_for_state(lambda s: s.episode == info.episode, 30.0)
        ok, message = self._recorder_call("start")
        if not ok:
            raise SimDemoError(f"the demo recorder refused to start: {message}")
        position = np.asarray(at_reset.tcp_position_m)
        yaw, width = 0.0, GRIPPER_OPEN_M
        failure, segments = "", 0
        for segments in range(1, self.config.max_segments + 1):
            self._check_children()
            segment = self.client.expert_segment(timeout_s=60.0)
            if not segment:
                segments -= 1
                break
            for waypoint in segment:
                failure = self.execute(waypoint, position, yaw, width)
                if failure:
                    break
                position = np.asarray(waypoint.position_m, dtype=np.float64)
                yaw, width = wrap_symmetric_yaw(waypoint.yaw_rad), waypoint.gripper_width_m
            if failure:
                break
        if failure:
            self.stop_arm()
        time.sleep(self.config.settle_s)
        # A state computed after the settle time (the latest one may be older).
        settled_at = self.client.state.sim_time_s
        final = self.client.wait_for_state(
            lambda s: s.episode == info.episode and s.sim_time_s > settled_at, 30.0
        )
        success = bool(final.success) and not failure
        ok, message = self._recorder_call("stop" if success else "abort")
        aborted = not success or "aborted" in message
        result = EpisodeResult(
            episode=info.episode,
            seed=info.seed,
            success=success,
            bag=_bag_from_message(message),
            aborted=aborted,
            segments=segments,
            duration_s=round(time.monotonic() - started, 2),
            message=failure or ("" if success else "the task's success check is false after the expert"),
            success_at_reset=bool(at_reset.success),
        )
        detail = f"; {result.message}" if result.message else ""
        self.echo(
            f"episode {result.episode} (seed {result.seed}): {'success' if success else 'FAILED'}"
            f" in {result.duration_s:.0f} s, {segments} segment(s){detail}"
        )
        return result


def _bag_from_message(message: str) -> str:
    """The bag path the recorder names in its answer (first token that looks like a path)."""
    for token in message.replace(",", " ").replace(";", " ").split():
        if "/" in token:
            return token.strip("'\"():")
    return message


@dataclass
class SimDemoReport:
    config: dict
    episodes: list[EpisodeResult] = field(default_factory=list)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        data = {
            "config": self.config,
            "successes": self.successes,
            "episodes": [asdict(e) for e in self.episodes],
        }
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(path)
        return path


def run_sim_demos(config: SimDemoConfig, echo: Callable[[str], None] = print) -> SimDemoReport:
    """Record ``config.episodes`` expert episodes; writes ``<out_dir>/sim_demos.json`` as it goes."""
    report = SimDemoReport({k: str(v) for k, v in asdict(config).items()})
    report_path = Path(config.out_dir).expanduser() / "sim_demos.json"
    with SimDemoRunner(config, echo) as runner:
        report.config["robot_ip"] = runner.robot_ip
        for _ in range(config.episodes):
            report.episodes.append(runner.run_episode())
            report.write(report_path)
    return report
