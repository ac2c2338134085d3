"""Ground-truth "tracking" for simulation episodes: exact tracks from the simulator's geometry.

Wraps :func:`tracegen.forge.sim_episode.ground_truth_tracks` in the :class:`Tracker`
interface. The window may have been downscaled by the reader; query pixels are mapped to the
episode's own resolution and the answers back, depths are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracegen.forge.episode import Window
from tracegen.forge.sim_episode import SimEpisode, ground_truth_tracks
from tracegen.forge.tracking.base import QuerySet, Tracks, check_queries


class GroundTruthTracker:
    """Tracks from a :class:`SimEpisode`'s poses, depth and segmentation."""

    name = "ground_truth"

    def __init__(self, episode: SimEpisode) -> None:
        self.episode = episode

    def track(self, window: Window, queries: Sequence[QuerySet]) -> list[Tracks]:
        check_queries(window, queries)
        k = self.episode.intrinsics
        # Pixel-centre convention: u' + 0.5 = (u + 0.5) * scale.
        scale = np.array([window.rgb.shape[2] / k.width_px, window.rgb.shape[1] / k.height_px])
        results = []
        for query in queries:
            frames = window.indices[query.start : query.stop]
            uv_src = (query.uv_px + 0.5) / scale - 0.5
            uv, z_m, visible = ground_truth_tracks(self.episode, int(frames[0]), uv_src, frames)
            uv = (uv + 0.5) * scale - 0.5
            uv[:, 0] = query.uv_px  # step 0 is the query itself, exactly
            visible[:, 0] = True
            results.append(Tracks(uv_px=uv, visible=visible, z_m=z_m))
        return results
