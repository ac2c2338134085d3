"""capture_node: a real pyrealsense2 recording played through the SDK pipeline, received over DDS.

The recordings are made with ``rs.software_device`` + ``rs.recorder`` (the SDK's own writer),
so playback exercises the same pipeline a RealSense Viewer recording or a live camera would.
"""

from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image

from tracegen_ros.images import image_to_numpy
from tracegen_ros.qos import COMMAND_QOS, SENSOR_QOS

from support.nodes_harness import RosProbe, start_node
from support.nodes_scenes import INTRINSICS, scene_depth_m, scene_rgb, write_recording

pytestmark = [pytest.mark.ros, pytest.mark.slow]

TOPICS = {
    "color": "/camera/camera/color/image_raw",
    "color_info": "/camera/camera/color/camera_info",
    "depth": "/camera/camera/aligned_depth_to_color/image_raw",
    "depth_info": "/camera/camera/aligned_depth_to_color/camera_info",
}


@pytest.fixture
def probe():
    probe = RosProbe("capture_test_probe")
    yield probe
    probe.close()


def start_capture(tmp_path, node_env, **parameters):
    return start_node(
        "capture_node",
        tmp_path,
        node_env,
        name="camera",
        namespace="camera",
        params_file="capture.yaml",
        parameters={"reconnect_timeout": 0.5, **parameters},
    )


def frame_index(rgb: np.ndarray) -> int:
    """Which synthetic frame an image is (the block's left edge encodes it)."""
    red = np.flatnonzero((rgb[INTRINSICS.height_px // 3 + 2] == (220, 30, 30)).all(axis=1))
    return int(red[0]) - 10


def test_recorded_frames_arrive_on_realsense_topics_with_encodings_sizes_and_camera_info(
    tmp_path, node_env, probe
):
    # 5 s of frames: best-effort frames published before DDS discovery matched the probe are lost.
    recording = write_recording(tmp_path / "scene.db3", 75, fps=15)
    collected = {
        key: probe.collect(Image if "info" not in key else CameraInfo, topic, SENSOR_QOS)
        for key, topic in TOPICS.items()
    }
    node = start_capture(tmp_path, node_env, rosbag_filename=str(recording), **{"playback.on_end": "idle"})
    try:
        assert collected["color"].wait_count(5, 60.0), node.log()
        assert collected["depth_info"].wait_count(5, 30.0), node.log()
        assert node.wait_for_log(r"recording .* ended after \d+ frames published", 30.0), node.log()
        assert node.running, "the node must stay up (idle) after the recording ended"
    finally:
        node.stop()

    color, depth = collected["color"].messages[-1], collected["depth"].messages[-1]
    assert (color.encoding, color.width, color.height) == ("rgb8", 64, 48)
    assert (depth.encoding, depth.width, depth.height) == ("16UC1", 64, 48)
    assert color.header.frame_id == depth.header.frame_id == "camera_color_optical_frame"
    index = frame_index(image_to_numpy(color))
    assert np.array_equal(image_to_numpy(color), scene_rgb(index))
    expected_mm = np.rint(scene_depth_m(index) * 1000).astype(np.uint16)
    by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m for m in collected["depth"].messages}
    same_frame_depth = by_stamp[(color.header.stamp.sec, color.header.stamp.nanosec)]
    assert np.array_equal(image_to_numpy(same_frame_depth), expected_mm), "depth in millimetres, same stamp"

    info = collected["color_info"].messages[-1]
    assert (info.width, info.height, info.distortion_model) == (64, 48, "plumb_bob")
    assert np.allclose(info.k, INTRINSICS.matrix().ravel())
    assert np.allclose(np.asarray(info.p).reshape(3, 4)[:, :3], INTRINSICS.matrix())
    assert info.header.frame_id == "camera_color_optical_frame"
    assert list(collected["depth_info"].messages[-1].k) == list(info.k), "aligned depth has colour intrinsics"


def test_playback_without_real_time_publishes_every_frame_then_stops_cleanly(tmp_path, node_env):
    recording = write_recording(tmp_path / "fast.db3", 12, pace=False)
    node = start_capture(
        tmp_path,
        node_env,
        rosbag_filename=str(recording),
        **{"playback.on_end": "stop", "playback.real_time": False},
    )
    assert node.wait(60.0) == 0, f"expected a clean exit at the end of the recording:\n{node.log()}"
    node.stop()
    assert "ended after 12 frames published" in node.log()


def test_missing_recording_is_waited_for_and_played_once_it_appears(tmp_path, node_env, probe):
    recording = tmp_path / "later.db3"
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", COMMAND_QOS)
    colors = probe.collect(Image, TOPICS["color"], SENSOR_QOS)
    node = start_capture(tmp_path, node_env, rosbag_filename=str(recording))
    try:
        assert node.wait_for_log(
            r"waiting for the recording .*does not exist; retrying every 0.5 s", 30.0, count=2
        ), node.log()
        assert diagnostics.wait_for(
            lambda msgs: any(
                s.level == b"\x01" and "waiting for the recording" in s.message
                for m in msgs
                for s in m.status
            ),
            30.0,
        )
        write_recording(tmp_path / "staging.db3", 10).rename(recording)
        assert colors.wait_count(3, 60.0), node.log()
        assert node.running
    finally:
        assert node.stop() == 0


def test_a_file_that_is_no_recording_is_reported_once_without_a_crash_loop(tmp_path, node_env, probe):
    bad = tmp_path / "broken.db3"
    bad.write_bytes(b"this is not a rosbag2 sqlite file")
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", COMMAND_QOS)
    node = start_capture(tmp_path, node_env, rosbag_filename=str(bad))
    try:
        assert diagnostics.wait_for(
            lambda msgs: any(
                s.level == b"\x02" and "unusable recording" in s.message for m in msgs for s in m.status
            ),
            30.0,
        ), node.log()
        assert node.running, "an unusable recording must not kill the node"
        assert node.log().count("cannot play recording") == 1, "reported once, not retried in a loop"
    finally:
        assert node.stop() == 0


def test_without_a_camera_the_node_waits_and_says_for_what(tmp_path, node_env):
    node = start_capture(tmp_path, node_env)
    try:
        assert node.wait_for_log(
            r"waiting for the RealSense camera .*no RealSense device is connected", 30.0, count=2
        ), node.log()
        assert node.running
    finally:
        assert node.stop() == 0


def test_wait_for_device_timeout_ends_the_node_with_an_error_status(tmp_path, node_env):
    node = start_capture(tmp_path, node_env, wait_for_device_timeout=1.0)
    assert node.wait(30.0) == 1, node.log()
    node.stop()
    assert "gave up waiting for the RealSense camera" in node.log()


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"rgb_camera.color_profile": "640x480"}, "rgb_camera.color_profile is '640x480'"),
        ({"rosbag_filename": "/tmp/capture.mp4"}, "is not a RealSense recording"),
        ({"playback.on_end": "rewind"}, "playback.on_end' is 'rewind'"),
    ],
)
def test_bad_parameters_stop_the_node_at_start_with_a_clear_message(tmp_path, node_env, parameters, message):
    node = start_capture(tmp_path, node_env, **parameters)
    assert node.wait(30.0) == 2, node.log()
    node.stop()
    assert message in node.log()
