"""ik_controller_node: end-effector plans -> Pinocchio IK -> timed joint motion -> franky -> FR3.

Subscribes (relative names; the node graph runs it in namespace ``tracegen`` and remaps
``joint_states`` to ``/joint_states``), reliable QoS:

- ``ee_plan`` (tracegen/EndEffectorPlan): the plan to execute; a newer plan replaces the
  running one;
- ``target_pose`` (geometry_msgs/PoseStamped in fr3_link0): one TCP target, timed by
  ``target.speed_m_s``;
- ``estop`` (std_msgs/Bool): ``true`` engages the e-stop (``false`` does nothing: releasing is
  deliberate, through the ``reset_estop`` service).

Services: ``estop`` (std_srvs/Trigger: engage), ``reset_estop`` (std_srvs/Trigger: release, and
run the robot's error recovery if it reports errors).

Publishes: ``joint_states`` (sensor_msgs/JointState: fr3_joint1..7 + both finger joints, at
``joint_state_rate_hz``), ``tcp_pose`` (geometry_msgs/PoseStamped of the TCP in fr3_link0),
``plan_status`` (tracegen/PlanStatus: accepted, executing, done, refused, stopped, failed, with
the reason), ``joint_trajectory`` (trajectory_msgs/JointTrajectory: each timed joint motion as it
is sent), and status on ``/diagnostics``.

All logic is :class:`tracegen.robot.controller.Controller` (IK, limits, e-stop, stale plans,
franky errors and recovery). With ``dry_run`` there is no robot
(:class:`~tracegen.robot.dry_run.DryRunRobot`): plans are solved, checked and "executed" by
replaying them, so the published joint states show what would be commanded. Without
``dry_run`` and no robot reachable at ``robot_ip`` the node stays up and retries every
``reconnect_period_s``, saying so in the log and on /diagnostics; plans are refused meanwhile.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from tracegen.errors import InputError
from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
from tracegen.msg import PlanStatus
from tracegen.resources import config_path
from tracegen.robot.controller import (
    Controller,
    ControllerConfig,
    PlanCompiler,
    PlanEvent,
    PlanState,
    StatusLevel,
)
from tracegen.robot.dry_run import DEFAULT_INITIAL_Q_RAD, DryRunRobot
from tracegen.robot.franky_robot import DynamicsFactors, FrankyRobot
from tracegen.robot.ik import SOLVERS, IkSettings
from tracegen.robot.interface import RobotState
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.ownership import OwnedRobot, RobotLease
from tracegen.robot.safety import SafetyEnvelope, SafetyLimits
from tracegen.robot_assets import BASE_FRAME, TCP_FRAME
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.node_main import publish_unless_shut_down, run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.qos import COMMAND_QOS
from tracegen_ros.robot_msgs import (
    joint_state_msg,
    joint_trajectory_msg,
    msg_to_plan,
    plan_status_msg,
    pose_stamped,
    pose_to_matrix,
    time_to_ns,
)
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

NODE_NAME = "ik_controller_node"
#: Seconds between reminders of what the node waits for.
REMIND_PERIOD_S = 10.0

PARAMS = (
    ROBOT_IP_PARAM,
    ParamSpec(
        "dry_run",
        False,
        "No robot: solve, check and replay plans, publishing the joint states they would command.",
    ),
    USE_GRIPPER_PARAM,
    SAFETY_FILE_PARAM,
    ParamSpec("tcp_frame", TCP_FRAME, "URDF frame of the TCP that plans and targets refer to."),
    ParamSpec("tcp_offset_m", [0.0, 0.0, 0.0], "Extra TCP translation in tcp_frame, metres (x, y, z)."),
    ParamSpec(
        "ik.solver",
        "dls",
        "IK solver: dls (damped least squares) or pink (QP with joint limits).",
        choices=SOLVERS,
    ),
    ParamSpec(
        "ik.position_tolerance_m", 1e-4, "IK position tolerance, metres.", min_value=1e-6, max_value=0.01
    ),
    ParamSpec(
        "ik.orientation_tolerance_rad",
        1e-3,
        "IK orientation tolerance, radians.",
        min_value=1e-5,
        max_value=0.1,
    ),
    ParamSpec("ik.max_iterations", 100, "IK iterations per seed.", min_value=1, max_value=10000),
    ParamSpec(
        "ik.damping",
        1e-3,
        "Damping away from singularities (DLS lambda; pink's QP damping).",
        min_value=1e-9,
        max_value=1.0,
    ),
    ParamSpec("ik.max_damping", 0.05, "DLS damping at a singularity.", min_value=1e-6, max_value=10.0),
    ParamSpec(
        "ik.manipulability_threshold",
        0.01,
        "Manipulability below which the DLS damping grows.",
        min_value=1e-6,
        max_value=1.0,
    ),
    ParamSpec(
        "ik.restarts",
        2,
        "Extra IK seeds tried when the current joint state does not converge.",
        min_value=0,
        max_value=20,
    ),
    ParamSpec(
        "ik.max_joint_step_rad",
        0.8,
        "Largest joint change between successive plan waypoints before the "
        "plan is refused as a jump to another IK branch, radians.",
        min_value=0.01,
        max_value=6.3,
    ),
    DYNAMICS_VELOCITY_PARAM,
    DYNAMICS_ACCELERATION_PARAM,
    DYNAMICS_JERK_PARAM,
    ParamSpec(
        "stale_plan_timeout_s",
        5.0,
        "Plans whose observation is older than this are refused, and stopped if still running, seconds.",
        min_value=0.1,
        max_value=3600.0,
    ),
    ParamSpec(
        "target.speed_m_s",
        0.1,
        "TCP speed for single targets (target_pose), m/s.",
        min_value=0.001,
        max_value=1.0,
    ),
    ParamSpec(
        "target.angular_speed_rad_s",
        0.5,
        "TCP angular speed for single targets, rad/s.",
        min_value=0.01,
        max_value=3.0,
    ),
    ParamSpec(
        "settle.tolerance_rad",
        0.002,
        "A motion is done when every joint is this close to its target, radians.",
        min_value=1e-5,
        max_value=0.1,
    ),
    ParamSpec(
        "settle.timeout_s",
        3.0,
        "Or this long after franky's motion ended, seconds.",
        min_value=0.0,
        max_value=60.0,
    ),
    GRIPPER_SPEED_M_S_PARAM,
    GRIPPER_FORCE_N_PARAM,
    ParamSpec(
        "gripper.timeout_s",
        10.0,
        "A gripper action taking longer fails the plan, seconds.",
        min_value=0.1,
        max_value=120.0,
    ),
    ParamSpec(
        "auto_recover",
        True,
        "After a reflex, run franky's error recovery automatically (the failed plan is never retried).",
    ),
    ParamSpec(
        "max_auto_recoveries",
        2,
        "Automatic recoveries allowed until a plan completes; then the reset_estop service is required.",
        min_value=0,
        max_value=100,
    ),
    ParamSpec(
        "reconnect_period_s",
        2.0,
        "Seconds between connection attempts while the robot is unreachable.",
        min_value=0.1,
        max_value=600.0,
    ),
    ParamSpec(
        "control_rate_hz",
        200.0,
        "Rate of the robot loop (state reads, plan progress, e-stop), Hz.",
        min_value=10.0,
        max_value=1000.0,
    ),
    JOINT_STATE_RATE_HZ_PARAM,
    ParamSpec(
        "dry_run_initial_q_rad", list(DEFAULT_INITIAL_Q_RAD), "Dry run: joint positions at start, radians."
    ),
    ParamSpec(
        "dry_run_initial_gripper_width_m",
        0.04,
        "Dry run: gripper width at start, metres.",
        min_value=0.0,
        max_value=0.08,
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


def controller_config(params: dict) -> ControllerConfig:
    return ControllerConfig(
        ik_solver=params["ik.solver"],
        ik=IkSettings(
            position_tolerance_m=params["ik.position_tolerance_m"],
            orientation_tolerance_rad=params["ik.orientation_tolerance_rad"],
            max_iterations=params["ik.max_iterations"],
            damping=params["ik.damping"],
            max_damping=params["ik.max_damping"],
            manipulability_threshold=params["ik.manipulability_threshold"],
            restarts=params["ik.restarts"],
            max_joint_step_rad=params["ik.max_joint_step_rad"],
        ),
        stale_plan_timeout_s=params["stale_plan_timeout_s"],
        target_speed_m_s=params["target.speed_m_s"],
        target_angular_speed_rad_s=params["target.angular_speed_rad_s"],
        settle_tolerance_rad=params["settle.tolerance_rad"],
        settle_timeout_s=max(params["settle.timeout_s"], 1e-3),
        gripper_speed_m_s=params["gripper.speed_m_s"],
        gripper_force_n=params["gripper.force_n"],
        gripper_timeout_s=params["gripper.timeout_s"],
        auto_recover=params["auto_recover"],
        max_auto_recoveries=params["max_auto_recoveries"],
        reconnect_period_s=params["reconnect_period_s"],
        loop_period_s=1.0 / params["control_rate_hz"],
        state_period_s=1.0 / params["joint_state_rate_hz"],
    )


class IkControllerNode(Node):
    """ROS front of :class:`~tracegen.robot.controller.Controller` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        params = declare_parameters(self, PARAMS)
        safety_file = params["safety_file"].strip() or str(config_path("safety.yaml"))
        envelope = SafetyEnvelope(SafetyLimits.load(safety_file))
        tcp = {"tcp_frame": params["tcp_frame"], "tcp_offset_m": params["tcp_offset_m"]}
        config = controller_config(params)
        compiler = PlanCompiler(Fr3Kinematics(**tcp), envelope, config)
        self._state_kinematics = Fr3Kinematics(**tcp)  # used by the robot thread only (Pinocchio data)
        if params["dry_run"]:
            initial_q = np.asarray(params["dry_run_initial_q_rad"], dtype=np.float64)
            envelope.check_joint_positions(initial_q, what="dry_run_initial_q_rad")
            robot = DryRunRobot(tuple(initial_q), params["dry_run_initial_gripper_width_m"])
        else:
            # The lease: the teleop node and this one never command the arm at the same time.
            robot = OwnedRobot(
                FrankyRobot(
                    params["robot_ip"],
                    dynamics=DynamicsFactors(
                        params["dynamics.velocity"], params["dynamics.acceleration"], params["dynamics.jerk"]
                    ),
                    use_gripper=params["use_gripper"],
                ),
                RobotLease(params["robot_ip"], owner=self.get_fully_qualified_name()),
            )

        self._joint_state_pub = self.create_publisher(JointState, "joint_states", COMMAND_QOS)
        self._tcp_pub = self.create_publisher(PoseStamped, "tcp_pose", COMMAND_QOS)
        self._status_pub = self.create_publisher(PlanStatus, "plan_status", COMMAND_QOS)
        self._trajectory_pub = self.create_publisher(JointTrajectory, "joint_trajectory", COMMAND_QOS)
        self._diagnostics = DiagnosticsReporter(
            self, "IK controller", hardware_id=robot.description, period_s=params["diagnostics_period_s"]
        )
        self._controller = Controller(
            robot,
            compiler,
            clock_ns=lambda: self.get_clock().now().nanoseconds,
            on_state=self._publish_state,
            on_event=self._publish_event,
            on_status=self._publish_status,
            on_trajectory=self._publish_trajectory,
        )
        # Plans (IK can take a while) and the e-stop never wait for each other; the reset waits
        # for the robot thread, so it has a group of its own too.
        plans, estop, reset = (MutuallyExclusiveCallbackGroup() for _ in range(3))
        self.create_subscription(
            EndEffectorPlanMsg, "ee_plan", self._on_plan, COMMAND_QOS, callback_group=plans
        )
        self.create_subscription(
            PoseStamped, "target_pose", self._on_target, COMMAND_QOS, callback_group=plans
        )
        self.create_subscription(Bool, "estop", self._on_estop_topic, COMMAND_QOS, callback_group=estop)
        self.create_service(Trigger, "estop", self._on_estop_service, callback_group=estop)
        self.create_service(Trigger, "reset_estop", self._on_reset_service, callback_group=reset)
        mode = (
            "DRY RUN (no robot): plans are solved and replayed, nothing moves"
            if params["dry_run"]
            else (f"robot {robot.description}")
        )
        self.get_logger().info(
            f"{mode}; IK {params['ik.solver']}, TCP {compiler.kinematics.tcp_frame_name}, safety limits from "
            f"{safety_file}; plans on {self.resolve_topic_name('ee_plan')}, targets on "
            f"{self.resolve_topic_name('target_pose')}, e-stop on {self.resolve_topic_name('estop')}"
        )
        self.create_timer(REMIND_PERIOD_S, self._remind)
        self._controller.start()

    # --- inputs --------------------------------------------------------------------------------

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_plan(self, msg: EndEffectorPlanMsg) -> None:
        try:
            plan = msg_to_plan(msg, received_ns=self._now_ns())
        except InputError as exc:
            self._publish_event(
                PlanEvent(0, PlanState.REFUSED, f"malformed plan: {exc}", time_to_ns(msg.header.stamp))
            )
            return
        self._controller.submit(plan)

    def _on_target(self, msg: PoseStamped) -> None:
        stamp_ns = time_to_ns(msg.header.stamp) or self._now_ns()
        try:
            if msg.header.frame_id != BASE_FRAME:
                raise InputError(
                    f"target_pose is in frame {msg.header.frame_id!r}; it must be in {BASE_FRAME}"
                )
            pose = pose_to_matrix(msg.pose, what="target_pose")
        except InputError as exc:
            self._publish_event(PlanEvent(0, PlanState.REFUSED, f"malformed target: {exc}", stamp_ns))
            return
        self._controller.submit_target(pose, stamp_ns=stamp_ns)

    def _on_estop_topic(self, msg: Bool) -> None:
        if msg.data:
            self._engage_estop(f"e-stop on {self.resolve_topic_name('estop')}")

    def _on_estop_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._engage_estop(f"e-stop service {self.resolve_service_name('estop')}")
        response.success, response.message = (
            True,
            "e-stop engaged: the arm stops; call reset_estop to release",
        )
        return response

    def _on_reset_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        success, message = self._controller.reset_estop()
        if success:
            self.get_logger().info(f"reset_estop: {message}")
        else:
            self.get_logger().error(f"reset_estop: {message}")
        response.success, response.message = success, message
        return response

    def _engage_estop(self, reason: str) -> None:
        if not self._controller.estop_active:
            self.get_logger().warning(f"E-STOP: {reason}")
        self._controller.estop(reason)

    # --- outputs (called from the robot thread) ------------------------------------------------

    def _publish_state(self, state: RobotState) -> None:
        stamp = self.get_clock().now().to_msg()
        joints = joint_state_msg(state.q_rad, state.dq_rad_s, state.gripper_width_m, stamp)
        publish_unless_shut_down(self, self._joint_state_pub, joints)
        tcp = pose_stamped(self._state_kinematics.fk(state.q_rad), stamp)
        publish_unless_shut_down(self, self._tcp_pub, tcp)

    def _publish_event(self, event: PlanEvent) -> None:
        status = plan_status_msg(event, self.get_clock().now().to_msg())
        publish_unless_shut_down(self, self._status_pub, status)
        text = f"plan {event.plan_id} {event.state.value}: {event.reason}"
        if event.state in (PlanState.REFUSED, PlanState.FAILED):
            self.get_logger().error(text)
        elif event.state is PlanState.STOPPED:
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)

    def _publish_status(self, level: StatusLevel, message: str) -> None:
        # (rclpy refuses different severities from one line of code, hence three calls.)
        if level is StatusLevel.OK:
            self.get_logger().info(message)
        elif level is StatusLevel.WARN:
            self.get_logger().warning(message)
        else:
            self.get_logger().error(message)
        self._diagnostics.set(LEVELS[level], message, estop_active=self._controller.estop_active)

    def _remind(self) -> None:
        """Repeat what the node waits for while it is not OK (the status only logs changes)."""
        level, message = self._controller.status
        if level is not StatusLevel.OK:
            self.get_logger().info(
                f"still {message}" if message.startswith("waiting") else f"status: {message}"
            )

    def _publish_trajectory(self, trajectory) -> None:
        msg = joint_trajectory_msg(trajectory, self.get_clock().now().to_msg())
        publish_unless_shut_down(self, self._trajectory_pub, msg)

    def destroy_node(self) -> None:
        self._controller.shutdown()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(IkControllerNode, args, num_threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
