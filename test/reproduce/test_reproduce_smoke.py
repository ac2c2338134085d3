"""`tracegen reproduce --preset smoke`: every stage for real at the smallest size, then a resume.

Corpus rendered in MuJoCo and forged with LK, pre-training, an expert demo recorded through the
IK controller into a bag, warm-up and training from scratch on it, closed-loop evaluation through
the full ROS graph, and the table. Numbers mean nothing at this size; the plumbing is the point.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _reproduce(args: list[str], cwd: Path, env: dict[str, str], timeout_s: float = 900.0):
    return subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", "reproduce", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, node_env):
    cwd = tmp_path_factory.mktemp("reproduce")
    out = cwd / "out"
    started = time.monotonic()
    first = _reproduce(["--preset", "smoke", "--out", str(out), "--threads", "1"], cwd, node_env)
    return out, first, time.monotonic() - started, cwd


@pytest.mark.slow
def test_smoke_reproduction_runs_every_stage_and_writes_the_table(smoke_run):
    out, run, _, _ = smoke_run
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    # Every stage left its product.
    assert list((out / "corpus" / "arms").rglob("episode.json")), "no arm episode rendered"
    assert list((out / "corpus" / "hand").rglob("*.mp4")), "no hand video rendered"
    for part in ("arms", "hand"):
        assert list((out / "triplets" / part / "shards").glob("*.parquet")), f"{part} corpus not forged"
    manifest = json.loads((out / "triplets" / "arms" / "manifest.json").read_text())
    assert manifest["config"]["tracker"] == "lk"  # forged by tracking, not from the renderer's truth
    assert (out / "runs" / "pretrain-all" / "final" / "tracegen.json").is_file()
    assert len(list((out / "demos" / "block").rglob("metadata.yaml"))) >= 1  # a recorded bag
    for row in ("scratch-1", "all-1"):
        assert (out / "runs" / row / "final" / "tracegen.json").is_file()
        summary = json.loads((out / "eval" / row / "block" / "summary.json").read_text())
        assert len(summary["episodes"]) == 1 and summary["episodes"][0]["seed"] == 0
    warmed = json.loads((out / "runs" / "all-1" / "final" / "tracegen.json").read_text())
    assert str(out / "runs" / "pretrain-all" / "final") in json.dumps(warmed)  # warmed up from it
    # The table: both rows, one task, cells "k/1 (p%)", and the same numbers in results.json.
    results = json.loads((out / "results.json").read_text())
    table = (out / "results.md").read_text()
    for row, label in (
        ("scratch-1", "from scratch, 1 demo"),
        ("all-1", "pre-trained: arms + hand, 1 demo"),
    ):
        cell = results["results"][row]["block"]
        assert re.search(
            rf"^\| {re.escape(label)} \| {cell['successes']}/1 \(\d+%\) \| \d+% \|$", table, re.M
        )
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "From scratch vs pre-trained" in run.stdout


@pytest.mark.slow
def test_a_second_run_resumes_without_redoing_anything_and_a_changed_plan_is_refused(smoke_run, node_env):
    out, first, first_s, cwd = smoke_run
    assert first.returncode == 0, first.stderr[-2000:]
    before = (out / "results.json").read_text()
    bags_before = sorted(p.parent for p in (out / "demos").rglob("metadata.yaml"))
    started = time.monotonic()
    again = _reproduce(["--preset", "smoke", "--out", str(out), "--threads", "1"], cwd, node_env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert time.monotonic() - started < first_s / 2
    for redo in ("recording", "pre-training on", "training from scratch", "evaluating"):
        assert redo not in again.stdout, again.stdout
    assert sorted(p.parent for p in (out / "demos").rglob("metadata.yaml")) == bags_before
    assert json.loads((out / "results.json").read_text())["results"] == json.loads(before)["results"]

    changed = _reproduce(["--preset", "smoke", "--out", str(out), "--trials", "3"], cwd, node_env, 120)
    assert changed.returncode == 2 and "different plan (changed: trials)" in changed.stderr, changed.stderr


def test_a_bad_row_is_refused_before_anything_runs(tmp_path, node_env):
    run = _reproduce(
        ["--preset", "smoke", "--out", str(tmp_path / "o"), "--rows", "robots-5"], tmp_path, node_env, 120
    )
    assert run.returncode == 2 and "SOURCE-DEMOS" in run.stderr, run.stderr
    assert not (tmp_path / "o").exists()
