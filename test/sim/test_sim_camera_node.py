"""sim_camera_node: the simulated world on the real camera's topics, received in another process.

One node process (module fixture) serves all tests: rendering and franky-sim start once.
"""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from tracegen.calibration import load_calibration
from tracegen.sim.camera import SimCameraSpec
from tracegen_ros.graph import CAMERA_TOPICS
from tracegen_ros.images import image_to_numpy
from tracegen_ros.qos import SENSOR_QOS
from tracegen_ros.sim_episode import SimEpisodeClient

from support.loopback import free_loopback_address
from support.nodes_harness import RosProbe, start_node

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def sim_node(tmp_path_factory, node_env):
    tmp_path = tmp_path_factory.mktemp("sim_camera")
    node = start_node(
        "sim_camera_node",
        tmp_path,
        node_env,
        name="camera",
        namespace="camera",
        params_file="sim_camera.yaml",
        parameters={"robot_ip": free_loopback_address(), "task": "block", "seed": 3, "fps": 5.0},
    )
    yield node
    assert node.stop() == 0, node.log()


@pytest.fixture(scope="module")
def probe(sim_node):
    probe = RosProbe("sim_camera_test_probe")
    yield probe
    probe.close()


@pytest.fixture(scope="module")
def frames(sim_node, probe):
    """A few framesets on the capture_node topics (CAMERA_TOPICS), collected once."""
    collected = {
        name: probe.collect(CameraInfo if name.endswith("camera_info") else Image, topic, SENSOR_QOS)
        for name, topic in CAMERA_TOPICS.items()
    }
    for name, collector in collected.items():
        assert collector.wait_count(2, 120.0), f"nothing on {CAMERA_TOPICS[name]}:\n{sim_node.log()}"
    return {name: list(collector.messages) for name, collector in collected.items()}


def test_colour_and_aligned_depth_arrive_with_the_capture_node_encodings_and_frame(frames):
    color, depth = frames["color/image_raw"][-1], frames["aligned_depth_to_color/image_raw"][-1]
    assert (color.encoding, color.width, color.height) == ("rgb8", 320, 240)
    assert (depth.encoding, depth.width, depth.height) == ("16UC1", 320, 240)
    assert color.header.frame_id == depth.header.frame_id == "camera_color_optical_frame"
    depth_mm = image_to_numpy(depth)
    table_mm = depth_mm[depth_mm > 0]
    assert 300 < np.median(table_mm) < 2000, "millimetres of a table ~1 m from the camera"
    assert image_to_numpy(color).std() > 5, "a rendered scene, not a blank image"


def test_colour_and_depth_of_one_frameset_share_a_stamp(frames):
    def stamps(name):
        return {(m.header.stamp.sec, m.header.stamp.nanosec) for m in frames[name]}

    assert stamps("color/image_raw") & stamps("aligned_depth_to_color/image_raw")


def test_camera_infos_are_the_simulated_d435_intrinsics_for_colour_and_aligned_depth(frames):
    expected = SimCameraSpec(width_px=320, height_px=240).intrinsics.matrix()
    color_info = frames["color/camera_info"][-1]
    depth_info = frames["aligned_depth_to_color/camera_info"][-1]
    assert (color_info.width, color_info.height, color_info.distortion_model) == (320, 240, "plumb_bob")
    assert np.allclose(np.asarray(color_info.k).reshape(3, 3), expected)
    assert list(depth_info.k) == list(color_info.k), "aligned depth has the colour intrinsics"
    assert color_info.header.frame_id == depth_info.header.frame_id == "camera_color_optical_frame"


def test_the_camera_sits_at_the_shipped_calibration_pose():
    spec = SimCameraSpec.from_pose(load_calibration().matrix)
    assert np.allclose(spec.T_world_optical, load_calibration().matrix, atol=1e-6)


def test_task_state_reports_task_seed_and_objects_in_the_base_frame(sim_node, probe):
    client = SimEpisodeClient(probe.node)
    state = client.wait_for_state(lambda s: s.episode == 0, 60.0)
    assert (state.task, state.seed, state.success) == ("block", 3, False)
    assert set(state.objects) == {"block", "zone"}
    x, y, z = state.objects["block"]
    assert 0.3 < x < 0.7 and -0.3 < y < 0.3 and 0.0 < z < 0.06, "on the table in front of the robot"


def test_reset_moves_to_the_next_seed_with_new_object_poses(sim_node, probe):
    client = SimEpisodeClient(probe.node)
    before = client.wait_for_state(timeout_s=60.0)
    info = client.reset(timeout_s=60.0)
    assert (info.task, info.seed, info.episode) == ("block", before.seed + 1, before.episode + 1)
    assert info.instruction == "push the red block into the green square"
    after = client.wait_for_state(lambda s: s.episode == info.episode, 30.0)
    assert after.seed == info.seed
    moved = np.linalg.norm(np.subtract(after.objects["block"], before.objects["block"]))
    assert moved > 0.01, "objects are re-sampled"
    assert np.allclose(after.tcp_position_m, (0.45, 0.0, 0.22), atol=0.01), "arm at the ready pose"


def test_a_real_robot_address_is_refused_with_a_clear_message(tmp_path, node_env):
    node = start_node(
        "sim_camera_node",
        tmp_path,
        node_env,
        name="camera",
        namespace="camera_refused",
        params_file="sim_camera.yaml",
        parameters={"robot_ip": "172.16.0.2"},
    )
    assert node.wait(60.0) == 2, node.log()
    node.stop()
    assert "loopback" in node.log()
