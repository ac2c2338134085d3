"""FR3 kinematics (Pinocchio on franky-sim's URDF) against the FR3's published DH parameters."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.errors import InputError
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.safety import FR3_Q_MAX_RAD, FR3_Q_MIN_RAD

# Franka's documented kinematics (Craig's modified DH): a, d, alpha per joint, then the flange
# 0.107 m along z; the Franka Hand is turned -45 deg about z and its TCP is 0.1034 m further.
DH_A = (0.0, 0.0, 0.0, 0.0825, -0.0825, 0.0, 0.088)
DH_D = (0.333, 0.0, 0.316, 0.0, 0.384, 0.0, 0.0)
DH_ALPHA = (0.0, -np.pi / 2, np.pi / 2, np.pi / 2, -np.pi / 2, np.pi / 2, np.pi / 2)


def modified_dh(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    ca, sa, ct, st = np.cos(alpha), np.sin(alpha), np.cos(theta), np.sin(theta)
    return np.array(
        [[ct, -st, 0, a], [st * ca, ct * ca, -sa, -d * sa], [st * sa, ct * sa, ca, d * ca], [0, 0, 0, 1]]
    )


def dh_tcp(q: np.ndarray) -> np.ndarray:
    transform = np.eye(4)
    for a, d, alpha, theta in zip(DH_A, DH_D, DH_ALPHA, q, strict=True):
        transform = transform @ modified_dh(a, d, alpha, theta)
    flange = modified_dh(0.0, 0.107, 0.0, 0.0)
    hand = modified_dh(0.0, 0.0, 0.0, -np.pi / 4)
    tcp = modified_dh(0.0, 0.1034, 0.0, 0.0)
    return transform @ flange @ hand @ tcp


def random_configurations(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(FR3_Q_MIN_RAD, FR3_Q_MAX_RAD, size=(count, 7))


def test_forward_kinematics_matches_the_published_dh_parameters(kinematics):
    for q in random_configurations(20):
        np.testing.assert_allclose(kinematics.fk(q), dh_tcp(q), atol=1e-6)


def test_jacobian_matches_finite_differences_of_the_tcp_pose(kinematics):
    q = random_configurations(1, seed=3)[0]
    jacobian = kinematics.tcp_jacobian(q)
    base = kinematics.fk(q)
    step = 1e-6
    for joint in range(7):
        moved = q.copy()
        moved[joint] += step
        other = kinematics.fk(moved)
        linear = (other[:3, 3] - base[:3, 3]) / step
        rotation = other[:3, :3] @ base[:3, :3].T
        angular = np.array(
            [
                rotation[2, 1] - rotation[1, 2],
                rotation[0, 2] - rotation[2, 0],
                rotation[1, 0] - rotation[0, 1],
            ]
        ) / (2 * step)
        np.testing.assert_allclose(jacobian[:3, joint], linear, atol=1e-5)
        np.testing.assert_allclose(jacobian[3:, joint], angular, atol=1e-5)


def test_a_tcp_offset_moves_the_tcp_along_its_own_axes(kinematics):
    tool = Fr3Kinematics(tcp_offset_m=(0.0, 0.0, 0.05))
    q = random_configurations(1, seed=4)[0]
    plain, extended = kinematics.fk(q), tool.fk(q)
    np.testing.assert_allclose(extended[:3, 3], plain[:3, 3] + 0.05 * plain[:3, 2], atol=1e-9)
    np.testing.assert_allclose(extended[:3, :3], plain[:3, :3], atol=1e-12)


def test_the_tcp_frame_can_be_any_frame_of_the_urdf(kinematics):
    flange = Fr3Kinematics(tcp_frame="fr3_link8")
    q = random_configurations(1, seed=5)[0]
    np.testing.assert_allclose(flange.fk(q), kinematics.frame_pose(q, "fr3_link8"), atol=1e-12)


def test_an_unknown_tcp_frame_is_refused_naming_the_known_frames():
    with pytest.raises(InputError, match="fr3_hand_tcp"):
        Fr3Kinematics(tcp_frame="gripper_tip")


@pytest.mark.parametrize("q", [[0.0] * 6, [0.0, 0.0, 0.0, -1.5, 0.0, float("nan"), 0.7]])
def test_joint_vectors_of_the_wrong_size_or_with_nan_are_refused(kinematics, q):
    with pytest.raises(InputError, match="q_rad"):
        kinematics.fk(q)
