"""The demo's output files: the video plays in real time, the summary counts what happened."""

from __future__ import annotations

import json

import cv2
import numpy as np

from tracegen_ros.demo_outputs import (
    EpisodeResult,
    LoopTimings,
    VideoSink,
    success_percent,
    summary_dict,
    write_json,
    write_summary_png,
)


def result(episode: int, success: bool, steps: int = 4, commands: int = 3, duration_s: float = 2.0):
    return EpisodeResult(
        episode=episode,
        sim_episode=episode,
        seed=episode,
        task="block",
        instruction="push the red block into the green square",
        success=success,
        end_reason="success" if success else "max_steps",
        steps=steps,
        commands=commands,
        refused=steps - commands,
        duration_s=duration_s,
    )


def test_video_holds_a_slow_cameras_frame_for_as_long_as_it_lasted(tmp_path):
    sink = VideoSink(tmp_path, fps=10)
    frames = [np.full((48, 64, 3), value, np.uint8) for value in (0, 128, 255)]
    for frame, repeat in zip(frames, (1, 5, 2), strict=True):
        sink.write(frame, repeat)
    path = sink.close()
    video = cv2.VideoCapture(str(path))
    means = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        means.append(round(float(frame.mean()) / 64))
    video.release()
    assert path.name == "demo.mp4"
    assert means == [0] * 1 + [2] * 5 + [4] * 2


def test_a_run_without_frames_writes_no_video(tmp_path):
    assert VideoSink(tmp_path, fps=10).close() is None


def test_success_percent_rounds_the_share_of_successful_episodes():
    assert success_percent([result(0, True), result(1, False), result(2, False)]) == 33
    assert success_percent([]) == 0


def test_summary_rates_are_per_second_of_closed_loop_time(tmp_path):
    results = [result(0, True, steps=4, commands=3, duration_s=2.0), result(1, False, 6, 5, 6.0)]
    timings = LoopTimings(frame_to_command_s=[0.5, 1.5])
    summary = summary_dict(results, timings, loop_seconds=8.0, extra={"task": "block"})
    loop = summary["closed_loop"]
    assert (loop["prediction_rate_hz"], loop["command_rate_hz"]) == (10 / 8.0, 8 / 8.0)
    assert loop["latency_s"]["frame_to_command_s"]["median"] == 1.0
    assert loop["latency_s"]["frame_to_trace_s"]["count"] == 0
    assert summary["success_percent"] == 50
    written = json.loads(write_json(tmp_path / "summary.json", summary).read_text())
    assert written["episodes"][1]["end_reason"] == "max_steps"


def test_summary_png_shows_every_episode_even_without_a_frame(tmp_path):
    frames = {0: np.zeros((48, 64, 3), np.uint8)}
    path = write_summary_png(tmp_path / "summary.png", [result(0, True), result(1, False)], frames)
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] > image.shape[0]  # two panels side by side
