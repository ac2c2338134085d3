"""`tracegen demo`: the shipped checkpoint closes the loop on the simulated FR3, from any directory."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tracegen.model.checkpoint import META_FILE
from tracegen_ros.demo_runner import CHECKPOINT_META_FILE

from support.processes import processes_mentioning

EPISODE_FIELDS = {
    "episode",
    "sim_episode",
    "seed",
    "task",
    "instruction",
    "success",
    "end_reason",
    "steps",
    "commands",
    "refused",
    "duration_s",
    "refusal_reasons",
}
STAGES = {"frame_to_trace_s", "trace_to_plan_s", "plan_to_command_s", "frame_to_command_s", "model_latency_s"}


def run_demo(args: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 240.0):
    """``tracegen demo ARGS`` as a user runs it (the console entry point's module), in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised ``tiny`` checkpoint: the loop runs fast; its traces mean nothing."""
    from tracegen.model.checkpoint import save_checkpoint
    from tracegen.model.config import load_preset
    from tracegen.model.model import build_model

    return save_checkpoint(build_model(load_preset("tiny")), tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="module")
def short_demo(tmp_path_factory, node_env, tiny_checkpoint):
    """One short episode with the default options but checkpoint and limits, from an unrelated directory."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    args = ["--checkpoint", str(tiny_checkpoint), "--solver-steps", "4", "--episodes", "1"]
    result = run_demo([*args, "--max-steps", "3", "--episode-timeout-s", "60"], cwd, node_env)
    outputs = sorted(cwd.glob("tracegen-demo-*"))
    return result, outputs


@pytest.mark.slow
def test_short_demo_exits_cleanly_and_prints_the_success_rate(short_demo):
    result, _ = short_demo
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^success: \d+%$", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.slow
def test_short_demo_writes_video_and_summaries_into_a_folder_under_the_working_directory(short_demo):
    result, outputs = short_demo
    assert len(outputs) == 1, result.stdout + result.stderr
    out = outputs[0]
    video = cv2.VideoCapture(str(out / "demo.mp4"))
    ok, frame = video.read()
    video.release()
    assert ok and frame.ndim == 3, "demo.mp4 must hold camera frames"
    assert cv2.imread(str(out / "summary.png")) is not None


@pytest.mark.slow
def test_short_demo_summary_json_reports_episodes_and_the_closed_loop(short_demo):
    result, outputs = short_demo
    summary = json.loads((outputs[0] / "summary.json").read_text())
    assert summary["task"] == "block"
    [episode] = summary["episodes"]
    assert set(episode) == EPISODE_FIELDS
    assert episode["success"] == (episode["end_reason"] == "success")
    assert 1 <= episode["steps"] <= 3 or episode["success"]
    assert summary["success_percent"] == (100 if episode["success"] else 0)
    assert f"success: {summary['success_percent']}%" in result.stdout
    loop = summary["closed_loop"]
    assert set(loop["latency_s"]) == STAGES
    assert loop["latency_s"]["frame_to_trace_s"]["count"] == episode["steps"]
    assert loop["prediction_rate_hz"] > 0


def test_missing_checkpoint_is_refused_before_anything_starts(tmp_path, node_env):
    missing = tmp_path / "no-such-checkpoint"
    result = run_demo(["--checkpoint", str(missing), "--out", str(tmp_path / "out")], tmp_path, node_env, 60)
    assert result.returncode == 2
    assert str(missing) in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_node_that_dies_stops_the_demo_naming_it_and_showing_its_log(tmp_path, node_env, tiny_checkpoint):
    # 5000 solver steps is outside inference_node's parameter range: the node exits at start.
    args = ["--checkpoint", str(tiny_checkpoint), "--solver-steps", "5000", "--out", str(tmp_path / "out")]
    result = run_demo(args, tmp_path, node_env, 180)
    assert result.returncode == 1
    assert re.search(r"the graph node inference_node exited with status [1-9]", result.stderr), result.stderr
    assert "model.steps" in result.stderr  # the node's own complaint, from its log


def test_the_checkpoint_marker_file_matches_the_checkpoint_format():
    assert CHECKPOINT_META_FILE == META_FILE


@pytest.mark.slow
def test_ctrl_c_stops_every_node_and_keeps_the_summary(tmp_path, node_env, tiny_checkpoint):
    out = tmp_path / "out"
    log_path = tmp_path / "demo.log"
    args = ["--checkpoint", str(tiny_checkpoint), "--solver-steps", "4", "--out", str(out)]
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "tracegen.cli.main", "demo", *args],
            cwd=tmp_path,
            env=node_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while "graph up" not in log_path.read_text(errors="replace") and time.monotonic() < deadline:
                assert demo.poll() is None, log_path.read_text(errors="replace")
                time.sleep(0.2)
            assert processes_mentioning(str(out)), "the nodes must be running before the Ctrl-C"
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=60)
        finally:
            if demo.poll() is None:
                demo.kill()
    output = log_path.read_text(errors="replace")
    assert code == 130, output
    assert processes_mentioning(str(out)) == []
    assert json.loads((out / "summary.json").read_text())["interrupted"] is True


def test_the_default_checkpoint_is_shipped_and_found_as_package_data(tmp_path):
    from tracegen.cli.demo import default_checkpoint
    from tracegen_ros.demo_runner import DemoOptions

    DemoOptions(checkpoint=default_checkpoint(), out_dir=tmp_path / "out").validate()
