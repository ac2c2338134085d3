"""ik_controller_node (not a dry run) driving franky-sim's FR3 through franky, in real processes.

franky-sim serves a MuJoCo FR3 on a loopback address; the node connects to it as to a real
robot (``robot_ip``). The TCP pose checked here is what the node publishes on
/tracegen/tcp_pose: forward kinematics of the joint positions franky-sim reports. The simulator
runs in real time, so each motion takes a second or two.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from tracegen.msg import PlanStatus
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen_ros.robot_msgs import plan_to_msg

from support.loopback import free_loopback_address
from support.processes import stop
from support.robot_nodes import ControllerProbe, start_graph_node, target_msg
from support.sim_arm import VIEW_Q_RAD, start_franky_sim

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def sim_controller(tmp_path_factory, node_env):
    tmp = tmp_path_factory.mktemp("ik_sim")
    address = free_loopback_address()
    server = start_franky_sim(address, tmp / "franky_sim.log", env=node_env)
    # A loaded machine can slow franky-sim's real-time loop well below real time; the stale-plan
    # timeout (tested in the dry run) must not cut the plans of these tests short.
    node = start_graph_node("ik_controller_node", tmp, node_env, robot_ip=address, stale_plan_timeout_s=120.0)
    probe = ControllerProbe()
    try:
        assert node.wait_for_log(rf"connected to .*{address}", 60.0), node.log()
        assert probe.connected(), node.log()
        assert probe.tcp.wait_count(1, 30.0), node.log()
        yield node, probe
    finally:
        probe.close()
        code = node.stop()
        stop(server)
    assert code == 0, node.log()


def at_rest(probe: ControllerProbe, timeout_s: float = 10.0) -> np.ndarray:
    """The TCP pose once the arm has stopped moving (two samples 0.3 s apart within 0.5 mm)."""
    deadline = time.monotonic() + timeout_s
    previous = probe.tcp_pose()
    while time.monotonic() < deadline:
        time.sleep(0.3)
        current = probe.tcp_pose()
        if np.linalg.norm(current[:3, 3] - previous[:3, 3]) < 5e-4:
            return current
        previous = current
    raise AssertionError("the arm did not come to rest")


def test_the_node_connects_to_the_robot_and_publishes_its_state(sim_controller, kinematics):
    _, probe = sim_controller
    assert probe.joint_states.wait_count(5, 10.0)
    np.testing.assert_allclose(probe.joint_states.messages[-1].position[:7], VIEW_Q_RAD, atol=0.01)
    expected = kinematics.fk(np.array(VIEW_Q_RAD))
    assert np.linalg.norm(probe.tcp_pose()[:3, 3] - expected[:3, 3]) < 0.005


def test_a_plan_is_executed_and_the_tcp_reaches_its_last_waypoint_within_5_mm(sim_controller):
    _, probe = sim_controller
    start = at_rest(probe)
    poses = np.repeat(start[None], 4, axis=0)
    poses[:, :3, 3] += np.array(
        [[0.0, 0.0, 0.0], [0.02, 0.02, -0.02], [0.04, 0.03, -0.03], [0.05, 0.04, -0.03]]
    )
    plan = EndEffectorPlan(
        poses,
        np.array([0.0, 0.5, 1.0, 1.5]),
        np.full(4, GripperAction.HOLD),
        np.zeros(4),
        stamp_ns=probe.now_ns(),
    )
    trajectories = len(probe.trajectories.messages)
    statuses = probe.send_and_wait(probe.plans, plan_to_msg(plan), timeout_s=30.0)
    assert [s.state for s in statuses] == [PlanStatus.ACCEPTED, PlanStatus.EXECUTING, PlanStatus.DONE], [
        (s.state, s.reason) for s in statuses
    ]
    assert len(probe.trajectories.messages) == trajectories + 1
    reached = at_rest(probe)
    assert np.linalg.norm(reached[:3, 3] - poses[-1, :3, 3]) < 0.005
    angle = np.arccos(np.clip((np.trace(reached[:3, :3].T @ poses[-1, :3, :3]) - 1) / 2, -1, 1))
    assert np.degrees(angle) < 1.0


def test_the_estop_topic_stops_the_arm_short_of_its_target(sim_controller):
    _, probe = sim_controller
    start = at_rest(probe)
    target = start.copy()
    target[1, 3] -= 0.2
    seen = len(probe.status.messages)
    probe.targets.publish(target_msg(target, probe.now_ns()))
    assert probe.status.wait_for(lambda m: any(s.state == PlanStatus.EXECUTING for s in m[seen:]), 10.0)
    deadline = time.monotonic() + 10.0
    while np.linalg.norm(probe.tcp_pose()[:3, 3] - start[:3, 3]) < 0.01:
        assert time.monotonic() < deadline, "the arm did not start moving"
        time.sleep(0.02)
    probe.estop.publish(Bool(data=True))
    assert probe.status.wait_for(
        lambda m: any(s.state == PlanStatus.STOPPED and "e-stop" in s.reason for s in m[seen:]), 10.0
    )
    stopped = at_rest(probe)
    assert np.linalg.norm(stopped[:3, 3] - target[:3, 3]) > 0.05, "it stopped well short of the target"
    refused = probe.send_and_wait(probe.targets, target_msg(target, probe.now_ns()))
    assert refused[-1].state == PlanStatus.REFUSED and "e-stop active" in refused[-1].reason
    assert probe.probe.call(Trigger, "/tracegen/reset_estop").success
