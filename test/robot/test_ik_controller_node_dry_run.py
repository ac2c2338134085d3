"""ik_controller_node in its own process: with no robot (defaults), and in dry-run mode.

The dry run solves, checks and replays what it would command, so the node's outputs (joint
states, TCP pose, plan status, joint trajectories) are those of a real run. Malformed plans and
targets must be refused with a reason, command nothing, and leave the node working.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
from tracegen.msg import PlanStatus
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen.robot_assets import ARM_JOINT_NAMES, FINGER_JOINT_NAMES
from tracegen_ros.robot_msgs import plan_to_msg

from support.robot_nodes import ControllerProbe, stamp_ns_to_time, start_graph_node, target_msg
from support.sim_arm import VIEW_Q_RAD

pytestmark = pytest.mark.ros


def test_with_default_parameters_and_no_robot_the_node_waits_and_refuses_plans(tmp_path, node_env):
    node = start_graph_node("ik_controller_node", tmp_path, node_env)
    probe = ControllerProbe()
    try:
        assert node.wait_for_log(r"waiting for the robot: .*172\.16\.0\.2", 30.0), node.log()
        assert probe.connected()
        statuses = probe.send_and_wait(
            probe.targets, target_msg(np.diag([1.0, -1.0, -1.0, 1.0]), probe.now_ns())
        )
        assert statuses[-1].state == PlanStatus.REFUSED
        assert "the robot is not connected (waiting for the robot" in statuses[-1].reason
        assert probe.diagnostics.wait_for(
            lambda msgs: any(
                s.name == "ik_controller_node: IK controller"
                and s.level == b"\x01"
                and "172.16.0.2" in s.message
                for m in msgs
                for s in m.status
            ),
            10.0,
        )
        assert probe.trajectories.messages == []
        assert node.running
    finally:
        probe.close()
        assert node.stop() == 0, node.log()


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory, node_env):
    node = start_graph_node(
        "ik_controller_node",
        tmp_path_factory.mktemp("dry_run"),
        node_env,
        dry_run=True,
        dry_run_initial_q_rad=list(VIEW_Q_RAD),
    )
    probe = ControllerProbe()
    assert probe.connected(), node.log()
    assert probe.tcp.wait_count(1, 30.0), node.log()
    yield node, probe
    probe.close()
    assert node.stop() == 0, node.log()


def test_dry_run_publishes_the_joint_states_of_an_idle_arm_and_its_tcp_pose(dry_run):
    _, probe = dry_run
    assert probe.joint_states.wait_count(5, 10.0)
    state = probe.joint_states.messages[-1]
    assert list(state.name) == [*ARM_JOINT_NAMES, *FINGER_JOINT_NAMES]
    np.testing.assert_allclose(state.position[:7], VIEW_Q_RAD, atol=1e-9)
    assert state.position[7] == pytest.approx(0.02)
    tcp = probe.tcp_pose()
    assert probe.tcp.messages[-1].header.frame_id == "fr3_link0"
    np.testing.assert_allclose(tcp[:3, 3], [0.45, 0.0, 0.22], atol=1e-3)


def test_dry_run_executes_a_target_and_publishes_what_it_would_command(dry_run):
    _, probe = dry_run
    target = probe.tcp_pose()
    target[:3, 3] += [0.04, -0.03, 0.05]
    trajectories = len(probe.trajectories.messages)
    statuses = probe.send_and_wait(probe.targets, target_msg(target, probe.now_ns()))
    assert [s.state for s in statuses] == [PlanStatus.ACCEPTED, PlanStatus.EXECUTING, PlanStatus.DONE]
    time.sleep(0.2)
    assert np.linalg.norm(probe.tcp_pose()[:3, 3] - target[:3, 3]) < 1e-3
    assert len(probe.trajectories.messages) == trajectories + 1
    trajectory = probe.trajectories.messages[-1]
    assert list(trajectory.joint_names) == list(ARM_JOINT_NAMES)
    np.testing.assert_allclose(
        trajectory.points[-1].positions, probe.joint_states.messages[-1].position[:7], atol=1e-6
    )


def valid_plan(probe: ControllerProbe, **changes) -> EndEffectorPlanMsg:
    start = probe.tcp_pose()
    poses = np.repeat(start[None], 3, axis=0)
    poses[:, 2, 3] -= [0.01, 0.02, 0.03]
    plan = EndEffectorPlan(
        poses, np.array([0.2, 0.4, 0.6]), np.zeros(3, dtype=int), np.zeros(3), stamp_ns=probe.now_ns()
    )
    msg = plan_to_msg(plan)
    for name, value in changes.items():
        setattr(msg, name, value) if name != "frame_id" else setattr(msg.header, "frame_id", value)
    return msg


MALFORMED_PLANS = {
    "mismatched sizes": (
        {"positions_m": [0.4, 0.0, 0.2] * 2},
        "positions_m has 6 values; 3 waypoints need 9",
    ),
    "NaN position": ({"positions_m": [0.4, 0.0, math.nan] + [0.4, 0.0, 0.2] * 2}, "not finite"),
    "inf position": ({"positions_m": [0.4, 0.0, math.inf] + [0.4, 0.0, 0.2] * 2}, "not finite"),
    "zero quaternion": ({"orientations_xyzw": [0.0] * 12}, "has norm 0.0000"),
    "camera frame": ({"frame_id": "camera_color_optical_frame"}, "must be in the robot base frame"),
    "no waypoints": (
        {
            "positions_m": [],
            "orientations_xyzw": [],
            "time_from_start_s": [],
            "gripper_action": [],
            "gripper_width_m": [],
        },
        "no waypoints",
    ),
    "times not increasing": ({"time_from_start_s": [0.2, 0.2, 0.6]}, "increasing"),
    "unknown gripper action": ({"gripper_action": [0, 7, 0]}, "gripper actions must be"),
    "gripper too wide": ({"gripper_width_m": [0.0, 0.5, 0.0]}, "gripper widths must lie in"),
    "another tcp": ({"tcp_frame": "fr3_link8"}, "same tcp_frame"),
}


@pytest.mark.parametrize("case", list(MALFORMED_PLANS))
def test_malformed_plans_are_refused_with_a_reason_and_command_nothing(dry_run, case):
    node, probe = dry_run
    changes, reason = MALFORMED_PLANS[case]
    trajectories = len(probe.trajectories.messages)
    statuses = probe.send_and_wait(probe.plans, valid_plan(probe, **changes))
    assert statuses[-1].state == PlanStatus.REFUSED and reason in statuses[-1].reason, statuses[-1].reason
    assert len(probe.trajectories.messages) == trajectories
    assert node.running


def far_target(probe: ControllerProbe, position_m) -> np.ndarray:
    target = probe.tcp_pose()
    target[:3, 3] = position_m
    return target


@pytest.mark.parametrize(
    ("position_m", "frame_id", "reason"),
    [
        ([0.5, 0.0, math.nan], "fr3_link0", "target_pose position"),
        ([0.5, 0.0, 0.3], "world", "it must be in fr3_link0"),
        ([0.5, 0.0, -0.2], "fr3_link0", "leave the workspace box"),
        ([0.8, 0.55, 0.02], "fr3_link0", "not reachable within the joint limits"),
    ],
)
def test_bad_targets_are_refused_with_a_reason_and_command_nothing(dry_run, position_m, frame_id, reason):
    node, probe = dry_run
    trajectories = len(probe.trajectories.messages)
    msg = target_msg(far_target(probe, [0.5, 0.0, 0.3]), probe.now_ns(), frame_id)
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = position_m
    statuses = probe.send_and_wait(probe.targets, msg)
    assert statuses[-1].state == PlanStatus.REFUSED and reason in statuses[-1].reason, statuses[-1].reason
    assert len(probe.trajectories.messages) == trajectories
    assert node.running


def test_after_malformed_input_a_valid_plan_still_runs(dry_run):
    _, probe = dry_run
    statuses = probe.send_and_wait(probe.plans, valid_plan(probe))
    assert statuses[-1].state == PlanStatus.DONE, statuses[-1].reason


def test_an_old_plan_is_refused_as_stale(dry_run):
    _, probe = dry_run
    msg = valid_plan(probe)
    msg.header.stamp = stamp_ns_to_time(probe.now_ns() - 10_000_000_000)
    statuses = probe.send_and_wait(probe.plans, msg)
    assert statuses[-1].state == PlanStatus.REFUSED and "stale plan" in statuses[-1].reason


def test_the_estop_topic_and_service_engage_and_the_reset_service_releases(dry_run):
    _, probe = dry_run
    target = far_target(probe, [0.45, 0.15, 0.3])
    seen = len(probe.status.messages)
    probe.targets.publish(target_msg(target, probe.now_ns()))
    assert probe.status.wait_for(lambda m: any(s.state == PlanStatus.EXECUTING for s in m[seen:]), 10.0)
    probe.estop.publish(Bool(data=True))
    assert probe.status.wait_for(
        lambda m: any(s.state == PlanStatus.STOPPED and "e-stop" in s.reason for s in m[seen:]), 10.0
    )
    refused = probe.send_and_wait(probe.targets, target_msg(target, probe.now_ns()))
    assert refused[-1].state == PlanStatus.REFUSED and "e-stop active" in refused[-1].reason
    assert probe.probe.call(Trigger, "/tracegen/reset_estop").success
    assert probe.probe.call(Trigger, "/tracegen/estop").success
    refused = probe.send_and_wait(probe.targets, target_msg(target, probe.now_ns()))
    assert refused[-1].state == PlanStatus.REFUSED and "e-stop service" in refused[-1].reason
    reset = probe.probe.call(Trigger, "/tracegen/reset_estop")
    assert reset.success and reset.message == "e-stop released"
    assert probe.send_and_wait(probe.targets, target_msg(target, probe.now_ns()))[-1].state == PlanStatus.DONE


def test_a_plan_with_gripper_actions_commands_the_gripper_in_the_dry_run(dry_run):
    _, probe = dry_run
    msg = valid_plan(
        probe,
        gripper_action=[GripperAction.HOLD, GripperAction.OPEN, GripperAction.HOLD],
        gripper_width_m=[0.0, 0.07, 0.0],
    )
    assert probe.send_and_wait(probe.plans, msg)[-1].state == PlanStatus.DONE
    time.sleep(0.1)
    assert probe.joint_states.messages[-1].position[7] == pytest.approx(0.035, abs=1e-6)
