"""tracegen.demo_bags: episode bags written with rosbags, read back by rosbags and by mcap's reader."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tracegen.demo_bags import (
    ABORTED_DIR,
    KEY_CAMERA_FIXED,
    KEY_EMBODIMENT,
    KEY_INSTRUCTION,
    KEY_STATUS,
    KEY_TASK,
    RECORDING_DIR,
    EpisodeInfo,
    EpisodeRecorder,
    TopicSpec,
    episode_name,
    instruction_variants,
)
from tracegen.errors import InputError

pytestmark = pytest.mark.ros

TOPICS = [
    TopicSpec("/joint_states", "sensor_msgs/msg/JointState", "sensor"),
    TopicSpec("/tracegen/instruction", "std_msgs/msg/String", "latched"),
]
INFO = EpisodeInfo(instructions=("stack the cups", "put one cup on the other"), task="cups")


def joint_state(i: int) -> bytes:
    """CDR bytes as they come off DDS (rclpy's serialize_message pads some types with stray
    bytes that rosbags refuses; the recorder stores what raw subscriptions deliver)."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    js = store.types["sensor_msgs/msg/JointState"]
    header = store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id=""
    )
    msg = js(
        header=header,
        name=["fr3_joint1"],
        position=np.array([0.1 * i]),
        velocity=np.array([]),
        effort=np.array([]),
    )
    return bytes(store.serialize_cdr(msg, "sensor_msgs/msg/JointState"))


def record(tmp_path, n: int = 5, **kwargs) -> EpisodeRecorder:
    recorder = EpisodeRecorder(tmp_path, TOPICS, **kwargs)
    recorder.start(INFO, "cups_20250101-120000")
    for i in range(n):
        recorder.write("/joint_states", 1_000_000_000 + i * 10_000_000, joint_state(i))
    return recorder


def metadata(path):
    return yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]


def test_a_finished_episode_is_a_complete_mcap_bag_with_the_agreed_metadata(tmp_path):
    result = record(tmp_path).stop()
    assert result.complete and result.path == tmp_path / "cups_20250101-120000"
    info = metadata(result.path)
    assert info["storage_identifier"] == "mcap"
    assert info["custom_data"] == {
        KEY_INSTRUCTION: "stack the cups\nput one cup on the other",
        KEY_TASK: "cups",
        KEY_EMBODIMENT: "fr3",
        KEY_CAMERA_FIXED: "true",
        KEY_STATUS: "complete",
    }
    counts = {t["topic_metadata"]["name"]: t["message_count"] for t in info["topics_with_message_count"]}
    assert counts == {"/joint_states": 5, "/tracegen/instruction": 0}
    assert not (tmp_path / RECORDING_DIR / result.name).exists()


def test_rosbags_reads_the_messages_back_with_their_receive_times(tmp_path):
    from rosbags.highlevel import AnyReader

    result = record(tmp_path).stop()
    with AnyReader([result.path]) as reader:
        rows = [
            (conn.topic, t, reader.deserialize(raw, conn.msgtype).position[0])
            for conn, t, raw in reader.messages()
        ]
    assert rows == [
        ("/joint_states", 1_000_000_000 + i * 10_000_000, pytest.approx(0.1 * i)) for i in range(5)
    ]


