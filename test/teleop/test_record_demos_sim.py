"""``tracegen record-demos --sim`` in a pseudo-terminal: keys drive the simulated FR3, episodes are
bags that read back with rosbags and forge into triplets (real processes end to end: simulated
RealSense + franky-sim, teleop_node, demo_recorder_node, the keyboard front-end)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image

from tracegen.demo_bags import KEY_INSTRUCTION, KEY_STATUS, KEY_TASK
from tracegen.demo_summary import summarize_episode
from tracegen.forge.readers.rosbag import bag_custom_data, open_bag
from tracegen.robot.ownership import LOCK_DIR_ENV
from tracegen_ros.qos import SENSOR_QOS

from support.nodes_harness import RosProbe
from support.pty_terminal import PtyOutput, start_in_pty, stop_terminal_program

pytestmark = [pytest.mark.ros, pytest.mark.slow]

INSTRUCTION = "push the block to the left"
#: Camera frames wanted in the kept episode: forge needs a reference frame with 8 later frames
#: inside one motion event.
MIN_FRAMES = 16
#: TCP travel wanted (+y, across the image): the fastest tracks must cross ~20 % of the image so
#: that forge's speed retargeting (0.05 steps) gives a trace of at least 4 steps.
TRAVEL_M = 0.28


class EpisodeProbe(RosProbe):
    """Watches the camera and the TCP while the episode records."""

    def __init__(self) -> None:
        super().__init__("record_demos_probe")
        self.frames = self.collect(Image, "/camera/camera/color/image_raw", SENSOR_QOS)
        self.tcp = self.collect(PoseStamped, "/tracegen/tcp_pose", SENSOR_QOS)

    def tcp_y(self) -> float:
        return self.tcp.messages[-1].pose.position.y if self.tcp.messages else 0.0


def hold(master: int, key: bytes, seconds: float) -> None:
    """A held key: the terminal's auto-repeat at ~30 Hz."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        os.write(master, key)
        time.sleep(0.033)


def test_a_keyboard_episode_in_the_simulator_is_a_bag_that_forges_into_triplets(tmp_path, node_env):
    out = tmp_path / "demos"
    env = {**node_env, LOCK_DIR_ENV: str(tmp_path)}
    command = [sys.executable, "-m", "tracegen.cli.main", "record-demos", "--sim", "--task", "block"]
    command += ["--instruction", INSTRUCTION, "--out", str(out), "--sim-fps", "10"]
    command += ["--max-linear", "0.25", "--scale", "1.0"]
    process, master = start_in_pty(command, env)
    terminal = PtyOutput(master, process)
    probe = EpisodeProbe()
    try:
        assert terminal.wait_for("ready:", 180.0), terminal.text[-3000:]
        assert terminal.wait_for("keys:", 30.0), terminal.text[-3000:]  # the keyboard is read from now
        os.write(master, b"1")
        assert terminal.wait_for("recording: ", 30.0), terminal.text[-3000:]
        # Sweep left and right ('a' / 'd') until the bag has enough to forge: the simulator slows
        # down on a loaded machine (rendering and physics share it), so wait for camera frames
        # and motion, not seconds. The sweep keeps the arm moving in every frame.
        frames_before, start, key = len(probe.frames.messages), probe.tcp_y(), b"a"
        deadline = time.monotonic() + 150.0
        while time.monotonic() < deadline:
            hold(master, key, 0.3)
            y = probe.tcp_y()
            if y > start + TRAVEL_M:
                key = b"d"
            elif y < start and key == b"d":
                key = b"a"
            if len(probe.frames.messages) - frames_before >= MIN_FRAMES and key == b"d":
                break
        os.write(master, b" ")
        time.sleep(0.5)
        os.write(master, b"2")
        assert terminal.wait_for("episode saved:", 60.0), terminal.text[-3000:]
        os.write(master, b"1")
        assert terminal.wait_for("recording: ", 30.0, count=2), terminal.text[-3000:]
        hold(master, b"d", 0.5)
        os.write(master, b"3")
        assert terminal.wait_for("episode aborted, kept apart", 30.0), terminal.text[-3000:]
        os.write(master, b"q")
        assert process.wait(60) == 0, terminal.text[-3000:]
    finally:
        probe.close()
        stop_terminal_program(process)
        os.close(master)
    assert "1 episode(s) kept, 1 aborted" in terminal.text, terminal.text[-3000:]

    kept = [d for d in out.iterdir() if (d / "metadata.yaml").is_file()]
    assert len(kept) == 1, sorted(p.name for p in out.iterdir())
    assert len([d for d in (out / "aborted").iterdir() if d.is_dir()]) == 1
    reader = open_bag(kept[0])
    try:
        custom = bag_custom_data(reader)
        topics = set(reader.topics)
        color_messages = reader.topics["/camera/camera/color/image_raw"].msgcount
    finally:
        reader.close()
    assert custom[KEY_INSTRUCTION].splitlines()[0] == INSTRUCTION
    assert custom[KEY_TASK] == "block" and custom[KEY_STATUS] == "complete"
    assert {"/camera/camera/color/image_raw", "/joint_states", "/tracegen/tcp_pose"} <= topics
    summary = summarize_episode(kept[0])
    assert summary.frames == color_messages > 0 and summary.path_length_m > TRAVEL_M, summary
    assert f"{summary.frames} frames" in terminal.text, terminal.text[-3000:]

    data = tmp_path / "data"
    forge_args = ["forge", str(kept[0]), "--out", str(data), "--local", "--no-progress"]
    forge_args += ["--min-event-frames", "3", "--stride", "2"]
    forge = subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", *forge_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert forge.returncode == 0, forge.stdout + forge.stderr
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["summary"]["triplets"] > 0, f"{forge.stdout}\n{summary}"
    assert np.isfinite(summary.duration_s)
