"""Drawing traces over their reference image, colour by time (for people, not for the model).

Used by ``tracegen predict``, ``tracegen forge show`` and the demo video, so a trace looks the
same everywhere: a polyline per query point from step 0 (dark blue) to its last valid step
(yellow, matplotlib's viridis), a dot at the query point.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from tracegen.trace import Trace


def time_colors_rgb(num_steps: int) -> np.ndarray:
    """``[num_steps, 3]`` uint8 RGB colours from early (dark blue) to late (yellow)."""
    ramp = np.linspace(0, 255, max(num_steps, 2)).astype(np.uint8)[:num_steps]
    bgr = cv2.applyColorMap(ramp[:, None], cv2.COLORMAP_VIRIDIS)[:, 0, :]
    return bgr[:, ::-1].copy()


def draw_traces(
    rgb: np.ndarray,
    trace: Trace,
    *,
    min_motion_px: float = 0.0,
    thickness_px: int = 1,
    point_radius_px: int = 1,
) -> np.ndarray:
    """A copy of ``rgb`` ``[H, W, 3]`` with every trace drawn; traces that move less than
    ``min_motion_px`` in total get only their query dot (keeps static background readable)."""
    canvas = np.ascontiguousarray(rgb.copy())
    colors = time_colors_rgb(trace.num_steps)
    scale = np.array(
        [canvas.shape[1] / trace.intrinsics.width_px, canvas.shape[0] / trace.intrinsics.height_px]
    )
    uv = trace.uvz[..., :2] * scale
    motion_px = np.linalg.norm(np.diff(uv, axis=1), axis=-1)
    pixels = np.rint(uv).astype(np.int64)
    for point in range(trace.num_points):
        steps = np.flatnonzero(trace.point_valid[point])
        if motion_px[point, steps[:-1]].sum() >= max(min_motion_px, 1e-9):
            for a, b in itertools.pairwise(steps):
                color = tuple(int(c) for c in colors[b])
                cv2.line(
                    canvas, _xy(pixels[point, a]), _xy(pixels[point, b]), color, thickness_px, cv2.LINE_AA
                )
        query_color = tuple(int(c) for c in colors[0])
        cv2.circle(canvas, _xy(pixels[point, 0]), point_radius_px, query_color, -1, cv2.LINE_AA)
    return canvas


def _xy(pixel: np.ndarray) -> tuple[int, int]:
    return int(pixel[0]), int(pixel[1])