def test_mcaps_own_ros2_decoder_reads_the_bag_like_ros2_bag_would(tmp_path):
    """mcap-ros2-support decodes with the schemas stored in the file (as rosbag2's MCAP plugin)."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    result = record(tmp_path, n=3).stop()
    (mcap_file,) = result.path.glob("*.mcap")
    with open(mcap_file, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        positions = [msg.position[0] for _, _, _, msg in reader.iter_decoded_messages()]
    assert positions == pytest.approx([0.0, 0.1, 0.2])


def test_qos_of_each_topic_is_stored_for_ros2_bag_play(tmp_path):
    info = metadata(record(tmp_path).stop().path)
    qos = {
        t["topic_metadata"]["name"]: t["topic_metadata"]["offered_qos_profiles"]
        for t in info["topics_with_message_count"]
    }
    assert qos["/joint_states"][0]["reliability"] == "best_effort"
    assert qos["/tracegen/instruction"][0]["durability"] == "transient_local"


def test_an_aborted_episode_is_kept_apart_and_marked(tmp_path):
    result = record(tmp_path).abort("the operator dropped the cup")
    assert not result.complete
    assert result.path == tmp_path / ABORTED_DIR / "cups_20250101-120000"
    assert metadata(result.path)["custom_data"][KEY_STATUS] == "aborted: the operator dropped the cup"


def test_an_episode_missing_a_required_topic_is_aborted(tmp_path):
    result = record(tmp_path, required_topics=["/tracegen/instruction"]).stop()
    assert not result.complete and result.path.parent.name == ABORTED_DIR
    assert "no messages on required topics ['/tracegen/instruction']" in result.status


def test_an_episode_left_by_a_crash_is_moved_to_aborted_at_the_next_start(tmp_path):
    record(tmp_path)  # never stopped: the process "crashed"
    assert (tmp_path / RECORDING_DIR / "cups_20250101-120000").is_dir()
    moved = EpisodeRecorder(tmp_path, TOPICS).recover_interrupted()
    assert moved == [tmp_path / ABORTED_DIR / "cups_20250101-120000"]
    assert not list((tmp_path / RECORDING_DIR).iterdir())


def test_episodes_with_the_same_name_never_overwrite_each_other(tmp_path):
    first = record(tmp_path).stop()
    second = record(tmp_path).stop()
    assert first.path != second.path and second.path.name == "cups_20250101-120000_2"


def test_one_episode_at_a_time_and_nothing_written_outside_one(tmp_path):
    recorder = record(tmp_path)
    with pytest.raises(InputError, match="is being recorded"):
        recorder.start(INFO, "other")
    recorder.stop()
    assert recorder.write("/joint_states", 5, joint_state(0)) is False
    with pytest.raises(InputError, match="no episode is being recorded"):
        recorder.stop()


def test_instructions_seen_during_the_episode_become_variants_up_to_three(tmp_path):
    recorder = record(tmp_path)
    recorder.update_instructions(["stack the cups", "place a cup onto the other cup", "a fourth phrasing"])
    info = metadata(recorder.stop().path)
    assert info["custom_data"][KEY_INSTRUCTION].split("\n") == [
        "stack the cups",
        "put one cup on the other",
        "place a cup onto the other cup",
    ]


def test_custom_message_types_are_found_on_the_ament_prefix_path(tmp_path, node_env, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", node_env["AMENT_PREFIX_PATH"])
    recorder = EpisodeRecorder(tmp_path, [TopicSpec("/tracegen/trace", "tracegen/msg/TraceGrid", "reliable")])
    recorder.start(INFO, "trace")
    assert recorder.stop().path.exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("/joint_states", "must be 'TOPIC TYPE"),
        ("joint_states sensor_msgs/msg/JointState", "not an absolute topic name"),
        ("/joint_states JointState", "not a message type"),
        ("/joint_states sensor_msgs/msg/JointState lossy", "QoS 'lossy'"),
    ],
)
def test_malformed_topic_entries_are_refused(entry, message):
    with pytest.raises(InputError, match=message):
        TopicSpec.parse(entry)


def test_variants_and_names_are_normalised():
    assert instruction_variants([" a  b ", "a b", "", "c", "d", "e"]) == ("a b", "c", "d")
    assert episode_name("Pick & Place!", 0).startswith("pick_place_")


def test_the_newest_latched_message_opens_every_episode(tmp_path):
    recorder = EpisodeRecorder(tmp_path, TOPICS)
    instruction = b"\x00\x01\x00\x00\x0f\x00\x00\x00stack the cups\x00"
    assert recorder.write("/tracegen/instruction", 1, instruction) is False  # between episodes
    recorder.start(INFO, "first")
    first = recorder.stop()
    recorder.start(INFO, "second")
    second = recorder.stop()
    for result in (first, second):
        assert result.counts["/tracegen/instruction"] == 1
        ((topic, msg),) = read_back(result.path)
        assert topic == "/tracegen/instruction" and msg.data == "stack the cups"


def test_messages_received_before_start_stay_out_even_when_handed_over_after_it(tmp_path):
    """A busy executor may deliver queued samples after the start service ran: the middleware's
    receive time, not the callback time, decides."""
    import time

    recorder = EpisodeRecorder(tmp_path, TOPICS)
    before_ns = time.time_ns()
    instruction = b"\x00\x01\x00\x00\x0f\x00\x00\x00stack the cups\x00"
    recorder.start(INFO, "queued")
    assert recorder.write("/joint_states", 1, joint_state(0), received_ns=before_ns) is False
    assert recorder.write("/tracegen/instruction", 2, instruction, received_ns=before_ns), "latched is state"
    assert recorder.write("/joint_states", 3, joint_state(1), received_ns=time.time_ns())
    assert recorder.recorded_counts() == {"/joint_states": 1, "/tracegen/instruction": 1}
    result = recorder.stop()
    assert [msg.position[0] for topic, msg in read_back(result.path) if topic == "/joint_states"] == [
        pytest.approx(0.1)
    ]
    assert recorder.recorded_counts() == {}


def read_back(path):
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        return [(conn.topic, reader.deserialize(raw, conn.msgtype)) for conn, _, raw in reader.messages()]
