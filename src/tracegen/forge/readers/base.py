"""What readers share: the input spec, sidecar files, intrinsics and the reader interface.

Sidecar files carry what a plain video or image folder cannot: next to ``clip.mp4`` a
``clip.json`` (or, for an image folder or any directory input, ``tracegen.json`` inside it)
with any of::

    {"instructions": ["push the box left", ...] | "one instruction",
     "task": "push_box", "embodiment": "human_hand", "camera_fixed": true, "fps": 30,
     "intrinsics": {"fx_px": 615.0, "fy_px": 615.0, "cx_px": 320.0, "cy_px": 240.0,
                    "width_px": 640, "height_px": 480}}

and/or a ``clip.txt`` with one instruction variant per line. Intrinsics given without an
image size are taken to describe the source frames as they are.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, scaled_size
from tracegen.trace import CameraIntrinsics

SIDECAR_DIR_FILE = "tracegen.json"


@dataclass(frozen=True)
class InputSpec:
    """One unit of work: a path, what kind of input it is, and an episode within it (if several)."""

    path: str
    kind: str
    episode: str | None = None

    @property
    def key(self) -> str:
        """Stable identity, used by the manifest and for shard names."""
        return f"{self.kind}:{self.path}" + (f"#{self.episode}" if self.episode is not None else "")

    @property
    def slug(self) -> str:
        """A file-name-safe, unique, readable name for this input's shards."""
        stem = Path(self.path).name or "input"
        if self.episode is not None:
            stem = f"{stem}-ep{self.episode}"
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:60].strip("._") or "input"
        return f"{stem}-{hashlib.sha256(self.key.encode()).hexdigest()[:10]}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "episode": self.episode}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSpec:
        return cls(data["path"], data["kind"], data.get("episode"))


class EpisodeReader(Protocol):
    """A reader module's entry point: the episodes of one input."""

    def __call__(self, spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]: ...


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar file says (all optional)."""

    instructions: tuple[str, ...] = ()
    task: str | None = None
    embodiment: str | None = None
    camera_fixed: bool | None = None
    fps: float | None = None
    intrinsics: dict[str, Any] | None = None
    origin: str = ""


def _sidecar_candidates(path: Path) -> tuple[list[Path], list[Path]]:
    if path.is_dir():
        return [path / SIDECAR_DIR_FILE], []
    return [path.with_suffix(".json"), path.with_name(path.name + ".json")], [path.with_suffix(".txt")]


def read_sidecar(path: str | Path) -> Sidecar:
    """The sidecar of an input file or directory (empty when there is none)."""
    path = Path(path)
    json_files, txt_files = _sidecar_candidates(path)
    data: dict[str, Any] = {}
    origin = ""
    for candidate in json_files:
        if candidate.is_file() and candidate != path:
            try:
                data = json.loads(candidate.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(f"sidecar {candidate} is not readable JSON: {exc}") from None
            if not isinstance(data, dict):
                raise InputError(f"sidecar {candidate} must hold a JSON object, got {type(data).__name__}")
            origin = f"sidecar {candidate.name}"
            break
    instructions: list[str] = []
    raw = data.get("instructions", data.get("instruction"))
    if isinstance(raw, str):
        instructions.append(raw)
    elif isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        instructions += raw
    elif raw is not None:
        raise InputError(
            f"sidecar of {path}: instructions must be a string or a list of strings, got {raw!r}"
        )
    for candidate in txt_files:
        if candidate.is_file() and not instructions:
            try:
                instructions += [line for line in candidate.read_text().splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"sidecar {candidate} is not readable text: {exc}") from None
            origin = f"sidecar {candidate.name}"
    camera_fixed = data.get("camera_fixed")
    if camera_fixed is not None and not isinstance(camera_fixed, bool):
        raise InputError(f"sidecar of {path}: camera_fixed must be true or false, got {camera_fixed!r}")
    intrinsics = data.get("intrinsics")
    if intrinsics is not None and not isinstance(intrinsics, dict):
        raise InputError(f"sidecar of {path}: intrinsics must be an object with fx_px, fy_px, cx_px, cy_px")
    fps = data.get("fps")
    if fps is not None and not (isinstance(fps, (int, float)) and fps > 0):
        raise InputError(f"sidecar of {path}: fps must be a positive number, got {fps!r}")
    return Sidecar(
        instructions=tuple(instructions),
        task=str(data["task"]) if data.get("task") else None,
        embodiment=str(data["embodiment"]) if data.get("embodiment") else None,
        camera_fixed=camera_fixed,
        fps=float(fps) if fps else None,
        intrinsics=intrinsics,
        origin=origin,
    )


def sidecar_intrinsics(sidecar: Sidecar, width_px: int, height_px: int) -> CameraIntrinsics | None:
    """Intrinsics from a sidecar for ``width_px x height_px`` source frames, or None."""
    data = sidecar.intrinsics
    if data is None:
        return None
    try:
        fx, fy, cx, cy = (float(data[k]) for k in ("fx_px", "fy_px", "cx_px", "cy_px"))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"sidecar intrinsics {data!r} need numeric fx_px, fy_px, cx_px, cy_px ({exc})"
        ) from None
    size = (int(data.get("width_px", width_px)), int(data.get("height_px", height_px)))
    intrinsics = CameraIntrinsics(size[0], size[1], fx, fy, cx, cy)
    if size != (width_px, height_px):
        raise InputError(
            f"sidecar intrinsics describe {size[0]}x{size[1]} images but the frames are "
            f"{width_px}x{height_px}: give the intrinsics of this stream"
        )
    return intrinsics


def episode_intrinsics(
    source: CameraIntrinsics | None, width_px: int, height_px: int, config: ForgeConfig
) -> tuple[CameraIntrinsics, str]:
    """Intrinsics of the frames a reader yields (after downscaling) and their origin.

    Without source intrinsics: square pixels, centred principal point and
    ``config.default_hfov_deg`` horizontal field of view, marked "default".
    """
    new_w, new_h = scaled_size(width_px, height_px, config.max_image_side_px)
    if source is None:
        return CameraIntrinsics.from_fov(new_w, new_h, config.default_hfov_deg), "default"
    if (source.width_px, source.height_px) != (width_px, height_px):
        raise InputError(
            f"intrinsics describe {source.width_px}x{source.height_px} but the frames are "
            f"{width_px}x{height_px}"
        )
    return (source if (new_w, new_h) == (width_px, height_px) else source.resized(new_w, new_h)), "source"


def check_readable_path(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{what} {path} does not exist")
    return path
