"""Episode control of the simulated world from any process: reset, task state, success.

``sim_camera_node`` (node ``camera`` in namespace ``camera``, like ``capture_node``) owns the
simulated world. Clients never touch the simulator; they use two ROS interfaces:

- service ``/camera/camera/reset`` (std_srvs/Trigger): next episode (next seed), arm back to its
  ready pose, gripper open, objects re-sampled. ``response.message`` is JSON
  ``{"task", "seed", "episode", "instruction"}`` (or the error when ``success`` is false);
- topic ``/sim/task_state`` (std_msgs/String, reliable + transient local, a few Hz): JSON with
  :data:`TASK_STATE_FIELDS` (objects in the robot base frame ``fr3_link0``, metres).

:class:`SimEpisodeClient` wraps both. Give it your own node (you spin it), or use
:meth:`SimEpisodeClient.standalone` which owns a private context, node and spinning thread.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tracegen.errors import TracegenError
from tracegen.sim.tasks.base import ExpertWaypoint

#: The sim node's reset service (node ``camera`` in namespace ``camera``: ``~/reset``).
RESET_SERVICE = "/camera/camera/reset"
#: The scripted expert's next segment (privileged state, std_srvs/Trigger, JSON answer).
EXPERT_SERVICE = "/camera/camera/expert"
#: The simulated task's state, JSON in std_msgs/String.
TASK_STATE_TOPIC = "/sim/task_state"
TASK_STATE_FIELDS = (
    "task",  # str: block, ball, brush or clothes
    "seed",  # int: the seed the episode's initial state was sampled from
    "episode",  # int: 0 at start, +1 per reset
    "success",  # bool: the task's success check on the simulator state now
    "instruction",  # str: the task's short instruction
    "objects",  # {name: [x, y, z]}: object positions now, base frame, metres
    "tcp_position_m",  # [x, y, z]: the TCP now, base frame
    "sim_time_s",  # float: simulated time since the world started
    "frames_published",  # int: camera framesets published so far
)


class SimEpisodeError(TracegenError):
    """The simulated world did not answer, or refused a reset."""


@dataclass(frozen=True)
class TaskState:
    """One ``/sim/task_state`` message, parsed."""

    task: str
    seed: int
    episode: int
    success: bool
    instruction: str
    objects: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    tcp_position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sim_time_s: float = 0.0
    frames_published: int = 0

    @classmethod
    def from_json(cls, text: str) -> TaskState:
        try:
            data = json.loads(text)
            return cls(
                task=str(data["task"]),
                seed=int(data["seed"]),
                episode=int(data["episode"]),
                success=bool(data["success"]),
                instruction=str(data["instruction"]),
                objects={k: tuple(map(float, v)) for k, v in data.get("objects", {}).items()},
                tcp_position_m=tuple(map(float, data.get("tcp_position_m", (0.0, 0.0, 0.0)))),
                sim_time_s=float(data.get("sim_time_s", 0.0)),
                frames_published=int(data.get("frames_published", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SimEpisodeError(f"malformed task state {text[:200]!r}: {exc}") from None

    def to_json(self) -> str:
        data = {name: getattr(self, name) for name in TASK_STATE_FIELDS}
        data["objects"] = {k: list(v) for k, v in self.objects.items()}
        data["tcp_position_m"] = list(self.tcp_position_m)
        return json.dumps(data)


@dataclass(frozen=True)
class EpisodeInfo:
    """What a reset started (the reset service's JSON answer)."""

    task: str
    seed: int
    episode: int
    instruction: str

    def to_json(self) -> str:
        return json.dumps(
            {"task": self.task, "seed": self.seed, "episode": self.episode, "instruction": self.instruction}
        )

    @classmethod
    def from_json(cls, text: str) -> EpisodeInfo:
        try:
            data = json.loads(text)
            return cls(str(data["task"]), int(data["seed"]), int(data["episode"]), str(data["instruction"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SimEpisodeError(f"malformed reset answer {text[:200]!r}: {exc}") from None


def expert_segment_json(waypoints: list[ExpertWaypoint]) -> str:
    """``{"waypoints": [{position_m, yaw_rad, gripper_width_m, max_speed_m_s}, ...]}``."""
    return json.dumps(
        {
            "waypoints": [
                {
                    "position_m": [float(v) for v in w.position_m],
                    "yaw_rad": float(w.yaw_rad),
                    "gripper_width_m": float(w.gripper_width_m),
                    "max_speed_m_s": float(w.max_speed_m_s),
                }
                for w in waypoints
            ]
        }
    )


def parse_expert_segment(text: str) -> list[ExpertWaypoint]:
    try:
        return [
            ExpertWaypoint(
                tuple(float(v) for v in w["position_m"]),
                float(w["yaw_rad"]),
                float(w["gripper_width_m"]),
                float(w["max_speed_m_s"]),
            )
            for w in json.loads(text)["waypoints"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise SimEpisodeError(f"malformed expert segment {text[:200]!r}: {exc}") from None


class SimEpisodeClient:
    """Reset episodes and watch the task state of a running ``sim_camera_node``.

    Args:
        node: an rclpy node that somebody spins (an executor on another thread).
        reset_service, task_state_topic, expert_service: override the default names (remapped graphs).
    """

    def __init__(
        self,
        node: Any,
        *,
        reset_service: str = RESET_SERVICE,
        task_state_topic: str = TASK_STATE_TOPIC,
        expert_service: str = EXPERT_SERVICE,
    ):
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from tracegen_ros.qos import LATCHED_QOS

        self._node = node
        self._trigger = Trigger
        self._condition = threading.Condition()
        self._state: TaskState | None = None
        self._reset_client = node.create_client(Trigger, reset_service)
        self._expert_client = node.create_client(Trigger, expert_service)
        self._subscription = node.create_subscription(String, task_state_topic, self._on_state, LATCHED_QOS)

    def _on_state(self, msg: Any) -> None:
        try:
            state = TaskState.from_json(msg.data)
        except SimEpisodeError as exc:
            self._node.get_logger().warning(str(exc))
            return
        with self._condition:
            self._state = state
            self._condition.notify_all()

    @property
    def state(self) -> TaskState | None:
        """The latest task state (None before the first one arrived)."""
        with self._condition:
            return self._state

    def wait_for_state(self, predicate=lambda state: True, timeout_s: float = 30.0) -> TaskState:
        """The first task state (latest or future) for which ``predicate`` holds; raises on timeout."""
        with self._condition:
            ok = self._condition.wait_for(
                lambda: self._state is not None and predicate(self._state), timeout_s
            )
            if not ok:
                raise SimEpisodeError(
                    f"no matching simulated task state within {timeout_s:g} s (latest: {self._state}); "
                    f"is sim_camera_node running (tracegen bringup use_sim:=true)?"
                )
            return self._state

    def _call(self, client: Any, what: str, timeout_s: float) -> str:
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise SimEpisodeError(
                f"the service {client.srv_name} is not available after {timeout_s:g} s: "
                "is sim_camera_node running?"
            )
        future = client.call_async(self._trigger.Request())
        done = threading.Event()
        future.add_done_callback(lambda _future: done.set())
        if not done.wait(timeout_s):
            raise SimEpisodeError(f"the simulated world did not answer the {what} within {timeout_s:g} s")
        response = future.result()
        if not response.success:
            raise SimEpisodeError(f"the simulated world refused the {what}: {response.message}")
        return response.message

    def reset(self, timeout_s: float = 30.0) -> EpisodeInfo:
        """Start the next episode; returns once the task state reports it."""
        info = EpisodeInfo.from_json(self._call(self._reset_client, "reset", timeout_s))
        self.wait_for_state(lambda state: state.episode == info.episode, timeout_s)
        return info

    def expert_segment(self, timeout_s: float = 30.0) -> list[ExpertWaypoint]:
        """The scripted expert's next segment from privileged state ([] once solved)."""
        return parse_expert_segment(self._call(self._expert_client, "expert request", timeout_s))

    def wait_for_success(self, timeout_s: float) -> bool:
        """True as soon as the current episode's success check holds; False after ``timeout_s``."""
        try:
            self.wait_for_state(lambda state: state.success, timeout_s)
        except SimEpisodeError:
            return False
        return True

    @classmethod
    @contextlib.contextmanager
    def standalone(cls, node_name: str = "sim_episode_client", **kwargs: Any) -> Iterator[SimEpisodeClient]:
        """A client with its own rclpy context, node and spinning thread (closed on exit)."""
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        context = Context()
        rclpy.init(context=context)
        node = rclpy.create_node(node_name, context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        thread = threading.Thread(target=executor.spin, name=f"{node_name}-spin", daemon=True)
        thread.start()
        try:
            yield cls(node, **kwargs)
        finally:
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown(context=context)
            thread.join(timeout=5.0)
