"""Local LeRobot datasets (v2.x and v3.0 layouts), read with pyarrow and PyAV (no lerobot install).

Layout facts used (``meta/info.json``: ``codebase_version``, ``fps``, ``robot_type``,
``features``, ``data_path``, ``video_path``):

- v2.x: one Parquet file and one video per camera per episode, paths from the
  ``data_path`` / ``video_path`` templates (``episode_chunk``, ``episode_index``,
  ``video_key``; chunk = index // ``chunks_size``); episodes and their tasks in
  ``meta/episodes.jsonl`` (``episode_index``, ``tasks``, ``length``).
- v3.0: episodes concatenated into shared files; ``meta/episodes/chunk-*/file-*.parquet``
  rows give ``episode_index``, ``tasks``, ``length`` and, per camera,
  ``videos/<key>/chunk_index``, ``file_index``, ``from_timestamp``, ``to_timestamp`` (the
  episode's time span in the shared video; templates use ``chunk_index``/``file_index``).

Cameras are the ``features`` of dtype ``video`` (or ``image``: PNG/JPEG bytes inside the data
Parquet); the first in sorted order unless ``camera_key`` is given. Each episode is its own
input (so big datasets spread over workers and resume per episode). The episode's tasks are
its instructions. LeRobot has no intrinsics (documented default) and no depth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, Frame, downscale
from tracegen.forge.readers.base import InputSpec, episode_intrinsics, read_sidecar
from tracegen.forge.readers.video import decode_rgb_frames

INFO_FILE = Path("meta") / "info.json"


def is_lerobot_dataset(path: Path) -> bool:
    return (path / INFO_FILE).is_file()


def _info(root: Path) -> dict[str, Any]:
    try:
        info = json.loads((root / INFO_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{root / INFO_FILE} is not readable JSON: {exc}") from None
    for key in ("codebase_version", "features", "data_path"):
        if key not in info:
            raise InputError(f"{root / INFO_FILE} lacks {key!r}: not a LeRobot v2/v3 dataset")
    return info


def _is_v3(info: dict[str, Any]) -> bool:
    return str(info["codebase_version"]).lstrip("v").startswith("3")


def camera_keys(info: dict[str, Any]) -> list[str]:
    return sorted(k for k, f in info["features"].items() if f.get("dtype") in ("video", "image"))


def _episodes_table(root: Path, info: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per episode (episode_index, tasks, length, and v3 video spans)."""
    if _is_v3(info):
        import pyarrow.parquet as pq

        files = sorted((root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise InputError(f"{root}: no meta/episodes/chunk-*/file-*.parquet (LeRobot v3 episode index)")
        rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    else:
        path = root / "meta" / "episodes.jsonl"
        try:
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path} is not readable JSON lines: {exc}") from None
    return sorted(rows, key=lambda r: int(r["episode_index"]))


def list_episodes(root: Path) -> list[str]:
    """Episode indices of a dataset, as strings."""
    info = _info(root)
    return [str(int(row["episode_index"])) for row in _episodes_table(root, info)]


def _episode_row(root: Path, info: dict[str, Any], episode: int) -> dict[str, Any]:
    for row in _episodes_table(root, info):
        if int(row["episode_index"]) == episode:
            return row
    raise InputError(f"{root} has no episode {episode}")


def _video_frames(root: Path, info: dict[str, Any], row: dict[str, Any], key: str) -> Iterator[np.ndarray]:
    episode = int(row["episode_index"])
    template = info.get("video_path")
    if not template:
        raise InputError(f"{root / INFO_FILE} has no video_path for video feature {key!r}")
    if _is_v3(info):
        prefix = f"videos/{key}/"
        path = root / template.format(
            video_key=key,
            chunk_index=int(row[prefix + "chunk_index"]),
            file_index=int(row[prefix + "file_index"]),
        )
        start_s, stop_s = float(row[prefix + "from_timestamp"]), float(row[prefix + "to_timestamp"])
    else:
        chunk = episode // int(info.get("chunks_size", 1000))
        path = root / template.format(episode_chunk=chunk, episode_index=episode, video_key=key)
        start_s = stop_s = None
    if not path.is_file():
        raise InputError(f"LeRobot video {path} is missing")
    for _, rgb, _ in decode_rgb_frames(path, start_s=start_s, stop_s=stop_s):
        yield rgb


def _image_frames(root: Path, info: dict[str, Any], row: dict[str, Any], key: str) -> Iterator[np.ndarray]:
    import pyarrow.parquet as pq

    episode = int(row["episode_index"])
    if _is_v3(info):
        path = root / info["data_path"].format(
            chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"])
        )
    else:
        chunk = episode // int(info.get("chunks_size", 1000))
        path = root / info["data_path"].format(episode_chunk=chunk, episode_index=episode)
    table = pq.read_table(path, columns=["episode_index", key])
    for record in table.to_pylist():
        if int(record["episode_index"]) != episode:
            continue
        cell = record[key]
        data = cell.get("bytes") if isinstance(cell, dict) else cell
        bgr = cv2.imdecode(np.frombuffer(data or b"", np.uint8), cv2.IMREAD_COLOR) if data else None
        if bgr is None:
            raise InputError(f"{path}: an image of {key!r} in episode {episode} cannot be decoded")
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_lerobot_episode(
    spec: InputSpec, config: ForgeConfig, camera_key: str | None = None
) -> Iterator[Episode]:
    """One episode of a LeRobot dataset (``spec.episode`` is its index)."""
    root = Path(spec.path)
    info = _info(root)
    keys = camera_keys(info)
    if not keys:
        raise InputError(f"{root} has no camera feature (dtype video or image) in meta/info.json")
    key = camera_key or keys[0]
    if key not in keys:
        raise InputError(f"{root} has no camera {key!r}; cameras: {keys}")
    episode = int(spec.episode or 0)
    row = _episode_row(root, info, episode)
    reader = _video_frames if info["features"][key]["dtype"] == "video" else _image_frames
    first = next(iter(reader(root, info, row, key)), None)
    if first is None:
        raise InputError(f"{root}: episode {episode} has no frame for camera {key!r}")
    height, width = first.shape[:2]
    sidecar = read_sidecar(root)
    intrinsics, intrinsics_source = episode_intrinsics(None, width, height, config)
    tasks = row.get("tasks") or []
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)

    def frames() -> Iterator[Frame]:
        for index, rgb in enumerate(reader(root, info, row, key)):
            if index % config.frame_stride == 0:
                rgb, _ = downscale(rgb, None, config.max_image_side_px)
                yield Frame(index=index, rgb=rgb, depth_m=None, time_s=index / float(info.get("fps", 30)))

    yield Episode(
        source=str(root),
        episode_id=str(episode),
        intrinsics=intrinsics,
        intrinsics_source=intrinsics_source,
        frames=frames,
        fps=float(info["fps"]) if info.get("fps") else None,
        instructions=tuple(tasks) or sidecar.instructions,
        instruction_origin="LeRobot episode tasks" if tasks else sidecar.origin,
        task=tasks[0] if tasks else sidecar.task,
        embodiment=str(info.get("robot_type") or sidecar.embodiment or "unknown"),
        camera_fixed=sidecar.camera_fixed,
        has_depth=False,
        notes={"reader": f"LeRobot {info['codebase_version']}", "camera_key": key},
    )
