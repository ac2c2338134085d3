"""The CPU default tracker: OpenCV pyramidal Lucas-Kanade, frame to frame, forward-backward checked.

Each step tracks every live point from frame t to t + 1 (``cv2.calcOpticalFlowPyrLK``), then
back from t + 1 to t; a point whose round trip misses its start by more than
``fb_threshold_px``, that LK reports lost, or that leaves the image is lost for good: it holds
its last position and is invisible from then on (LK cannot re-find a point after occlusion;
CoTracker can). One sweep over the window serves all query sets: each frame pair is converted
to grey once and every live point of every set is tracked in one call. (OpenCV 5's Python
binding no longer accepts prebuilt pyramids, so LK builds them inside each call.)
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from tracegen.forge.episode import Window
from tracegen.forge.tracking.base import QuerySet, Tracks, check_queries


class LucasKanadeTracker:
    """Pyramidal LK with a forward-backward check (see the module docstring)."""

    name = "lk"

    def __init__(self, window_px: int = 15, levels: int = 3, fb_threshold_px: float = 1.0) -> None:
        self.window_size = (int(window_px), int(window_px))
        self.levels = int(levels)
        self.fb_threshold_px = float(fb_threshold_px)
        self.criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)

    def _flow(self, gray_a: np.ndarray, gray_b: np.ndarray, points: np.ndarray):
        return cv2.calcOpticalFlowPyrLK(
            gray_a,
            gray_b,
            points,
            None,
            winSize=self.window_size,
            maxLevel=self.levels,
            criteria=self.criteria,
        )

    def step(self, gray_a: np.ndarray, gray_b: np.ndarray, points_px: np.ndarray, size_wh):
        """Track ``[M, 2]`` points from grey image a to b; returns new points and a kept mask ``[M]``."""
        if points_px.shape[0] == 0:
            return points_px, np.zeros(0, dtype=bool)
        p0 = np.ascontiguousarray(points_px, dtype=np.float32).reshape(-1, 1, 2)
        p1, status_fwd, _ = self._flow(gray_a, gray_b, p0)
        p0_back, status_bwd, _ = self._flow(gray_b, gray_a, p1)
        p1, p0_back = p1.reshape(-1, 2), p0_back.reshape(-1, 2)
        fb_error = np.linalg.norm(p0_back - points_px, axis=1)
        width, height = size_wh
        # The image covers [-0.5, size - 0.5] (pixel centres at integers): grid points on the border
        # (u = 0, u = W - 1) must survive sub-pixel jitter.
        inside = (
            (p1[:, 0] >= -0.5) & (p1[:, 0] <= width - 0.5) & (p1[:, 1] >= -0.5) & (p1[:, 1] <= height - 0.5)
        )
        kept = (
            (status_fwd.ravel() == 1)
            & (status_bwd.ravel() == 1)
            & np.isfinite(p1).all(axis=1)
            & (fb_error <= self.fb_threshold_px)
            & inside
        )
        return p1, kept

    def track(self, window: Window, queries: Sequence[QuerySet]) -> list[Tracks]:
        check_queries(window, queries)
        if not queries:
            return []
        size_wh = (window.rgb.shape[2], window.rgb.shape[1])
        uv = [np.repeat(q.uv_px[:, None, :], q.num_steps, axis=1) for q in queries]
        visible = [np.zeros((q.uv_px.shape[0], q.num_steps), dtype=bool) for q in queries]
        alive = [np.ones(q.uv_px.shape[0], dtype=bool) for q in queries]
        for v in visible:
            v[:, 0] = True
        first = min(q.start for q in queries)
        last = max(q.stop for q in queries) - 1
        gray_next = cv2.cvtColor(window.rgb[first], cv2.COLOR_RGB2GRAY)
        for t in range(first, last):
            gray_now, gray_next = gray_next, cv2.cvtColor(window.rgb[t + 1], cv2.COLOR_RGB2GRAY)
            active = [i for i, q in enumerate(queries) if q.start <= t < q.stop - 1 and alive[i].any()]
            if not active:
                continue
            points, owners = [], []
            for i in active:
                step = t - queries[i].start
                idx = np.flatnonzero(alive[i])
                points.append(uv[i][idx, step])
                owners.append((i, idx))
            new_points, kept = self.step(gray_now, gray_next, np.concatenate(points), size_wh)
            offset = 0
            for i, idx in owners:
                step = t + 1 - queries[i].start
                count = idx.size
                good = kept[offset : offset + count]
                moved = new_points[offset : offset + count]
                # Lost points hold their last position for the rest of the set.
                uv[i][idx[good], step:] = moved[good][:, None, :]
                visible[i][idx[good], step] = True
                alive[i][idx[~good]] = False
                offset += count
        return [Tracks(uv_px=u, visible=v) for u, v in zip(uv, visible, strict=True)]
