"""The official TraceGen folder format: import as triplets, export triplets to it.

Layout (DESIGN.md, "Datasets"): a dataset directory of episode directories, each with::

    images/<stem>.png            reference frames (RGB)
    samples/<stem>.npz           keypoints [N, 2] query pixels; traj [N, T, 2|3] (u_px, v_px[, z_m]),
                                 step 0 = the keypoint, padding and lost entries = -inf;
                                 valid_steps [T] (1 for real steps)
    depth/<stem>_raw.npz         optional: depth [H, W] (we write float32 metres, 0 = hole)
    three_instructions.json      {"instruction_1": ..., "instruction_2": ..., "instruction_3": ...}

The official format has no intrinsics, provenance or instruction source, and one instruction
set per episode; an export adds ``tracegen.json`` per episode (ignored by the official loader)
holding them per sample, so an export re-imports to identical triplets. An official episode
without it imports with the documented default intrinsics (``intrinsics_source = "default"``)
and ``instruction_source = "source"``.
Depth read from ``*_raw.npz``: float arrays are metres, integer arrays millimetres.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tracegen.data import Triplet
from tracegen.errors import InputError
from tracegen.forge.config import DEFAULT_HFOV_DEG
from tracegen.forge.episode import check_depth_frame
from tracegen.forge.instructions import VARIANT_KEYS, split_variants
from tracegen.trace import CameraIntrinsics, Trace

EXTRA_FILE = "tracegen.json"
INSTRUCTIONS_FILE = "three_instructions.json"


def is_official_episode(path: Path) -> bool:
    return (path / "images").is_dir() and (path / "samples").is_dir()


def is_official_dataset(path: Path) -> bool:
    return path.is_dir() and any(is_official_episode(p) for p in path.iterdir() if p.is_dir())


def list_official_episodes(path: Path) -> list[Path]:
    """The episode directories of a dataset directory (or the episode itself)."""
    if is_official_episode(path):
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and is_official_episode(p))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not readable JSON: {exc}") from None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path} is not a readable .npz: {exc}") from None


def read_official_episode(episode_dir: Path) -> Iterator[Triplet]:
    """The triplets of one official episode directory, in frame order."""
    episode_dir = Path(episode_dir)
    extra = _read_json(episode_dir / EXTRA_FILE) if (episode_dir / EXTRA_FILE).is_file() else {}
    texts: list[str] = []
    if (episode_dir / INSTRUCTIONS_FILE).is_file():
        data = _read_json(episode_dir / INSTRUCTIONS_FILE)
        texts = [
            str(data[k]) for k in VARIANT_KEYS if isinstance(data, dict) and str(data.get(k, "")).strip()
        ]
    if not texts:
        raise InputError(f"{episode_dir} has no usable {INSTRUCTIONS_FILE} (instruction_1..3)")
    instructions = split_variants(texts)
    samples = extra.get("samples", {})
    images = sorted((episode_dir / "images").glob("*.png"))
    if not images:
        raise InputError(f"{episode_dir}/images holds no PNG")
    for image_path in images:
        stem = image_path.stem
        npz_path = episode_dir / "samples" / f"{stem}.npz"
        if not npz_path.is_file():
            continue  # the official loader also pairs only images that have samples
        bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise InputError(f"{image_path} cannot be read")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        sample = _load_npz(npz_path)
        for key in ("keypoints", "traj", "valid_steps"):
            if key not in sample:
                raise InputError(f"{npz_path} lacks {key!r}")
        meta = samples.get(stem, {})
        intrinsics_data = meta.get("intrinsics") or extra.get("intrinsics")
        if intrinsics_data:
            intrinsics, intrinsics_source = CameraIntrinsics.from_dict(intrinsics_data), "source"
        else:
            intrinsics, intrinsics_source = (
                CameraIntrinsics.from_fov(width, height, DEFAULT_HFOV_DEG),
                "default",
            )
        intrinsics_source = meta.get("intrinsics_source", intrinsics_source)
        trace = _trace_from_official(sample, intrinsics, npz_path, meta.get("grid"))
        depth_m = None
        depth_path = episode_dir / "depth" / f"{stem}_raw.npz"
        if depth_path.is_file():
            depth_raw = _load_npz(depth_path).get("depth")
            if depth_raw is None:
                raise InputError(f"{depth_path} lacks 'depth'")
            depth_m = depth_raw.astype(np.float32) / (
                1000.0 if np.issubdtype(depth_raw.dtype, np.integer) else 1.0
            )
            depth_m = check_depth_frame(depth_m, rgb.shape, str(depth_path))
        yield Triplet(
            rgb=rgb,
            depth_m=depth_m,
            trace=trace,
            instructions=tuple(meta.get("instructions", instructions)),
            instruction_source=meta.get("instruction_source", extra.get("instruction_source", "source")),
            intrinsics_source=intrinsics_source,
            source=meta.get("source", extra.get("source", str(episode_dir))),
            episode_id=meta.get("episode_id", extra.get("episode_id", episode_dir.name)),
            frame_index=int(
                meta.get("frame_index", int(stem) if stem.isdigit() else images.index(image_path))
            ),
            embodiment=meta.get("embodiment", extra.get("embodiment", "unknown")),
            provenance=meta.get("provenance", {"imported_from": str(episode_dir)}),
        )


def _trace_from_official(
    sample: dict[str, np.ndarray], intrinsics: CameraIntrinsics, where: Path, grid: list[int] | None
) -> Trace:
    traj = np.asarray(sample["traj"], dtype=np.float64)
    if traj.ndim != 3 or traj.shape[-1] not in (2, 3):
        raise InputError(f"{where}: traj must be [N, T, 2|3], got {traj.shape}")
    num_points, num_steps = traj.shape[:2]
    rows, cols = grid or (round(np.sqrt(num_points)),) * 2
    if rows * cols != num_points:
        raise InputError(
            f"{where}: {num_points} points do not form a square grid; add 'grid' to {EXTRA_FILE}"
        )
    valid_steps = np.asarray(sample["valid_steps"]).astype(bool).reshape(-1)
    if valid_steps.size != num_steps:
        raise InputError(f"{where}: valid_steps has {valid_steps.size} entries for {num_steps} steps")
    point_valid = np.isfinite(traj).all(axis=-1) & valid_steps[None, :]
    keypoints = np.asarray(sample["keypoints"], dtype=np.float64)
    uvz = np.where(np.isfinite(traj), traj, 0.0)
    if not point_valid[:, 0].all():  # step 0 is the keypoint by definition
        uvz[:, 0, :2] = keypoints
        point_valid[:, 0] = True
    is_3d = traj.shape[-1] == 3
    if not is_3d:
        uvz = np.concatenate([uvz, np.full((num_points, num_steps, 1), np.nan)], axis=-1)
    return Trace(uvz, valid_steps, point_valid, is_3d, intrinsics, rows, cols)


def _episode_dir_name(source: str, episode_id: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source).name or "source")[:40].strip("._") or "source"
    digest = hashlib.sha256(f"{source}\0{episode_id}".encode()).hexdigest()[:8]
    return f"{stem}_{re.sub(r'[^A-Za-z0-9._-]+', '_', episode_id)[:20]}_{digest}"


def export_official(triplets: Iterable[Triplet], out_dir: str | os.PathLike) -> list[Path]:
    """Write triplets as official episode directories under ``out_dir`` (one per source episode).

    Each episode directory is written to a temporary name and renamed, so an interrupted
    export never leaves a half-written episode. Returns the episode directories written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: OrderedDict[tuple[str, str], list[Triplet]] = OrderedDict()
    for triplet in triplets:
        groups.setdefault((triplet.source, triplet.episode_id), []).append(triplet)
    written = []
    for (source, episode_id), items in groups.items():
        final = out_dir / _episode_dir_name(source, episode_id)
        tmp = out_dir / f".{final.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _write_episode(tmp, items, source, episode_id)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        written.append(final)
    return written


