"""teleop_node driving franky-sim's FR3 through franky, in real processes (twists in, motion out).

One franky-sim server and one teleop_node for the module (the simulator runs in real time, so
every motion takes a second). The node's safety file narrows the workspace box around the start
pose and lowers the linear speed limit, so the limits are reached within a few centimetres.
Velocities are checked on ``teleop/measured_twist`` (J(q) dq from the robot's joint velocities,
i.e. in the simulator's own time: franky-sim runs slower than wall time on a loaded machine);
positions on ``tcp_pose``. Tolerances: direction within 5 degrees, speed within 10 %.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from geometry_msgs.msg import PoseStamped, TwistStamped
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from tracegen.resources import config_path
from tracegen.robot.ownership import LOCK_DIR_ENV
from tracegen_ros.qos import COMMAND_QOS

from support.loopback import free_loopback_address
from support.nodes_harness import NodeProcess, RosProbe, start_node
from support.processes import stop
from support.pty_terminal import PtyOutput, start_in_pty, stop_terminal_program
from support.sim_arm import VIEW_Q_RAD, start_franky_sim

pytestmark = [pytest.mark.ros, pytest.mark.slow]

#: The narrowed envelope: the start TCP (0.45, 0, 0.22) sits 7 cm above the box's floor.
BOX_MIN_M = (0.30, -0.25, 0.15)
BOX_MAX_M = (0.65, 0.25, 0.45)
MAX_LINEAR_M_S = 0.08
DEADMAN_S = 0.2
#: A namespace of its own, so that other test sessions sharing this machine (and maybe the DDS
#: domain) never feed or read these topics.
NS = f"teleop_test_{os.getpid()}"


def start_teleop_node(tmp: Path, env: dict, **parameters) -> NodeProcess:
    return start_node(
        "teleop_node",
        tmp,
        env,
        name="teleop_node",
        namespace=NS,
        params_file="teleop.yaml",
        parameters=parameters,
        remappings=(("joint_states", f"/{NS}/joint_states"),),
    )


class TeleopProbe(RosProbe):
    def __init__(self) -> None:
        super().__init__("teleop_test_probe")
        self.twist_pub = self.publisher(TwistStamped, f"/{NS}/teleop/twist", COMMAND_QOS)
        self.estop_pub = self.publisher(Bool, f"/{NS}/estop", COMMAND_QOS)
        self.tcp = self.collect(PoseStamped, f"/{NS}/tcp_pose", COMMAND_QOS)
        self.measured = self.collect(TwistStamped, f"/{NS}/teleop/measured_twist", COMMAND_QOS)
        self.commands = self.collect(TwistStamped, f"/{NS}/teleop/command", COMMAND_QOS)

    def twist(self, linear, angular=(0.0, 0.0, 0.0), frame: str = "fr3_link0") -> TwistStamped:
        msg = TwistStamped()
        msg.header.stamp = self.now().to_msg()
        msg.header.frame_id = frame
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(v) for v in linear)
        msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = (float(v) for v in angular)
        return msg

    def stream(self, linear, duration_s: float, rate_hz: float = 100.0, **kwargs) -> None:
        """Publish the twist at ``rate_hz`` for ``duration_s`` of wall time."""
        end = time.monotonic() + duration_s
        while time.monotonic() < end:
            self.twist_pub.publish(self.twist(linear, **kwargs))
            time.sleep(1.0 / rate_hz)

    def stream_until(self, linear, done, timeout_s: float = 60.0, rate_hz: float = 100.0) -> bool:
        """Publish the twist until ``done(latest_tcp_position)`` holds (the simulator slows down on a
        loaded machine, so motions are awaited, not timed); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.twist_pub.publish(self.twist(linear))
            p = self.tcp.messages[-1].pose.position
            if done(np.array([p.x, p.y, p.z])):
                return True
            time.sleep(1.0 / rate_hz)
        return False

    def tcp_position(self) -> np.ndarray:
        count = len(self.tcp.messages)
        assert self.tcp.wait_count(count + 1, 10.0), "no tcp_pose"
        p = self.tcp.messages[-1].pose.position
        return np.array([p.x, p.y, p.z])

    def speed_now(self) -> float:
        count = len(self.measured.messages)
        assert self.measured.wait_count(count + 1, 10.0), "no measured twist"
        v = self.measured.messages[-1].twist.linear
        return float(np.linalg.norm([v.x, v.y, v.z]))

    def wait_at_rest(self, timeout_s: float = 10.0, speed_m_s: float = 0.002) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.speed_now() < speed_m_s:
                return True
        return False


