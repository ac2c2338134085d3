"""rosbag2 bags (a bag directory, or a single ``.mcap`` / ``.db3`` file) with realsense-ros topics.

Read with the rosbags library (pure Python, no ROS). Topics (DESIGN.md, "Topics and frames"):

- colour ``/camera/camera/color/image_raw`` (sensor_msgs/Image, rgb8 / bgr8 / rgba8 / bgra8);
- aligned depth ``/camera/camera/aligned_depth_to_color/image_raw`` (16UC1 millimetres, or
  32FC1 metres), optional; each colour frame takes the depth message with the nearest header
  stamp within :data:`DEPTH_SYNC_TOLERANCE_S`, or none (an all-hole frame) if there is none;
- intrinsics ``/camera/camera/color/camera_info`` (the first message; required);
- instructions: the bag's metadata first, else ``/tracegen/instruction`` (std_msgs/String).

Bag metadata: rosbag2 (format version >= 6) stores a ``custom_data`` string map in
``metadata.yaml``. rosbags writes it with ``Writer.set_custom_data(key, value)`` and its reader
parses it into the storage metadata's ``custom`` field (``Reader.storage.metadata.custom`` in
rosbags 0.11; there is no public property for it), which :func:`bag_custom_data` reads. Keys
agreed with the demo recorder: ``tracegen.instruction`` (up to 3 variants joined by "\\n"),
``tracegen.task``, ``tracegen.embodiment`` (e.g. "fr3"), ``tracegen.camera_fixed``
("true"/"false"). A single ``.mcap``/``.db3`` file has no metadata.yaml, hence no custom data.

Bad input: an unreadable or truncated bag, a missing colour topic or camera_info, unknown
encodings, and depth of the wrong size or units raise :class:`InputError`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tracegen.demo_bags import KEY_CAMERA_FIXED, KEY_EMBODIMENT, KEY_INSTRUCTION, KEY_STATUS, KEY_TASK
from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode, Frame, downscale
from tracegen.forge.readers.base import InputSpec, check_readable_path, episode_intrinsics, read_sidecar
from tracegen.trace import CameraIntrinsics

COLOR_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera/color/camera_info"
INSTRUCTION_TOPIC = "/tracegen/instruction"
#: custom_data keys written by the demo recorder (tracegen.demo_bags owns them).
META_INSTRUCTION = KEY_INSTRUCTION
META_TASK = KEY_TASK
META_EMBODIMENT = KEY_EMBODIMENT
META_CAMERA_FIXED = KEY_CAMERA_FIXED
META_STATUS = KEY_STATUS
#: Colour and depth messages further apart than this are not paired.
DEPTH_SYNC_TOLERANCE_S = 0.02
BAG_FILE_SUFFIXES = (".mcap", ".db3")
#: Colour frames held back waiting for a closer depth message, at most (bounds memory when the
#: depth stream stops early).
MAX_PENDING_FRAMES = 30

_COLOR_ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True)}


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def open_bag(path: Path):
    """An opened rosbags ``AnyReader`` (close it); raises :class:`InputError` on unreadable bags."""
    from rosbags.highlevel import AnyReader

    try:
        reader = AnyReader([path], default_typestore=_typestore())
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for broken files
        raise InputError(f"{path} cannot be read as a rosbag2 bag (corrupt or truncated?): {exc}") from None
    return reader


def bag_custom_data(reader) -> dict[str, str]:
    """The bag's ``custom_data`` metadata (see the module docstring), or an empty dict."""
    for sub in getattr(reader, "readers", []):
        metadata = getattr(getattr(sub, "storage", None), "metadata", None)
        custom = getattr(metadata, "custom", None)
        if custom:
            return {str(k): str(v) for k, v in custom.items()}
    return {}


def bag_topics(reader) -> dict[str, str]:
    return {topic: info.msgtype for topic, info in reader.topics.items()}


