"""``tracegen demo``: the closed loop in simulation, end to end, with a video and a success rate.

The runner brings up the node graph of :mod:`tracegen_ros.graph` with ``use_sim:=true`` (the
same child processes as ``tracegen bringup``: sim_camera_node hosting franky-sim and the
simulated RealSense, inference_node with the checkpoint, retarget_node, ik_controller_node) and
takes part in it only through ROS, from a node in its own process
(:class:`~tracegen_ros.demo_observer.DemoObserver` and
:class:`~tracegen_ros.sim_episode.SimEpisodeClient`).

Per episode: e-stop the arm (so nothing moves while the world resets), reset the world (next
seed; the first episode runs on the freshly started world, seeded with ``seed``), publish the
task's instruction, wait for the first prediction of a frame taken after the reset, release the
e-stop, and let the loop run (camera -> inference -> retarget -> IK controller -> franky ->
franky-sim) until the task's success check holds, ``max_steps``
predictions were made, or ``episode_timeout_s`` passed. Frames with the latest prediction drawn
go into the video as they arrive. A node that dies stops the run with its name and log.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tracegen.errors import InputError, TracegenError
from tracegen.sim.loopback import free_loopback_address
from tracegen_ros.demo_outputs import (
    SUMMARY_JSON,
    SUMMARY_PNG,
    EpisodeResult,
    VideoSink,
    summary_dict,
    write_json,
    write_summary_png,
)
from tracegen_ros.sim_episode import EpisodeInfo, SimEpisodeError

#: Largest ROS domain id whose DDS ports fit the Linux ephemeral range (ROS 2 docs: 0-101).
DOMAIN_ID_MAX = 101
#: Lines of a dead node's log shown in the error.
LOG_TAIL_LINES = 25
SIM_NODE_EXECUTABLE = "sim_camera_node"
#: What marks a tracegen checkpoint directory (tracegen.model.checkpoint.META_FILE; not imported
#: from there because that module loads torch, which this process does not otherwise need).
CHECKPOINT_META_FILE = "tracegen.json"
INFERENCE_NODE = "inference_node"
IK_CONTROLLER_NODE = "ik_controller_node"


class DemoError(TracegenError):
    """The demo could not run to the end (a node died, the world did not answer, ...)."""


class NodeDiedError(DemoError):
    """A node of the graph exited while the demo needed it."""

    def __init__(self, name: str, code: int, log_path: Path, log_tail: str) -> None:
        self.name, self.code, self.log_path = name, code, log_path
        super().__init__(
            f"the graph node {name} exited with status {code}; the end of its log ({log_path}):\n{log_tail}"
        )


@dataclass(frozen=True)
class DemoOptions:
    """What ``tracegen demo`` runs (the CLI's options)."""

    checkpoint: Path
    out_dir: Path
    task: str = "block"
    episodes: int = 3
    max_steps: int = 30
    episode_timeout_s: float = 90.0
    seed: int = 0
    video_fps: float = 10.0
    startup_timeout_s: float = 300.0
    model_threads: int = 1
    model_steps: int = 0
    stale_plan_timeout_s: float = 15.0
    #: Write demo.mp4 (the camera view with the traces drawn); ``tracegen eval`` turns it off.
    record_video: bool = True
    ros_domain_id: int | None = None
    node_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        from tracegen.sim.tasks import make_task

        make_task(self.task)  # unknown task: InputError listing the known ones
        official = self.checkpoint.suffix == ".pth" and self.checkpoint.is_file()
        if not official and not (self.checkpoint / CHECKPOINT_META_FILE).is_file():
            what = "does not exist" if not self.checkpoint.exists() else f"has no {CHECKPOINT_META_FILE}"
            raise InputError(
                f"the checkpoint {self.checkpoint} {what}: pass --checkpoint DIR (a directory written by "
                "tracegen train, or an official .pth), or re-create the shipped one (see models/README.md)"
            )
        for name, value, low in (
            ("episodes", self.episodes, 1),
            ("max_steps", self.max_steps, 1),
            ("episode_timeout_s", self.episode_timeout_s, 1.0),
            ("video_fps", self.video_fps, 0.5),
            ("startup_timeout_s", self.startup_timeout_s, 10.0),
            ("stale_plan_timeout_s", self.stale_plan_timeout_s, 0.1),
        ):
            if value < low:
                raise InputError(f"{name} must be at least {low}, got {value}")


@dataclass
class DemoReport:
    """What a finished run produced."""

    results: list[EpisodeResult]
    summary: dict[str, Any]
    video: Path | None
    summary_png: Path
    summary_json: Path
    interrupted: bool = False


def private_domain_id() -> int:
    """A random ROS domain other than this environment's, for a graph nobody else should see.

    The demo's nodes (and this process) talk on it, limited to this host, so a demo never reaches
    a robot stack on the network nor another graph running here on the default domain.
    """
    current = os.environ.get("ROS_DOMAIN_ID", "0")
    choices = [d for d in range(1, DOMAIN_ID_MAX + 1) if str(d) != current]
    return random.choice(choices)


class DemoRunner:
    """Runs the demo; :meth:`run` blocks until done, raises :class:`DemoError` / ``InputError``.

    Args:
        options: what to run.
        stop: set it (e.g. from a SIGINT handler) to end the run early; everything is stopped.
        progress: called with (episode, step, commands, seconds into the episode) about 5x/s.
        say: one line of progress for the user (per-episode results, phases).
        verbose: also show every node's output lines (they always go to ``out/logs``).
    """

    def __init__(
        self,
        options: DemoOptions,
        *,
        stop: threading.Event | None = None,
        progress: Callable[[int, int, int, float], None] | None = None,
        episode_done: Callable[[EpisodeResult], None] | None = None,
        say: Callable[[str], None] = print,
        verbose: bool = False,
    ) -> None:
        options.validate()
        self.options = options
        self.stop = stop or threading.Event()
        self._progress = progress or (lambda *args: None)
        self._episode_done = episode_done or (lambda result: None)
        self._say = say
        self._verbose = verbose
        self.log_dir = options.out_dir / "logs"
        self.domain_id = options.ros_domain_id if options.ros_domain_id is not None else private_domain_id()
        self._supervisor = None
        self._graph_log = None

    # --- the run ----------------------------------------------------------------------------------

    def run(self) -> DemoReport:
        options = self.options
        options.out_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        video = VideoSink(options.out_dir, options.video_fps) if options.record_video else None
        on_frame = video.write if video is not None else _drop_frame
        results: list[EpisodeResult] = []
        started_s = time.monotonic()
        startup_s = 0.0
        observer = None
        interrupted = False
        try:
            self._start_graph()
            with _RosSide(on_frame, options.video_fps, self.domain_id) as ros:
                observer, client = ros.observer, ros.client
                try:
                    limit_s = options.startup_timeout_s
                    self._wait(lambda: client.state is not None, limit_s, "the simulated world")
                    self._wait(observer.services_ready, limit_s, "the IK controller's services")
                    startup_s = time.monotonic() - started_s
                    self._say(f"graph up in {startup_s:.0f} s: {options.episodes} episode(s), {options.task}")
                    for episode in range(options.episodes):
                        result = self._episode(episode, observer, client, first=episode == 0)
                        results.append(result)
                        self._episode_done(result)
                except KeyboardInterrupt:
                    interrupted = True
                    observer.end_episode()
        finally:
            self._stop_graph()
            # A playable file even when the run failed half-way.
            video_path = video.close() if video is not None else None
        summary = summary_dict(
            results,
            observer.timings,
            loop_seconds=sum(r.duration_s for r in results),
            extra={
                "task": options.task,
                "checkpoint": str(options.checkpoint),
                "model_id": observer.model_id,
                "seed": options.seed,
                "episodes_planned": options.episodes,
                "max_steps": options.max_steps,
                "episode_timeout_s": options.episode_timeout_s,
                "interrupted": interrupted,
                "startup_s": startup_s,
                "total_s": time.monotonic() - started_s,
                "video": video_path.name if video_path else None,
                "video_frames": video.frames if video is not None else 0,
            },
        )
        png = write_summary_png(options.out_dir / SUMMARY_PNG, results, observer.first_frames())
        summary_path = write_json(options.out_dir / SUMMARY_JSON, summary)
        return DemoReport(results, summary, video_path, png, summary_path, interrupted)

    def _episode(self, episode: int, observer, client, *, first: bool) -> EpisodeResult:
        options = self.options
        ok, message = observer.call("estop", timeout_s=30.0)
        if not ok:
            raise DemoError(f"cannot hold the arm still for the reset (e-stop): {message}")
        state = client.state
        if first and state is not None and state.episode == 0:
            # The world as it started: seeded with options.seed and untouched (no instruction
            # was published yet, so the loop has not moved the arm).
            info = EpisodeInfo(state.task, state.seed, state.episode, state.instruction)
        else:
            info = self._reset(client)
        observer.publish_instruction(info.instruction)
        reset_ns = observer.now_ns()
        timeout_s = options.startup_timeout_s if first else max(60.0, options.episode_timeout_s)
        what = "the first prediction (loading the model)" if first else "a prediction after the reset"
        self._wait(lambda: observer.wait_for_trace_after(reset_ns, 0.5, self.stop), timeout_s, what)
        ok, message = observer.call("reset_estop", timeout_s=30.0)
        if not ok:
            raise DemoError(f"cannot release the e-stop after the reset: {message}")
        observer.begin_episode(episode, observer.now_ns(), info.instruction)
        started = time.monotonic()
        end_reason = "timeout"
        while True:
            self._check_graph()
            counters = observer.counters()
            elapsed_s = time.monotonic() - started
            self._progress(episode, counters.steps, counters.commands, elapsed_s)
            state = client.state
            if state is not None and state.episode == info.episode and state.success:
                end_reason = "success"
                break
            if counters.steps >= options.max_steps:
                end_reason = "max_steps"
                break
            if elapsed_s >= options.episode_timeout_s:
                break
            self.stop.wait(0.2)
        duration_s = time.monotonic() - started
        counters = observer.end_episode()
        return EpisodeResult(
            episode=episode,
            sim_episode=info.episode,
            seed=info.seed,
            task=info.task,
            instruction=info.instruction,
            success=end_reason == "success",
            end_reason=end_reason,
            steps=counters.steps,
            commands=counters.commands,
            refused=counters.refused,
            duration_s=duration_s,
            refusal_reasons=dict(counters.refusal_reasons or {}),
        )

    def _reset(self, client, attempts: int = 10) -> EpisodeInfo:
        """The next episode; a reset refused while the stopped arm settles is tried again."""
        for attempt in range(attempts):
            try:
                return client.reset(timeout_s=60.0)
            except SimEpisodeError as exc:
                if "refused" not in str(exc) or attempt == attempts - 1:
                    raise DemoError(f"cannot reset the simulated world: {exc}") from None
                self._check_graph()
                self.stop.wait(1.0)
        raise AssertionError("unreachable")

    # --- waiting, with an eye on the nodes and on Ctrl-C ------------------------------------------

    def _wait(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            self._check_graph()
            if time.monotonic() > deadline:
                raise DemoError(
                    f"gave up waiting for {what} after {timeout_s:g} s; the nodes' logs are in {self.log_dir}"
                )
            self.stop.wait(0.2)

    def _check_graph(self) -> None:
        if self.stop.is_set():
            raise KeyboardInterrupt
        for child in self._supervisor.children:
            code = child.process.poll()
            if code is not None:
                if child.reader is not None:
                    child.reader.join(timeout=2.0)  # the last lines into the log file
                child.reported = True
                log_path = self.log_dir / f"{child.name}.log"
                raise NodeDiedError(child.name, code, log_path, _tail(log_path, LOG_TAIL_LINES))

    # --- the graph's processes --------------------------------------------------------------------

    def _start_graph(self) -> None:
        from tracegen.runtime_env import ros_environment
        from tracegen_ros.bringup import Supervisor, prepare_commands
        from tracegen_ros.graph import argument_values, resolve, tracegen_graph

        options = self.options
        graph = tracegen_graph()
        robot_ip = free_loopback_address()
        values = argument_values(
            graph, {"use_sim": "true", "robot_ip": robot_ip, "checkpoint": str(options.checkpoint.resolve())}
        )
        nodes = resolve(graph, values)
        overrides: dict[str, dict[str, Any]] = {
            SIM_NODE_EXECUTABLE: {"task": options.task, "seed": options.seed},
            INFERENCE_NODE: {"model.threads": options.model_threads, "model.steps": options.model_steps},
            # The simulated world slows down with the CPU (franky-sim steps below real time), so
            # a wall-clock age overstates how stale a plan is; the robot keeps its config's value.
            IK_CONTROLLER_NODE: {"stale_plan_timeout_s": options.stale_plan_timeout_s},
        }
        for key, values_ in options.node_overrides.items():
            overrides.setdefault(key, {}).update(values_)
        for node in nodes:
            for key in (node.spec.name, node.spec.executable):
                node.parameters.update(overrides.get(key, {}))
        work_dir = self.log_dir / "params"
        work_dir.mkdir(exist_ok=True)
        children = prepare_commands(nodes, work_dir)
        self._graph_log = open(self.log_dir / "graph.log", "a", encoding="utf-8")  # noqa: SIM115

        def echo(line: str) -> None:
            self._graph_log.write(line + "\n")
            self._graph_log.flush()
            if self._verbose:
                print(line, flush=True)

        env = ros_environment()
        env["ROS_DOMAIN_ID"] = str(self.domain_id)
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self._supervisor = Supervisor(children, env, echo=echo, log_dir=self.log_dir)
        names = ", ".join(c.name for c in children)
        self._say(
            f"starting {names} (robot_ip {robot_ip}, ROS domain {self.domain_id}; logs in {self.log_dir})"
        )
        self._supervisor.start()

    def _stop_graph(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stop_all()
            self._supervisor = None
        if self._graph_log is not None:
            self._graph_log.close()
            self._graph_log = None


class _RosSide:
    """This process's rclpy context, observer node and sim client, spun on a background thread.

    A private context without rclpy's signal handlers: Ctrl-C stays with the CLI, which stops
    the graph in order.
    """

    def __init__(self, on_frame: Callable[[np.ndarray, int], None], video_fps: float, domain_id: int) -> None:
        self._on_frame = on_frame
        self._video_fps = video_fps
        self._domain_id = domain_id

    def __enter__(self) -> _RosSide:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from tracegen_ros.demo_observer import DemoObserver
        from tracegen_ros.sim_episode import SimEpisodeClient

        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"  # read by rmw when the context starts
        self._context = Context()
        rclpy.init(
            context=self._context, domain_id=self._domain_id, signal_handler_options=SignalHandlerOptions.NO
        )
        self.observer = DemoObserver(self._on_frame, self._video_fps, context=self._context)
        self.client = SimEpisodeClient(self.observer)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self.observer)
        self._thread = threading.Thread(target=self._executor.spin, name="tracegen-demo-spin", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        import rclpy

        self._executor.shutdown(timeout_sec=5.0)
        self.observer.destroy_node()
        rclpy.try_shutdown(context=self._context)
        self._thread.join(timeout=5.0)


def _drop_frame(rgb: np.ndarray, repeat: int = 1) -> None:
    """The frame sink of a run without a video."""


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
