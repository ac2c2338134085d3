"""Triplets round-trip through Parquet shards that generic Arrow readers understand."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tracegen.data import SCHEMA, Triplet, count_triplets, read_triplets, write_shard
from tracegen.errors import InputError

from support.traces import random_trace


def make_triplet(seed: int, *, with_depth: bool = True, is_3d: bool = True) -> Triplet:
    rng = np.random.default_rng(seed)
    trace = random_trace(seed, num_steps=40, is_3d=is_3d, with_holes=True)
    depth = rng.uniform(0.3, 3.0, size=(480, 640)).astype(np.float32)
    depth[:10, :10] = 0.0
    return Triplet(
        rgb=rng.integers(0, 255, size=(480, 640, 3), dtype=np.uint8),
        depth_m=depth if with_depth else None,
        trace=trace,
        instructions=("push the block", "move to the block, then push it left", "could you push it?"),
        instruction_source="source",
        intrinsics_source="source",
        source=f"/data/episode_{seed}.mcap",
        episode_id=f"ep{seed}",
        frame_index=seed * 3,
        embodiment="fr3",
        provenance={"tracker": "lk", "segment": [0, 90], "seed": seed},
    )


def test_triplets_round_trip_through_a_shard(tmp_path):
    triplets = [make_triplet(1), make_triplet(2, with_depth=False, is_3d=False)]
    path = write_shard(tmp_path / "part-00000.parquet", triplets)
    back = list(read_triplets(tmp_path))
    assert len(back) == 2 and count_triplets(path) == 2
    for original, loaded in zip(triplets, back, strict=True):
        assert loaded.trace.same_as(original.trace)
        assert np.array_equal(loaded.rgb, original.rgb)
        assert loaded.instructions == original.instructions
        assert loaded.provenance == original.provenance
        assert loaded.triplet_id == original.triplet_id
    assert back[1].depth_m is None
    # Depth is stored in millimetres: 1 mm resolution, holes stay holes.
    assert np.abs(back[0].depth_m - triplets[0].depth_m).max() <= 0.0005 + 1e-6
    assert (back[0].depth_m[:10, :10] == 0).all()


def test_shards_are_plain_arrow_tables_with_a_schema_version(tmp_path):
    path = write_shard(tmp_path / "a.parquet", [make_triplet(3)])
    table = pq.read_table(path)
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert table.schema.metadata[b"tracegen.schema_version"] == b"1"
    row = table.to_pylist()[0]
    assert len(row["trace_uvz"]) == 400 * 40 * 3
    assert json.loads(row["provenance"])["tracker"] == "lk"


def test_writing_leaves_no_temporary_files(tmp_path):
    write_shard(tmp_path / "a.parquet", [make_triplet(4)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]


def test_files_of_a_newer_schema_are_refused(tmp_path):
    path = write_shard(tmp_path / "a.parquet", [make_triplet(5)])
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"tracegen.schema_version": b"99"}), path)
    with pytest.raises(InputError, match="version 99"):
        list(read_triplets(path))


def test_missing_dataset_paths_are_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        list(read_triplets(tmp_path / "nope"))
    with pytest.raises(InputError, match="no Parquet shards"):
        list(read_triplets(tmp_path))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"instructions": ()}, "1 to 3 non-empty"),
        ({"instructions": ("",)}, "1 to 3 non-empty"),
        ({"rgb": np.zeros((480, 640), np.uint8)}, "uint8"),
        ({"rgb": np.zeros((240, 320, 3), np.uint8)}, "intrinsics describe"),
        ({"depth_m": np.zeros((10, 10), np.float32)}, "does not match"),
        ({"instruction_source": "guess"}, "instruction_source"),
        ({"provenance": {"bad": object()}}, "not JSON serializable"),
    ],
)
def test_malformed_triplets_are_refused(change, message):
    base = make_triplet(6)
    fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
    with pytest.raises((InputError, TypeError), match=message):
        Triplet(**{**fields, **change})
