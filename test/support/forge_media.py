"""Small real input files for TraceForge tests: videos, image folders, bags, RealSense recordings,
LeRobot datasets, all made from frames rendered by the MuJoCo box scene (or given arrays)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from tracegen.forge.sim_episode import SimEpisode
from tracegen.forge.synthetic import BoxSceneSpec, render_box_episode
from tracegen.trace import CameraIntrinsics

COLOR_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/camera/color/camera_info"
INSTRUCTION_TOPIC = "/tracegen/instruction"

_EPISODE_CACHE: dict[BoxSceneSpec, SimEpisode] = {}


def box_episode(**overrides) -> SimEpisode:
    """The rendered box scene (cached per spec: rendering is the slow part)."""
    spec = BoxSceneSpec(
        **{"width_px": 160, "height_px": 120, "num_frames": 28, "still_frames": 4, **overrides}
    )
    if spec not in _EPISODE_CACHE:
        _EPISODE_CACHE[spec] = render_box_episode(spec)
    return _EPISODE_CACHE[spec]


def write_video_pyav(path: Path, frames: np.ndarray, fps: int = 15, codec: str = "mpeg4") -> Path:
    """``frames`` ``[T, H, W, 3]`` uint8 RGB -> a video file written with PyAV."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 8_000_000
        for rgb in frames:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_video_opencv(path: Path, frames: np.ndarray, fps: int = 15) -> Path:
    """An MJPG .avi written with OpenCV."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (frames.shape[2], frames.shape[1])
    )
    assert writer.isOpened(), "OpenCV cannot write MJPG here"
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_image_folder(
    path: Path, frames: np.ndarray, depth_m: np.ndarray | None = None, sidecar=None
) -> Path:
    path.mkdir(parents=True)
    for i, rgb in enumerate(frames):
        cv2.imwrite(str(path / f"frame_{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if depth_m is not None:
        (path / "depth").mkdir()
        for i, depth in enumerate(depth_m):
            cv2.imwrite(str(path / "depth" / f"frame_{i}.png"), np.rint(depth * 1000).astype(np.uint16))
    if sidecar is not None:
        (path / "tracegen.json").write_text(json.dumps(sidecar))
    return path


def write_bag(
    path: Path,
    frames: np.ndarray,
    intrinsics: CameraIntrinsics | None,
    depth_m: np.ndarray | None = None,
    *,
    custom_data: dict[str, str] | None = None,
    instruction_topic: str | None = None,
    storage: str = "mcap",
    depth_encoding: str = "16UC1",
    fps: float = 15.0,
    skip_topics: tuple[str, ...] = (),
) -> Path:
    """A rosbag2 bag with realsense-ros topics, written with rosbags (as the demo recorder does)."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    types = store.types
    image_msg, header_msg, time_msg = (
        types["sensor_msgs/msg/Image"],
        types["std_msgs/msg/Header"],
        types["builtin_interfaces/msg/Time"],
    )
    camera_info_msg, string_msg = types["sensor_msgs/msg/CameraInfo"], types["std_msgs/msg/String"]
    roi_msg = types["sensor_msgs/msg/RegionOfInterest"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    height, width = frames.shape[1:3]

    def header(i: int):
        t_ns = 1_000_000_000 + int(i * 1e9 / fps)
        return header_msg(
            stamp=time_msg(sec=t_ns // 1_000_000_000, nanosec=t_ns % 1_000_000_000),
            frame_id="camera_color_optical_frame",
        ), t_ns

    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for key, value in (custom_data or {}).items():
            writer.set_custom_data(key, value)
        color = writer.add_connection(COLOR_TOPIC, image_msg.__msgtype__, typestore=store)
        depth_conn = (
            writer.add_connection(DEPTH_TOPIC, image_msg.__msgtype__, typestore=store)
            if depth_m is not None
            else None
        )
        info_conn = (
            writer.add_connection(INFO_TOPIC, camera_info_msg.__msgtype__, typestore=store)
            if intrinsics is not None and INFO_TOPIC not in skip_topics
            else None
        )
        text_conn = (
            writer.add_connection(INSTRUCTION_TOPIC, string_msg.__msgtype__, typestore=store)
            if instruction_topic
            else None
        )
        if text_conn is not None:
            writer.write(
                text_conn,
                999_000_000,
                store.serialize_cdr(string_msg(data=instruction_topic), string_msg.__msgtype__),
            )
        for i, rgb in enumerate(frames):
            head, t_ns = header(i)
            if info_conn is not None and i == 0:
                k = intrinsics
                info = camera_info_msg(
                    header=head,
                    height=k.height_px,
                    width=k.width_px,
                    distortion_model="plumb_bob",
                    d=np.zeros(5),
                    k=k.matrix().ravel(),
                    r=np.eye(3).ravel(),
                    p=np.concatenate([k.matrix(), np.zeros((3, 1))], axis=1).ravel(),
                    binning_x=0,
                    binning_y=0,
                    roi=roi_msg(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
                )
                writer.write(info_conn, t_ns, store.serialize_cdr(info, camera_info_msg.__msgtype__))
            image = image_msg(
                header=head,
                height=height,
                width=width,
                encoding="rgb8",
                is_bigendian=0,
                step=width * 3,
                data=np.ascontiguousarray(rgb).ravel(),
            )
            writer.write(color, t_ns, store.serialize_cdr(image, image_msg.__msgtype__))
            if depth_conn is not None:
                depth = depth_m[i]
                if depth_encoding == "16UC1":
                    raw = np.rint(depth * 1000).astype(np.uint16)
                else:
                    raw = depth.astype(np.float32)
                dh, dw = raw.shape
                msg = image_msg(
                    header=head,
                    height=dh,
                    width=dw,
                    encoding=depth_encoding,
                    is_bigendian=0,
                    step=dw * raw.itemsize,
                    data=raw.view(np.uint8).ravel(),
                )
                writer.write(depth_conn, t_ns + 1000, store.serialize_cdr(msg, image_msg.__msgtype__))
    return path


def write_realsense_recording(
    path: Path, frames: np.ndarray, depth_m: np.ndarray | None, intrinsics: CameraIntrinsics
) -> Path:
    """A genuine SDK recording through ``pyrealsense2.software_device`` + ``rs.recorder``."""
    from tracegen.camera import RealSenseRecordingWriter

    with RealSenseRecordingWriter(
        path, intrinsics, fps=15, with_depth=depth_m is not None, pace=False
    ) as writer:
        for i, rgb in enumerate(frames):
            writer.write(rgb, None if depth_m is None else depth_m[i])
    return path


def write_lerobot_dataset(
    root: Path, episodes: list[np.ndarray], tasks: list[str], version: str = "v2.1", fps: int = 15
) -> Path:
    """A local LeRobot dataset (v2.1: a video per episode; v3.0: episodes concatenated in one video)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = "observation.images.front"
    height, width = episodes[0].shape[1:3]
    features = {
        key: {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"]},
        "episode_index": {"dtype": "int64", "shape": [1]},
        "frame_index": {"dtype": "int64", "shape": [1]},
    }
    (root / "meta").mkdir(parents=True)
    info = {
        "codebase_version": version,
        "robot_type": "so100",
        "fps": fps,
        "chunks_size": 1000,
        "features": features,
    }
    if version.startswith("v2"):
        info["data_path"] = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
        info["video_path"] = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
        lines = []
        for index, frames in enumerate(episodes):
            video = root / info["video_path"].format(episode_chunk=0, video_key=key, episode_index=index)
            video.parent.mkdir(parents=True, exist_ok=True)
            write_video_pyav(video, frames, fps)
            data = root / info["data_path"].format(episode_chunk=0, episode_index=index)
            data.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                pa.table({"episode_index": [index] * len(frames), "frame_index": list(range(len(frames)))}),
                data,
            )
            lines.append(json.dumps({"episode_index": index, "tasks": [tasks[index]], "length": len(frames)}))
        (root / "meta" / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    else:
        info["data_path"] = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
        info["video_path"] = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
        video = root / info["video_path"].format(video_key=key, chunk_index=0, file_index=0)
        video.parent.mkdir(parents=True)
        write_video_pyav(video, np.concatenate(episodes), fps)
        rows, start = [], 0
        for index, frames in enumerate(episodes):
            rows.append(
                {
                    "episode_index": index,
                    "tasks": [tasks[index]],
                    "length": len(frames),
                    "data/chunk_index": 0,
                    "data/file_index": 0,
                    f"videos/{key}/chunk_index": 0,
                    f"videos/{key}/file_index": 0,
                    f"videos/{key}/from_timestamp": start / fps,
                    f"videos/{key}/to_timestamp": (start + len(frames)) / fps,
                }
            )
            start += len(frames)
        meta = root / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
        meta.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), meta)
        data = root / info["data_path"].format(chunk_index=0, file_index=0)
        data.parent.mkdir(parents=True)
        pq.write_table(
            pa.table({"episode_index": [i for i, e in enumerate(episodes) for _ in range(len(e))]}), data
        )
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=1))
    return root
