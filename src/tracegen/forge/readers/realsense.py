"""RealSense SDK recordings (``.db3`` from SDK 2.59's recorder, ``.bag`` from older SDKs and the
RealSense Viewer), played back through the real SDK pipeline.

Playback goes through :class:`tracegen.camera.RealSenseCamera` (``rs.config
.enable_device_from_file(path, repeat_playback=False)``, ``playback.set_real_time(False)`` so
no frame is dropped, depth aligned to colour with ``rs.align``): the same code path the capture
node uses for recordings. Intrinsics come from the colour stream; depth is converted from the
sensor's units to metres. A recording without a depth stream plays colour only. Instructions
and whether the camera is fixed come from a sidecar (``<name>.json`` / ``<name>.txt``).

Bad input: a file the SDK cannot play (not a RealSense recording, truncated) raises
:class:`InputError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, Frame, downscale
from tracegen.forge.readers.base import InputSpec, check_readable_path, episode_intrinsics, read_sidecar

#: Topics that mark a rosbag as written by the RealSense SDK (device / sensor / stream tree).
REALSENSE_TOPIC_PREFIX = "/device_"


def _open_camera(path: Path, with_depth: bool):
    from tracegen.camera import CaptureConfig, RealSenseCamera, RecordingError

    camera = RealSenseCamera(
        CaptureConfig(recording=path, enable_depth=with_depth, align_depth=with_depth, real_time=False)
    )
    try:
        camera.open()
    except RecordingError as exc:
        raise InputError(str(exc)) from None
    return camera


def _open_any(path: Path):
    """Open with depth, or colour only when the recording has no depth stream."""
    try:
        return _open_camera(path, True), True
    except InputError:
        return _open_camera(path, False), False


def _frames(path: Path, with_depth: bool, config: ForgeConfig) -> Iterator[Frame]:
    from tracegen.camera import CameraDisconnected, RecordingEnded

    camera = _open_camera(path, with_depth)
    index = 0
    try:
        while True:
            try:
                frame = camera.read()
            except RecordingEnded:
                break
            except CameraDisconnected as exc:
                raise InputError(
                    f"{path}: playback failed after {index} frames (truncated?): {exc}"
                ) from None
            if index % config.frame_stride == 0:
                depth_m = None if frame.depth_mm is None else frame.depth_mm.astype("float32") / 1000.0
                rgb, depth_m = downscale(frame.rgb, depth_m, config.max_image_side_px)
                yield Frame(index=index, rgb=rgb, depth_m=depth_m, time_s=frame.timestamp_ms / 1000.0)
            index += 1
    finally:
        camera.close()
    if index == 0:
        raise InputError(f"{path}: the recording holds no frame")


def read_realsense(spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]:
    """The single episode of an SDK recording."""
    path = check_readable_path(spec.path, "RealSense recording")
    camera, with_depth = _open_any(path)
    try:
        first = camera.read()
    except Exception as exc:
        raise InputError(f"{path}: the recording delivers no frame: {exc}") from None
    finally:
        camera.close()
    source_k = first.color_intrinsics
    intrinsics, intrinsics_source = episode_intrinsics(
        source_k, source_k.width_px, source_k.height_px, config
    )
    sidecar = read_sidecar(path)

    def frames() -> Iterator[Frame]:
        yield from _frames(path, with_depth, config)

    yield Episode(
        source=str(path),
        episode_id="0",
        intrinsics=intrinsics,
        intrinsics_source=intrinsics_source,
        frames=frames,
        instructions=sidecar.instructions,
        instruction_origin=sidecar.origin,
        task=sidecar.task,
        embodiment=sidecar.embodiment or "unknown",
        camera_fixed=sidecar.camera_fixed,
        has_depth=with_depth,
        notes={"reader": "RealSense SDK playback", "description": camera.description},
    )
