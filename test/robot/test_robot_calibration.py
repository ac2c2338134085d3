"""The camera extrinsic file (config/calibration.yaml): format, validation, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tracegen.calibration import (
    CalibrationError,
    CameraExtrinsic,
    angle_between_deg,
    load_calibration,
    save_calibration,
)
from tracegen.sim.camera import SimCameraSpec


def test_the_shipped_calibration_is_the_simulated_cameras_pose():
    extrinsic = load_calibration()
    assert (extrinsic.parent_frame, extrinsic.child_frame) == ("fr3_link0", "camera_color_optical_frame")
    np.testing.assert_allclose(extrinsic.matrix, SimCameraSpec().T_world_optical, atol=1e-9)


def test_the_shipped_camera_looks_down_at_the_table_in_front_of_the_robot():
    transform = load_calibration().matrix
    optical_axis = transform[:3, 2]
    assert transform[0, 3] > 0.5 and transform[2, 3] > 0.3, "in front of the robot, above the table"
    assert optical_axis[0] < 0 and optical_axis[2] < 0, "looking back towards the robot and down"


def test_a_saved_calibration_loads_back_identically(tmp_path):
    extrinsic = CameraExtrinsic.from_look_at(
        (1.0, 0.2, 0.6), (0.4, 0.0, 0.0), date="2026-02-03", method="test"
    )
    path = save_calibration(extrinsic, tmp_path / "calib" / "calibration.yaml", comment="written by a test")
    loaded = load_calibration(path)
    np.testing.assert_allclose(loaded.matrix, extrinsic.matrix, atol=1e-9)
    assert (loaded.date, loaded.method) == ("2026-02-03", "test")
    assert path.read_text().startswith("# written by a test\n")
    assert [p.name for p in path.parent.iterdir()] == ["calibration.yaml"], "no temporary file left behind"


def test_saving_fills_in_todays_date_when_none_is_given(tmp_path):
    extrinsic = CameraExtrinsic((1.0, 0.0, 0.5), (0.0, 0.0, 0.0, 1.0))
    data = yaml.safe_load(save_calibration(extrinsic, tmp_path / "c.yaml").read_text())
    assert len(data["date"]) == 10 and data["date"][4] == "-"


def test_matrix_and_quaternion_forms_agree():
    extrinsic = CameraExtrinsic.from_look_at((0.9, -0.5, 0.6), (0.4, 0.0, 0.1))
    again = CameraExtrinsic.from_matrix(extrinsic.matrix)
    assert angle_between_deg(extrinsic, again) < 1e-6


def write(tmp_path, **changes):
    data = {
        "parent_frame": "fr3_link0",
        "child_frame": "camera_color_optical_frame",
        "translation_m": [1.0, 0.0, 0.5],
        "quaternion_xyzw": [0.0, 0.0, 0.0, 1.0],
    }
    data.update(changes)
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "calibration.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quaternion_xyzw": None}, r"lacks \['quaternion_xyzw'\]"),
        ({"translation_m": [900.0, 0.0, 500.0]}, "in metres"),
        ({"quaternion_xyzw": [0.0, 0.0, 0.0, 2.0]}, "has norm 2.0000"),
        ({"translation_m": [1.0, float("nan"), 0.5]}, "3 finite numbers"),
        ({"parent_frame": "world"}, "robot base frame 'fr3_link0' is required"),
        ({"rotation": [0, 0, 0]}, r"unknown keys \['rotation'\]"),
    ],
)
def test_malformed_calibrations_are_refused_naming_the_problem(tmp_path, changes, message):
    with pytest.raises(CalibrationError, match=message):
        load_calibration(write(tmp_path, **changes))


def test_a_missing_calibration_file_is_refused_naming_the_path(tmp_path):
    with pytest.raises(CalibrationError, match=r"cannot read the camera calibration .*nowhere\.yaml"):
        load_calibration(tmp_path / "nowhere.yaml")