@pytest.fixture(scope="module")
def teleop(tmp_path_factory, node_env):
    tmp = tmp_path_factory.mktemp("teleop_sim")
    env = {**node_env, LOCK_DIR_ENV: str(tmp)}
    safety = yaml.safe_load(config_path("safety.yaml").read_text())
    safety["workspace"].update(min_xyz_m=list(BOX_MIN_M), max_xyz_m=list(BOX_MAX_M))
    safety["cartesian"]["max_linear_speed_m_s"] = MAX_LINEAR_M_S
    (tmp / "safety.yaml").write_text(yaml.safe_dump(safety))
    address = free_loopback_address()
    server = start_franky_sim(address, tmp / "franky_sim.log", q_rad=VIEW_Q_RAD, env=env)
    node = start_teleop_node(
        tmp, env, robot_ip=address, safety_file=str(tmp / "safety.yaml"), deadman_timeout_s=DEADMAN_S
    )
    probe = TeleopProbe()
    try:
        assert node.wait_for_log(rf"connected to .*{address}", 60.0), node.log()
        assert probe.wait_for_subscribers(probe.twist_pub), node.log()
        assert probe.tcp.wait_count(1, 30.0), node.log()
        yield node, probe, tmp, env, address
    finally:
        probe.close()
        exit_status = node.stop()
        stop(server)
        assert exit_status == 0, f"teleop_node did not stop cleanly: {node.log()[-3000:]}"


