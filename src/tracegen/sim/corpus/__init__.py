"""A cross-embodiment pre-training corpus rendered in MuJoCo (TraceGen pre-trains on it).

Five robosuite arms (ur5e, xarm7, kinova3, iiwa, panda) and a free-floating human-hand
stand-in do the FR3 task family (push, pick-and-place, sweep, fold) and other motions
(reach, wave, circle) in randomised tabletop scenes (objects, colours, table textures,
lighting, camera pose around the FR3 world's D435). Playback is kinematic (IK + mocap), so
an episode renders in seconds. Layout under ``out_dir``::

    corpus.json                       [{embodiment, index, motion, path, instruction, frames}]
    <arm>/ep00000/                    a tracegen.forge.sim_episode directory (RGB-D + poses)
    hand/ep00000/clip.mp4 + clip.json an RGB-only video and its sidecar (2D-only traces)

Forge it with LK tracking (not the ground truth the arm episodes also carry)::

    tracegen forge OUT_DIR --out TRIPLETS --local --tracker lk
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tracegen.errors import InputError
from tracegen.sim.corpus.embodiments import ARMS, EMBODIMENTS, check_embodiments
from tracegen.sim.corpus.episode import HAND_SIDECAR, episode_entry, render_episode, write_episode

__all__ = ["EMBODIMENTS", "INDEX_FILE", "episode_path", "render_corpus"]

INDEX_FILE = "corpus.json"


def episode_path(out_dir: Path, embodiment: str, index: int) -> Path:
    return Path(out_dir) / embodiment / f"ep{index:05d}"


def _entry_of_written(out_dir: Path, embodiment: str, index: int) -> dict | None:
    """The index entry of an episode already on disk, or None when it is not (complete)."""
    path = episode_path(out_dir, embodiment, index)
    meta_file = path / ("episode.json" if embodiment in ARMS else HAND_SIDECAR)
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    frames = _frames_of(path) if embodiment in ARMS else int(meta.get("frames", 0))
    return episode_entry(
        embodiment, index, str(path.relative_to(out_dir)), str(meta["task"]), meta["instructions"][0], frames
    )


def _check_same_settings(index_file: Path, settings: dict) -> None:
    """A rerun may only resume a corpus made with the same seed, size and fps."""
    if not index_file.is_file():
        return
    try:
        previous = json.loads(index_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{index_file} is not readable JSON ({exc}): remove it or choose another --out"
        ) from None
    differing = {k: previous.get(k) for k, v in settings.items() if previous.get(k) != v}
    if differing:
        raise InputError(
            f"{index_file.parent} holds a corpus rendered with {differing}, not {settings}: "
            "choose another output directory or rerun with the same settings to resume it"
        )


def _frames_of(path: Path) -> int:
    import numpy as np

    return int(np.load(path / "rgb.npy", mmap_mode="r").shape[0])


def render_corpus(
    out_dir: Path,
    embodiments: list[str],
    episodes_per_embodiment: int,
    seed: int,
    width_px: int = 320,
    height_px: int = 240,
    fps: float = 10.0,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Render (or resume) the corpus under ``out_dir``; returns the corpus.json entries.

    Episodes already written are skipped, so a rerun after an interruption only renders
    what is missing. ``progress(entry)`` is called once per episode (written or skipped).
    """
    check_embodiments(list(embodiments))
    if episodes_per_embodiment < 1:
        raise InputError(f"episodes per embodiment must be at least 1, got {episodes_per_embodiment}")
    if width_px < 32 or height_px < 24 or width_px % 2 or height_px % 2:
        raise InputError(f"image size {width_px}x{height_px} must be even and at least 32x24")
    if not 1.0 <= fps <= 60.0:
        raise InputError(f"fps {fps} is outside 1..60")
    if any(name in ARMS for name in embodiments):
        from tracegen.sim.corpus.assets import assets_dir

        assets_dir()  # fail before rendering anything when the models are missing
    out_dir = Path(out_dir)
    settings = {"seed": int(seed), "width_px": int(width_px), "height_px": int(height_px), "fps": float(fps)}
    _check_same_settings(out_dir / INDEX_FILE, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for embodiment in embodiments:
        for index in range(episodes_per_embodiment):
            entry = _entry_of_written(out_dir, embodiment, index)
            if entry is None:
                episode = render_episode(embodiment, seed, index, width_px, height_px, fps)
                path = episode_path(out_dir, embodiment, index)
                write_episode(episode, path, fps)
                entry = episode_entry(
                    embodiment,
                    index,
                    str(path.relative_to(out_dir)),
                    episode.plan.name,
                    episode.plan.instructions[0],
                    int(episode.rgb.shape[0]),
                )
            entries.append(entry)
            if progress is not None:
                progress(entry)
    index_file = out_dir / INDEX_FILE
    tmp = index_file.with_name(f".{INDEX_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({**settings, "episodes": entries}, indent=2))
    os.replace(tmp, index_file)
    return entries
