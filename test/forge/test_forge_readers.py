"""Every TraceForge reader on a small real file the test makes: frames, depth, intrinsics, metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tracegen.forge.config import DEFAULT_HFOV_DEG, ForgeConfig
from tracegen.forge.readers import detect_kind, discover_inputs, read_episodes
from tracegen.forge.readers.base import InputSpec
from tracegen.trace import CameraIntrinsics

from support.forge_media import (
    box_episode,
    write_bag,
    write_image_folder,
    write_lerobot_dataset,
    write_realsense_recording,
    write_video_opencv,
    write_video_pyav,
)

CONFIG = ForgeConfig()


def only_episode(spec: InputSpec, config: ForgeConfig = CONFIG):
    episodes = list(read_episodes(spec, config))
    assert len(episodes) == 1
    return episodes[0], list(episodes[0].frames())


def test_mp4_written_with_pyav_reads_every_frame_with_default_intrinsics(tmp_path):
    sim = box_episode()
    path = write_video_pyav(tmp_path / "clip.mp4", np.asarray(sim.rgb))
    episode, frames = only_episode(InputSpec(str(path), "video"))
    assert len(frames) == sim.num_frames
    assert frames[0].rgb.shape == (120, 160, 3) and frames[0].depth_m is None
    assert episode.intrinsics_source == "default"
    assert episode.intrinsics == CameraIntrinsics.from_fov(160, 120, DEFAULT_HFOV_DEG)
    assert episode.camera_fixed is None and not episode.has_depth
    # Lossy codec, but the picture is the one written.
    assert np.abs(frames[10].rgb.astype(int) - sim.rgb[10].astype(int)).mean() < 8


def test_avi_written_with_opencv_reads_with_its_sidecar(tmp_path):
    sim = box_episode()
    path = write_video_opencv(tmp_path / "clip.avi", np.asarray(sim.rgb))
    k = sim.intrinsics
    (tmp_path / "clip.json").write_text(
        json.dumps(
            {
                "instructions": ["push the box", "push the blue box to the right"],
                "camera_fixed": True,
                "embodiment": "human_hand",
                "intrinsics": {"fx_px": k.fx_px, "fy_px": k.fy_px, "cx_px": k.cx_px, "cy_px": k.cy_px},
            }
        )
    )
    episode, frames = only_episode(InputSpec(str(path), "video"))
    assert len(frames) == sim.num_frames
    assert episode.intrinsics == k and episode.intrinsics_source == "source"
    assert episode.instructions == ("push the box", "push the blue box to the right")
    assert episode.camera_fixed is True and episode.embodiment == "human_hand"


def test_video_frames_above_max_side_are_downscaled_with_their_intrinsics(tmp_path):
    sim = box_episode()
    path = write_video_pyav(tmp_path / "clip.mp4", np.asarray(sim.rgb))
    episode, frames = only_episode(InputSpec(str(path), "video"), ForgeConfig(max_image_side_px=80))
    assert frames[0].rgb.shape == (60, 80, 3)
    assert (episode.intrinsics.width_px, episode.intrinsics.height_px) == (80, 60)


def test_image_folder_reads_natural_order_and_aligned_depth(tmp_path):
    sim = box_episode()
    folder = write_image_folder(
        tmp_path / "frames",
        np.asarray(sim.rgb[:12]),
        np.asarray(sim.depth_m[:12]),
        sidecar={"task": "push_box"},
    )
    episode, frames = only_episode(InputSpec(str(folder), "images"))
    assert [f.index for f in frames] == list(range(12))
    np.testing.assert_array_equal(frames[11].rgb, sim.rgb[11])  # frame_11 after frame_2: natural order
    np.testing.assert_allclose(frames[3].depth_m, sim.depth_m[3], atol=0.0006)
    assert episode.has_depth and episode.task == "push_box"


def test_mcap_bag_reads_colour_aligned_depth_camera_info_and_metadata(tmp_path):
    sim = box_episode()
    path = write_bag(
        tmp_path / "demo",
        np.asarray(sim.rgb),
        sim.intrinsics,
        np.asarray(sim.depth_m),
        custom_data={
            "tracegen.instruction": "push the box\nslide the blue box to the right",
            "tracegen.task": "push_box",
            "tracegen.embodiment": "fr3",
            "tracegen.camera_fixed": "true",
        },
    )
    episode, frames = only_episode(InputSpec(str(path), "rosbag"))
    assert len(frames) == sim.num_frames
    assert episode.intrinsics == sim.intrinsics and episode.intrinsics_source == "source"
    assert episode.instructions == ("push the box\nslide the blue box to the right",)
    assert episode.instruction_origin == "bag metadata tracegen.instruction"
    assert (episode.task, episode.embodiment, episode.camera_fixed) == ("push_box", "fr3", True)
    np.testing.assert_array_equal(frames[5].rgb, sim.rgb[5])
    np.testing.assert_allclose(frames[5].depth_m, sim.depth_m[5], atol=0.0006)


def test_db3_bag_without_metadata_takes_the_instruction_topic_and_32fc1_depth(tmp_path):
    sim = box_episode()
    path = write_bag(
        tmp_path / "demo",
        np.asarray(sim.rgb[:10]),
        sim.intrinsics,
        np.asarray(sim.depth_m[:10]),
        instruction_topic="push the box",
        storage="sqlite3",
        depth_encoding="32FC1",
    )
    assert detect_kind(path) == "rosbag"
    episode, frames = only_episode(InputSpec(str(path), "rosbag"))
    assert episode.instructions == ("push the box",)
    assert episode.instruction_origin == "bag topic /tracegen/instruction"
    assert episode.camera_fixed is None
    np.testing.assert_allclose(frames[9].depth_m, sim.depth_m[9], atol=1e-6)


def test_single_mcap_file_of_a_bag_reads_without_its_metadata(tmp_path):
    sim = box_episode()
    bag = write_bag(tmp_path / "demo", np.asarray(sim.rgb[:6]), sim.intrinsics)
    mcap = next(bag.glob("*.mcap"))
    assert detect_kind(mcap) == "rosbag"
    _, frames = only_episode(InputSpec(str(mcap), "rosbag"))
    assert len(frames) == 6


def test_realsense_sdk_recording_plays_back_colour_and_depth_in_metres(tmp_path):
    sim = box_episode()
    path = write_realsense_recording(
        tmp_path / "rec.db3", np.asarray(sim.rgb[:10]), np.asarray(sim.depth_m[:10]), sim.intrinsics
    )
    assert detect_kind(path) == "realsense"
    episode, frames = only_episode(InputSpec(str(path), "realsense"))
    assert len(frames) == 10
    assert episode.intrinsics_source == "source" and episode.has_depth
    assert episode.intrinsics.fx_px == pytest.approx(sim.intrinsics.fx_px, rel=1e-5)
    np.testing.assert_array_equal(frames[4].rgb, sim.rgb[4])
    np.testing.assert_allclose(frames[4].depth_m, sim.depth_m[4], atol=0.0006)


@pytest.mark.parametrize("version", ["v2.1", "v3.0"])
def test_lerobot_dataset_becomes_one_input_per_episode_with_its_task(tmp_path, version):
    sim = box_episode()
    rgb = np.asarray(sim.rgb)
    root = write_lerobot_dataset(
        tmp_path / "ds", [rgb[:12], rgb[12:]], ["push the box", "move the box back"], version
    )
    specs, rejected = discover_inputs([root])
    assert rejected == []
    assert [(s.kind, s.episode) for s in specs] == [("lerobot", "0"), ("lerobot", "1")]
    episode, frames = only_episode(specs[1])
    assert len(frames) == sim.num_frames - 12
    assert episode.instructions == ("move the box back",) and episode.embodiment == "so100"
    assert episode.intrinsics_source == "default"
    assert np.abs(frames[0].rgb.astype(int) - rgb[12].astype(int)).mean() < 8


def test_sim_episode_round_trips_and_carries_poses_and_ground_truth(tmp_path):
    sim = box_episode()
    path = sim.save(tmp_path / "episode")
    episode, frames = only_episode(InputSpec(str(path), "sim"))
    assert episode.ground_truth is not None and episode.camera_poses.shape == (sim.num_frames, 4, 4)
    np.testing.assert_array_equal(frames[7].rgb, sim.rgb[7])
    np.testing.assert_array_equal(frames[7].depth_m, sim.depth_m[7])
    assert episode.instructions == sim.instructions and episode.camera_fixed is True


def test_discovery_walks_directories_and_reports_what_is_not_an_input(tmp_path):
    sim = box_episode()
    write_video_pyav(tmp_path / "a.mp4", np.asarray(sim.rgb[:4]))
    sim.save(tmp_path / "nested" / "ep")
    (tmp_path / "notes.txt").write_text("not an input")
    specs, rejected = discover_inputs([tmp_path, tmp_path / "notes.txt", tmp_path / "missing.mp4"])
    kinds = sorted((s.kind, s.path.rsplit("/", 1)[-1]) for s in specs)
    assert kinds == [("sim", "ep"), ("video", "a.mp4")]
    assert [(p.rsplit("/", 1)[-1], r) for p, r in rejected] == [
        ("notes.txt", "unknown input type '.txt'"),
        ("missing.mp4", "does not exist"),
    ]


def test_sim_episode_save_is_atomic_and_refuses_to_overwrite(tmp_path):
    from tracegen.errors import InputError
    from tracegen.forge.sim_episode import SimEpisode

    sim = box_episode()
    path = sim.save(tmp_path / "episode")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind
    with pytest.raises(InputError, match="exists already"):
        sim.save(path)
    meta = json.loads((path / "episode.json").read_text())
    (path / "episode.json").write_text(json.dumps({**meta, "version": 99}))
    with pytest.raises(InputError, match="upgrade tracegen"):
        SimEpisode.load(path)


def test_sim_episode_arrays_must_agree_on_shapes():
    from tracegen.errors import InputError
    from tracegen.forge.sim_episode import SimEpisode

    sim = box_episode()
    with pytest.raises(InputError, match="camera_poses must have shape"):
        SimEpisode(
            rgb=sim.rgb,
            depth_m=sim.depth_m,
            segmentation=sim.segmentation,
            body_poses=sim.body_poses,
            camera_poses=np.asarray(sim.camera_poses)[:-1],
            intrinsics=sim.intrinsics,
            body_names=sim.body_names,
        )
