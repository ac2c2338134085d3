"""retarget_node: TraceGen traces -> an end-effector plan in the robot base frame (+ gripper).

Subscribes (relative names; the node graph runs it in namespace ``tracegen`` and remaps
``joint_states`` to ``/joint_states``):

- ``trace`` (tracegen/TraceGrid, reliable): 3D traces in the camera optical frame, which must
  be the calibration's ``child_frame``;
- ``joint_states`` (sensor_msgs/JointState, sensor QoS): the FR3's joints (and fingers). The
  node keeps a few seconds of them and uses the one nearest the trace's stamp, i.e. the arm as
  the reference image saw it.

Publishes (reliable): ``ee_path`` (nav_msgs/Path in fr3_link0: the TCP path, for rviz and
evaluation) and ``ee_plan`` (tracegen/EndEffectorPlan: the same poses with timing and gripper
actions, what ik_controller_node executes), both stamped with the trace's stamp; status on
``/diagnostics``.

The work is :class:`tracegen.ee_retarget.TraceRetargeter`; the camera extrinsic comes from
``calibration_file`` (config/calibration.yaml), the limits from ``safety_file``
(config/safety.yaml). A trace that cannot be retargeted (malformed, 2D, no gripper in view, no
joint state near its stamp, a path the safety envelope refuses) is logged with the reason and
publishes nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import JointState

from tracegen.calibration import load_calibration
from tracegen.ee_retarget import RetargetConfig, TraceRetargeter
from tracegen.errors import InputError
from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
from tracegen.msg import TraceGrid
from tracegen.resources import config_path
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.safety import SafetyEnvelope, SafetyLimits, SafetyPolicy
from tracegen.robot_assets import TCP_FRAME
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.node_main import run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.qos import COMMAND_QOS, SENSOR_QOS
from tracegen_ros.robot_msgs import joint_state_from_msg, plan_to_msg, plan_to_path, time_to_ns
from tracegen_ros.trace_msg import msg_to_trace

NODE_NAME = "retarget_node"
#: Seconds between repeats of the same complaint.
LOG_THROTTLE_S = 5.0
POLICIES = tuple(p.value for p in SafetyPolicy)

PARAMS = (
    ParamSpec(
        "calibration_file",
        "",
        "Camera extrinsic (hand-eye calibration) YAML; empty: the shipped config/calibration.yaml.",
    ),
    ParamSpec("safety_file", "", "Safety envelope YAML; empty: the shipped config/safety.yaml."),
    ParamSpec("tcp_frame", TCP_FRAME, "URDF frame of the TCP the plan's poses are for."),
    ParamSpec("tcp_offset_m", [0.0, 0.0, 0.0], "Extra TCP translation in tcp_frame, metres (x, y, z)."),
    ParamSpec(
        "gripper.margin_px",
        6.0,
        "Grow the projected gripper silhouette by this many pixels.",
        min_value=0.0,
        max_value=100.0,
    ),
    ParamSpec(
        "gripper.distance_m",
        0.03,
        "A grid point on the silhouette counts only within this distance of the gripper's geometry, metres.",
        min_value=0.001,
        max_value=0.5,
    ),
    ParamSpec(
        "gripper.min_points",
        1,
        "Refuse traces with fewer grid points on the gripper.",
        min_value=1,
        max_value=400,
    ),
    ParamSpec(
        "rigid.ransac_threshold_m",
        0.01,
        "RANSAC inlier distance of the per-step rigid fit, metres.",
        min_value=0.0005,
        max_value=0.2,
    ),
    ParamSpec(
        "rigid.ransac_iterations",
        64,
        "RANSAC hypotheses per step (all triples when fewer).",
        min_value=1,
        max_value=10000,
    ),
    ParamSpec(
        "rigid.min_points",
        4,
        "Rigid inliers needed to use the rigid fit; fewer: mean displacement.",
        min_value=3,
        max_value=400,
    ),
    ParamSpec(
        "rigid.min_inlier_fraction",
        0.6,
        "Fraction of a step's gripper points that must be rigid inliers.",
        min_value=0.01,
        max_value=1.0,
    ),
    ParamSpec(
        "rigid.min_spread_m",
        0.01,
        "Inliers spanning less than this across their thinnest line cannot "
        "fix a rotation (mean displacement instead), metres.",
        min_value=0.0,
        max_value=1.0,
    ),
    ParamSpec(
        "grasp.radius_m",
        0.08,
        "Object points within this distance of the TCP may be held, metres.",
        min_value=0.001,
        max_value=1.0,
    ),
    ParamSpec(
        "grasp.co_motion_tolerance_m",
        0.015,
        "An object point follows the gripper within this distance, metres.",
        min_value=0.001,
        max_value=0.5,
    ),
    ParamSpec(
        "grasp.min_gripper_motion_m",
        0.02,
        "Decide open/close only when the TCP moves at least this much over the look-ahead window, metres.",
        min_value=0.001,
        max_value=1.0,
    ),
    ParamSpec(
        "grasp.window_steps",
        4,
        "Trace steps looked ahead for the open/close decision.",
        min_value=1,
        max_value=128,
    ),
    ParamSpec(
        "grasp.min_object_points",
        1,
        "Following object points that mean 'closed on an object'.",
        min_value=1,
        max_value=400,
    ),
    ParamSpec("grasp.open_width_m", 0.08, "Width commanded to open, metres.", min_value=0.0, max_value=0.08),
    ParamSpec(
        "grasp.grasp_width_m",
        0.0,
        "Expected object width when closing (0: any), metres.",
        min_value=0.0,
        max_value=0.08,
    ),
    ParamSpec(
        "step_duration_s",
        0.25,
        "Time between trace steps on the robot, seconds.",
        min_value=0.01,
        max_value=10.0,
    ),
    ParamSpec(
        "safety.workspace_policy",
        "clip",
        "Waypoints outside the workspace box: clip them into it, or reject the trace.",
        choices=POLICIES,
    ),
    ParamSpec(
        "safety.speed_policy",
        "clip",
        "Segments faster than the Cartesian limits: slow them down (clip), or reject the trace.",
        choices=POLICIES,
    ),
    ParamSpec(
        "joint_state_max_skew_s",
        0.5,
        "Largest gap between a trace's stamp and the nearest joint state, seconds.",
        min_value=0.001,
        max_value=60.0,
    ),
    ParamSpec(
        "joint_state_buffer_s",
        30.0,
        "Seconds of joint states kept to match trace stamps.",
        min_value=1.0,
        max_value=600.0,
    ),
    ParamSpec(
        "max_trace_age_s",
        30.0,
        "Refuse traces whose stamp is older than this (0: no limit), seconds.",
        min_value=0.0,
        max_value=3600.0,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Seconds between status messages on /diagnostics.",
        min_value=0.1,
        max_value=60.0,
    ),
)


def retarget_config(params: dict) -> RetargetConfig:
    return RetargetConfig(
        gripper_margin_px=params["gripper.margin_px"],
        gripper_distance_m=params["gripper.distance_m"],
        min_gripper_points=params["gripper.min_points"],
        ransac_threshold_m=params["rigid.ransac_threshold_m"],
        ransac_iterations=params["rigid.ransac_iterations"],
        min_rigid_points=params["rigid.min_points"],
        min_inlier_fraction=params["rigid.min_inlier_fraction"],
        min_point_spread_m=params["rigid.min_spread_m"],
        grasp_radius_m=params["grasp.radius_m"],
        co_motion_tolerance_m=params["grasp.co_motion_tolerance_m"],
        min_gripper_motion_m=params["grasp.min_gripper_motion_m"],
        window_steps=params["grasp.window_steps"],
        min_object_points=params["grasp.min_object_points"],
        open_width_m=params["grasp.open_width_m"],
        grasp_width_m=params["grasp.grasp_width_m"],
        step_duration_s=params["step_duration_s"],
        workspace_policy=params["safety.workspace_policy"],
        speed_policy=params["safety.speed_policy"],
    )


class JointStateBuffer:
    """Recent joint states by stamp; :meth:`nearest` finds the one closest to a time."""

    def __init__(self, horizon_s: float) -> None:
        self._horizon_ns = int(horizon_s * 1e9)
        self._items: deque[tuple[int, np.ndarray, float | None]] = deque()
        self._lock = threading.Lock()

    def add(self, stamp_ns: int, q_rad: np.ndarray, gripper_width_m: float | None) -> None:
        with self._lock:
            self._items.append((stamp_ns, q_rad, gripper_width_m))
            while self._items and self._items[0][0] < stamp_ns - self._horizon_ns:
                self._items.popleft()

    def nearest(self, stamp_ns: int) -> tuple[int, np.ndarray, float | None] | None:
        with self._lock:
            if not self._items:
                return None
            return min(self._items, key=lambda item: abs(item[0] - stamp_ns))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


class RetargetNode(Node):
    """Converts TraceGrid + joint states into EndEffectorPlan and Path (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        params = declare_parameters(self, PARAMS)
        calibration_file = params["calibration_file"].strip() or str(config_path("calibration.yaml"))
        safety_file = params["safety_file"].strip() or str(config_path("safety.yaml"))
        self._calibration = load_calibration(calibration_file)
        envelope = SafetyEnvelope(SafetyLimits.load(safety_file))
        kinematics = Fr3Kinematics(tcp_frame=params["tcp_frame"], tcp_offset_m=params["tcp_offset_m"])
        self._retargeter = TraceRetargeter(
            kinematics, self._calibration.matrix, retarget_config(params), envelope
        )
        self._max_skew_ns = int(params["joint_state_max_skew_s"] * 1e9)
        self._max_age_ns = int(params["max_trace_age_s"] * 1e9)
        self._joint_states = JointStateBuffer(params["joint_state_buffer_s"])
        self._stats = {"plans": 0, "refused": 0, "bad_joint_states": 0}
        self._stats_lock = threading.Lock()

        self._path_pub = self.create_publisher(Path, "ee_path", COMMAND_QOS)
        self._plan_pub = self.create_publisher(EndEffectorPlanMsg, "ee_plan", COMMAND_QOS)
        self.create_subscription(TraceGrid, "trace", self._on_trace, COMMAND_QOS)
        self.create_subscription(JointState, "joint_states", self._on_joint_state, SENSOR_QOS)
        self._diagnostics = DiagnosticsReporter(
            self, "trace retargeting", period_s=params["diagnostics_period_s"]
        )
        self._waiting_timer = self.create_timer(LOG_THROTTLE_S, self._report_waiting)
        self._received_trace = False
        self.get_logger().info(
            f"camera extrinsic from {calibration_file} ({self._calibration.parent_frame} -> "
            f"{self._calibration.child_frame}, {self._calibration.method or 'method not recorded'}); "
            f"safety limits from {safety_file}; TCP {kinematics.tcp_frame_name}"
        )
        self._report_waiting()

    # --- inputs --------------------------------------------------------------------------------

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            q, width = joint_state_from_msg(msg)
        except InputError as exc:
            self._count("bad_joint_states")
            self.get_logger().error(f"ignored a joint state: {exc}", throttle_duration_sec=LOG_THROTTLE_S)
            return
        stamp_ns = time_to_ns(msg.header.stamp) or self.get_clock().now().nanoseconds
        self._joint_states.add(stamp_ns, q, width)

    def _on_trace(self, msg: TraceGrid) -> None:
        self._received_trace = True
        try:
            self._retarget(msg)
        except InputError as exc:
            self._count("refused")
            self.get_logger().error(f"refused a trace: {exc}")
            self._diagnostics.set(Level.WARN, f"refused the last trace: {exc}")

    def _retarget(self, msg: TraceGrid) -> None:
        started = time.monotonic()
        if msg.header.frame_id != self._calibration.child_frame:
            raise InputError(
                f"the trace is in frame {msg.header.frame_id!r} but the calibration is for "
                f"{self._calibration.child_frame!r}: use the calibration of this camera (calibration_file)"
            )
        trace, _ = msg_to_trace(msg)
        now_ns = self.get_clock().now().nanoseconds
        stamp_ns = time_to_ns(msg.header.stamp) or now_ns
        if self._max_age_ns and now_ns - stamp_ns > self._max_age_ns:
            raise InputError(
                f"the trace is {(now_ns - stamp_ns) / 1e9:.1f} s old "
                f"(max_trace_age_s {self._max_age_ns / 1e9:g})"
            )
        nearest = self._joint_states.nearest(stamp_ns)
        if nearest is None:
            raise InputError(
                f"no joint state received yet on {self.resolve_topic_name('joint_states')}: the gripper "
                "cannot be located in the image"
            )
        joint_stamp_ns, q, width = nearest
        skew_s = abs(joint_stamp_ns - stamp_ns) / 1e9
        if abs(joint_stamp_ns - stamp_ns) > self._max_skew_ns:
            raise InputError(
                f"the nearest joint state is {skew_s:.2f} s from the trace's stamp (joint_state_max_skew_s "
                f"{self._max_skew_ns / 1e9:g}): is the robot publishing, and are the clocks synchronised?"
            )
        result = self._retargeter.retarget(trace, q, width if width is not None else 0.0, stamp_ns=stamp_ns)
        self._plan_pub.publish(plan_to_msg(result.plan))
        self._path_pub.publish(plan_to_path(result.plan))
        self._count("plans")
        elapsed_s = time.monotonic() - started
        notes = f"; {'; '.join(result.notes)}" if result.notes else ""
        self.get_logger().info(
            f"plan of {result.plan.num_waypoints} waypoints over {result.plan.duration_s:.2f} s from "
            f"{result.summary()} in {elapsed_s * 1000:.0f} ms{notes}"
        )
        self._diagnostics.set(Level.OK, f"publishing plans ({result.summary()})")
        self._diagnostics.update_values(last_retarget_s=f"{elapsed_s:.4f}")

    # --- status --------------------------------------------------------------------------------

    def _count(self, what: str) -> None:
        with self._stats_lock:
            self._stats[what] += 1
            stats = dict(self._stats)
        self._diagnostics.update_values(**stats)

    def _report_waiting(self) -> None:
        waiting = []
        if len(self._joint_states) == 0:
            waiting.append(f"joint states on {self.resolve_topic_name('joint_states')}")
        if not self._received_trace:
            waiting.append(f"traces on {self.resolve_topic_name('trace')}")
        if waiting:
            message = "waiting for " + " and ".join(waiting)
            self.get_logger().info(message)
            if self._diagnostics.level is not Level.WARN or "refused" not in self._diagnostics.message:
                self._diagnostics.set(Level.WARN, message)


def main(args: list[str] | None = None) -> int:
    return run_node(RetargetNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
