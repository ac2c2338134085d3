"""tracegen.camera: stream profiles, SDK recordings written without a camera, and their playback."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.camera import (
    CameraNotFound,
    CaptureConfig,
    RealSenseCamera,
    RealSenseRecordingWriter,
    RecordingEnded,
    RecordingError,
    StreamProfile,
    connected_devices,
)
from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics

from support.nodes_scenes import INTRINSICS, scene_depth_m, scene_rgb, write_recording


def play_all(path, **config) -> list:
    frames = []
    with RealSenseCamera(CaptureConfig(recording=path, real_time=False, **config)) as camera:
        try:
            while True:
                frames.append(camera.read())
        except RecordingEnded:
            pass
    return frames


@pytest.mark.parametrize(
    ("text", "expected"),
    [("640x480x30", (640, 480, 30)), ("1280,720,15", (1280, 720, 15)), (" 0x0x0 ", (0, 0, 0))],
)
def test_profiles_parse_both_realsense_ros_spellings(text, expected):
    profile = StreamProfile.parse(text)
    assert (profile.width_px, profile.height_px, profile.fps) == expected


@pytest.mark.parametrize("text", ["640x480", "640x480x0", "99999x480x30", "abc", "640x480x30x1"])
def test_malformed_profiles_are_refused_naming_the_parameter(text):
    with pytest.raises(InputError, match=r"rgb_camera\.color_profile"):
        StreamProfile.parse(text, name="rgb_camera.color_profile")


def test_recordings_must_be_sdk_file_types():
    with pytest.raises(InputError, match="not a RealSense recording"):
        CaptureConfig(recording="/data/video.mp4")


def test_every_recorded_frame_plays_back_bit_exact_in_order(tmp_path):
    frames = play_all(write_recording(tmp_path / "scene.db3", 8, pace=False))
    assert [f.frame_number for f in frames] == list(range(8))
    for i, frame in enumerate(frames):
        assert np.array_equal(frame.rgb, scene_rgb(i))
        assert np.array_equal(frame.depth_mm, np.rint(scene_depth_m(i) * 1000).astype(np.uint16))
        assert frame.depth_aligned
        assert frame.color_intrinsics == INTRINSICS == frame.depth_intrinsics


def test_depth_in_other_units_is_published_in_millimetres(tmp_path):
    """D405-style 0.1 mm units become millimetres (the 16UC1 convention of realsense-ros)."""
    frames = play_all(write_recording(tmp_path / "d405.db3", 2, pace=False, depth_units_m=0.0001))
    assert np.array_equal(frames[1].depth_mm, np.rint(scene_depth_m(1) * 1000).astype(np.uint16))


def test_depth_of_another_resolution_is_aligned_to_colour_by_the_sdk(tmp_path):
    depth_intrinsics = CameraIntrinsics(32, 24, 27.5, 27.5, 15.75, 11.75)  # same field of view, half size
    path = tmp_path / "unaligned.db3"
    with RealSenseRecordingWriter(path, INTRINSICS, depth_intrinsics=depth_intrinsics, pace=False) as writer:
        writer.write(scene_rgb(0), np.full((24, 32), 0.9))
    (frame,) = play_all(path)
    assert frame.depth_mm.shape == (48, 64), "aligned depth has the colour image's size"
    assert frame.depth_intrinsics == INTRINSICS
    assert np.median(frame.depth_mm[frame.depth_mm > 0]) == 900


def test_unaligned_depth_keeps_its_own_size_and_intrinsics(tmp_path):
    depth_intrinsics = CameraIntrinsics(32, 24, 27.5, 27.5, 15.75, 11.75)
    path = tmp_path / "raw.db3"
    with RealSenseRecordingWriter(path, INTRINSICS, depth_intrinsics=depth_intrinsics, pace=False) as writer:
        writer.write(scene_rgb(0), np.full((24, 32), 0.9))
    (frame,) = play_all(path, align_depth=False)
    assert frame.depth_mm.shape == (24, 32)
    assert frame.depth_intrinsics == depth_intrinsics
    assert not frame.depth_aligned


def test_a_colour_only_recording_needs_depth_disabled(tmp_path):
    path = write_recording(tmp_path / "rgb.db3", 2, with_depth=False, pace=False)
    with pytest.raises(RecordingError, match="no depth stream: set enable_depth false"):
        RealSenseCamera(CaptureConfig(recording=path)).open()
    frames = play_all(path, enable_depth=False)
    assert len(frames) == 2 and frames[0].depth_mm is None


def test_a_missing_recording_is_not_found_yet_and_a_corrupt_one_is_an_error(tmp_path):
    with pytest.raises(CameraNotFound, match="does not exist"):
        RealSenseCamera(CaptureConfig(recording=tmp_path / "later.db3")).open()
    corrupt = tmp_path / "corrupt.db3"
    corrupt.write_bytes(b"\x00" * 100)
    with pytest.raises(RecordingError, match="cannot play recording"):
        RealSenseCamera(CaptureConfig(recording=corrupt)).open()


def test_without_a_device_opening_the_live_camera_says_none_is_connected():
    assert connected_devices() == [], "this test machine has no RealSense"
    with pytest.raises(CameraNotFound, match="no RealSense device is connected"):
        RealSenseCamera(CaptureConfig(serial_no="123456789012")).open()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"fps": 0}, "fps"), ({"depth_units_m": 1.0}, "depth_units_m")],
)
def test_the_writer_refuses_impossible_settings(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        RealSenseRecordingWriter(tmp_path / "x.db3", INTRINSICS, **kwargs)


def test_the_writer_refuses_other_file_types_and_mismatched_frames(tmp_path):
    with pytest.raises(InputError, match=r"must end in \.db3"):
        RealSenseRecordingWriter(tmp_path / "x.bag", INTRINSICS)
    with RealSenseRecordingWriter(tmp_path / "y.db3", INTRINSICS, pace=False) as writer:
        with pytest.raises(InputError, match="rgb must be 64x48"):
            writer.write(np.zeros((48, 32, 3), np.uint8), scene_depth_m(0))
        with pytest.raises(InputError, match="pass depth_m"):
            writer.write(scene_rgb(0))
