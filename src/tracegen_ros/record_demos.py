"""``tracegen record-demos``: camera + teleop node + demo recorder, and the operator's device.

Starts, as supervised child processes (:mod:`tracegen_ros.bringup`):

- the camera: the node graph's ``camera`` (capture_node on a RealSense or a recording), or with
  ``sim`` the simulated RealSense (sim_camera_node, which also serves franky-sim's FR3 at a
  free loopback address);
- ``teleop_node`` (config/teleop.yaml) on the robot (``mode`` teleop, or kinesthetic:
  hand-guiding while the state is recorded);
- the graph's ``demo_recorder`` writing to ``out_dir`` with the task and instruction.

Then it runs the device loop in this terminal (:mod:`tracegen_ros.teleop_frontend`): keys 1 / 2
/ 3 (or the SpaceMouse's button 1) start, stop and abort episodes through the recorder's
services (``/tracegen/demo_recorder/start|stop|abort``, callable from anywhere too). After each
kept episode it prints the summary read back from the bag (duration, frames, TCP path length);
aborted episodes stay under ``out_dir/aborted/``. Node output goes to ``log_dir``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracegen.errors import InputError, TracegenError
from tracegen.resources import share_dir
from tracegen.sim.loopback import free_loopback_address
from tracegen.teleop_devices import Episode

TELEOP_NODE = "teleop_node"
CAMERA_NODE = "camera"
RECORDER_NODE = "demo_recorder"


class RecordDemosError(TracegenError):
    """The nodes did not come up (the message says which and where its log is)."""


@dataclass(frozen=True)
class RecordDemosConfig:
    task: str
    instruction: str
    out_dir: Path
    sim: bool = False
    robot_ip: str = ""
    recording: str = ""
    camera_serial: str = ""
    mode: str = "teleop"
    log_dir: Path | None = None
    sim_fps: float = 10.0

    def __post_init__(self) -> None:
        if not self.task.strip():
            raise InputError("--task is empty: name the task (it is stored in every bag's metadata)")
        if not self.instruction.strip():
            raise InputError('--instruction is empty: say what the demonstrations do, e.g. "push the block"')
        if self.mode not in ("teleop", "kinesthetic"):
            raise InputError(f"mode {self.mode!r}: use teleop or kinesthetic")


def resolved_nodes(config: RecordDemosConfig, robot_ip: str) -> list:
    """The three nodes with their parameters (the graph's camera and recorder, plus teleop_node)."""
    from tracegen_ros.graph import NodeSpec, ResolvedNode, argument_values, resolve, tracegen_graph

    graph = tracegen_graph().select([CAMERA_NODE, RECORDER_NODE, "ik_controller_node"])
    given = {"use_sim": "true" if config.sim else "false", "record_demos": "true", "robot_ip": robot_ip}
    if config.recording:
        given["recording"] = config.recording
    if config.camera_serial:
        given["camera_serial"] = config.camera_serial
    values = argument_values(graph, given)
    robot_ip = values["robot_ip"]
    extra: dict[str, dict] = {
        "sim_camera_node": {"task": config.task, "fps": float(config.sim_fps)},
        "demo_recorder_node": {
            "output_dir": str(Path(config.out_dir).expanduser().resolve()),
            "task": config.task,
            "instruction": config.instruction,
        },
    }
    nodes = [
        ResolvedNode(n.spec, n.params_file, {**n.parameters, **extra.get(n.spec.executable, {})}, n.arguments)
        for n in resolve(graph, values)
        if n.spec.name in (CAMERA_NODE, RECORDER_NODE)  # the IK controller must not own the arm
    ]
    teleop = NodeSpec(
        name=TELEOP_NODE,
        executable="teleop_node",
        namespace="tracegen",
        params_file="teleop.yaml",
        remappings=(("joint_states", "/joint_states"),),
    )
    nodes.append(
        ResolvedNode(
            teleop,
            share_dir() / "config" / "teleop.yaml",
            {"robot_ip": robot_ip, "mode": config.mode},
            (),
        )
    )
    return nodes


class DemoSession:
    """The nodes as child processes plus what this process needs to watch them."""

    def __init__(self, config: RecordDemosConfig, echo: Callable[[str], None] = print) -> None:
        if config.sim and config.task not in _sim_tasks():
            raise InputError(
                f"--sim needs one of the simulated tasks {sorted(_sim_tasks())} as --task, "
                f"got {config.task!r}"
            )
        self.config = config
        self.echo = echo
        self.robot_ip = config.robot_ip or (free_loopback_address() if config.sim else "")
        self.log_dir = Path(config.log_dir or Path(config.out_dir) / "logs").expanduser()
        self._supervisor = None
        self.summaries: list = []
        self.aborted: list[str] = []

    def start(self, timeout_s: float = 180.0) -> DemoSession:
        from tracegen.runtime_env import ros_environment
        from tracegen_ros.bringup import Supervisor, make_work_dir, prepare_commands

        Path(self.config.out_dir).expanduser().mkdir(parents=True, exist_ok=True)
        children = prepare_commands(resolved_nodes(self.config, self.robot_ip), make_work_dir())
        self._supervisor = Supervisor(
            children, ros_environment(), echo=lambda _line: None, log_dir=self.log_dir
        )
        self._supervisor.start()
        self._wait_ready(timeout_s)
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        """Until the robot state flows (teleop node connected) and the recorder's services exist."""
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from std_srvs.srv import Trigger

        from tracegen_ros.qos import COMMAND_QOS

        context = Context()
        rclpy.init(context=context)
        node = rclpy.create_node("record_demos_wait", context=context)
        seen = threading.Event()
        node.create_subscription(PoseStamped, "/tracegen/tcp_pose", lambda _m: seen.set(), COMMAND_QOS)
        client = node.create_client(Trigger, f"/tracegen/{RECORDER_NODE}/start")
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.1)
                if seen.is_set() and client.service_is_ready():
                    return
                for child in self._supervisor.children:
                    if child.process.poll() is not None:
                        raise RecordDemosError(
                            f"{child.name} exited with status {child.process.returncode}: see "
                            f"{self.log_dir / (child.name + '.log')}"
                        )
            waiting = (
                f"no robot state on /tracegen/tcp_pose (is the robot at {self.robot_ip or 'robot_ip'} on?)"
                if not seen.is_set()
                else "no demo recorder services"
            )
            raise RecordDemosError(f"{waiting} after {timeout_s:.0f} s: see the node logs in {self.log_dir}")
        finally:
            executor.shutdown(timeout_sec=1.0)
            node.destroy_node()
            rclpy.try_shutdown(context=context)

    def on_episode(self, kind: Episode, success: bool, message: str) -> None:
        """Called when the recorder answered: print a summary of kept episodes."""
        from tracegen.demo_summary import summarize_episode

        if kind is Episode.START:
            self.echo(("recording: " if success else "could not start: ") + message)
            return
        bag = _bag_from_message(message)
        if kind is Episode.STOP and success:
            try:
                summary = summarize_episode(bag)
            except TracegenError as exc:
                self.echo(f"episode saved in {bag}, but it cannot be read back: {exc}")
                return
            self.summaries.append(summary)
            self.echo(f"episode saved: {summary.describe()}")
        else:
            self.aborted.append(bag)
            self.echo(f"episode aborted, kept apart: {message}")

    def status(self) -> str:
        return f"{len(self.summaries)} kept, {len(self.aborted)} aborted"

    def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stop_all()


def _bag_from_message(message: str) -> str:
    """The bag path in the recorder's answer ("complete: /path (3.1 s; ...)")."""
    for token in message.replace(",", " ").replace(";", " ").split():
        if "/" in token:
            return token.strip("'\"():")
    return message


def _sim_tasks() -> tuple[str, ...]:
    from tracegen.sim.tasks import TASKS

    return tuple(TASKS)
