"""demo_recorder_node in its own process: services start/stop/abort, bags read back after DDS."""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tracegen.demo_bags import ABORTED_DIR, KEY_INSTRUCTION, KEY_STATUS, KEY_TASK
from tracegen_ros.camera_info import intrinsics_to_camera_info
from tracegen_ros.images import image_to_numpy, numpy_to_image
from tracegen_ros.qos import COMMAND_QOS, LATCHED_QOS, SENSOR_QOS

from support.nodes_harness import RosProbe, start_node
from support.nodes_scenes import INTRINSICS, scene_rgb

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SERVICE = "/tracegen/demo_recorder"
IMAGES = "/camera/camera/color/image_raw"


@pytest.fixture
def probe():
    probe = RosProbe("recorder_test_probe")
    yield probe
    probe.close()


class Teleop:
    """Stands in for the camera, the robot state publishers and the operator."""

    def __init__(self, probe: RosProbe) -> None:
        self.probe = probe
        self.color = probe.publisher(Image, "/camera/camera/color/image_raw", SENSOR_QOS)
        self.info = probe.publisher(CameraInfo, "/camera/camera/color/camera_info", SENSOR_QOS)
        self.joints = probe.publisher(JointState, "/joint_states", SENSOR_QOS)
        self.tcp = probe.publisher(PoseStamped, "/tracegen/tcp_pose", SENSOR_QOS)
        self.instruction = probe.publisher(String, "/tracegen/instruction", LATCHED_QOS)
        self.diagnostics = probe.collect(DiagnosticArray, "/diagnostics", COMMAND_QOS)

    def wait_until_connected(self) -> None:
        for publisher in (self.color, self.info, self.joints, self.tcp):
            assert self.probe.wait_for_subscribers(publisher)

    def publish_state(self, i: int) -> None:
        stamp = self.probe.now().to_msg()
        image = numpy_to_image(scene_rgb(i), "rgb8", frame_id="camera_color_optical_frame", stamp=stamp)
        self.color.publish(image)
        info = intrinsics_to_camera_info(INTRINSICS, "camera_color_optical_frame")
        info.header.stamp = stamp
        self.info.publish(info)
        self.joints.publish(JointState(name=[f"fr3_joint{j}" for j in range(1, 8)], position=[0.01 * i] * 7))
        pose = PoseStamped()
        pose.header.frame_id = "fr3_link0"
        pose.pose.position.x = 0.4 + 0.001 * i
        self.tcp.publish(pose)

    def demonstrate(self, steps: int = 20) -> None:
        """``steps`` robot states at 20 Hz, then a pause as an operator makes before pressing stop
        (so the last messages have been delivered)."""
        for i in range(steps):
            self.publish_state(i)
            time.sleep(0.05)
        time.sleep(0.5)

    def wait_recorded(self, topic: str, at_least: int, timeout_s: float = 30.0) -> bool:
        """Until the recorder's /diagnostics count ``at_least`` messages of ``topic`` in the open
        episode: the operator sees the recording progress before pressing stop."""

        def recorded(msgs: list) -> bool:
            return any(
                s.name.startswith("demo_recorder") and kv.key == topic and int(kv.value) >= at_least
                for m in msgs
                for s in m.status
                for kv in s.values
            )

        return self.diagnostics.wait_for(recorded, timeout_s)

    def call(self, name: str) -> Trigger.Response:
        return self.probe.call(Trigger, f"{SERVICE}/{name}")


def start_recorder(tmp_path, node_env, **parameters):
    node = start_node(
        "demo_recorder_node",
        tmp_path,
        node_env,
        name="demo_recorder",
        namespace="tracegen",
        params_file="demo_recorder.yaml",
        parameters={"output_dir": str(tmp_path / "demos"), "task": "block push", **parameters},
    )
    assert node.wait_for_log("ready: 8 topics", 30.0), node.log()
    return node


def read_bag(path):
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        return [(conn.topic, reader.deserialize(raw, conn.msgtype)) for conn, _, raw in reader.messages()]


