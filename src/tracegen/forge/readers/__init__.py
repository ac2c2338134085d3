"""Every input kind behind one interface: ``read_episodes(spec, config) -> Iterator[Episode]``.

Kinds and how a path is recognised (:func:`detect_kind`), first match wins:

=============  ==========================================================================
kind           path
=============  ==========================================================================
sim            directory with ``episode.json`` (:mod:`tracegen.forge.sim_episode`)
lerobot        directory with ``meta/info.json`` (one input per episode)
official       official TraceGen episode (``images/`` + ``samples/``) or a directory of them
               (one input per episode; imported as triplets, no tracking)
rosbag         directory with ``metadata.yaml``, or a ``.mcap`` file, or a ``.db3`` file
               whose topics are not the RealSense SDK's
realsense      ``.db3`` / ``.bag`` written by the RealSense SDK (``/device_0/...`` topics)
video          ``.mp4 .avi .webm .mkv .mov .m4v``
images         directory holding at least two images and none of the above
=============  ==========================================================================

A directory that is none of these is searched recursively for inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode
from tracegen.forge.official import is_official_dataset, is_official_episode, list_official_episodes
from tracegen.forge.readers.base import InputSpec
from tracegen.forge.readers.images import MIN_FOLDER_IMAGES, image_files, read_image_folder
from tracegen.forge.readers.lerobot import is_lerobot_dataset, list_episodes, read_lerobot_episode
from tracegen.forge.readers.realsense import REALSENSE_TOPIC_PREFIX, read_realsense
from tracegen.forge.readers.rosbag import read_rosbag
from tracegen.forge.readers.sim import read_sim_episode
from tracegen.forge.readers.video import VIDEO_SUFFIXES, read_video
from tracegen.forge.sim_episode import META_FILE as SIM_META_FILE

KINDS = ("sim", "lerobot", "official", "rosbag", "realsense", "video", "images")

_READERS = {
    "sim": read_sim_episode,
    "lerobot": read_lerobot_episode,
    "rosbag": read_rosbag,
    "realsense": read_realsense,
    "video": read_video,
    "images": read_image_folder,
}


def _recorded_topics(path: Path) -> list[str] | None:
    """Topic names of a rosbag file without deserialising anything; None if unreadable."""
    try:
        if path.suffix == ".bag":
            from rosbags.rosbag1 import Reader as Reader1

            reader = Reader1(path)
        else:
            from rosbags.rosbag2 import Reader as Reader2

            reader = Reader2(path)
        reader.open()
        try:
            return [c.topic for c in reader.connections]
        finally:
            reader.close()
    except Exception:  # unreadable: let the reader of the likelier kind report why
        return None


def detect_kind(path: str | Path) -> str | None:
    """The input kind of ``path`` (table in the module docstring), or None."""
    path = Path(path)
    if path.is_dir():
        if (path / SIM_META_FILE).is_file():
            return "sim"
        if is_lerobot_dataset(path):
            return "lerobot"
        if is_official_episode(path) or is_official_dataset(path):
            return "official"
        if (path / "metadata.yaml").is_file():
            return "rosbag"
        if len(image_files(path)) >= MIN_FOLDER_IMAGES:
            return "images"
        return None
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix == ".mcap":
        return "rosbag"
    if suffix in (".db3", ".bag"):
        topics = _recorded_topics(path)
        if topics is not None and not any(t.startswith(REALSENSE_TOPIC_PREFIX) for t in topics):
            return "rosbag" if suffix == ".db3" else None
        return "realsense"
    return None


def _expand(path: Path, kind: str) -> list[InputSpec]:
    if kind == "lerobot":
        return [InputSpec(str(path), kind, episode) for episode in list_episodes(path)]
    if kind == "official":
        return [InputSpec(str(p), kind) for p in list_official_episodes(path)]
    return [InputSpec(str(path), kind)]


def discover_inputs(paths: Sequence[str | Path]) -> tuple[list[InputSpec], list[tuple[str, str]]]:
    """Inputs under the given paths (directories searched recursively), and paths given
    explicitly that are not inputs, with the reason. Order is deterministic (sorted)."""
    specs: list[InputSpec] = []
    rejected: list[tuple[str, str]] = []

    def visit(path: Path, explicit: bool) -> None:
        if not path.exists():
            rejected.append((str(path), "does not exist"))
            return
        kind = detect_kind(path)
        if kind is not None:
            try:
                specs.extend(_expand(path, kind))
            except InputError as exc:
                rejected.append((str(path), str(exc)))
            return
        if path.is_dir():
            found_before = len(specs)
            for child in sorted(path.iterdir()):
                if not child.name.startswith("."):
                    visit(child, explicit=False)
            if explicit and len(specs) == found_before:
                rejected.append((str(path), "no input found in this directory"))
        elif explicit:
            reason = f"unknown input type {path.suffix or '(no suffix)'!r}"
            if path.suffix.lower() == ".bag":
                reason = (
                    "a ROS 1 bag that is not a RealSense recording: convert it to rosbag2 (rosbags-convert)"
                )
            rejected.append((str(path), reason))

    for raw in paths:
        visit(Path(raw).absolute(), explicit=True)
    unique = list(dict.fromkeys(specs))
    return unique, rejected


def read_episodes(spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]:
    """The episodes of one input (not for kind "official", which holds triplets)."""
    if spec.kind not in _READERS:
        raise InputError(f"input kind {spec.kind!r} has no episode reader (kinds: {sorted(_READERS)})")
    return _READERS[spec.kind](spec, config)


__all__ = ["KINDS", "InputSpec", "detect_kind", "discover_inputs", "read_episodes"]
