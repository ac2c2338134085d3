"""inference_node: RGB-D + instruction -> TraceGen traces (TraceGrid) and rviz markers.

Subscribes (relative names; the node graph remaps them to the camera's topics):
``color/image_raw`` (rgb8/bgr8), ``aligned_depth_to_color/image_raw`` (16UC1 mm or 32FC1 m)
and ``color/camera_info``, synchronised by header stamp (message_filters when importable, else
:mod:`tracegen_ros.sync`), sensor-data QoS; ``instruction`` (std_msgs/String, latched QoS),
which replaces the ``instruction`` parameter.

Publishes ``trace`` (tracegen/TraceGrid, stamped with the colour image's stamp and frame) and
``trace_markers`` (visualization_msgs/MarkerArray: a LINE_STRIP per trace in the camera
optical frame, coloured by time), reliable QoS.

The model runs on a worker thread, so the executor keeps serving callbacks; only the newest
synchronised frame is kept (older ones are dropped, never queued), and a frame older than
``max_frame_age_s`` when the worker gets to it is dropped too. Malformed input (encodings,
sizes, depth, intrinsics, instructions) is logged with the reason and produces no output.
Latency (frame received -> TraceGrid published) goes into the message, the log and
/diagnostics.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from tracegen.errors import InputError
from tracegen.instruction import clean_instruction
from tracegen.model.config import SOLVERS
from tracegen.msg import TraceGrid
from tracegen.observation import Observation
from tracegen.prediction import TracePredictor
from tracegen_ros.camera_info import camera_info_to_intrinsics
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.images import color_to_rgb, depth_to_metres
from tracegen_ros.markers import trace_markers
from tracegen_ros.node_main import run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.predictor_loading import ModelSettings, load_from_settings
from tracegen_ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS
from tracegen_ros.sync import stamp_ns, subscribe_synchronized
from tracegen_ros.trace_msg import TraceGridMeta, trace_to_msg

NODE_NAME = "inference_node"
#: Seconds between repeats of the same complaint (bad frames arrive at camera rate).
LOG_THROTTLE_S = 5.0

PARAMS = (
    ParamSpec(
        "model.checkpoint",
        "",
        "Checkpoint directory (or official .pth) to load; empty: use model.preset, or wait without a model.",
    ),
    ParamSpec(
        "model.preset",
        "",
        "Without a checkpoint: build this model preset (config/model/<name>.yaml) with RANDOM weights, "
        "for tests and latency measurements; empty: none.",
    ),
    ParamSpec("model.device", "auto", "Torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N."),
    ParamSpec(
        "model.solver",
        "",
        "ODE solver; empty: the checkpoint's default.",
        choices=("", *SOLVERS),
    ),
    ParamSpec("model.steps", 0, "Solver steps; 0: the checkpoint's default.", min_value=0, max_value=1000),
    ParamSpec(
        "model.guidance",
        -1.0,
        "Classifier-free guidance scale; negative: the checkpoint's default (1.0 = no guidance).",
        min_value=-1.0,
        max_value=20.0,
    ),
    ParamSpec(
        "model.threads",
        0,
        "CPU threads torch may use (leave cores to the other nodes); 0: torch's default (all cores).",
        min_value=0,
        max_value=256,
    ),
    ParamSpec(
        "seed",
        -1,
        "Noise seed for reproducible predictions; -1: fresh noise each time.",
        min_value=-1,
        max_value=2**31 - 1,
    ),
    ParamSpec(
        "instruction",
        "",
        "Instruction to condition on until one arrives on the instruction topic; empty: wait for one.",
    ),
    ParamSpec("use_depth", True, "Synchronise and use the aligned depth image; false: RGB-only (2D traces)."),
    ParamSpec(
        "sync.slop_s",
        0.02,
        "Largest stamp difference between colour, depth and camera_info of one frame, seconds.",
        min_value=0.0,
        max_value=1.0,
    ),
    ParamSpec(
        "sync.queue_size", 10, "Messages kept per input while matching stamps.", min_value=1, max_value=100
    ),
    ParamSpec(
        "max_frame_age_s",
        1.0,
        "Drop a frame older than this (ROS time minus its stamp) when the model is ready for it.",
        min_value=0.01,
        max_value=3600.0,
    ),
    ParamSpec("markers.enable", True, "Publish the rviz MarkerArray on trace_markers."),
    ParamSpec("markers.stride", 1, "Draw every n-th trace of the grid.", min_value=1, max_value=400),
    ParamSpec(
        "markers.line_width_m", 0.004, "Width of the trace lines, metres.", min_value=0.0001, max_value=0.1
    ),
    ParamSpec(
        "markers.min_motion_m",
        0.0,
        "Leave out traces that move less than this in total, metres (declutters static background).",
        min_value=0.0,
        max_value=10.0,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Seconds between status messages on /diagnostics.",
        min_value=0.1,
        max_value=60.0,
    ),
)


@dataclass(frozen=True)
class FrameSet:
    """One synchronised input frame and when it was received (monotonic seconds)."""

    color: Image
    depth: Image | None
    info: CameraInfo
    received_s: float


class LatestSlot:
    """Holds only the newest item; a consumer blocks until one is there (stale ones are replaced)."""

    def __init__(self) -> None:
        self._item: FrameSet | None = None
        self._condition = threading.Condition()
        self.replaced = 0

    def put(self, item: FrameSet) -> None:
        with self._condition:
            if self._item is not None:
                self.replaced += 1
            self._item = item
            self._condition.notify()

    def take(self, timeout_s: float) -> FrameSet | None:
        with self._condition:
            if self._item is None:
                self._condition.wait(timeout_s)
            item, self._item = self._item, None
            return item


class InferenceNode(Node):
    """Synchronises camera input, predicts on a worker thread, publishes traces and markers."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        params = declare_parameters(self, PARAMS)
        self._settings = ModelSettings(
            checkpoint=params["model.checkpoint"].strip(),
            preset=params["model.preset"].strip(),
            device=params["model.device"].strip(),
            solver=params["model.solver"],
            steps=int(params["model.steps"]),
            guidance=float(params["model.guidance"]),
            threads=int(params["model.threads"]),
        )
        self._seed = None if params["seed"] < 0 else int(params["seed"])
        self._instruction = ""
        if params["instruction"].strip():
            self._instruction = clean_instruction(params["instruction"])  # bad parameter: exit 2
        self._max_age_ns = int(params["max_frame_age_s"] * 1e9)
        self._marker_options = {
            "line_width_m": params["markers.line_width_m"],
            "stride": params["markers.stride"],
            "min_motion_m": params["markers.min_motion_m"],
        }
        self._lock = threading.Lock()
        self._stats = {"predictions": 0, "stale": 0, "refused": 0, "failed": 0}
        self._latencies_s: list[float] = []
        self._last_complaint, self._last_complaint_s = "", 0.0

        self._trace_pub = self.create_publisher(TraceGrid, "trace", COMMAND_QOS)
        self._marker_pub = (
            self.create_publisher(MarkerArray, "trace_markers", COMMAND_QOS)
            if params["markers.enable"]
            else None
        )
        self.create_subscription(String, "instruction", self._on_instruction, LATCHED_QOS)
        inputs: list[tuple[type, str]] = [(Image, "color/image_raw")]
        if params["use_depth"]:
            inputs.append((Image, "aligned_depth_to_color/image_raw"))
        inputs.append((CameraInfo, "color/camera_info"))
        self._use_depth = bool(params["use_depth"])
        self._sync = subscribe_synchronized(
            self,
            inputs,
            SENSOR_QOS,
            queue_size=int(params["sync.queue_size"]),
            slop_s=float(params["sync.slop_s"]),
            callback=self._on_frame,
        )
        self._diagnostics = DiagnosticsReporter(
            self, "TraceGen inference", period_s=float(params["diagnostics_period_s"])
        )
        self._slot = LatestSlot()
        self._predictor: TracePredictor | None = None
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="tracegen-inference", daemon=True)
        self._worker.start()
        topics = ", ".join(self.resolve_topic_name(t) for t in self._sync.topics)
        self.get_logger().info(f"synchronising {topics} ({self._sync.implementation} approximate-time sync)")

    # --- executor callbacks: cheap, never block ---------------------------------------------

    def _on_frame(self, color: Image, *rest) -> None:
        depth, info = (rest[0], rest[1]) if self._use_depth else (None, rest[0])
        self._slot.put(FrameSet(color, depth, info, time.monotonic()))

    def _on_instruction(self, msg: String) -> None:
        try:
            instruction = clean_instruction(msg.data)
        except InputError as exc:
            kept = f"keeping {self._instruction!r}" if self._instruction else "still no instruction"
            self.get_logger().error(
                f"ignored the instruction on {self.resolve_topic_name('instruction')}: {exc} ({kept})"
            )
            return
        with self._lock:
            changed = instruction != self._instruction
            self._instruction = instruction
        if changed:
            self.get_logger().info(f"instruction: {instruction!r}")

    # --- the worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        self._predictor = self._load_model()
        while not self._stop.is_set():
            frame = self._slot.take(timeout_s=0.5)
            if not self.context.ok():
                return  # Ctrl-C shut the context down; destroy_node follows
            if frame is None:
                self._report_waiting()
                continue
            if self._predictor is None:
                continue
            try:
                self._process(frame)
            except InputError as exc:
                self._count("refused")
                self._complain(f"refused a frame: {exc}")
                self._diagnostics.set(Level.WARN, f"refusing input: {exc}")
            except Exception as exc:
                if self._stop.is_set() or not self.context.ok():
                    return
                self._count("failed")
                self._complain(f"prediction failed: {type(exc).__name__}: {exc}")
                self._diagnostics.set(Level.ERROR, f"prediction failed: {exc}")

    def _complain(self, message: str) -> None:
        """Log an error at once when it is new (or follows a success), else at most every
        LOG_THROTTLE_S: bad frames arrive at camera rate."""
        now = time.monotonic()
        if message != self._last_complaint or now - self._last_complaint_s >= LOG_THROTTLE_S:
            self.get_logger().error(message)
            self._last_complaint, self._last_complaint_s = message, now

    def _load_model(self) -> TracePredictor | None:
        if not self._settings.configured:
            message = (
                "no model: set model.checkpoint to a checkpoint directory (or model.preset for random "
                "weights); waiting without publishing traces"
            )
            self.get_logger().warning(message)
            self._diagnostics.set(Level.WARN, message)
            return None
        self.get_logger().info(f"loading the model: {self._settings.describe()}")
        self._diagnostics.set(Level.WARN, f"loading the model: {self._settings.describe()}")
        started = time.monotonic()
        try:
            predictor = load_from_settings(self._settings)
        except Exception as exc:
            message = f"cannot load the model ({self._settings.describe()}): {exc}"
            self.get_logger().error(message + "; fix model.* and restart the node")
            self._diagnostics.set(Level.ERROR, message)
            return None
        if self._settings.preset and not self._settings.checkpoint:
            self.get_logger().warning(
                f"model.preset {self._settings.preset!r} without a checkpoint: RANDOM weights, the traces "
                "mean nothing (for tests and latency measurements)"
            )
        self.get_logger().info(f"model {predictor.model_id} ready in {time.monotonic() - started:.1f} s")
        self._diagnostics.set(Level.OK, f"model {predictor.model_id} ready; waiting for frames")
        self._diagnostics.update_values(model_id=predictor.model_id)
        return predictor

    def _report_waiting(self) -> None:
        """Say what the node waits for, every LOG_THROTTLE_S while nothing arrives."""
        if self._predictor is None:
            return
        topics = ", ".join(self.resolve_topic_name(t) for t in self._sync.topics)
        self.get_logger().info(
            f"waiting for synchronised frames on {topics}", throttle_duration_sec=LOG_THROTTLE_S
        )

    def _process(self, frame: FrameSet) -> None:
        with self._lock:
            instruction = self._instruction
        if not instruction:
            self.get_logger().warning(
                f"waiting for an instruction on {self.resolve_topic_name('instruction')} (or the "
                "instruction parameter); frames are dropped until then",
                throttle_duration_sec=LOG_THROTTLE_S,
            )
            self._diagnostics.set(Level.WARN, "waiting for an instruction")
            return
        age_ns = self.get_clock().now().nanoseconds - stamp_ns(frame.color)
        if age_ns > self._max_age_ns:
            self._count("stale")
            self.get_logger().warning(
                f"dropped a frame {age_ns / 1e9:.2f} s old (max_frame_age_s {self._max_age_ns / 1e9:g})",
                throttle_duration_sec=LOG_THROTTLE_S,
            )
            return
        observation = self._observation(frame, instruction)
        prediction = self._predictor.predict(observation, seed=self._seed)
        trace = prediction.trace
        if (trace.intrinsics.width_px, trace.intrinsics.height_px) != (
            observation.intrinsics.width_px,
            observation.intrinsics.height_px,
        ):
            raise InputError(f"the model returned traces for a {trace.intrinsics} image, not this one")
        latency_s = time.monotonic() - frame.received_s
        meta = TraceGridMeta(
            stamp=frame.color.header.stamp,
            frame_id=frame.color.header.frame_id,
            instruction=instruction,
            model_id=prediction.model_id,
            inference_latency_s=latency_s,
            confidence=prediction.confidence,
        )
        self._trace_pub.publish(trace_to_msg(trace, meta))
        if self._marker_pub is not None:
            self._marker_pub.publish(
                trace_markers(trace, stamp=meta.stamp, frame_id=meta.frame_id, **self._marker_options)
            )
        self._record_latency(latency_s, prediction.latency_s)

    def _observation(self, frame: FrameSet, instruction: str) -> Observation:
        """Convert and validate one frame set (raises :class:`InputError` naming the problem)."""
        rgb = color_to_rgb(frame.color)
        intrinsics = camera_info_to_intrinsics(frame.info)
        depth_m = None
        if frame.depth is not None:
            depth_m = depth_to_metres(frame.depth)
            if not np.isfinite(depth_m).all():  # depth_to_metres maps them to 0; guard the contract
                raise InputError("depth holds non-finite values after conversion")
        return Observation(rgb=rgb, depth_m=depth_m, intrinsics=intrinsics, instruction=instruction)

    def _count(self, what: str) -> None:
        with self._lock:
            self._stats[what] += 1
        self._diagnostics.update_values(**self._stats, dropped_superseded=self._slot.replaced)

    def _record_latency(self, latency_s: float, model_latency_s: float) -> None:
        self._last_complaint = ""  # the next problem is news again
        with self._lock:
            self._stats["predictions"] += 1
            self._latencies_s = [*self._latencies_s[-99:], latency_s]
            mean_s = float(np.mean(self._latencies_s))
            count = self._stats["predictions"]
        self.get_logger().info(
            f"trace {count}: {latency_s:.3f} s frame-to-trace (model {model_latency_s:.3f} s), "
            f"mean {mean_s:.3f} s over the last {len(self._latencies_s)}; {self._slot.replaced} older "
            "frames skipped so far",
            throttle_duration_sec=LOG_THROTTLE_S,
        )
        self._diagnostics.set(Level.OK, f"publishing traces, {latency_s:.3f} s latency")
        self._diagnostics.update_values(
            **self._stats,
            last_latency_s=f"{latency_s:.4f}",
            mean_latency_s=f"{mean_s:.4f}",
            dropped_superseded=self._slot.replaced,
        )

    def destroy_node(self) -> None:
        self._stop.set()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(InferenceNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
