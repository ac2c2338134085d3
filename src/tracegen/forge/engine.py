"""Forge one input: read it, segment events, track, build triplets, write its shards.

:func:`forge_input` is the unit of work the pipeline runs (in process or on Ray workers). It
never raises for a bad input: the result says ``done`` (with the shards it wrote and what it
dropped and why), ``skipped`` (bad input or nothing usable: the reason) or ``failed`` (an
unexpected error: its message). Shards go to hidden ``.pending`` names first and are renamed
only when the whole input succeeded, so a crash leaves no visible partial output; the
manifest (written by the pipeline) is what marks an input finished.
"""

from __future__ import annotations

import logging
import os
import random
import time
import traceback
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tracegen.data import Triplet, write_shard
from tracegen.errors import InputError
from tracegen.forge.camera_pose import CameraPoseBackend, decide_geometry
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, collect_window
from tracegen.forge.instructions import Captioner, resolve_instructions
from tracegen.forge.official import read_official_episode
from tracegen.forge.readers import InputSpec, read_episodes
from tracegen.forge.segmentation import segment_events
from tracegen.forge.tracking import make_tracker
from tracegen.forge.triplets import build_event_triplets

logger = logging.getLogger(__name__)

SHARDS_DIR = "shards"
PENDING_SUFFIX = ".pending"
FORGE_VERSION = 1


@dataclass
class InputResult:
    """What happened to one input (one manifest entry)."""

    key: str
    spec: dict[str, Any]
    status: str
    reason: str = ""
    num_triplets: int = 0
    num_3d: int = 0
    shards: list[str] = field(default_factory=list)
    shard_rows: list[int] = field(default_factory=list)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    frames_read: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputResult:
        return cls(**data)


_captioners: dict[str, Captioner] = {}


def load_captioner(config: ForgeConfig) -> Captioner | None:
    """The configured captioner, loaded once per process (workers reuse it across inputs)."""
    if not config.captioner_dir:
        return None
    if config.captioner_dir not in _captioners:
        from tracegen.forge.captioner import TransformersCaptioner

        _captioners[config.captioner_dir] = TransformersCaptioner(
            config.captioner_dir, max_new_tokens=config.caption_max_new_tokens
        )
    return _captioners[config.captioner_dir]


_pose_backends: dict[tuple[str, str], CameraPoseBackend] = {}


def load_pose_backend(config: ForgeConfig) -> CameraPoseBackend | None:
    """The configured camera-pose backend (VGGT), loaded once per process."""
    if not config.vggt_repo:
        return None
    key = (config.vggt_repo, str(config.vggt_weights))
    if key not in _pose_backends:
        from tracegen.forge.camera_pose import VggtPoseBackend

        _pose_backends[key] = VggtPoseBackend(config.vggt_repo, str(config.vggt_weights))
    return _pose_backends[key]


def shard_name(spec: InputSpec, part: int) -> str:
    return f"{spec.slug}-{part:04d}.parquet"


def remove_input_shards(out_dir: Path, spec: InputSpec) -> None:
    """Delete this input's shards and leftovers of an interrupted run (pending and temp files)."""
    shards = out_dir / SHARDS_DIR
    if not shards.is_dir():
        return
    for path in shards.iterdir():
        name = path.name.lstrip(".")
        if name.startswith(f"{spec.slug}-"):
            path.unlink(missing_ok=True)


class _ShardWriter:
    """Writes an input's triplets in shards of ``size`` under pending names; ``commit`` publishes."""

    def __init__(self, out_dir: Path, spec: InputSpec, size: int) -> None:
        self.dir = out_dir / SHARDS_DIR
        self.spec = spec
        self.size = size
        self.buffer: list[Triplet] = []
        self.pending: list[tuple[Path, Path, int]] = []
        self.num_3d = 0

    def add(self, triplets: list[Triplet]) -> None:
        self.buffer += triplets
        self.num_3d += sum(t.trace.is_3d for t in triplets)
        while len(self.buffer) >= self.size:
            self._flush(self.buffer[: self.size])
            self.buffer = self.buffer[self.size :]

    def _flush(self, triplets: list[Triplet]) -> None:
        final = self.dir / shard_name(self.spec, len(self.pending))
        pending = self.dir / f".{final.name}{PENDING_SUFFIX}"
        write_shard(pending, triplets)
        self.pending.append((pending, final, len(triplets)))

    @property
    def count(self) -> int:
        return sum(rows for _, _, rows in self.pending) + len(self.buffer)

    def commit(self) -> tuple[list[str], list[int]]:
        if self.buffer:
            self._flush(self.buffer)
            self.buffer = []
        for pending, final, _ in self.pending:
            os.replace(pending, final)
        return [f"{SHARDS_DIR}/{final.name}" for _, final, _ in self.pending], [n for _, _, n in self.pending]

    def abort(self) -> None:
        for pending, _, _ in self.pending:
            pending.unlink(missing_ok=True)


