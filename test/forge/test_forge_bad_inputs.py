"""Bad inputs are skipped with their reason in the manifest; the job goes on and writes no partial shard."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tracegen.forge.config import ForgeConfig
from tracegen.forge.engine import forge_input
from tracegen.forge.pipeline import run_forge
from tracegen.forge.readers import discover_inputs

from support.forge_media import box_episode, write_bag, write_image_folder, write_video_pyav

CONFIG = ForgeConfig()


def forge_one(path, tmp_path, config: ForgeConfig = CONFIG):
    specs, rejected = discover_inputs([path])
    assert rejected == [] and len(specs) == 1
    return forge_input(specs[0], tmp_path / "out", config)


def assert_skipped(result, *fragments):
    assert result.status == "skipped", result
    for fragment in fragments:
        assert fragment in result.reason, result.reason
    assert result.shards == [] and result.num_triplets == 0


def test_corrupt_video_is_skipped_as_unreadable(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert_skipped(forge_one(path, tmp_path), "cannot be opened as a video")


def test_truncated_video_is_skipped(tmp_path):
    path = write_video_pyav(tmp_path / "clip.mp4", np.asarray(box_episode().rgb))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_skipped(forge_one(path, tmp_path), "clip.mp4")


def test_truncated_bag_is_skipped(tmp_path):
    sim = box_episode()
    bag = write_bag(tmp_path / "bag", np.asarray(sim.rgb), sim.intrinsics, np.asarray(sim.depth_m))
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])
    assert_skipped(forge_one(bag, tmp_path), "bag")


def test_bag_without_the_colour_topic_is_skipped_naming_the_topics_it_has(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    string_msg = store.types["std_msgs/msg/String"]
    with Writer(tmp_path / "bag", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection("/joint_states_text", string_msg.__msgtype__, typestore=store)
        writer.write(conn, 1, store.serialize_cdr(string_msg(data="x"), string_msg.__msgtype__))
    assert_skipped(forge_one(tmp_path / "bag", tmp_path), "no colour topic", "/joint_states_text")


def test_bag_without_camera_info_is_skipped_for_missing_intrinsics(tmp_path):
    sim = box_episode()
    bag = write_bag(
        tmp_path / "bag",
        np.asarray(sim.rgb),
        sim.intrinsics,
        skip_topics=("/camera/camera/color/camera_info",),
    )
    assert_skipped(forge_one(bag, tmp_path), "missing intrinsics")


def test_depth_of_the_wrong_size_is_skipped_as_not_aligned(tmp_path):
    sim = box_episode()
    small = np.stack(
        [cv2.resize(d, (80, 60), interpolation=cv2.INTER_NEAREST) for d in np.asarray(sim.depth_m)]
    )
    bag = write_bag(tmp_path / "bag", np.asarray(sim.rgb), sim.intrinsics, small)
    assert_skipped(forge_one(bag, tmp_path), "does not match colour", "align_depth")


def test_depth_in_millimetres_where_metres_are_expected_is_skipped(tmp_path):
    sim = box_episode()
    bag = write_bag(
        tmp_path / "bag",
        np.asarray(sim.rgb),
        sim.intrinsics,
        np.asarray(sim.depth_m) * 1000,
        depth_encoding="32FC1",
    )
    assert_skipped(forge_one(bag, tmp_path), "implausible", "millimetres")


def test_depth_in_metres_stored_as_integer_millimetres_is_skipped(tmp_path):
    sim = box_episode()
    folder = write_image_folder(tmp_path / "frames", np.asarray(sim.rgb), np.asarray(sim.depth_m) / 1000)
    assert_skipped(forge_one(folder, tmp_path), "implausible", "metres stored")


def test_zero_motion_clip_is_skipped_as_static(tmp_path):
    still = np.repeat(np.asarray(box_episode().rgb[:1]), 20, axis=0)
    path = write_video_pyav(tmp_path / "still.mp4", still)
    assert_skipped(forge_one(path, tmp_path), "no triplets: static", "never exceeds the threshold")


def test_unreadable_frame_is_skipped_naming_the_file(tmp_path):
    folder = write_image_folder(tmp_path / "frames", np.asarray(box_episode().rgb))
    (folder / "frame_5.png").write_bytes(b"not a png")
    assert_skipped(forge_one(folder, tmp_path), "frame_5.png")


def test_one_bad_input_neither_stops_the_job_nor_leaves_a_partial_shard(tmp_path):
    sim = box_episode()
    good = sim.save(tmp_path / "good")
    broken = write_image_folder(
        tmp_path / "late_failure", np.asarray(sim.rgb), sidecar={"camera_fixed": True}
    )
    config = ForgeConfig(
        max_window_frames=14,
        max_triplets_per_shard=1,
        min_future_frames=4,
        reference_stride_frames=4,
        min_trace_steps=2,
    )
    # Intact, the folder's first 14-frame window already gives shards before frame 27 is read ...
    intact = forge_one(broken, tmp_path / "intact", config)
    assert intact.status == "done" and len(intact.shards) >= 3
    # ... so a failure at frame 27 comes after shards of this input were written (pending).
    (broken / "frame_27.png").write_bytes(b"truncated")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    summary = run_forge([good, broken, corrupt], tmp_path / "out", config, executor="local", progress=False)
    assert (summary.done, summary.skipped, summary.failed) == (1, 2, 0)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    statuses = {entry["spec"]["path"].rsplit("/", 1)[-1]: entry for entry in manifest["inputs"].values()}
    assert statuses["good"]["status"] == "done" and statuses["good"]["num_triplets"] > 0
    assert "frame_27.png" in statuses["late_failure"]["reason"]
    assert "cannot be opened as a video" in statuses["corrupt.mp4"]["reason"]
    shard_files = sorted(p.name for p in (tmp_path / "out" / "shards").iterdir())
    assert shard_files == sorted(s.rsplit("/", 1)[-1] for s in statuses["good"]["shards"])


@pytest.mark.parametrize("bad", [{"frame_stride": 0}, {"tracker": "magic"}, {"tracker": "cotracker"}])
def test_invalid_config_is_refused_with_a_clear_error(bad):
    from tracegen.errors import InputError

    with pytest.raises(InputError, match=next(iter(bad))):
        ForgeConfig(**bad)


def test_bag_of_an_aborted_demonstration_is_skipped_with_the_recorders_status(tmp_path):
    sim = box_episode()
    bag = write_bag(
        tmp_path / "bag",
        np.asarray(sim.rgb),
        sim.intrinsics,
        np.asarray(sim.depth_m),
        custom_data={"tracegen.instruction": "push the box", "tracegen.episode_status": "aborted: operator"},
    )
    assert_skipped(forge_one(bag, tmp_path), "aborted: operator", "only complete episodes")
