"""The teleoperation core without ROS or a robot: the twist limiter, the deadman, robot ownership."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tracegen.errors import InputError
from tracegen.robot.errors import RobotUnavailableError, SafetyViolationError
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.ownership import OwnedRobot, RobotLease
from tracegen.robot.safety import SafetyEnvelope, SafetyLimits, WorkspaceBox
from tracegen.robot.teleop import Deadman, TeleopSettings, TwistCommand, TwistLimiter, ee_linear_velocity

from support.sim_arm import VIEW_Q_RAD

Q = np.array(VIEW_Q_RAD)  # TCP at (0.45, 0, 0.22), pointing down


@pytest.fixture(scope="module")
def kinematics() -> Fr3Kinematics:
    return Fr3Kinematics()


def limiter(kinematics, **limits) -> TwistLimiter:
    return TwistLimiter(SafetyEnvelope(SafetyLimits(**limits)), kinematics, TeleopSettings(lookahead_s=0.3))


def test_a_twist_within_the_limits_passes_unchanged(kinematics):
    out = limiter(kinematics).limit(TwistCommand((0.05, -0.02, 0.01), (0.0, 0.0, 0.1)), Q)
    np.testing.assert_allclose(out.linear_m_s, [0.05, -0.02, 0.01])
    np.testing.assert_allclose(out.angular_rad_s, [0.0, 0.0, 0.1])
    assert out.notes == ()


def test_a_twist_in_the_tcp_frame_is_rotated_into_base_axes(kinematics):
    rotation = kinematics.fk(Q)[:3, :3]
    out = limiter(kinematics).limit(TwistCommand((0.0, 0.0, 0.05), (0.0, 0.0, 0.0), frame="fr3_hand_tcp"), Q)
    np.testing.assert_allclose(out.linear_m_s, rotation @ [0.0, 0.0, 0.05], atol=1e-12)
    assert out.linear_m_s[2] < -0.049, "the TCP z axis points down: +z in the TCP frame is down"


def test_speeds_over_the_limits_are_scaled_down_keeping_the_direction(kinematics):
    out = limiter(kinematics, max_linear_speed_m_s=0.1, max_angular_speed_rad_s=0.5).limit(
        TwistCommand((0.3, 0.4, 0.0), (0.0, 0.0, 2.0)), Q
    )
    np.testing.assert_allclose(out.linear_m_s, [0.06, 0.08, 0.0])
    np.testing.assert_allclose(out.angular_rad_s, [0.0, 0.0, 0.5])
    assert any("linear speed 0.500" in n for n in out.notes)


def test_the_velocity_toward_a_workspace_wall_shrinks_with_the_distance_left(kinematics):
    box = WorkspaceBox((0.2, -0.5, 0.20), (0.8, 0.5, 0.7))  # floor 2 cm below the TCP
    out = limiter(kinematics, workspace=box).limit(TwistCommand((0.0, 0.05, -0.2), (0, 0, 0)), Q)
    z = kinematics.fk(Q)[2, 3]
    assert out.linear_m_s[2] == pytest.approx(-(z - 0.20) / 0.3, rel=1e-6), "reaches the floor, never beyond"
    assert out.linear_m_s[1] > 0.0, "motion along the wall is kept"
    assert any("workspace box" in n for n in out.notes)


def test_outside_the_box_only_motion_back_inside_is_allowed(kinematics):
    box = WorkspaceBox((0.2, -0.5, 0.25), (0.8, 0.5, 0.7))  # the TCP is 3 cm under the floor
    out = limiter(kinematics, workspace=box).limit(TwistCommand((0.0, 0.0, -0.05), (0, 0, 0)), Q)
    assert out.linear_m_s[2] > 0.0


def test_a_joint_at_its_limit_stops_the_twists_that_push_it_further(kinematics):
    q = Q.copy()
    q[3] = -0.1518 - 0.05  # joint 4 exactly at its upper limit minus the margin
    tcp = limiter(kinematics)
    jacobian = kinematics.tcp_jacobian(q)
    pushing = jacobian[:3, 3] / np.linalg.norm(jacobian[:3, 3]) * 0.05  # moves joint 4 up
    out = tcp.limit(TwistCommand(tuple(pushing), (0.0, 0.0, 0.0)), q)
    assert np.linalg.norm(out.linear_m_s) < 1e-6
    assert any("joint 4" in n for n in out.notes)


@pytest.mark.parametrize("bad", [(np.nan, 0.0, 0.0), (0.0, np.inf, 0.0)])
def test_non_finite_twists_are_refused(kinematics, bad):
    with pytest.raises(SafetyViolationError, match="finite"):
        limiter(kinematics).limit(TwistCommand(bad, (0.0, 0.0, 0.0)), Q)


def test_an_unknown_twist_frame_is_refused_with_the_frames_that_work(kinematics):
    with pytest.raises(InputError, match=r"camera_link.*fr3_link0"):
        limiter(kinematics).limit(TwistCommand((0.01, 0, 0), (0, 0, 0), frame="camera_link"), Q)


def test_the_end_effector_velocity_compensates_the_lever_arm_of_a_rotation():
    v = ee_linear_velocity(np.zeros(3), np.array([0.0, 0.0, 1.0]), np.array([0.1, 0.0, 0.0]), np.zeros(3))
    np.testing.assert_allclose(v, [0.0, -0.1, 0.0])  # so that the TCP itself stands still


def test_the_deadman_expires_a_command_after_its_timeout():
    deadman = Deadman(0.2)
    command = TwistCommand((0.01, 0.0, 0.0), (0.0, 0.0, 0.0))
    deadman.put(command, now_s=10.0)
    assert deadman.take(10.1) == (command, True)
    assert deadman.take(10.15) == (command, False)
    assert deadman.take(10.25) == (None, False)


def test_a_second_lease_on_the_same_robot_is_refused_naming_the_owner(tmp_path):
    first = RobotLease("127.0.0.9", "/tracegen/teleop_node", tmp_path)
    first.acquire()
    with pytest.raises(RobotUnavailableError, match=r"commanded by /tracegen/teleop_node .*ik_controller"):
        RobotLease("127.0.0.9", "/tracegen/ik_controller_node", tmp_path).acquire()
    RobotLease("127.0.0.10", "other robot", tmp_path).acquire()
    first.release()
    RobotLease("127.0.0.9", "/tracegen/ik_controller_node", tmp_path).acquire()


def test_a_lease_dies_with_its_process(tmp_path):
    code = (
        "import sys; from tracegen.robot.ownership import RobotLease; "
        f"RobotLease('127.0.0.9', 'crashed', {str(tmp_path)!r}).acquire(); sys.exit(1)"
    )
    subprocess.run([sys.executable, "-c", code], check=False)
    RobotLease("127.0.0.9", "next", tmp_path).acquire()


class _Robot:
    connected = False
    description = "a robot"

    def connect(self) -> None:
        raise RobotUnavailableError("no answer")

    def close(self) -> None:
        pass


def test_an_owned_robot_releases_its_lease_when_the_connection_fails(tmp_path):
    robot = OwnedRobot(_Robot(), RobotLease("127.0.0.9", "a", tmp_path))
    with pytest.raises(RobotUnavailableError, match="no answer"):
        robot.connect()
    assert not robot.lease.held
    RobotLease("127.0.0.9", "b", tmp_path).acquire()


def test_the_deadman_wakes_its_waiter_once_per_command():
    deadman = Deadman(0.2)
    assert deadman.wait(0, timeout_s=0.01) == 0, "nothing arrived"
    deadman.put(TwistCommand((0.01, 0.0, 0.0), (0.0, 0.0, 0.0)), now_s=1.0)
    seen = deadman.wait(0, timeout_s=5.0)
    assert seen == 1
    assert deadman.wait(seen, timeout_s=0.05) == 1, "no newer command: it returns after the timeout"