def direction_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def test_a_twist_stream_moves_the_tcp_in_the_commanded_direction_at_the_commanded_speed(teleop):
    node, probe, *_ = teleop
    wanted = np.array([0.0, 0.04, 0.0])
    start = probe.tcp_position()
    probe.stream(wanted, 0.8)  # reach the velocity
    probe.measured.clear()
    probe.stream(wanted, 0.8)  # steady state
    measured = np.array(
        [[m.twist.linear.x, m.twist.linear.y, m.twist.linear.z] for m in probe.measured.messages]
    )
    end = probe.tcp_position()
    assert len(measured) >= 5, node.log()
    velocity = measured[len(measured) // 2 :].mean(axis=0)
    assert direction_error_deg(velocity, wanted) < 5.0, velocity
    assert abs(np.linalg.norm(velocity) - 0.04) < 0.004, velocity
    assert direction_error_deg(end - start, wanted) < 5.0, (start, end)
    assert probe.wait_at_rest(), node.log()


def test_stopping_the_stream_stops_the_arm_within_the_deadman_time(teleop):
    node, probe, *_ = teleop
    probe.stream((0.0, -0.04, 0.0), 1.0)
    last_twist = probe.tcp_position()
    assert probe.wait_at_rest(), node.log()
    drift_m = float(np.linalg.norm(probe.tcp_position() - last_twist))
    # At most the deadman time at 4 cm/s (8 mm) plus franky's smooth braking (a few mm).
    assert drift_m < 0.04 * DEADMAN_S + 0.01, drift_m
    assert node.wait_for_log(r"deadman: no twist for \d+ ms", 5.0), node.log()


def test_twists_beyond_the_speed_limit_are_scaled_down_to_it_in_the_same_direction(teleop):
    node, probe, *_ = teleop
    wanted = np.array([0.3, 0.0, 0.0])  # ~4x the limit of the narrowed envelope
    probe.commands.clear()
    probe.stream(wanted, 0.8)
    probe.measured.clear()
    probe.stream(wanted, 0.6)
    commanded = np.array(
        [[m.twist.linear.x, m.twist.linear.y, m.twist.linear.z] for m in probe.commands.messages]
    )
    measured = np.array(
        [[m.twist.linear.x, m.twist.linear.y, m.twist.linear.z] for m in probe.measured.messages]
    )
    assert len(commanded) > 10, node.log()
    assert np.linalg.norm(commanded, axis=1).max() <= MAX_LINEAR_M_S + 1e-9
    assert direction_error_deg(commanded[0], wanted) < 1e-3
    assert np.linalg.norm(measured, axis=1).max() <= MAX_LINEAR_M_S * 1.05, measured
    assert probe.wait_at_rest(), node.log()


def test_twists_toward_the_workspace_floor_stop_the_tcp_at_the_box(teleop):
    node, probe, *_ = teleop
    near_floor = probe.stream_until((0.0, 0.0, -0.08), lambda p: p[2] < BOX_MIN_M[2] + 0.005)
    assert near_floor, f"the TCP should come close to the floor: {probe.tcp_position()}"
    probe.stream((0.0, 0.0, -0.08), 1.0)  # keep pushing down
    assert probe.wait_at_rest(), node.log()
    lowest = min(m.pose.position.z for m in probe.tcp.messages)
    assert lowest >= BOX_MIN_M[2] - 0.002, lowest
    # Sideways motion along the floor is still allowed.
    before = probe.tcp_position()
    assert probe.stream_until((0.0, 0.04, -0.08), lambda p: p[1] - before[1] > 0.01), probe.tcp_position()
    assert min(m.pose.position.z for m in probe.tcp.messages) >= BOX_MIN_M[2] - 0.002
    assert probe.wait_at_rest(), node.log()


def test_estop_stops_the_arm_and_twists_are_refused_until_reset(teleop):
    node, probe, *_ = teleop
    probe.stream((0.0, 0.0, 0.04), 0.6)
    probe.estop_pub.publish(Bool(data=True))
    probe.stream((0.0, 0.0, 0.04), 0.3)  # still streaming: refused
    assert probe.wait_at_rest(), node.log()
    held = probe.tcp_position()
    probe.stream((0.0, 0.0, 0.04), 1.0)
    assert float(np.linalg.norm(probe.tcp_position() - held)) < 0.001, node.log()
    assert node.wait_for_log(r"E-STOP", 5.0), node.log()
    assert node.wait_for_log(r"twist ignored: e-stop active", 5.0), node.log()
    response = probe.call(Trigger, f"/{NS}/teleop_node/reset_estop")
    assert response.success, response.message
    start = probe.tcp_position()
    moved = probe.stream_until((0.0, 0.0, 0.04), lambda p: p[2] - start[2] > 0.005, timeout_s=30.0)
    assert moved, "twists move the arm again after the reset"
    assert probe.wait_at_rest(), node.log()


def test_the_ik_controller_is_refused_while_the_teleop_node_owns_the_robot(teleop, tmp_path):
    node, _probe, _, env, address = teleop
    controller = start_node(
        "ik_controller_node",
        tmp_path,
        env,
        name="ik_controller_node",
        namespace=NS,
        params_file="ik_controller.yaml",
        parameters={"robot_ip": address, "reconnect_period_s": 0.5},
        remappings=(("joint_states", f"/{NS}/joint_states_ik"),),
    )
    try:
        assert controller.wait_for_log(
            rf"robot at {address} is commanded by /{NS}/teleop_node \(pid {node.process.pid}", 60.0
        ), controller.log()
        assert "connected to" not in controller.log()
    finally:
        controller.stop()
    assert os.path.exists(Path(env[LOCK_DIR_ENV]))


def test_the_keyboard_front_end_in_a_terminal_moves_the_arm_and_the_gripper(teleop, tmp_path):
    import sys

    node, probe, _, env, _ = teleop
    grip = probe.collect(Bool, f"/{NS}/teleop/gripper", COMMAND_QOS)
    twists = probe.collect(TwistStamped, f"/{NS}/teleop/twist", COMMAND_QOS)
    command = [
        sys.executable,
        "-m",
        "tracegen.cli.main",
        "teleop",
        "--keyboard",
        "--scale",
        "0.4",
        "--namespace",
        f"/{NS}",
    ]
    process, master = start_in_pty(command, env)
    output = PtyOutput(master, process)
    try:
        assert output.wait_for("keys:"), output.text[-3000:]
        assert probe.wait_for_publishers(f"/{NS}/teleop/twist", 2), output.text[-3000:]
        start = probe.tcp_position()
        deadline = time.monotonic() + 30.0
        while probe.tcp_position()[1] - start[1] > -0.012 and time.monotonic() < deadline:
            os.write(master, b"d")  # 'd' held down: -y, auto-repeat at ~30 Hz
            time.sleep(0.033)
        os.write(master, b" ")
        assert probe.wait_at_rest(), node.log()
        moved = probe.tcp_position() - start
        assert moved[1] < -0.01 and abs(moved[0]) < 0.003 and abs(moved[2]) < 0.003, moved
        assert all(abs(m.twist.linear.y + 0.04) < 1e-9 for m in twists.messages if m.twist.linear.y), (
            "0.1 x 40 %"
        )
        os.write(master, b"g")
        assert grip.wait_for(lambda msgs: any(m.data for m in msgs), 10.0), output.text[-3000:]
        assert output.wait_for("gripper closed", 10.0), output.text[-3000:]
        os.write(master, b"q")
        assert process.wait(20) == 0, output.text[-3000:]
    finally:
        stop_terminal_program(process)
        os.close(master)
