"""A recorded demonstration episode at a glance: duration, camera frames, TCP path length.

Read back from the episode's bag with rosbags (the data engine's reader), so the summary shows
what was really written, not what the recorder meant to write.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracegen.demo_bags import KEY_INSTRUCTION, KEY_STATUS, KEY_TASK

COLOR_TOPIC = "/camera/camera/color/image_raw"
TCP_POSE_TOPIC = "/tracegen/tcp_pose"


@dataclass(frozen=True)
class EpisodeSummary:
    path: Path
    duration_s: float
    frames: int
    path_length_m: float
    task: str
    instruction: str
    status: str

    def describe(self) -> str:
        return (
            f"{self.path.name}: {self.duration_s:.1f} s, {self.frames} frames, TCP path "
            f"{self.path_length_m * 100:.1f} cm ({self.status or 'no status'}) in {self.path}"
        )


def summarize_episode(bag_dir: Path | str) -> EpisodeSummary:
    """Raises ``InputError`` if the bag cannot be read."""
    from tracegen.forge.readers.rosbag import bag_custom_data, open_bag

    path = Path(bag_dir)
    reader = open_bag(path)
    try:
        custom = bag_custom_data(reader)
        frames = reader.topics[COLOR_TOPIC].msgcount if COLOR_TOPIC in reader.topics else 0
        duration_s = max(0, reader.end_time - reader.start_time) / 1e9 if reader.message_count else 0.0
        positions = []
        connections = [c for c in reader.connections if c.topic == TCP_POSE_TOPIC]
        for connection, _, raw in reader.messages(connections=connections):
            p = reader.deserialize(raw, connection.msgtype).pose.position
            positions.append((p.x, p.y, p.z))
    finally:
        reader.close()
    xyz = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    length = float(np.linalg.norm(np.diff(xyz, axis=0), axis=1).sum()) if len(xyz) > 1 else 0.0
    return EpisodeSummary(
        path=path,
        duration_s=float(duration_s),
        frames=int(frames),
        path_length_m=length,
        task=custom.get(KEY_TASK, ""),
        instruction=custom.get(KEY_INSTRUCTION, ""),
        status=custom.get(KEY_STATUS, ""),
    )
