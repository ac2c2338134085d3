"""The manifest of a forge output directory: what was done to each input, for people and resume.

``<out>/manifest.json``::

    {"format": "tracegen.forge_manifest", "version": 1, "schema_version": <triplet schema>,
     "config": {...}, "config_fingerprint": "...",
     "inputs": {<input key>: {"status": "done" | "skipped" | "failed", "reason": ...,
                              "num_triplets", "num_3d", "shards": [...], "shard_rows": [...],
                              "dropped": [{"episode", "frames", "reason"}], "frames_read",
                              "seconds", "fingerprint": <size/mtime of the input>, "spec": {...}}},
     "summary": {"done", "skipped", "failed", "triplets", ...}}

Written atomically (temporary file, fsync, rename) as inputs finish (at most every 2 s, and at
the end), so a killed run keeps what it recorded; an input finished but not yet recorded is
forged again on resume (its shards are replaced, never duplicated). Resume skips an input
whose entry is ``done`` (its shards exist with the recorded row counts) or ``skipped`` (a bad
input stays bad), provided the input itself is unchanged (size and modification time);
``failed`` inputs are retried.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tracegen.data import SCHEMA_VERSION
from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.engine import InputResult
from tracegen.forge.readers import InputSpec

MANIFEST_FILE = "manifest.json"
FORMAT_NAME = "tracegen.forge_manifest"
FORMAT_VERSION = 1


def input_fingerprint(path: str | Path) -> str:
    """Size and modification time of a file, or of every file under a directory."""
    path = Path(path)
    if path.is_file():
        stat = path.stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"
    if path.is_dir():
        count = size = latest = 0
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in files:
                stat = (Path(root) / name).stat()
                count, size, latest = count + 1, size + stat.st_size, max(latest, stat.st_mtime_ns)
        return f"{count}:{size}:{latest}"
    return "missing"


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Manifest:
    """Load, update and save ``manifest.json`` of one output directory."""

    def __init__(self, out_dir: Path, data: dict[str, Any]) -> None:
        self.out_dir = out_dir
        self.path = out_dir / MANIFEST_FILE
        self.data = data

    @classmethod
    def open(cls, out_dir: str | Path, config: ForgeConfig, *, overwrite: bool = False) -> Manifest:
        """The directory's manifest, or a new one; refuses one made with another config
        unless ``overwrite`` (which starts afresh)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / MANIFEST_FILE
        fresh = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "config": config.to_dict(),
            "config_fingerprint": config.fingerprint(),
            "inputs": {},
            "summary": {},
        }
        if not path.is_file() or overwrite:
            return cls(out_dir, fresh)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(
                f"{path} is not readable JSON ({exc}): move it away or pass --overwrite"
            ) from None
        if data.get("format") != FORMAT_NAME or int(data.get("version", 0)) > FORMAT_VERSION:
            raise InputError(
                f"{path} is not a forge manifest this tracegen reads (format {data.get('format')!r})"
            )
        if data.get("config_fingerprint") != config.fingerprint():
            changed = sorted(k for k, v in config.to_dict().items() if data.get("config", {}).get(k) != v)
            raise InputError(
                f"{out_dir} was forged with another configuration (differs in {changed}): resume with the "
                "same "
                "options, write to a new --out directory, or pass --overwrite to start afresh"
            )
        return cls(out_dir, data)

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        return self.data["inputs"]

    def is_finished(self, spec: InputSpec, fingerprint: str) -> bool:
        """True when resume may skip this input (rules in the module docstring)."""
        entry = self.entries.get(spec.key)
        if entry is None or entry.get("fingerprint") != fingerprint:
            return False
        if entry["status"] == "skipped":
            return True
        if entry["status"] != "done":
            return False
        for shard, rows in zip(entry["shards"], entry["shard_rows"], strict=True):
            path = self.out_dir / shard
            try:
                if pq.ParquetFile(path).metadata.num_rows != rows:
                    return False
            except (OSError, pa.ArrowException):
                return False
        return True

    def record(self, result: InputResult, fingerprint: str) -> None:
        entry = result.to_dict()
        entry["fingerprint"] = fingerprint
        self.entries[result.key] = entry

    def record_rejected(self, path: str, reason: str) -> None:
        """A path given on the command line that is not an input."""
        key = f"unknown:{path}"
        self.entries[key] = InputResult(
            key=key, spec={"path": path}, status="skipped", reason=reason
        ).to_dict()
        self.entries[key]["fingerprint"] = input_fingerprint(path)

    def summary(self) -> dict[str, Any]:
        statuses = Counter(entry["status"] for entry in self.entries.values())
        return {
            "inputs": len(self.entries),
            "done": statuses.get("done", 0),
            "skipped": statuses.get("skipped", 0),
            "failed": statuses.get("failed", 0),
            "triplets": sum(entry.get("num_triplets", 0) for entry in self.entries.values()),
            "triplets_3d": sum(entry.get("num_3d", 0) for entry in self.entries.values()),
            "shards": sum(len(entry.get("shards", [])) for entry in self.entries.values()),
        }

    def save(self) -> None:
        self.data["summary"] = self.summary()
        _write_json_atomic(self.path, self.data)
