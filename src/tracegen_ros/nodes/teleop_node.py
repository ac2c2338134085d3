"""teleop_node: operator twists -> safe Cartesian velocity motions of the FR3 (franky), for demos.

Subscribes (relative names; run in namespace ``tracegen``), reliable QoS:

- ``teleop/twist`` (geometry_msgs/TwistStamped): the TCP velocity wanted; ``header.frame_id``
  ``fr3_link0`` (base axes, also when empty) or ``fr3_hand_tcp`` (gripper axes);
  ``header.stamp`` is when the device produced it (latency is measured from it). Each twist
  replaces the previous one; with none for ``deadman_timeout_s`` the arm stops smoothly.
  Anything publishing TwistStamped works: ``tracegen teleop --keyboard`` / ``--spacemouse``,
  teleop_twist_keyboard (``stamped:=true``), joy's teleop_twist_joy (``publish_stamped_twist``);
- ``teleop/gripper`` (std_msgs/Bool): ``true`` closes (grasps), ``false`` opens;
- ``estop`` (std_msgs/Bool, the IK controller's topic): ``true`` stops the arm and refuses twists
  until the ``~/reset_estop`` service.

Services: ``~/estop`` and ``~/reset_estop`` (std_srvs/Trigger), as the IK controller's (private
names, so both nodes can run in one namespace).

Publishes: ``joint_states`` (remapped to /joint_states: arm + finger joints) and ``tcp_pose``
(PoseStamped, fr3_link0) at ``joint_state_rate_hz``, so the demo recorder records whatever moves
the arm; ``teleop/command`` (TwistStamped, fr3_link0: the limited TCP velocity sent to franky,
stamped with the twist it answers); ``teleop/measured_twist`` (TwistStamped: the TCP velocity
J(q) dq measured by the robot); status on /diagnostics.

Robot ownership: the node takes the robot's lease (:mod:`tracegen.robot.ownership`) when it
connects; while the IK controller holds it, the node logs who owns the arm and retries.
All logic is :class:`tracegen.robot.teleop_runner.TeleopRunner` and
:class:`tracegen.robot.teleop.TwistLimiter` (the shared safety envelope).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from tracegen.resources import config_path
from tracegen.robot.controller import StatusLevel
from tracegen.robot.franky_robot import DynamicsFactors
from tracegen.robot.franky_teleop import FrankyTeleopRobot
from tracegen.robot.interface import RobotState
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.ownership import OwnedRobot, RobotLease
from tracegen.robot.safety import SafetyEnvelope, SafetyLimits
from tracegen.robot.teleop import TeleopSettings, TwistCommand, TwistLimiter
from tracegen.robot.teleop_runner import IssuedCommand, RunnerConfig, TeleopMode, TeleopRunner
from tracegen.robot_assets import BASE_FRAME, TCP_FRAME
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.node_main import publish_unless_shut_down, run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.qos import COMMAND_QOS
from tracegen_ros.robot_msgs import joint_state_msg, ns_to_time, pose_stamped, time_to_ns
from tracegen_ros.robot_params import (
    DYNAMICS_ACCELERATION_PARAM,
    DYNAMICS_JERK_PARAM,
    DYNAMICS_VELOCITY_PARAM,
    GRIPPER_FORCE_N_PARAM,
    GRIPPER_SPEED_M_S_PARAM,
    JOINT_STATE_RATE_HZ_PARAM,
    ROBOT_IP_PARAM,
    SAFETY_FILE_PARAM,
    USE_GRIPPER_PARAM,
)

NODE_NAME = "teleop_node"

PARAMS = (
    ROBOT_IP_PARAM,
    ParamSpec(
        "mode",
        "teleop",
        "teleop: drive the arm from twists; kinesthetic: hand-guiding, the node only publishes the state.",
        choices=tuple(m.value for m in TeleopMode),
    ),
    USE_GRIPPER_PARAM,
    SAFETY_FILE_PARAM,
    ParamSpec("tcp_frame", TCP_FRAME, "URDF frame of the TCP whose velocity the twists command."),
    ParamSpec(
        "deadman_timeout_s",
        0.2,
        "With no twist for this long the arm stops smoothly, seconds.",
        min_value=0.01,
        max_value=5.0,
    ),
    ParamSpec(
        "lookahead_s",
        0.3,
        "The TCP slows down when it would reach the workspace box or a joint limit within this time, s.",
        min_value=0.01,
        max_value=5.0,
    ),
    ParamSpec(
        "speed_fraction",
        1.0,
        "Fraction of the safety envelope's Cartesian speed limits teleoperation may use.",
        min_value=0.01,
        max_value=1.0,
    ),
    DYNAMICS_VELOCITY_PARAM,
    DYNAMICS_ACCELERATION_PARAM,
    DYNAMICS_JERK_PARAM,
    GRIPPER_SPEED_M_S_PARAM,
    GRIPPER_FORCE_N_PARAM,
    ParamSpec("gripper.open_width_m", 0.08, "Finger opening on open, metres.", min_value=0.0, max_value=0.08),
    ParamSpec(
        "guiding.free_axes",
        [True, True, True, True, True, True],
        "Kinesthetic mode: axes (x, y, z, roll, pitch, yaw) a person may move by hand.",
    ),
    ParamSpec("guiding.elbow", True, "Kinesthetic mode: the elbow may move freely too."),
    ParamSpec(
        "guiding.set_mode",
        True,
        "Kinesthetic mode: set the guiding mode through franky (false: as configured in Desk).",
    ),
    ParamSpec(
        "control_rate_hz",
        100.0,
        "Rate of the robot loop (limits re-checked, deadman, state), Hz; twists are sent at once.",
        min_value=10.0,
        max_value=1000.0,
    ),
    JOINT_STATE_RATE_HZ_PARAM,
    ParamSpec(
        "reconnect_period_s",
        2.0,
        "Seconds between connection attempts while the robot is unreachable or owned by another node.",
        min_value=0.1,
        max_value=600.0,
    ),
    ParamSpec(
        "latency_log_file",
        "",
        "Benchmarks: append 'twist stamp ns, command issued ns' per twist to this file; empty: off.",
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Seconds between status messages on /diagnostics.",
        min_value=0.1,
        max_value=60.0,
    ),
)

LEVELS = {StatusLevel.OK: Level.OK, StatusLevel.WARN: Level.WARN, StatusLevel.ERROR: Level.ERROR}


def twist_msg(linear: np.ndarray, angular: np.ndarray, stamp, frame_id: str = BASE_FRAME) -> TwistStamped:
    msg = TwistStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in linear)
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = (float(v) for v in angular)
    return msg


class TeleopNode(Node):
    """ROS front of :class:`~tracegen.robot.teleop_runner.TeleopRunner` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        params = declare_parameters(self, PARAMS)
        safety_file = params["safety_file"].strip() or str(config_path("safety.yaml"))
        envelope = SafetyEnvelope(SafetyLimits.load(safety_file))
        settings = TeleopSettings(
            deadman_timeout_s=params["deadman_timeout_s"],
            lookahead_s=params["lookahead_s"],
            speed_fraction=params["speed_fraction"],
        )
        limiter = TwistLimiter(envelope, Fr3Kinematics(tcp_frame=params["tcp_frame"]), settings)
        self._kinematics = Fr3Kinematics(tcp_frame=params["tcp_frame"])  # robot thread only
        robot = OwnedRobot(
            FrankyTeleopRobot(
                params["robot_ip"],
                dynamics=DynamicsFactors(
                    params["dynamics.velocity"], params["dynamics.acceleration"], params["dynamics.jerk"]
                ),
                use_gripper=params["use_gripper"],
            ),
            RobotLease(params["robot_ip"], owner=f"{self.get_fully_qualified_name()}"),
        )
        free_axes = tuple(bool(v) for v in params["guiding.free_axes"])
        if len(free_axes) != 6:
            from tracegen_ros.params import ParameterError

            raise ParameterError(f"parameter 'guiding.free_axes' needs 6 booleans, got {list(free_axes)}")
        config = RunnerConfig(
            mode=TeleopMode(params["mode"]),
            loop_period_s=1.0 / params["control_rate_hz"],
            state_period_s=1.0 / params["joint_state_rate_hz"],
            reconnect_period_s=params["reconnect_period_s"],
            gripper_speed_m_s=params["gripper.speed_m_s"],
            gripper_force_n=params["gripper.force_n"],
            gripper_open_width_m=params["gripper.open_width_m"],
            guiding_free_axes=free_axes,
            guiding_elbow=params["guiding.elbow"],
            guiding_set_mode=params["guiding.set_mode"],
        )
        self._latency_file = None
        if params["latency_log_file"].strip():
            self._latency_file = Path(params["latency_log_file"]).expanduser().open("a", encoding="utf-8")
        self._refusal_logged_s = -np.inf
        self._log_lock = threading.Lock()

        self._joint_state_pub = self.create_publisher(JointState, "joint_states", COMMAND_QOS)
        self._tcp_pub = self.create_publisher(PoseStamped, "tcp_pose", COMMAND_QOS)
        self._command_pub = self.create_publisher(TwistStamped, "teleop/command", COMMAND_QOS)
        self._measured_pub = self.create_publisher(TwistStamped, "teleop/measured_twist", COMMAND_QOS)
        self._diagnostics = DiagnosticsReporter(
            self, "teleoperation", hardware_id=robot.description, period_s=params["diagnostics_period_s"]
        )
        self._runner = TeleopRunner(
            robot,
            limiter,
            config,
            on_state=self._publish_state,
            on_command=self._publish_command,
            on_status=self._publish_status,
            on_note=lambda note: self.get_logger().info(note),
        )
        commands, estop = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
        self.create_subscription(
            TwistStamped, "teleop/twist", self._on_twist, COMMAND_QOS, callback_group=commands
        )
        self.create_subscription(
            Bool, "teleop/gripper", self._on_gripper, COMMAND_QOS, callback_group=commands
        )
        self.create_subscription(Bool, "estop", self._on_estop_topic, COMMAND_QOS, callback_group=estop)
        self.create_service(Trigger, "~/estop", self._on_estop_service, callback_group=estop)
        self.create_service(
            Trigger, "~/reset_estop", self._on_reset_service, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self.get_logger().info(
            f"{config.mode.value} mode, robot {robot.description}, deadman "
            f"{settings.deadman_timeout_s * 1000:.0f} ms, "
            f"safety limits from {safety_file}; twists on {self.resolve_topic_name('teleop/twist')}, "
            f"gripper on {self.resolve_topic_name('teleop/gripper')}, "
            f"e-stop on {self.resolve_topic_name('estop')}"
        )
        self._runner.start()

    # --- inputs --------------------------------------------------------------------------------

    def _on_twist(self, msg: TwistStamped) -> None:
        frame = msg.header.frame_id or BASE_FRAME
        stamp_ns = time_to_ns(msg.header.stamp) or self.get_clock().now().nanoseconds
        command = TwistCommand(
            (msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z),
            (msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z),
            frame=frame,
            stamp_ns=stamp_ns,
        )
        refusal = self._runner.submit_twist(command)
        if refusal is not None:
            now = time.monotonic()
            if now - self._refusal_logged_s > 2.0:  # not 100 lines a second
                self._refusal_logged_s = now
                self.get_logger().warning(f"twist ignored: {refusal}")

    def _on_gripper(self, msg: Bool) -> None:
        self.get_logger().info(f"gripper: {'close' if msg.data else 'open'}")
        self._runner.submit_gripper(bool(msg.data))

    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self._engage_estop(f"e-stop on {self.resolve_topic_name('estop')}")

    def _on_estop_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._engage_estop(f"e-stop service {self.resolve_service_name('~/estop')}")
        response.success, response.message = (
            True,
            "e-stop engaged: the arm stops; call reset_estop to release",
        )
        return response

    def _on_reset_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        success, message = self._runner.reset_estop()
        (self.get_logger().info if success else self.get_logger().error)(f"reset_estop: {message}")
        response.success, response.message = success, message
        return response

    def _engage_estop(self, reason: str) -> None:
        if not self._runner.estop_active:
            self.get_logger().warning(f"E-STOP: {reason}")
        self._runner.estop(reason)

    # --- outputs (robot thread) ----------------------------------------------------------------

    def _publish_state(self, state: RobotState, tcp_twist: np.ndarray) -> None:
        if not self.context.ok():  # shutting down (Ctrl-C): the robot thread is about to stop
            return
        stamp = self.get_clock().now().to_msg()
        joints = joint_state_msg(state.q_rad, state.dq_rad_s, state.gripper_width_m, stamp)
        publish_unless_shut_down(self, self._joint_state_pub, joints)
        publish_unless_shut_down(self, self._tcp_pub, pose_stamped(self._kinematics.fk(state.q_rad), stamp))
        publish_unless_shut_down(self, self._measured_pub, twist_msg(tcp_twist[:3], tcp_twist[3:], stamp))

    def _publish_command(self, issued: IssuedCommand) -> None:
        if not self.context.ok():
            return
        velocity = issued.velocity
        command = twist_msg(velocity.linear_m_s, velocity.angular_rad_s, ns_to_time(issued.source.stamp_ns))
        publish_unless_shut_down(self, self._command_pub, command)
        if self._latency_file is not None:
            # Same clock as the twist stamp (ROS time = wall clock), taken when franky accepted it.
            issued_wall_ns = time.time_ns() - (time.monotonic_ns() - issued.issued_ns)
            with self._log_lock:
                self._latency_file.write(f"{issued.source.stamp_ns},{issued_wall_ns}\n")
                self._latency_file.flush()

    def _publish_status(self, level: StatusLevel, message: str) -> None:
        if not self.context.ok():
            return
        if level is StatusLevel.OK:
            self.get_logger().info(message)
        elif level is StatusLevel.WARN:
            self.get_logger().warning(message)
        else:
            self.get_logger().error(message)
        self._diagnostics.set(LEVELS[level], message, estop_active=self._runner.estop_active)

    def destroy_node(self) -> None:
        self._runner.shutdown()
        if self._latency_file is not None:
            self._latency_file.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(TeleopNode, args, num_threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
