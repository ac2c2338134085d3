"""The safety envelope refuses or clips, always with a reason; the shipped limits are the FR3's."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tracegen.errors import InputError
from tracegen.resources import config_path
from tracegen.robot.errors import SafetyViolationError
from tracegen.robot.safety import (
    FR3_DQ_MAX_RAD_S,
    FR3_Q_MAX_RAD,
    FR3_Q_MIN_RAD,
    CartesianPath,
    SafetyEnvelope,
    SafetyLimits,
    SafetyPolicy,
)
from tracegen.robot.trajectory import JointTrajectory, time_parameterize

CLIP, REJECT = SafetyPolicy.CLIP, SafetyPolicy.REJECT


def line_path(start_m, end_m, num: int = 11, duration_s: float = 2.0) -> CartesianPath:
    """TCP pointing down, moving on a straight line."""
    poses = np.repeat(np.diag([1.0, -1.0, -1.0, 1.0])[None], num, axis=0)
    poses[:, :3, 3] = np.linspace(start_m, end_m, num)
    return CartesianPath(poses, np.linspace(0.0, duration_s, num))


@pytest.fixture
def envelope() -> SafetyEnvelope:
    return SafetyEnvelope(SafetyLimits())


def test_a_path_inside_the_box_and_slow_enough_passes_unchanged(envelope):
    path = line_path([0.4, -0.1, 0.2], [0.5, 0.1, 0.3])
    checked, notes = envelope.check_cartesian_path(path)
    assert notes == ()
    np.testing.assert_array_equal(checked.poses, path.poses)
    np.testing.assert_array_equal(checked.times_s, path.times_s)


def test_leaving_the_workspace_is_refused_naming_the_first_waypoint_outside(envelope):
    path = line_path([0.5, 0.0, 0.2], [0.5, 0.0, -0.02])
    with pytest.raises(
        SafetyViolationError, match=r"leave the workspace box .* the first, waypoint 9, .* mm outside"
    ):
        envelope.check_cartesian_path(path, workspace_policy=REJECT)


def test_under_the_clip_policy_waypoints_are_projected_into_the_box_with_a_note(envelope):
    path = line_path([0.5, 0.0, 0.2], [0.5, 0.0, -0.02])
    checked, notes = envelope.check_cartesian_path(path, workspace_policy=CLIP)
    assert checked.positions_m[:, 2].min() == pytest.approx(0.01)
    assert len(notes) == 1 and "clipped 2 waypoints into the workspace box" in notes[0]


def test_clipping_refuses_waypoints_far_outside_the_box(envelope):
    path = line_path([0.5, 0.0, 0.2], [0.5, 0.0, -0.3])
    with pytest.raises(
        SafetyViolationError, match="clipping only repairs up to 50 mm: check the calibration"
    ):
        envelope.check_cartesian_path(path, workspace_policy=CLIP)


@pytest.mark.parametrize("policy", [CLIP, REJECT])
def test_nan_poses_are_refused_under_either_policy(envelope, policy):
    path = line_path([0.4, 0.0, 0.2], [0.5, 0.0, 0.2])
    path.poses[3, 1, 3] = np.nan
    with pytest.raises(SafetyViolationError, match="pose 3 of the path holds NaN"):
        envelope.check_cartesian_path(path, workspace_policy=policy, speed_policy=policy)


def test_a_pose_whose_rotation_is_not_orthonormal_is_refused(envelope):
    path = line_path([0.4, 0.0, 0.2], [0.5, 0.0, 0.2])
    path.poses[2, :3, :3] *= 1.1
    with pytest.raises(SafetyViolationError, match="pose 2 is not a rotation"):
        envelope.check_cartesian_path(path)


def test_times_that_do_not_increase_are_refused(envelope):
    path = line_path([0.4, 0.0, 0.2], [0.5, 0.0, 0.2])
    path.times_s[4] = path.times_s[3]
    with pytest.raises(SafetyViolationError, match="increase strictly"):
        envelope.check_cartesian_path(path)


def test_a_path_faster_than_the_speed_limit_is_refused_with_the_speed(envelope):
    path = line_path([0.3, -0.3, 0.2], [0.7, 0.3, 0.2], duration_s=0.5)
    with pytest.raises(
        SafetyViolationError, match=r"too fast; the worst, .* moves at 1\.442 m/s .*\(limits 0.25 m/s"
    ):
        envelope.check_cartesian_path(path, speed_policy=REJECT)


def test_under_the_clip_policy_a_fast_path_is_slowed_to_the_speed_limit(envelope):
    path = line_path([0.3, -0.3, 0.2], [0.7, 0.3, 0.2], duration_s=0.5)
    checked, notes = envelope.check_cartesian_path(path, speed_policy=CLIP)
    speeds = np.linalg.norm(np.diff(checked.positions_m, axis=0), axis=1) / np.diff(checked.times_s)
    assert speeds.max() <= envelope.limits.max_linear_speed_m_s + 1e-9
    np.testing.assert_array_equal(checked.positions_m, path.positions_m)
    assert "slowed 10 segments to the Cartesian speed limit" in notes[0]


def test_fast_rotation_is_limited_like_fast_translation(envelope):
    path = line_path([0.5, 0.0, 0.3], [0.5, 0.0, 0.3], num=2, duration_s=0.1)
    angle = 0.5
    path.poses[1, :3, :3] = path.poses[0, :3, :3] @ np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    with pytest.raises(SafetyViolationError, match=r"5\.000 rad/s"):
        envelope.check_cartesian_path(path, speed_policy=REJECT)


def test_a_streamed_step_is_clipped_into_the_box_and_to_the_speed_limit(envelope):
    target, notes = envelope.clip_cartesian_step(
        np.array([0.5, 0.0, 0.05]), np.array([0.5, 0.0, -0.5]), dt_s=0.01
    )
    assert target == pytest.approx([0.5, 0.0, 0.05 - 0.0025])
    assert any("workspace box" in note for note in notes) and any("speed limit" in note for note in notes)


def test_joint_positions_outside_the_limits_minus_the_margin_are_refused(envelope):
    q = np.array([0.0, 0.0, 0.0, -1.5, 0.0, 1.5, 0.0])
    envelope.check_joint_positions(q)
    q[3] = FR3_Q_MAX_RAD[3] - 0.01
    with pytest.raises(
        SafetyViolationError, match=r"joint 4 at -0\.1618 rad is outside \[-2\.9921, -0\.2018\]"
    ):
        envelope.check_joint_positions(q)


def test_a_joint_trajectory_faster_than_the_scaled_velocity_limit_is_refused(envelope):
    q = np.array([[0.0, 0.0, 0.0, -1.5, 0.0, 1.5, 0.0], [0.5, 0.0, 0.0, -1.5, 0.0, 1.5, 0.0]])
    too_fast = JointTrajectory(np.array([0.0, 0.2]), q, np.zeros_like(q))
    with pytest.raises(
        SafetyViolationError, match=r"segment 0: joint 1 velocity 3\.750 rad/s exceeds the limit 0\.786"
    ):
        envelope.check_joint_trajectory(too_fast)


def test_a_time_parameterised_trajectory_passes_the_joint_checks(envelope, kinematics, view_q):
    q = np.stack([view_q, view_q + np.array([0.3, 0.2, 0.0, 0.2, 0.0, -0.1, 0.5])])
    limits = envelope.limits
    trajectory = time_parameterize(
        q, np.array([0.1]), limits.velocity_limit_rad_s, limits.acceleration_limit_rad_s2
    )
    envelope.check_joint_trajectory(trajectory, kinematics)


def test_a_joint_trajectory_taking_the_tcp_out_of_the_box_is_refused(envelope, kinematics, view_q):
    low = view_q.copy()
    low[1] += 0.7  # shoulder forward: the TCP dives through the table plane
    limits = envelope.limits
    trajectory = time_parameterize(
        np.stack([view_q, low]),
        np.array([5.0]),
        limits.velocity_limit_rad_s,
        limits.acceleration_limit_rad_s2,
    )
    with pytest.raises(SafetyViolationError, match="the TCP would leave the workspace box"):
        envelope.check_joint_trajectory(trajectory, kinematics)


def test_the_shipped_limits_are_the_fr3_datasheet_values():
    limits = SafetyLimits.load(config_path("safety.yaml"))
    assert limits.q_min_rad == FR3_Q_MIN_RAD and limits.q_max_rad == FR3_Q_MAX_RAD
    assert limits.dq_max_rad_s == FR3_DQ_MAX_RAD_S
    assert limits == SafetyLimits(), "the dataclass defaults document the shipped file"


def test_a_limits_file_with_an_unknown_key_is_refused(tmp_path):
    data = yaml.safe_load(config_path("safety.yaml").read_text())
    data["cartesian"]["max_speed"] = 1.0
    path = tmp_path / "safety.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match=r"unknown keys \['max_speed'\] in cartesian"):
        SafetyLimits.load(path)


def test_a_workspace_box_with_min_above_max_is_refused(tmp_path):
    path = tmp_path / "safety.yaml"
    path.write_text(yaml.safe_dump({"workspace": {"min_xyz_m": [0.5, 0, 0], "max_xyz_m": [0.2, 1, 1]}}))
    with pytest.raises(InputError, match="must be below max"):
        SafetyLimits.load(path)


def test_a_path_slowed_by_the_clip_policy_passes_the_strict_check_again():
    """The retarget node clips, the IK controller re-checks strictly: rounding must not refuse it."""
    envelope = SafetyEnvelope()
    rng = np.random.default_rng(1)
    for _ in range(300):
        poses = np.repeat(np.diag([1.0, -1.0, -1.0, 1.0])[None], 33, axis=0)
        poses[:, :3, 3] = np.array([0.45, 0.0, 0.3]) + np.cumsum(rng.normal(scale=0.01, size=(33, 3)), axis=0)
        clipped, _ = envelope.check_cartesian_path(
            CartesianPath(poses, np.arange(33) * 0.15),
            workspace_policy=SafetyPolicy.CLIP,
            speed_policy=SafetyPolicy.CLIP,
        )
        envelope.check_cartesian_path(clipped)