def _seed_everything(config: ForgeConfig, spec: InputSpec) -> None:
    seed = (config.seed * 1_000_003 + zlib.crc32(spec.key.encode())) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # torch is optional: only the captioner and CoTracker need it
        pass


def _episode_triplets(
    episode: Episode,
    config: ForgeConfig,
    captioner: Captioner | None,
    pose_backend: CameraPoseBackend | None,
    result: InputResult,
) -> Iterator[list[Triplet]]:
    tracker = make_tracker(config, episode)
    frames = episode.frames()
    where = f"{episode.source} episode {episode.episode_id}"
    provenance_base = {
        "forge_version": FORGE_VERSION,
        "reader": episode.notes.get("reader", ""),
        "fps": episode.fps,
        "task": episode.task,
        "seed": config.seed,
        "config_fingerprint": config.fingerprint(),
    }
    while True:
        window = collect_window(frames, config.max_window_frames, where)
        if window is None:
            break
        result.frames_read += window.num_frames
        geometry = decide_geometry(
            episode, window, assume_camera_fixed=config.assume_camera_fixed, pose_backend=pose_backend
        )
        segmentation = segment_events(window.rgb, config)
        for dropped in segmentation.dropped:
            result.dropped.append(
                {
                    "episode": episode.episode_id,
                    "frames": [int(window.indices[dropped.start]), int(window.indices[dropped.stop - 1])],
                    "reason": dropped.reason,
                }
            )
        for event in segmentation.events:
            clip = window.rgb[event.start : event.stop]
            instructions = resolve_instructions(
                episode.instructions,
                episode.instruction_origin,
                [clip[0], clip[len(clip) // 2], clip[-1]],
                episode.task,
                captioner,
            )
            event_result = build_event_triplets(
                episode=episode,
                window=window,
                event=event,
                geometry=geometry,
                tracker=tracker,
                instructions=instructions,
                config=config,
                provenance={**provenance_base, "segmentation": segmentation.method},
            )
            for frame_index, reason in event_result.dropped:
                result.dropped.append(
                    {"episode": episode.episode_id, "frames": [frame_index], "reason": reason}
                )
            if event_result.triplets:
                yield event_result.triplets


def _summarise(dropped: list[dict[str, Any]], limit: int = 3) -> str:
    """The distinct drop reasons, the informative ones first (still stretches last)."""
    reasons = list(dict.fromkeys(d["reason"] for d in dropped))
    reasons.sort(key=lambda r: r.startswith("still"))
    if not reasons:
        return "the input holds no frames"
    more = f" (+{len(reasons) - limit} more reasons)" if len(reasons) > limit else ""
    return "; ".join(reasons[:limit]) + more


def forge_input(
    spec: InputSpec,
    out_dir: str | Path,
    config: ForgeConfig,
) -> InputResult:
    """Forge one input into shards under ``out_dir/shards`` (see the module docstring)."""
    out_dir = Path(out_dir)
    started = time.perf_counter()
    result = InputResult(key=spec.key, spec=spec.to_dict(), status="done")
    remove_input_shards(out_dir, spec)
    writer = _ShardWriter(out_dir, spec, config.max_triplets_per_shard)
    try:
        _seed_everything(config, spec)
        if spec.kind == "official":
            writer.add(list(read_official_episode(Path(spec.path))))
        else:
            captioner = load_captioner(config)
            pose_backend = load_pose_backend(config)
            for episode in read_episodes(spec, config):
                for triplets in _episode_triplets(episode, config, captioner, pose_backend, result):
                    writer.add(triplets)
        if writer.count == 0:
            writer.abort()
            result.status, result.reason = "skipped", "no triplets: " + _summarise(result.dropped)
        else:
            result.shards, result.shard_rows = writer.commit()
            result.num_triplets, result.num_3d = sum(result.shard_rows), writer.num_3d
    except InputError as exc:
        writer.abort()
        result.status, result.reason = "skipped", str(exc)
    except Exception as exc:  # a bug or an unforeseen library error: record it, keep the job alive
        writer.abort()
        logger.debug("forging %s failed", spec.key, exc_info=True)
        tail = traceback.format_exc(limit=-3).strip().splitlines()[-6:]
        result.status, result.reason = "failed", f"{type(exc).__name__}: {exc} | " + " / ".join(tail)
    result.seconds = round(time.perf_counter() - started, 3)
    return result
