"""Small synthetic RGB-D frames and RealSense recordings for the node tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tracegen.camera import RealSenseRecordingWriter
from tracegen.trace import CameraIntrinsics

#: A 64x48 camera with a D435-like 60 deg field of view.
INTRINSICS = CameraIntrinsics(64, 48, 55.0, 55.0, 31.5, 23.5)


def scene_rgb(index: int, intrinsics: CameraIntrinsics = INTRINSICS) -> np.ndarray:
    """``[H, W, 3]`` uint8: a gradient with a red block that moves one pixel per frame."""
    height, width = intrinsics.height_px, intrinsics.width_px
    v, u = np.mgrid[0:height, 0:width]
    rgb = np.stack([u * 255 // max(width - 1, 1), v * 255 // max(height - 1, 1), np.full_like(u, 90)], -1)
    rgb = rgb.astype(np.uint8)
    left = 10 + index % (width - 20)
    rgb[height // 3 : height // 3 + 10, left : left + 10] = (220, 30, 30)
    return rgb


def scene_depth_m(index: int, intrinsics: CameraIntrinsics = INTRINSICS) -> np.ndarray:
    """``[H, W]`` metres: a table at 0.8 m, the block at 0.65 m, a hole in one corner."""
    height, width = intrinsics.height_px, intrinsics.width_px
    depth = np.full((height, width), 0.8)
    left = 10 + index % (width - 20)
    depth[height // 3 : height // 3 + 10, left : left + 10] = 0.65
    depth[:3, :3] = 0.0
    return depth


def write_recording(
    path: Path,
    num_frames: int,
    *,
    fps: int = 30,
    with_depth: bool = True,
    pace: bool = True,
    depth_units_m: float = 0.001,
) -> Path:
    """A genuine pyrealsense2 recording (.db3) of ``num_frames`` synthetic frames."""
    with RealSenseRecordingWriter(
        path, INTRINSICS, fps=fps, with_depth=with_depth, pace=pace, depth_units_m=depth_units_m
    ) as writer:
        for i in range(num_frames):
            writer.write(scene_rgb(i), scene_depth_m(i) if with_depth else None)
    return path