def _write_episode(path: Path, triplets: list[Triplet], source: str, episode_id: str) -> None:
    for sub in ("images", "samples", "depth"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    samples: dict[str, Any] = {}
    for triplet in sorted(triplets, key=lambda t: t.frame_index):
        stem = f"{triplet.frame_index:06d}"
        if stem in samples:
            raise InputError(
                f"two triplets of {source} episode {episode_id} share frame {triplet.frame_index}"
            )
        cv2.imwrite(str(path / "images" / f"{stem}.png"), cv2.cvtColor(triplet.rgb, cv2.COLOR_RGB2BGR))
        trace = triplet.trace
        channels = 3 if trace.is_3d else 2
        traj = trace.uvz[..., :channels].astype(np.float32).copy()
        traj[~trace.point_valid] = -np.inf
        np.savez(
            path / "samples" / f"{stem}.npz",
            keypoints=trace.uvz[:, 0, :2].astype(np.float32),
            traj=traj,
            valid_steps=trace.step_valid.astype(np.uint8),
        )
        if triplet.depth_m is not None:
            np.savez_compressed(path / "depth" / f"{stem}_raw.npz", depth=triplet.depth_m.astype(np.float32))
        samples[stem] = {
            "intrinsics": trace.intrinsics.to_dict(),
            "intrinsics_source": triplet.intrinsics_source,
            "instruction_source": triplet.instruction_source,
            "source": triplet.source,
            "episode_id": triplet.episode_id,
            "frame_index": triplet.frame_index,
            "embodiment": triplet.embodiment,
            "grid": [trace.rows, trace.cols],
            "instructions": list(triplet.instructions),
            "provenance": triplet.provenance,
        }
    variants = triplets[0].instructions
    (path / INSTRUCTIONS_FILE).write_text(
        json.dumps({key: text for key, text in zip(VARIANT_KEYS, variants, strict=False)}, indent=2)
    )
    (path / EXTRA_FILE).write_text(
        json.dumps({"source": source, "episode_id": episode_id, "samples": samples}, indent=2, sort_keys=True)
    )