def test_a_demonstration_between_start_and_stop_becomes_a_complete_bag(tmp_path, node_env, probe):
    teleop = Teleop(probe)
    node = start_recorder(tmp_path, node_env)
    try:
        teleop.instruction.publish(String(data="push the block to the left"))
        teleop.wait_until_connected()
        teleop.demonstrate(5)  # before start: not recorded
        started = teleop.call("start")
        assert started.success, started.message
        teleop.demonstrate(20)
        assert teleop.wait_recorded(IMAGES, 11), "best effort may lose some images, not most"
        stopped = teleop.call("stop")
        assert stopped.success, stopped.message
    finally:
        assert node.stop() == 0, node.log()

    (episode,) = [
        p for p in (tmp_path / "demos").iterdir() if not p.name.startswith(".") and p.name != ABORTED_DIR
    ]
    assert episode.name.startswith("block_push_") and str(episode) in stopped.message
    meta = yaml.safe_load((episode / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["storage_identifier"] == "mcap"
    assert meta["custom_data"][KEY_INSTRUCTION] == "push the block to the left"
    assert meta["custom_data"][KEY_TASK] == "block push"
    assert meta["custom_data"][KEY_STATUS] == "complete"

    messages = read_bag(episode)
    by_topic: dict[str, list] = {}
    for topic, msg in messages:
        by_topic.setdefault(topic, []).append(msg)
    assert len(by_topic[IMAGES]) >= 11, "what the diagnostics counted is in the bag"
    assert len(by_topic[IMAGES]) <= 20, "nothing received before start"
    assert {"/joint_states", "/tracegen/tcp_pose", "/camera/camera/color/camera_info"} <= set(by_topic)
    assert by_topic["/tracegen/instruction"][0].data == "push the block to the left", (
        "latched sample recorded"
    )
    image = by_topic[IMAGES][-1]
    pixels = np.frombuffer(image.data, np.uint8).reshape(image.height, image.width, 3)
    assert any(np.array_equal(pixels, scene_rgb(i)) for i in range(20)), "image bytes stored unchanged"
    assert image.encoding == "rgb8" and image_to_numpy(numpy_to_image(pixels, "rgb8")).shape == (48, 64, 3)


def test_start_is_refused_without_an_instruction(tmp_path, node_env, probe):
    teleop = Teleop(probe)
    node = start_recorder(tmp_path, node_env)
    try:
        response = teleop.call("start")
        assert not response.success and "no instruction" in response.message
        assert not teleop.call("stop").success, "nothing to stop"
    finally:
        assert node.stop() == 0


def test_an_aborted_episode_and_one_without_images_are_kept_apart(tmp_path, node_env, probe):
    teleop = Teleop(probe)
    node = start_recorder(tmp_path, node_env, instruction="push the block")
    try:
        teleop.wait_until_connected()
        assert teleop.call("start").success
        teleop.demonstrate(5)
        aborted = teleop.call("abort")
        assert not aborted.success and "aborted: aborted on request" in aborted.message
        assert teleop.call("start").success
        stopped = teleop.call("stop")  # no image arrived in this one
        assert not stopped.success and "no messages on required topics" in stopped.message
    finally:
        assert node.stop() == 0
    aborted_dir = tmp_path / "demos" / ABORTED_DIR
    assert len(list(aborted_dir.iterdir())) == 2
    assert not [p for p in (tmp_path / "demos").iterdir() if p.name not in (ABORTED_DIR, ".recording")]


def test_stopping_the_recorder_mid_episode_keeps_a_readable_aborted_bag(tmp_path, node_env, probe):
    teleop = Teleop(probe)
    node = start_recorder(tmp_path, node_env, instruction="push the block")
    teleop.wait_until_connected()
    assert teleop.call("start").success
    teleop.demonstrate(10)
    assert teleop.wait_recorded("/joint_states", 1), node.log()
    assert node.stop() == 0, node.log()
    assert "stopped while recording: episode kept as aborted" in node.log()
    (episode,) = (tmp_path / "demos" / ABORTED_DIR).iterdir()
    meta = yaml.safe_load((episode / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["custom_data"][KEY_STATUS] == "aborted: the recorder was stopped while recording"
    assert any(topic == "/joint_states" for topic, _ in read_bag(episode))
