"""Fixtures of the robot tests: one FR3 model per session (building it takes ~10 ms, but the
gripper geometry parses the hand mesh), and the shipped calibration."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.calibration import load_calibration
from tracegen.ee_retarget.gripper_geometry import GripperGeometry
from tracegen.robot.kinematics import Fr3Kinematics

from support.sim_arm import VIEW_Q_RAD


@pytest.fixture(scope="session")
def kinematics() -> Fr3Kinematics:
    return Fr3Kinematics()


@pytest.fixture(scope="session")
def geometry(kinematics) -> GripperGeometry:
    return GripperGeometry(kinematics)


@pytest.fixture(scope="session")
def T_base_camera() -> np.ndarray:
    return load_calibration().matrix


@pytest.fixture
def view_q() -> np.ndarray:
    """A posture with the gripper in view of the shipped calibration's camera."""
    return np.array(VIEW_Q_RAD)