def image_to_rgb(msg, where: str) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8) -> ``[H, W, 3]`` uint8 RGB."""
    if msg.encoding not in _COLOR_ENCODINGS:
        raise InputError(
            f"{where}: colour encoding {msg.encoding!r} is not supported (rgb8, bgr8, rgba8, bgra8)"
        )
    channels, reverse = _COLOR_ENCODINGS[msg.encoding]
    data = np.asarray(msg.data, dtype=np.uint8)
    if msg.step < msg.width * channels or data.size < msg.step * msg.height:
        raise InputError(f"{where}: image data holds {data.size} bytes, expected {msg.step} x {msg.height}")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)[:, : msg.width * channels]
    image = rows.reshape(msg.height, msg.width, channels)[..., :3]
    return np.ascontiguousarray(image[..., ::-1] if reverse else image)


def image_to_depth_m(msg, where: str) -> np.ndarray:
    """sensor_msgs/Image 16UC1 (millimetres) or 32FC1 (metres) -> ``[H, W]`` float32 metres."""
    if msg.encoding in ("16UC1", "mono16"):
        dtype, scale = np.dtype(np.uint16), 0.001
    elif msg.encoding == "32FC1":
        dtype, scale = np.dtype(np.float32), 1.0
    else:
        raise InputError(f"{where}: depth encoding {msg.encoding!r} is not supported (16UC1 mm or 32FC1 m)")
    dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    data = np.asarray(msg.data, dtype=np.uint8)
    if data.size < msg.step * msg.height or msg.step < msg.width * dtype.itemsize:
        raise InputError(f"{where}: depth data holds {data.size} bytes, expected {msg.step} x {msg.height}")
    rows = data[: msg.step * msg.height].reshape(msg.height, msg.step)[:, : msg.width * dtype.itemsize]
    depth = np.ascontiguousarray(rows).view(dtype).reshape(msg.height, msg.width).astype(np.float32)
    return depth * scale


def _stamp_s(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def _connections(reader, topic: str) -> list:
    return [c for c in reader.connections if c.topic == topic]


def _first_camera_info(reader, path: Path) -> Any:
    connections = _connections(reader, CAMERA_INFO_TOPIC)
    if not connections:
        raise InputError(
            f"{path} has no {CAMERA_INFO_TOPIC} (missing intrinsics); topics: {sorted(bag_topics(reader))}"
        )
    for connection, _, raw in reader.messages(connections=connections):
        return reader.deserialize(raw, connection.msgtype)
    raise InputError(f"{path}: {CAMERA_INFO_TOPIC} has no message (missing intrinsics)")


def _instruction_messages(reader) -> list[str]:
    texts = []
    connections = _connections(reader, INSTRUCTION_TOPIC)
    if connections:
        for connection, _, raw in reader.messages(connections=connections):
            text = str(reader.deserialize(raw, connection.msgtype).data).strip()
            if text and text not in texts:
                texts.append(text)
    return texts


def _parse_bool(value: str | None, key: str, path: Path) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InputError(f"{path}: bag metadata {key} is {value!r}; expected 'true' or 'false'")


def read_rosbag(spec: InputSpec, config: ForgeConfig) -> Iterator[Episode]:
    """The single episode of a bag (see the module docstring)."""
    path = check_readable_path(spec.path, "bag")
    reader = open_bag(path)
    try:
        topics = bag_topics(reader)
        if COLOR_TOPIC not in topics:
            raise InputError(f"{path} has no colour topic {COLOR_TOPIC}; topics: {sorted(topics)}")
        info = _first_camera_info(reader, path)
        try:
            source_k = CameraIntrinsics.from_matrix(np.asarray(info.k), int(info.width), int(info.height))
        except InputError as exc:
            raise InputError(f"{path}: {CAMERA_INFO_TOPIC} holds unusable intrinsics: {exc}") from None
        custom = bag_custom_data(reader)
        status = custom.get(META_STATUS, "complete")
        if status.startswith("aborted"):
            # A demonstration the operator (or the recorder) abandoned must never train the model.
            raise InputError(
                f"{path}: the recorder marked this episode {status!r}; only complete episodes are forged"
            )
        if custom.get(META_INSTRUCTION, "").strip():
            instructions, origin = (custom[META_INSTRUCTION],), f"bag metadata {META_INSTRUCTION}"
        else:
            instructions, origin = tuple(_instruction_messages(reader)), f"bag topic {INSTRUCTION_TOPIC}"
        has_depth = DEPTH_TOPIC in topics
        num_color = reader.topics[COLOR_TOPIC].msgcount
    finally:
        reader.close()
    sidecar = read_sidecar(path)
    if not instructions and sidecar.instructions:
        instructions, origin = sidecar.instructions, sidecar.origin
    intrinsics, intrinsics_source = episode_intrinsics(
        source_k, source_k.width_px, source_k.height_px, config
    )
    camera_fixed = _parse_bool(custom.get(META_CAMERA_FIXED), META_CAMERA_FIXED, path)

    def frames() -> Iterator[Frame]:
        yield from _bag_frames(path, source_k, has_depth, config)

    yield Episode(
        source=str(path),
        episode_id="0",
        intrinsics=intrinsics,
        intrinsics_source=intrinsics_source,
        frames=frames,
        instructions=instructions,
        instruction_origin=origin if instructions else "",
        task=custom.get(META_TASK) or sidecar.task,
        embodiment=custom.get(META_EMBODIMENT) or sidecar.embodiment or "unknown",
        camera_fixed=camera_fixed if camera_fixed is not None else sidecar.camera_fixed,
        has_depth=has_depth,
        notes={"reader": "rosbag2 (rosbags)", "colour_messages": int(num_color), "bag_metadata": custom},
    )


def _bag_frames(path: Path, k: CameraIntrinsics, has_depth: bool, config: ForgeConfig) -> Iterator[Frame]:
    """Colour frames in log order, each with the depth of the nearest stamp (bounded buffers)."""
    reader = open_bag(path)
    try:
        color_conns = _connections(reader, COLOR_TOPIC)
        depth_conns = _connections(reader, DEPTH_TOPIC) if has_depth else []
        pending: deque[tuple[int, float, np.ndarray]] = deque()
        depths: deque[tuple[float, np.ndarray]] = deque()
        index = 0

        def emit(final: bool) -> Iterator[Frame]:
            while pending:
                idx, stamp, rgb = pending[0]
                waiting = not depths or depths[-1][0] < stamp + DEPTH_SYNC_TOLERANCE_S
                if has_depth and not final and waiting and len(pending) <= MAX_PENDING_FRAMES:
                    return  # a closer depth message may still come
                pending.popleft()
                depth_m = None
                if has_depth:
                    depth_m = np.zeros(rgb.shape[:2], dtype=np.float32)
                    if depths:
                        best = min(depths, key=lambda d: abs(d[0] - stamp))
                        if abs(best[0] - stamp) <= DEPTH_SYNC_TOLERANCE_S:
                            depth_m = best[1]
                    while depths and depths[0][0] < stamp - DEPTH_SYNC_TOLERANCE_S:
                        depths.popleft()
                if idx % config.frame_stride == 0:
                    rgb_out, depth_out = downscale(rgb, depth_m, config.max_image_side_px)
                    yield Frame(index=idx, rgb=rgb_out, depth_m=depth_out, time_s=stamp)

        try:
            for connection, _, raw in reader.messages(connections=color_conns + depth_conns):
                msg = reader.deserialize(raw, connection.msgtype)
                if connection.topic == COLOR_TOPIC:
                    rgb = image_to_rgb(msg, f"{path} colour message {index}")
                    if rgb.shape[:2] != (k.height_px, k.width_px):
                        raise InputError(
                            f"{path}: colour frame {index} is {rgb.shape[1]}x{rgb.shape[0]} but camera_info "
                            f"describes {k.width_px}x{k.height_px}"
                        )
                    pending.append((index, _stamp_s(msg), rgb))
                    index += 1
                else:
                    depth_m = image_to_depth_m(msg, f"{path} depth message")
                    if depth_m.shape != (k.height_px, k.width_px):
                        raise InputError(
                            f"{path}: depth image {depth_m.shape[1]}x{depth_m.shape[0]} does not match "
                            "colour "
                            f"{k.width_px}x{k.height_px}: record {DEPTH_TOPIC} (align_depth.enable: true)"
                        )
                    depths.append((_stamp_s(msg), depth_m))
                yield from emit(final=False)
        except InputError:
            raise
        except Exception as exc:  # truncated chunks, bad CDR: rosbags raises various types
            raise InputError(
                f"{path}: reading messages failed after {index} colour frames (truncated?): {exc}"
            ) from None
        yield from emit(final=True)
        if index == 0:
            raise InputError(f"{path}: {COLOR_TOPIC} has no message")
    finally:
        reader.close()
