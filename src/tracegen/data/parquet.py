"""Triplets as Parquet shards (Arrow), readable by Ray Data, HF datasets, pandas and DuckDB.

One row per triplet; the columns are plain types so any Arrow reader can use them:

=====================  =================  ===================================================
column                 type               meaning
=====================  =================  ===================================================
triplet_id             string             stable id (source, episode, frame)
source                 string             input file or URI
episode_id             string             episode / segment within the source
frame_index            int32              reference frame index in the source
embodiment             string             what moves (fr3, ur5e, human_hand, ...)
rgb_png                binary             reference image, PNG (RGB, 8 bit)
width, height          int32              image size, pixels
depth_png              binary (nullable)  aligned depth, 16-bit PNG in millimetres (0 = hole)
fx, fy, cx, cy         float64            intrinsics of the image, pixels
intrinsics_source      string             "source" or "default"
grid_rows, grid_cols   int32              query grid (20 x 20)
num_steps              int32              S, steps per trace (step 0 included)
trace_uvz              list<float32>      N * S * 3, C order [point][step][u_px, v_px, z_m]
step_valid             list<bool>         S
point_valid            list<bool>         N * S, C order [point][step]
is_3d                  bool               false: 2D-only, z is NaN
instructions           list<string>       1 to 3 variants
instruction_source     string             "source", "captioner:<model>" or "template"
provenance             string             JSON object
=====================  =================  ===================================================

The schema version is stored in each file's metadata (``tracegen.schema_version``); readers
refuse files of a newer version. Shards are written to a temporary name and renamed, so a
reader never sees a partial file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tracegen.data.triplet import Triplet
from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics, Trace

SCHEMA_VERSION = 1
SCHEMA_VERSION_KEY = b"tracegen.schema_version"
#: Depth is stored in millimetres in 16 bits: 65.535 m at most, 1 mm resolution.
DEPTH_PNG_SCALE_MM_PER_M = 1000.0

SCHEMA = pa.schema(
    [
        ("triplet_id", pa.string()),
        ("source", pa.string()),
        ("episode_id", pa.string()),
        ("frame_index", pa.int32()),
        ("embodiment", pa.string()),
        ("rgb_png", pa.binary()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("depth_png", pa.binary()),
        ("fx", pa.float64()),
        ("fy", pa.float64()),
        ("cx", pa.float64()),
        ("cy", pa.float64()),
        ("intrinsics_source", pa.string()),
        ("grid_rows", pa.int32()),
        ("grid_cols", pa.int32()),
        ("num_steps", pa.int32()),
        ("trace_uvz", pa.list_(pa.float32())),
        ("step_valid", pa.list_(pa.bool_())),
        ("point_valid", pa.list_(pa.bool_())),
        ("is_3d", pa.bool_()),
        ("instructions", pa.list_(pa.string())),
        ("instruction_source", pa.string()),
        ("provenance", pa.string()),
    ],
    metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()},
)


def encode_rgb_png(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"could not PNG-encode an rgb image of shape {rgb.shape}")
    return buf.tobytes()


def decode_rgb_png(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError("rgb_png is not a readable PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_depth_png(depth_m: np.ndarray) -> bytes:
    """Metres -> 16-bit PNG of millimetres (holes, NaN and out-of-range depths become 0)."""
    depth_mm = np.nan_to_num(depth_m * DEPTH_PNG_SCALE_MM_PER_M, nan=0.0, posinf=0.0, neginf=0.0)
    depth_mm = np.where((depth_mm > 0) & (depth_mm <= 65535), np.rint(depth_mm), 0).astype(np.uint16)
    ok, buf = cv2.imencode(".png", depth_mm)
    if not ok:
        raise InputError(f"could not PNG-encode a depth image of shape {depth_m.shape}")
    return buf.tobytes()


def decode_depth_png(data: bytes) -> np.ndarray:
    """16-bit PNG of millimetres -> float32 metres (0 = hole)."""
    depth_mm = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if depth_mm is None or depth_mm.dtype != np.uint16 or depth_mm.ndim != 2:
        raise InputError("depth_png is not a single-channel 16-bit PNG")
    return depth_mm.astype(np.float32) / DEPTH_PNG_SCALE_MM_PER_M


def triplet_to_row(triplet: Triplet) -> dict:
    trace = triplet.trace
    k = trace.intrinsics
    return {
        "triplet_id": triplet.triplet_id,
        "source": triplet.source,
        "episode_id": triplet.episode_id,
        "frame_index": triplet.frame_index,
        "embodiment": triplet.embodiment,
        "rgb_png": encode_rgb_png(triplet.rgb),
        "width": k.width_px,
        "height": k.height_px,
        "depth_png": None if triplet.depth_m is None else encode_depth_png(triplet.depth_m),
        "fx": k.fx_px,
        "fy": k.fy_px,
        "cx": k.cx_px,
        "cy": k.cy_px,
        "intrinsics_source": triplet.intrinsics_source,
        "grid_rows": trace.rows,
        "grid_cols": trace.cols,
        "num_steps": trace.num_steps,
        "trace_uvz": np.ascontiguousarray(trace.uvz, dtype=np.float32).ravel(),
        "step_valid": trace.step_valid,
        "point_valid": trace.point_valid.ravel(),
        "is_3d": trace.is_3d,
        "instructions": list(triplet.instructions),
        "instruction_source": triplet.instruction_source,
        "provenance": json.dumps(triplet.provenance, sort_keys=True),
    }


def row_to_triplet(row: dict) -> Triplet:
    rows, cols, num_steps = int(row["grid_rows"]), int(row["grid_cols"]), int(row["num_steps"])
    num_points = rows * cols
    intrinsics = CameraIntrinsics(
        int(row["width"]), int(row["height"]), row["fx"], row["fy"], row["cx"], row["cy"]
    )
    trace = Trace(
        uvz=np.asarray(row["trace_uvz"], dtype=np.float32).reshape(num_points, num_steps, 3),
        step_valid=np.asarray(row["step_valid"], dtype=bool),
        point_valid=np.asarray(row["point_valid"], dtype=bool).reshape(num_points, num_steps),
        is_3d=bool(row["is_3d"]),
        intrinsics=intrinsics,
        rows=rows,
        cols=cols,
    )
    return Triplet(
        rgb=decode_rgb_png(row["rgb_png"]),
        depth_m=None if row["depth_png"] is None else decode_depth_png(row["depth_png"]),
        trace=trace,
        instructions=tuple(row["instructions"]),
        instruction_source=row["instruction_source"],
        intrinsics_source=row["intrinsics_source"],
        source=row["source"],
        episode_id=row["episode_id"],
        frame_index=int(row["frame_index"]),
        embodiment=row["embodiment"],
        provenance=json.loads(row["provenance"]),
    )


def triplets_to_table(triplets: Iterable[Triplet]) -> pa.Table:
    rows = [triplet_to_row(t) for t in triplets]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_shard(path: str | os.PathLike, triplets: Sequence[Triplet]) -> Path:
    """Write triplets to one Parquet file atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = triplets_to_table(triplets)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=64)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def check_schema_version(schema: pa.Schema, path: str | os.PathLike) -> None:
    version = int((schema.metadata or {}).get(SCHEMA_VERSION_KEY, b"0"))
    if version < 1 or version > SCHEMA_VERSION:
        raise InputError(
            f"{path} has triplet schema version {version}; this tracegen reads 1..{SCHEMA_VERSION}: "
            "upgrade tracegen (newer file) or re-forge the data (not a tracegen file)"
        )


def shard_paths(dataset: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Parquet files of a dataset: a directory (recursively, hidden files skipped) or file list."""
    if isinstance(dataset, (str, os.PathLike)):
        dataset = [dataset]
    paths: list[Path] = []
    for entry in map(Path, dataset):
        if entry.is_dir():
            paths += sorted(p for p in entry.rglob("*.parquet") if not p.name.startswith("."))
        elif entry.is_file():
            paths.append(entry)
        else:
            raise InputError(f"dataset path {entry} does not exist")
    if not paths:
        raise InputError(f"no Parquet shards found in {[str(p) for p in map(Path, dataset)]}")
    return paths


def read_triplets(dataset: str | os.PathLike | Sequence[str | os.PathLike]) -> Iterator[Triplet]:
    """Every triplet of a dataset, shard by shard, row group by row group."""
    for path in shard_paths(dataset):
        parquet = pq.ParquetFile(path)
        check_schema_version(parquet.schema_arrow, path)
        for group in range(parquet.num_row_groups):
            for row in parquet.read_row_group(group).to_pylist():
                yield row_to_triplet(row)


def count_triplets(dataset: str | os.PathLike | Sequence[str | os.PathLike]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in shard_paths(dataset))
