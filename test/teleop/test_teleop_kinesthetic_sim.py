"""teleop_node in kinesthetic mode against franky-sim: hand-guiding on, state published, twists ignored.

franky-sim does not implement franky's ``set_guiding_mode`` (it drops the connection), and has no
hand to push the arm anyway, so the node runs with ``guiding.set_mode: false`` (the Desk route) and
what is checked is what a test can see: the state the recorder records keeps flowing, and the node
commands nothing (twists are refused with a log) while a person guides the arm.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from sensor_msgs.msg import JointState

from tracegen.robot.ownership import LOCK_DIR_ENV
from tracegen_ros.qos import COMMAND_QOS

from support.loopback import free_loopback_address
from support.nodes_harness import RosProbe, start_node
from support.processes import stop
from support.sim_arm import start_franky_sim

pytestmark = [pytest.mark.ros, pytest.mark.slow]

#: A namespace of its own (other sessions on this machine may share the DDS domain).
NS = f"kinesthetic_test_{os.getpid()}"


def test_kinesthetic_mode_publishes_the_state_and_commands_nothing(tmp_path, node_env):
    env = {**node_env, LOCK_DIR_ENV: str(tmp_path)}
    address = free_loopback_address()
    server = start_franky_sim(address, tmp_path / "franky_sim.log", env=env)
    node = start_node(
        "teleop_node",
        tmp_path,
        env,
        name="teleop_node",
        namespace=NS,
        params_file="teleop.yaml",
        parameters={"robot_ip": address, "mode": "kinesthetic", "guiding.set_mode": False},
        remappings=(("joint_states", f"/{NS}/joint_states"),),
    )
    probe = RosProbe("kinesthetic_probe")
    try:
        joints = probe.collect(JointState, f"/{NS}/joint_states", COMMAND_QOS)
        tcp = probe.collect(PoseStamped, f"/{NS}/tcp_pose", COMMAND_QOS)
        commands = probe.collect(TwistStamped, f"/{NS}/teleop/command", COMMAND_QOS)
        twist_pub = probe.publisher(TwistStamped, f"/{NS}/teleop/twist", COMMAND_QOS)
        assert node.wait_for_log(r"kinesthetic mode on franky FR3 at", 60.0), node.log()
        assert joints.wait_count(5, 30.0) and tcp.wait_count(5, 30.0), node.log()
        assert len(joints.messages[-1].position) == 9, "7 arm joints and 2 fingers"
        start = tcp.messages[-1].pose.position
        probe.wait_for_subscribers(twist_pub)
        end_s = time.monotonic() + 1.0
        while time.monotonic() < end_s:
            msg = TwistStamped()
            msg.header.stamp = probe.now().to_msg()
            msg.twist.linear.x = 0.05
            twist_pub.publish(msg)
            time.sleep(0.01)
        assert node.wait_for_log(r"twist ignored: kinesthetic mode", 10.0), node.log()
        count = len(tcp.messages)
        assert tcp.wait_count(count + 5, 10.0)
        end = tcp.messages[-1].pose.position
        assert np.hypot(end.x - start.x, end.y - start.y) < 0.001
        assert commands.messages == []
    finally:
        probe.close()
        node.stop()
        stop(server)
