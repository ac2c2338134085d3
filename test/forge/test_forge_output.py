"""Forge output: Parquet shards that round-trip, the manifest, determinism, resume after a kill,
the Ray pipeline, and the official TraceGen folder format both ways."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from tracegen.data import SCHEMA_VERSION, read_triplets
from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.official import export_official, read_official_episode
from tracegen.forge.pipeline import run_forge

from support.forge_media import box_episode, write_bag

CONFIG = ForgeConfig(min_trace_steps=2)


def same_triplets(a, b) -> bool:
    return (
        a.triplet_id == b.triplet_id
        and a.trace.same_as(b.trace)
        and np.array_equal(a.rgb, b.rgb)
        and ((a.depth_m is None and b.depth_m is None) or np.array_equal(a.depth_m, b.depth_m))
        and a.instructions == b.instructions
        and (a.instruction_source, a.intrinsics_source, a.embodiment)
        == (b.instruction_source, b.intrinsics_source, b.embodiment)
        and (a.source, a.episode_id, a.frame_index) == (b.source, b.episode_id, b.frame_index)
        and a.provenance == b.provenance
    )


def shard_bytes(out) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").glob("*.parquet"))}


@pytest.fixture(scope="module")
def bag_dir(tmp_path_factory):
    """A demo bag as the recorder writes it: colour, aligned depth, camera_info, metadata."""
    sim = box_episode()
    return write_bag(
        tmp_path_factory.mktemp("bags") / "demo",
        np.asarray(sim.rgb),
        sim.intrinsics,
        np.asarray(sim.depth_m),
        custom_data={
            "tracegen.instruction": "push the blue box",
            "tracegen.embodiment": "fr3",
            "tracegen.camera_fixed": "true",
        },
    )


def test_a_bag_forges_3d_triplets_that_round_trip_through_parquet(bag_dir, tmp_path):
    summary = run_forge([bag_dir], tmp_path / "out", CONFIG, executor="local", progress=False)
    assert (summary.done, summary.skipped, summary.failed) == (1, 0, 0) and summary.triplets > 0
    triplets = list(read_triplets(tmp_path / "out"))
    assert len(triplets) == summary.triplets
    first = triplets[0]
    assert first.trace.is_3d and first.depth_m is not None and first.intrinsics_source == "source"
    assert (first.rows if hasattr(first, "rows") else first.trace.rows, first.trace.cols) == (20, 20)
    assert first.trace.num_steps == 128 and first.trace.num_valid_steps >= 2
    assert first.instructions == ("push the blue box",) and first.instruction_source == "source"
    assert first.embodiment == "fr3" and first.provenance["camera"] == "fixed (source)"
    assert first.provenance["depth"] == "sensor" and first.provenance["tracker"] == "lk"
    # Step 0 is the query grid; its depth is the sensor's at the query pixel (mm PNG resolution).
    sim = box_episode()
    u, v = np.rint(first.trace.query_uv_px).astype(int).T
    np.testing.assert_allclose(first.trace.uvz[:, 0, 2], sim.depth_m[first.frame_index][v, u], atol=0.0011)
    metadata = pq.read_schema(next((tmp_path / "out" / "shards").glob("*.parquet"))).metadata
    assert int(metadata[b"tracegen.schema_version"]) == SCHEMA_VERSION


def test_the_manifest_records_each_input_with_counts_shards_and_drops(bag_dir, tmp_path):
    run_forge([bag_dir], tmp_path / "out", CONFIG, executor="local", progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"] == CONFIG.to_dict() and manifest["schema_version"] == SCHEMA_VERSION
    (entry,) = manifest["inputs"].values()
    assert entry["status"] == "done" and entry["spec"]["kind"] == "rosbag"
    assert sum(entry["shard_rows"]) == entry["num_triplets"] == entry["num_3d"]
    assert all((tmp_path / "out" / shard).is_file() for shard in entry["shards"])
    assert any(d["reason"].startswith("still") for d in entry["dropped"])
    assert manifest["summary"]["triplets"] == entry["num_triplets"]


def test_forging_is_deterministic_byte_for_byte(bag_dir, tmp_path):
    for name in ("a", "b"):
        run_forge([bag_dir], tmp_path / name, CONFIG, executor="local", progress=False)
    assert shard_bytes(tmp_path / "a") == shard_bytes(tmp_path / "b") != {}


def test_resuming_with_another_config_is_refused_unless_overwriting(bag_dir, tmp_path):
    run_forge([bag_dir], tmp_path / "out", CONFIG, executor="local", progress=False)
    other = ForgeConfig(min_trace_steps=3)
    with pytest.raises(InputError, match=r"another configuration .*min_trace_steps"):
        run_forge([bag_dir], tmp_path / "out", other, executor="local", progress=False)
    summary = run_forge([bag_dir], tmp_path / "out", other, executor="local", progress=False, overwrite=True)
    assert summary.resumed == 0 and summary.done == 1


def test_a_changed_input_is_forged_again_on_resume(bag_dir, tmp_path):
    sim = box_episode()
    episode = sim.save(tmp_path / "episode")
    run_forge([episode], tmp_path / "out", CONFIG, executor="local", progress=False)
    assert run_forge([episode], tmp_path / "out", CONFIG, executor="local", progress=False).resumed == 1
    meta = episode / "episode.json"
    meta.write_text(meta.read_text().replace("push the blue box", "push the box"))
    summary = run_forge([episode], tmp_path / "out", CONFIG, executor="local", progress=False)
    assert summary.resumed == 0 and summary.done == 1
    assert {t.instructions for t in read_triplets(tmp_path / "out")} == {("push the box",)}


@pytest.mark.slow
def test_resume_after_a_kill_skips_finished_inputs_and_ends_as_an_uninterrupted_run(tmp_path, node_env):
    sim = box_episode(width_px=320, height_px=240, num_frames=48, still_frames=4)
    inputs = [str(sim.save(tmp_path / "in" / f"ep{i}")) for i in range(3)]
    args = ["--tracker", "lk", "--stride", "4"]
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "tracegen.cli.main",
        "forge",
        *inputs,
        "--out",
        str(out),
        "--local",
        "--no-progress",
        *args,
    ]
    process = subprocess.Popen(command, env=node_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest_path = out / "manifest.json"
    deadline = time.monotonic() + 120
    done_at_kill = []
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if manifest_path.is_file():
                entries = json.loads(manifest_path.read_text())["inputs"].values()
                done_at_kill = [e for e in entries if e["status"] == "done"]
                if done_at_kill:
                    process.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    # What the killed run left on disk (it may have recorded one more input after our last look).
    entries = json.loads(manifest_path.read_text())["inputs"].values()
    done_at_kill = [e for e in entries if e["status"] == "done"]
    assert 1 <= len(done_at_kill) < 3, "the run must be killed part-way"
    # No visible partial shard: every visible Parquet file is complete.
    for shard in (out / "shards").glob("*.parquet"):
        assert pq.read_metadata(shard).num_rows > 0
    kept = {e["key"]: [os.stat(out / s).st_mtime_ns for s in e["shards"]] for e in done_at_kill}

    config = ForgeConfig(tracker="lk", reference_stride_frames=4)
    summary = run_forge(inputs, out, config, executor="local", progress=False)
    assert summary.resumed == len(done_at_kill) and summary.done == 3 - len(done_at_kill)
    manifest = json.loads(manifest_path.read_text())
    for key, mtimes in kept.items():  # finished inputs were not redone
        assert [os.stat(out / s).st_mtime_ns for s in manifest["inputs"][key]["shards"]] == mtimes
    assert not [p for p in (out / "shards").iterdir() if p.name.startswith(".")]
    run_forge(inputs, tmp_path / "reference", config, executor="local", progress=False)
    assert shard_bytes(out) == shard_bytes(tmp_path / "reference")


@pytest.mark.slow
def test_the_ray_pipeline_with_two_workers_writes_what_the_local_run_writes(tmp_path):
    inputs = []
    for i, turn in enumerate((0.0, 20.0, 40.0)):
        inputs.append(box_episode(turn_deg=turn).save(tmp_path / "in" / f"ep{i}"))
    ray_summary = run_forge(inputs, tmp_path / "ray", CONFIG, executor="ray", num_workers=2, progress=False)
    local_summary = run_forge(inputs, tmp_path / "local", CONFIG, executor="local", progress=False)
    assert ray_summary.done == local_summary.done == 3
    assert shard_bytes(tmp_path / "ray") == shard_bytes(tmp_path / "local")


def test_official_format_export_then_import_gives_the_same_triplets(bag_dir, tmp_path):
    run_forge([bag_dir], tmp_path / "out", CONFIG, executor="local", progress=False)
    originals = list(read_triplets(tmp_path / "out"))
    (episode_dir,) = export_official(originals, tmp_path / "official")
    assert sorted(p.name for p in episode_dir.iterdir()) == [
        "depth",
        "images",
        "samples",
        "three_instructions.json",
        "tracegen.json",
    ]
    sample = np.load(next((episode_dir / "samples").glob("*.npz")))
    assert sample["keypoints"].shape == (400, 2) and sample["traj"].shape == (400, 128, 3)
    assert (
        np.isneginf(sample["traj"][:, -1]).all()
        and sample["valid_steps"].sum() == originals[0].trace.num_valid_steps
    )
    assert json.loads((episode_dir / "three_instructions.json").read_text()) == {
        "instruction_1": "push the blue box"
    }
    imported = list(read_official_episode(episode_dir))
    assert len(imported) == len(originals)
    assert all(same_triplets(a, b) for a, b in zip(originals, imported, strict=True))


def test_official_episodes_forge_as_inputs_with_default_intrinsics_when_they_have_none(bag_dir, tmp_path):
    run_forge([bag_dir], tmp_path / "out", CONFIG, executor="local", progress=False)
    (episode_dir,) = export_official(read_triplets(tmp_path / "out"), tmp_path / "official")
    (episode_dir / "tracegen.json").unlink()  # as released by the official tools
    (episode_dir / "three_instructions.json").write_text(
        json.dumps(
            {
                "instruction_1": "push it",
                "instruction_2": "reach, then push",
                "instruction_3": "could you push it?",
            }
        )
    )
    summary = run_forge(
        [tmp_path / "official"], tmp_path / "reforged", CONFIG, executor="local", progress=False
    )
    assert summary.done == 1
    imported = list(read_triplets(tmp_path / "reforged"))
    assert imported[0].intrinsics_source == "default" and imported[0].trace.is_3d
    assert imported[0].instructions == ("push it", "reach, then push", "could you push it?")
