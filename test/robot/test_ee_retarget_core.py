"""Trace -> end-effector plan on synthetic traces whose gripper motion is known exactly.

The traces come from :mod:`tracegen.ee_retarget.synthetic`: the shipped calibration's camera
looks at the FR3's gripper (collision geometry posed by FK), a table and optionally a block; grid
points on the gripper move with a known TCP motion.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from tracegen.ee_retarget import RetargetConfig, TraceRetargeter
from tracegen.ee_retarget.retarget import METHOD_MEAN, METHOD_RIGID
from tracegen.ee_retarget.rigid import kabsch, ransac_rigid
from tracegen.ee_retarget.synthetic import (
    LABEL_GRIPPER,
    LABEL_OBJECT,
    ObjectBox,
    synthetic_trace,
    translation_motions,
)
from tracegen.errors import TraceError
from tracegen.robot.errors import SafetyViolationError
from tracegen.robot.plan import GripperAction
from tracegen.robot.safety import SafetyPolicy
from tracegen.trace import CameraIntrinsics, Trace

INTRINSICS = CameraIntrinsics.from_fov(640, 480, 69.4)
WIDTH_M = 0.04
STEPS = 33


def line(offset_m, steps: int = STEPS) -> np.ndarray:
    return translation_motions(np.linspace(0.0, 1.0, steps)[:, None] * np.asarray(offset_m))


@pytest.fixture
def retargeter(kinematics, T_base_camera) -> TraceRetargeter:
    return TraceRetargeter(kinematics, T_base_camera)


def render(geometry, T_base_camera, q, motions, **kwargs):
    return synthetic_trace(geometry, T_base_camera, INTRINSICS, q, WIDTH_M, motions, **kwargs)


def expected_poses(kinematics, q, motions) -> np.ndarray:
    return motions @ kinematics.fk(q)


# --- rigid fitting --------------------------------------------------------------------------------


def test_kabsch_recovers_a_known_rigid_motion():
    rng = np.random.default_rng(0)
    rotation = Rotation.from_rotvec([0.3, -0.2, 0.5]).as_matrix()
    points = rng.uniform(-0.1, 0.1, (8, 3))
    found_rotation, found_translation = kabsch(points, points @ rotation.T + [0.1, -0.2, 0.05])
    np.testing.assert_allclose(found_rotation, rotation, atol=1e-12)
    np.testing.assert_allclose(found_translation, [0.1, -0.2, 0.05], atol=1e-12)


def test_ransac_ignores_points_that_do_not_move_rigidly():
    rng = np.random.default_rng(1)
    rotation = Rotation.from_rotvec([0.0, 0.2, 0.1]).as_matrix()
    points = rng.uniform(-0.05, 0.05, (12, 3))
    moved = points @ rotation.T + [0.02, 0.0, 0.03]
    moved[[3, 8]] += [0.04, -0.03, 0.02]
    fit = ransac_rigid(points, moved, threshold_m=0.005)
    assert fit.inliers.tolist() == [i not in (3, 8) for i in range(12)]
    np.testing.assert_allclose(fit.rotation, rotation, atol=1e-9)


# --- following the gripper ------------------------------------------------------------------------


def test_the_plan_follows_a_known_tcp_translation(retargeter, kinematics, geometry, T_base_camera, view_q):
    motions = line([0.08, 0.05, -0.06])
    scene = render(geometry, T_base_camera, view_q, motions)
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M, stamp_ns=123)
    np.testing.assert_array_equal(result.gripper_points, scene.labels == LABEL_GRIPPER)
    errors = np.linalg.norm(
        result.plan.positions_m - expected_poses(kinematics, view_q, motions)[:, :3, 3], axis=1
    )
    assert errors.max() < 1e-3
    assert result.plan.stamp_ns == 123 and result.plan.frame_id == "fr3_link0"
    np.testing.assert_allclose(result.plan.times_s, np.arange(STEPS) * 0.25)


def test_a_rotation_of_the_gripper_is_recovered_by_the_rigid_fit(
    retargeter, kinematics, geometry, T_base_camera, view_q
):
    tcp = kinematics.fk(view_q)
    motions = line([0.05, 0.0, -0.03])
    for k, angle in enumerate(np.linspace(0.0, np.radians(30.0), STEPS)):
        spin = np.eye(4)
        spin[:3, :3] = Rotation.from_rotvec(angle * tcp[:3, 2]).as_matrix()
        spin[:3, 3] = tcp[:3, 3] - spin[:3, :3] @ tcp[:3, 3]  # about the TCP
        motions[k] = motions[k] @ spin
    scene = render(geometry, T_base_camera, view_q, motions)
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M)
    assert set(result.methods[1:]) == {METHOD_RIGID}
    expected = expected_poses(kinematics, view_q, motions)
    relative = np.einsum("nji,njk->nik", result.plan.poses[:, :3, :3], expected[:, :3, :3])
    angles = Rotation.from_matrix(relative).magnitude()
    assert np.degrees(angles.max()) < 0.5
    assert np.linalg.norm(result.plan.positions_m - expected[:, :3, 3], axis=1).max() < 1e-3


def test_with_too_few_rigid_points_the_mean_displacement_is_followed(
    kinematics, geometry, T_base_camera, view_q
):
    retargeter = TraceRetargeter(kinematics, T_base_camera, RetargetConfig(min_rigid_points=400))
    motions = line([0.06, -0.04, -0.05])
    scene = render(geometry, T_base_camera, view_q, motions)
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M)
    assert set(result.methods[1:]) == {METHOD_MEAN}
    expected = expected_poses(kinematics, view_q, motions)
    assert np.linalg.norm(result.plan.positions_m - expected[:, :3, 3], axis=1).max() < 1e-3
    np.testing.assert_allclose(result.plan.poses[:, :3, :3], expected[:, :3, :3], atol=1e-12)


def test_mistracked_gripper_points_do_not_bend_the_path(
    retargeter, kinematics, geometry, T_base_camera, view_q
):
    motions = line([0.08, 0.05, -0.06])
    scene = render(geometry, T_base_camera, view_q, motions)
    on_gripper = np.flatnonzero(scene.labels == LABEL_GRIPPER)
    assert len(on_gripper) >= 8, "the scene puts enough grid points on the gripper"
    xyz = scene.trace.to_xyz_m()
    xyz[on_gripper[:2], 5:] += [0.03, -0.02, 0.04]  # two points jump off the gripper
    trace = Trace.from_xyz_m(xyz, INTRINSICS)
    result = retargeter.retarget(trace, view_q, WIDTH_M)
    expected = expected_poses(kinematics, view_q, motions)[:, :3, 3]
    assert np.linalg.norm(result.plan.positions_m - expected, axis=1).max() < 2e-3
    naive = TraceRetargeter(kinematics, T_base_camera, RetargetConfig(min_rigid_points=400)).retarget(
        trace, view_q, WIDTH_M
    )
    assert np.linalg.norm(naive.plan.positions_m - expected, axis=1).max() > 5e-3, "the outliers matter"


def test_gripper_points_lost_at_some_steps_are_skipped(
    retargeter, kinematics, geometry, T_base_camera, view_q
):
    motions = line([0.05, 0.05, -0.05])
    scene = render(geometry, T_base_camera, view_q, motions)
    valid = np.ones(scene.trace.point_valid.shape, dtype=bool)
    valid[np.flatnonzero(scene.labels == LABEL_GRIPPER)[::2], 10:20] = False
    trace = Trace(scene.trace.uvz, scene.trace.step_valid, valid, True, INTRINSICS)
    result = retargeter.retarget(trace, view_q, WIDTH_M)
    expected = expected_poses(kinematics, view_q, motions)[:, :3, 3]
    assert np.linalg.norm(result.plan.positions_m - expected, axis=1).max() < 1e-3


def test_only_the_valid_steps_of_a_trace_are_planned(retargeter, geometry, T_base_camera, view_q):
    scene = render(geometry, T_base_camera, view_q, line([0.05, 0.0, -0.05]))
    step_valid = np.arange(STEPS) < 20
    trace = Trace(scene.trace.uvz, step_valid, scene.trace.point_valid & step_valid, True, INTRINSICS)
    assert retargeter.retarget(trace, view_q, WIDTH_M).plan.num_waypoints == 20


# --- gripper open / close -------------------------------------------------------------------------


def pick_and_place_motions() -> tuple[np.ndarray, int, int]:
    """Descend 19 cm, pause, lift 12 cm while moving 10 cm sideways, pause, rise 6 cm alone."""
    keys = [
        (0, [0, 0, 0]),
        (12, [0, 0, -0.19]),
        (15, [0, 0, -0.19]),
        (27, [0, 0.1, -0.07]),
        (29, [0, 0.1, -0.07]),
        (32, [0, 0.1, -0.01]),
    ]
    offsets = np.zeros((STEPS, 3))
    for (k0, p0), (k1, p1) in itertools.pairwise(keys):
        for k in range(k0, k1 + 1):
            offsets[k] = np.asarray(p0) + (np.asarray(p1) - p0) * (k - k0) / (k1 - k0)
    return translation_motions(offsets), 13, 28


BLOCK = ObjectBox(center_m=(0.45, 0.0, 0.03), half_extent_m=(0.03, 0.03, 0.03))


def test_the_gripper_closes_when_the_object_moves_with_it_and_opens_when_they_separate(
    retargeter, geometry, T_base_camera, view_q
):
    motions, grasp_step, release_step = pick_and_place_motions()
    scene = render(
        geometry, T_base_camera, view_q, motions, obj=BLOCK, grasp_step=grasp_step, release_step=release_step
    )
    assert (scene.labels == LABEL_OBJECT).sum() >= 1, "the block is visible on the grid"
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M)
    actions = result.plan.gripper
    closes, opens = (
        np.flatnonzero(actions == GripperAction.CLOSE),
        np.flatnonzero(actions == GripperAction.OPEN),
    )
    assert len(closes) == 1 and 10 <= closes[0] <= grasp_step + 1, actions.tolist()
    assert opens.size and opens[0] < closes[0], "open while approaching"
    assert opens[-1] > closes[0] and release_step - 3 <= opens[-1] <= release_step + 1, actions.tolist()
    assert result.plan.gripper_width_m[opens[-1]] == pytest.approx(0.08)


def test_passing_by_an_object_without_carrying_it_never_closes(retargeter, geometry, T_base_camera, view_q):
    motions, _, _ = pick_and_place_motions()
    scene = render(geometry, T_base_camera, view_q, motions, obj=BLOCK)
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M)
    assert GripperAction.CLOSE not in result.plan.gripper.tolist()


def test_a_gripper_that_does_not_move_leaves_the_gripper_as_it_is(
    retargeter, geometry, T_base_camera, view_q
):
    scene = render(geometry, T_base_camera, view_q, line([0.0, 0.0, 0.0]), obj=BLOCK)
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M)
    assert set(result.plan.gripper.tolist()) == {GripperAction.HOLD}


# --- refusals and the safety envelope -------------------------------------------------------------


def test_a_2d_trace_is_refused(retargeter, geometry, T_base_camera, view_q):
    scene = render(geometry, T_base_camera, view_q, line([0.05, 0.0, 0.0]))
    flat = Trace.from_uvz(scene.trace.uvz[..., :2], INTRINSICS, is_3d=False)
    with pytest.raises(TraceError, match="2D-only"):
        retargeter.retarget(flat, view_q, WIDTH_M)


def test_a_trace_with_only_its_query_step_is_refused(retargeter, geometry, T_base_camera, view_q):
    scene = render(geometry, T_base_camera, view_q, line([0.05, 0.0, 0.0]))
    with pytest.raises(TraceError, match="no step after its query step"):
        retargeter.retarget(scene.trace.with_num_steps(1), view_q, WIDTH_M)


def test_a_gripper_out_of_view_is_refused_with_what_to_check(retargeter, geometry, T_base_camera, view_q):
    scene = render(geometry, T_base_camera, view_q, line([0.05, 0.0, 0.0]))
    raised = np.array([0.0, 0.0, 0.0, -1.57, 0.0, 1.57, 0.785])  # franky-sim's start: gripper above the image
    with pytest.raises(
        TraceError, match=r"0 grid points fall on the projected gripper .* Is the gripper in view"
    ):
        retargeter.retarget(scene.trace, raised, WIDTH_M)


def test_points_on_the_silhouette_at_the_wrong_depth_are_not_gripper_points(
    retargeter, geometry, T_base_camera, view_q
):
    scene = render(geometry, T_base_camera, view_q, line([0.05, 0.0, 0.0]))
    uvz = scene.trace.uvz.copy()
    uvz[..., 2] += 0.3  # every depth 30 cm too far: the calibration or the depth scale is wrong
    trace = Trace.from_uvz(uvz, INTRINSICS)
    with pytest.raises(
        TraceError, match=r"grid points fall on the projected gripper and 0 of them at its depth"
    ):
        retargeter.retarget(trace, view_q, WIDTH_M)


def test_a_path_into_the_table_is_clipped_to_the_workspace_box_with_a_note(
    retargeter, geometry, T_base_camera, view_q
):
    scene = render(
        geometry, T_base_camera, view_q, line([0.0, 0.0, -0.23])
    )  # TCP ends 1 cm below the table top
    result = retargeter.retarget(scene.trace, view_q, WIDTH_M)
    assert result.plan.positions_m[:, 2].min() >= 0.01 - 1e-9
    assert any("clipped" in note for note in result.notes)


def test_under_the_reject_policy_a_path_into_the_table_is_refused(
    kinematics, geometry, T_base_camera, view_q
):
    config = RetargetConfig(workspace_policy=SafetyPolicy.REJECT)
    retargeter = TraceRetargeter(kinematics, T_base_camera, config)
    scene = render(geometry, T_base_camera, view_q, line([0.0, 0.0, -0.23]))
    with pytest.raises(SafetyViolationError, match="leave the workspace box"):
        retargeter.retarget(scene.trace, view_q, WIDTH_M)


def test_a_trace_too_fast_for_the_robot_is_slowed_to_the_speed_limit(
    kinematics, geometry, T_base_camera, view_q
):
    config = replace(RetargetConfig(), step_duration_s=0.01)
    retargeter = TraceRetargeter(kinematics, T_base_camera, config)
    scene = render(geometry, T_base_camera, view_q, line([0.08, 0.05, -0.06]))
    plan = retargeter.retarget(scene.trace, view_q, WIDTH_M).plan
    speeds = np.linalg.norm(np.diff(plan.positions_m, axis=0), axis=1) / np.diff(plan.times_s)
    assert speeds.max() <= retargeter.envelope.limits.max_linear_speed_m_s + 1e-9
    assert any("slowed" in note for note in plan.notes)
