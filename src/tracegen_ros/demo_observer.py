"""The ``tracegen demo`` process's own ROS node: watches the closed loop, records the video, talks
to the graph (instruction, e-stop) without taking part in the loop itself.

Subscribes (absolute names: the graph of :mod:`tracegen_ros.graph`):

- ``/camera/camera/color/image_raw`` (sensor QoS): frames for the video, at most ``video_fps``;
- ``/tracegen/trace`` (TraceGrid): the latest prediction, drawn over every later frame;
- ``/tracegen/ee_plan`` (EndEffectorPlan) and ``/tracegen/plan_status`` (PlanStatus): when
  each prediction became a plan and a robot command (the closed-loop latencies).

Publishes ``/tracegen/instruction`` (latched, what the inference node conditions on) and calls
``/tracegen/estop`` / ``/tracegen/reset_estop`` (std_srvs/Trigger) to hold the arm still while
the world resets. Everything it measures is in ROS time, like the stamps it compares.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tracegen.errors import InputError
from tracegen.msg import EndEffectorPlan, PlanStatus, TraceGrid
from tracegen.trace import Trace
from tracegen.viz import draw_traces
from tracegen_ros.demo_outputs import LoopTimings
from tracegen_ros.graph import CAMERA_TOPICS
from tracegen_ros.images import color_to_rgb
from tracegen_ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from tracegen_ros.robot_msgs import time_to_ns
from tracegen_ros.trace_msg import msg_to_trace

TRACE_TOPIC = "/tracegen/trace"
PLAN_TOPIC = "/tracegen/ee_plan"
PLAN_STATUS_TOPIC = "/tracegen/plan_status"
INSTRUCTION_TOPIC = "/tracegen/instruction"
ESTOP_SERVICE = "/tracegen/estop"
RESET_ESTOP_SERVICE = "/tracegen/reset_estop"
#: Traces that move less than this in the image are drawn as a dot only (static background).
DRAW_MIN_MOTION_PX = 2.0
#: Frames narrower than this are upscaled (an integer factor) before drawing, so traces stay thin.
VIDEO_WIDTH_PX = 640
#: How strongly the traces cover the camera image.
TRACE_OPACITY = 0.75


@dataclass
class EpisodeCounters:
    """What happened in the running episode (reset by :meth:`DemoObserver.begin_episode`)."""

    steps: int = 0
    commands: int = 0
    refused: int = 0
    refusal_reasons: dict[str, int] | None = None


class DemoObserver(Node):
    """Counts steps and commands, measures the loop, and feeds drawn frames to ``on_frame``.

    Args:
        on_frame: called with ``(rgb, repeat)`` for each recorded frame, traces drawn
            (from the executor thread); ``repeat`` is how many video frames at ``video_fps`` it
            spans, so the video plays in real time however slowly the camera renders.
        video_fps: the most frames per second handed to ``on_frame``.
    """

    def __init__(self, on_frame: Callable[[np.ndarray, int], None], video_fps: float, **kwargs) -> None:
        super().__init__("tracegen_demo", **kwargs)
        self._on_frame = on_frame
        self._frame_period_ns = int(1e9 / video_fps)
        self._lock = threading.Condition()
        self._episode: int | None = None  # None: not recording (between episodes)
        self._loop_start_ns = 0  # predictions from frames before this do not count
        self._counters = EpisodeCounters(refusal_reasons={})
        self._latest: tuple[Trace, int] | None = None  # (trace, frame stamp ns)
        self._last_frame_ns = 0
        self._caption = ""
        self._episode_first_frame = True
        self._first_frames: dict[int, np.ndarray] = {}
        self._trace_arrival_ns: dict[int, int] = {}  # frame stamp -> when its trace arrived
        self._accepted_ns: dict[int, int] = {}  # plan id -> when the IK controller accepted it
        self.traces_seen = 0
        self.frames_seen = 0
        self.model_id = ""
        self.timings = LoopTimings()

        self._instruction_pub = self.create_publisher(String, INSTRUCTION_TOPIC, LATCHED_QOS)
        self.create_subscription(Image, CAMERA_TOPICS["color/image_raw"], self._on_image, SENSOR_QOS)
        self.create_subscription(TraceGrid, TRACE_TOPIC, self._on_trace, COMMAND_QOS)
        self.create_subscription(EndEffectorPlan, PLAN_TOPIC, self._on_plan, COMMAND_QOS)
        self.create_subscription(PlanStatus, PLAN_STATUS_TOPIC, self._on_status, COMMAND_QOS)
        self._estop = self.create_client(Trigger, ESTOP_SERVICE)
        self._reset_estop = self.create_client(Trigger, RESET_ESTOP_SERVICE)

    # --- control from the runner's thread ---------------------------------------------------------

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def services_ready(self) -> bool:
        return self._estop.service_is_ready() and self._reset_estop.service_is_ready()

    def publish_instruction(self, instruction: str) -> None:
        self._instruction_pub.publish(String(data=instruction))

    def begin_episode(self, episode: int, loop_start_ns: int, instruction: str = "") -> None:
        """Count and record from now on; only predictions of frames from ``loop_start_ns`` count."""
        with self._lock:
            self._episode = episode
            self._caption = f"episode {episode}: {instruction}" if instruction else f"episode {episode}"
            self._loop_start_ns = loop_start_ns
            self._counters = EpisodeCounters(refusal_reasons={})
            # The latest trace stays: the runner waited for one of a frame after the reset.
            self._episode_first_frame = True

    def end_episode(self) -> EpisodeCounters:
        with self._lock:
            self._episode = None
            return self._counters

    def counters(self) -> EpisodeCounters:
        with self._lock:
            return EpisodeCounters(
                self._counters.steps,
                self._counters.commands,
                self._counters.refused,
                dict(self._counters.refusal_reasons or {}),
            )

    def first_frames(self) -> dict[int, np.ndarray]:
        with self._lock:
            return dict(self._first_frames)

    def wait_for_trace_after(self, stamp_ns: int, timeout_s: float, stop: threading.Event) -> bool:
        """Block until a prediction of a frame stamped at or after ``stamp_ns`` arrived."""
        deadline_ns = self.now_ns() + int(timeout_s * 1e9)
        with self._lock:
            while self._latest is None or self._latest[1] < stamp_ns:
                if stop.is_set() or self.now_ns() > deadline_ns:
                    return False
                self._lock.wait(0.2)
        return True

    def call(self, which: str, timeout_s: float) -> tuple[bool, str]:
        """Call ``estop`` or ``reset_estop``; returns (success, message)."""
        client = self._estop if which == "estop" else self._reset_estop
        if not client.wait_for_service(timeout_sec=timeout_s):
            return False, f"the service {client.srv_name} is not available after {timeout_s:g} s"
        future = client.call_async(Trigger.Request())
        done = threading.Event()
        future.add_done_callback(lambda _future: done.set())
        if not done.wait(timeout_s):
            return False, f"{client.srv_name} did not answer within {timeout_s:g} s"
        response = future.result()
        return bool(response.success), str(response.message)

    # --- executor callbacks -----------------------------------------------------------------------

    def _on_image(self, msg: Image) -> None:
        stamp_ns = time_to_ns(msg.header.stamp)
        with self._lock:
            self.frames_seen += 1
            episode, latest, caption = self._episode, self._latest, self._caption
            if episode is None or stamp_ns - self._last_frame_ns < self._frame_period_ns:
                return
            # Frames since the previous recorded one, at most 2 s worth (the first of an episode: 1).
            gap = (stamp_ns - self._last_frame_ns) / self._frame_period_ns
            repeat = int(min(max(round(gap), 1), 2e9 / self._frame_period_ns))
            if self._episode_first_frame:
                repeat, self._episode_first_frame = 1, False
            self._last_frame_ns = stamp_ns
        try:
            rgb = color_to_rgb(msg)
        except InputError as exc:
            self.get_logger().warning(f"cannot record a camera frame: {exc}", throttle_duration_sec=5.0)
            return
        drawn = _draw(rgb, latest[0] if latest else None)
        with self._lock:
            if latest is not None and episode not in self._first_frames:
                self._first_frames[episode] = drawn
        self._on_frame(_captioned(drawn, caption, latest is not None), repeat)

    def _on_trace(self, msg: TraceGrid) -> None:
        arrived_ns = self.now_ns()
        try:
            trace, meta = msg_to_trace(msg)
        except InputError as exc:
            self.get_logger().warning(f"malformed trace: {exc}", throttle_duration_sec=5.0)
            return
        stamp_ns = time_to_ns(meta.stamp)
        with self._lock:
            self.traces_seen += 1
            self.model_id = meta.model_id
            self._latest = (trace, stamp_ns)
            if self._episode is not None and stamp_ns >= self._loop_start_ns:
                self._counters.steps += 1
                self._trace_arrival_ns[stamp_ns] = arrived_ns
                _keep_newest(self._trace_arrival_ns)
                self.timings.frame_to_trace_s.append((arrived_ns - stamp_ns) / 1e9)
                self.timings.model_latency_s.append(meta.inference_latency_s)
            self._lock.notify_all()

    def _on_plan(self, msg: EndEffectorPlan) -> None:
        arrived_ns = self.now_ns()
        stamp_ns = time_to_ns(msg.header.stamp)
        with self._lock:
            trace_ns = self._trace_arrival_ns.pop(stamp_ns, None)
            if trace_ns is not None:
                self.timings.trace_to_plan_s.append((arrived_ns - trace_ns) / 1e9)

    def _on_status(self, msg: PlanStatus) -> None:
        stamp_ns = int(msg.plan_stamp_ns)
        with self._lock:
            if self._episode is None or stamp_ns < self._loop_start_ns:
                return
            status_ns = time_to_ns(msg.header.stamp)
            if msg.state == PlanStatus.ACCEPTED:
                self._accepted_ns[msg.plan_id] = status_ns
                _keep_newest(self._accepted_ns)
            elif msg.state == PlanStatus.EXECUTING:
                self._counters.commands += 1
                self.timings.frame_to_command_s.append((status_ns - stamp_ns) / 1e9)
                accepted_ns = self._accepted_ns.pop(msg.plan_id, None)
                if accepted_ns is not None:
                    self.timings.plan_to_command_s.append((status_ns - accepted_ns) / 1e9)
            elif msg.state == PlanStatus.REFUSED:
                self._counters.refused += 1
                reason = _short_reason(msg.reason)
                self._counters.refusal_reasons[reason] = self._counters.refusal_reasons.get(reason, 0) + 1


def _keep_newest(arrivals: dict[int, int], limit: int = 256) -> None:
    """Forget the oldest stamps (predictions that never became plans or commands)."""
    for stamp in sorted(arrivals)[: max(0, len(arrivals) - limit)]:
        del arrivals[stamp]


def _short_reason(reason: str) -> str:
    """A refusal reason without its numbers, so equal causes count together."""
    head = reason.split(":")[0].strip()
    head = re.sub(r"\[[^\]]*\]", "[...]", head)
    return re.sub(r"[-+]?\d+(\.\d+)?", "N", head)[:100] or "unknown"


def _draw(rgb: np.ndarray, trace: Trace | None) -> np.ndarray:
    """The frame at least VIDEO_WIDTH_PX wide with the traces drawn, the scene showing through."""
    scale = max(1, round(VIDEO_WIDTH_PX / rgb.shape[1]))
    if scale > 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    if trace is None:
        return rgb
    drawn = draw_traces(rgb, trace, min_motion_px=DRAW_MIN_MOTION_PX * scale)
    return cv2.addWeighted(drawn, TRACE_OPACITY, rgb, 1.0 - TRACE_OPACITY, 0.0)


def _captioned(rgb: np.ndarray, caption: str, has_trace: bool) -> np.ndarray:
    """The frame with a one-line caption on a dark band (episode, instruction, no prediction yet)."""
    out = rgb.copy()
    text = caption + ("" if has_trace else " (waiting for a prediction)")
    out[:22] = (out[:22] * 0.4).astype(np.uint8)
    cv2.putText(out, text, (6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out
