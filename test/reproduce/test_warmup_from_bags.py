"""`tracegen warmup --from CKPT --bags DEMOS`: real bags forged by the data engine, then a fine-tune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tracegen.demo_bags import ABORTED_DIR, RECORDING_DIR, finished_episode_bags
from tracegen.errors import InputError
from tracegen.model.checkpoint import read_meta
from tracegen.resources import models_dir
from tracegen.training.warmup import select_demo_bags

from support.forge_media import box_episode, write_bag

REPO = Path(__file__).resolve().parents[2]


def _demo_folder(root: Path) -> Path:
    """Two finished episodes (named like the recorder's, oldest first), one aborted, one half-written."""
    sim = box_episode()
    rgb, depth = np.asarray(sim.rgb), np.asarray(sim.depth_m)
    meta = {"tracegen.instruction": "push the box", "tracegen.task": "box", "tracegen.camera_fixed": "true"}
    for name in ("box_20261125-100000", "box_20261125-100100", f"{ABORTED_DIR}/box_20261125-095900"):
        write_bag(root / name, rgb, sim.intrinsics, depth, custom_data=meta)
    (root / RECORDING_DIR / "box_20261125-100200").mkdir(parents=True)
    return root


def test_finished_episodes_leave_out_aborted_and_recording_ones(tmp_path):
    root = _demo_folder(tmp_path / "demos")
    bags = finished_episode_bags(root)
    assert [b.name for b in bags] == ["box_20261125-100000", "box_20261125-100100"]
    assert finished_episode_bags(bags[1]) == [bags[1]]
    assert [b.name for b in select_demo_bags([root], max_demos=1)] == ["box_20261125-100000"]
    with pytest.raises(InputError, match="3 demos wanted but only 2"):
        select_demo_bags([root], max_demos=3)
    with pytest.raises(InputError, match="no finished demo episode"):
        (tmp_path / "empty").mkdir()
        select_demo_bags([tmp_path / "empty"])


def _tracegen(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "tracegen.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_warmup_forges_the_first_demo_bags_and_fine_tunes_the_checkpoint(tmp_path):
    root = _demo_folder(tmp_path / "demos")
    checkpoint = models_dir() / "tracegen-sim-block"
    out = tmp_path / "warmup"
    args = ("warmup", "--from", str(checkpoint), "--bags", str(root), "--max-demos", "1", "--out", str(out))
    run = _tracegen(
        *args,
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--threads",
        "1",
        "--no-tensorboard",
        "--no-progress",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "forging 1 demo episode(s): box_20261125-100000" in run.stdout
    manifest = json.loads((out / "demo-triplets" / "manifest.json").read_text())
    forged = json.dumps(manifest)
    assert "box_20261125-100000" in forged and "box_20261125-100100" not in forged and "095900" not in forged
    assert list((out / "demo-triplets" / "shards").glob("*.parquet"))
    meta = read_meta(out / "final")
    assert meta.training["init_checkpoint"] == str(checkpoint)
    assert meta.training["train_config"]["padding"] == "hold"  # the checkpoint's loss recipe is kept


def test_warmup_without_demos_or_with_no_finished_episode_says_what_to_pass(tmp_path):
    checkpoint = str(models_dir() / "tracegen-sim-block")
    run = _tracegen("warmup", "--from", checkpoint, "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert run.returncode == 2 and "--bags" in run.stderr
    (tmp_path / "empty").mkdir()
    run = _tracegen(
        "warmup",
        "--from",
        checkpoint,
        "--bags",
        str(tmp_path / "empty"),
        "--out",
        str(tmp_path / "w"),
        cwd=tmp_path,
    )
    assert run.returncode == 2 and "no finished demo episode" in run.stderr, run.stderr
