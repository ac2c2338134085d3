"""`tracegen eval`: closed-loop trials through the full graph from seeded states, scored with an interval."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A randomly initialised ``tiny`` checkpoint: the loop runs fast; its traces mean nothing."""
    from tracegen.model.checkpoint import save_checkpoint
    from tracegen.model.config import load_preset
    from tracegen.model.model import build_model

    return save_checkpoint(build_model(load_preset("tiny")), tmp_path_factory.mktemp("models") / "tiny")


@pytest.mark.slow
def test_eval_runs_seeded_trials_and_reports_the_success_rate_with_its_interval(
    tmp_path, node_env, tiny_checkpoint
):
    out = tmp_path / "eval"
    args = ["eval", "--task", "block", "--trials", "2", "--seed", "7", "--checkpoint", str(tiny_checkpoint)]
    args += ["--out", str(out), "--max-steps", "2", "--episode-timeout-s", "40", "--solver-steps", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", *args],
        cwd=tmp_path,
        env=node_env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = re.search(r"^success: (\d)/2 = (\d+)% \(95% CI (\d+)-(\d+)%\)$", result.stdout, re.MULTILINE)
    assert line, result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [e["seed"] for e in summary["episodes"]] == [7, 8]  # trial i starts from seed + i
    assert all(
        e["task"] == "block" and e["end_reason"] in ("success", "max_steps", "timeout")
        for e in summary["episodes"]
    )
    successes = sum(e["success"] for e in summary["episodes"])
    assert summary["successes"] == successes == int(line.group(1))
    low, high = summary["success_ci95"]
    assert 0.0 <= low <= successes / 2 <= high <= 1.0
    assert not (out / "demo.mp4").exists()  # no video unless --video
    assert (out / "summary.png").is_file()


def test_eval_refuses_an_unknown_task_before_starting_anything(tmp_path, node_env):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tracegen.cli.main",
            "eval",
            "--task",
            "laundry",
            "--out",
            str(tmp_path / "e"),
        ],
        cwd=tmp_path,
        env=node_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "unknown simulated task 'laundry'" in result.stderr, result.stderr
    assert not (tmp_path / "x").exists()
