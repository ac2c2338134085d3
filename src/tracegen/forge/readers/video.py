"""Video files (mp4, avi, webm, mkv, mov) through PyAV (FFmpeg).

A video has no intrinsics and no depth: unless a sidecar (:mod:`.base`) gives intrinsics, the
documented default is used (``intrinsics_source = "default"``) and traces are 2D-only. The
camera counts as fixed only when the sidecar says so (or ``--camera-fixed``).

Bad input: a file FFmpeg cannot open (corrupt, truncated before its index, not a video), no
video stream, no decodable frame, or a frame that fails to decode raise :class:`InputError`
naming the file and frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, Frame, downscale
from tracegen.forge.readers.base import (
    InputSpec,
    check_readable_path,
    episode_intrinsics,
    read_sidecar,
    sidecar_intrinsics,
)

VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v")


def _open(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError(
            f"{path} cannot be opened as a video (corrupt, truncated or not a video): {exc}"
        ) from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream")
    return container


def decode_rgb_frames(
    path: Path, *, start_s: float | None = None, stop_s: float | None = None
) -> Iterator[tuple[int, np.ndarray, float | None]]:
    """(index, ``[H, W, 3]`` uint8 RGB, time in seconds) for every frame, optionally only those
    with ``start_s <= time < stop_s``; the index counts from the first frame yielded."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start_s:
            container.seek(int(max(start_s - 1.0, 0.0) / stream.time_base), stream=stream)
        index = 0
        decoded = container.decode(stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except (av.error.FFmpegError, ValueError) as exc:
                raise InputError(
                    f"{path}: frame {index} cannot be decoded (corrupt or truncated): {exc}"
                ) from None
            time_s = float(frame.time) if frame.time is not None else None
            if time_s is not None and start_s is not None and time_s < start_s - 1e-4:
                continue
            if time_s is not None and stop_s is not None and time_s >= stop_s - 1e-4:
                break
            yield index, frame.to_ndarray(format="rgb24"), time_s
            index += 1
    finally:
        container.close()


def probe(path: Path) -> tuple[int, int, float | None]:
    """(width, height, fps) of the first video stream; decodes one frame to prove it is readable."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else None
    finally:
        container.close()
    for _, rgb, _ in decode_rgb_frames(path):
        return rgb.shape[1], rgb.shape[0], fps
    raise InputError(f"{path} holds no decodable video frame")


def read_video(spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]:
    """The single episode of a video file."""
    path = check_readable_path(spec.path, "video")
    sidecar = read_sidecar(path)
    width, height, fps = probe(path)
    intrinsics, intrinsics_source = episode_intrinsics(
        sidecar_intrinsics(sidecar, width, height), width, height, config
    )

    def frames() -> Iterator[Frame]:
        for index, rgb, time_s in decode_rgb_frames(path):
            if index % config.frame_stride == 0:
                rgb, _ = downscale(rgb, None, config.max_image_side_px)
                yield Frame(index=index, rgb=rgb, depth_m=None, time_s=time_s)

    yield Episode(
        source=str(path),
        episode_id="0",
        intrinsics=intrinsics,
        intrinsics_source=intrinsics_source,
        frames=frames,
        fps=sidecar.fps or fps,
        instructions=sidecar.instructions,
        instruction_origin=sidecar.origin,
        task=sidecar.task,
        embodiment=sidecar.embodiment or "unknown",
        camera_fixed=sidecar.camera_fixed,
        has_depth=False,
        notes={"reader": "video (PyAV)", "source_size_px": [width, height]},
    )
