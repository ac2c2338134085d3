"""Point trackers behind one interface (:class:`Tracker`): LK (CPU default), CoTracker3, ground truth."""

from __future__ import annotations

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.episode import Episode
from tracegen.forge.tracking.base import QuerySet, Tracker, Tracks
from tracegen.forge.tracking.ground_truth import GroundTruthTracker
from tracegen.forge.tracking.lk import LucasKanadeTracker

_cotracker_cache: dict[tuple[str, str], Tracker] = {}


def make_tracker(config: ForgeConfig, episode: Episode) -> Tracker:
    """The tracker ``config.tracker`` asks for, for this episode ("auto": ground truth when the
    episode has it, else LK). CoTracker models are loaded once per process."""
    choice = config.tracker
    if choice == "auto":
        choice = "ground_truth" if episode.ground_truth is not None else "lk"
    if choice == "ground_truth":
        if episode.ground_truth is None:
            raise InputError(
                f"{episode.source} has no ground truth (only simulation episodes do): use tracker 'lk' "
                "or 'auto'"
            )
        return GroundTruthTracker(episode.ground_truth)
    if choice == "cotracker":
        from tracegen.forge.tracking.cotracker import CoTrackerTracker

        key = (str(config.cotracker_repo), str(config.cotracker_checkpoint))
        if key not in _cotracker_cache:
            _cotracker_cache[key] = CoTrackerTracker(config.cotracker_repo, config.cotracker_checkpoint)
        return _cotracker_cache[key]
    return LucasKanadeTracker(config.lk_window_px, config.lk_levels, config.lk_fb_threshold_px)


__all__ = ["GroundTruthTracker", "LucasKanadeTracker", "QuerySet", "Tracker", "Tracks", "make_tracker"]
