"""Event segmentation: split a recording into motion events and drop the still parts.

Each consecutive frame pair gets a motion score:

- ``frame_diff``: the fraction of pixels whose grey level (frames downscaled to 160 px wide
  and blurred, to ignore sensor noise and compression) changes by more than
  :data:`DIFF_GREY_LEVELS`;
- ``tracks``: the 98th percentile of the displacements of a sparse 16 x 12 LK grid tracked
  from one frame to the next, as a fraction of the image diagonal (robust to lighting
  flicker, sensitive to small moving objects).

A pair moves when its score exceeds the configured threshold. Moving runs closer than
``merge_gap_frames`` merge into one event, events are padded by ``event_padding_frames`` on
both sides, and events shorter than ``min_event_frames`` are dropped with a recorded reason,
as is a window in which nothing moves ("static").

Indices are window-relative: an event ``[start, stop)`` covers window frames start .. stop - 1.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from tracegen.forge.config import ForgeConfig

#: Grey-level change (of 255) that counts a pixel as changed for ``frame_diff``.
DIFF_GREY_LEVELS = 10
#: Width frames are downscaled to before scoring (speed; removes pixel noise).
SCORE_WIDTH_PX = 160
#: Sparse grid for the ``tracks`` score.
TRACK_GRID_COLS, TRACK_GRID_ROWS = 16, 12


@dataclass(frozen=True)
class Event:
    """Window frames ``[start, stop)`` in which something moves."""

    start: int
    stop: int

    @property
    def num_frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Dropped:
    """A part of the window that gives no triplets, and why."""

    start: int
    stop: int
    reason: str


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Events kept, parts dropped, and the per-pair scores ``[T - 1]`` they came from."""

    events: list[Event]
    dropped: list[Dropped]
    scores: np.ndarray
    threshold: float
    method: str


def _small_gray(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = min(1.0, SCORE_WIDTH_PX / width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    gray = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return cv2.GaussianBlur(gray, (5, 5), 0)


def frame_diff_scores(rgb: np.ndarray) -> np.ndarray:
    """``[T - 1]`` fraction of changed pixels between consecutive frames of ``[T, H, W, 3]``."""
    grays = [_small_gray(frame).astype(np.int16) for frame in rgb]
    return np.array([float((np.abs(b - a) > DIFF_GREY_LEVELS).mean()) for a, b in itertools.pairwise(grays)])


def track_scores(rgb: np.ndarray) -> np.ndarray:
    """``[T - 1]`` 98th-percentile grid displacement between consecutive frames / image diagonal."""
    grays = [_small_gray(frame) for frame in rgb]
    height, width = grays[0].shape
    u = np.linspace(4, width - 5, TRACK_GRID_COLS)
    v = np.linspace(4, height - 5, TRACK_GRID_ROWS)
    grid = np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 1, 2).astype(np.float32)
    diagonal = float(np.hypot(width, height))
    scores = []
    for a, b in itertools.pairwise(grays):
        moved, status, _ = cv2.calcOpticalFlowPyrLK(a, b, grid, None, winSize=(15, 15), maxLevel=2)
        ok = status.ravel() == 1
        shift = np.linalg.norm((moved - grid).reshape(-1, 2)[ok], axis=1)
        scores.append(float(np.percentile(shift, 98)) / diagonal if shift.size else 0.0)
    return np.array(scores)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of true values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def segment_events(rgb: np.ndarray, config: ForgeConfig) -> Segmentation:
    """Motion events of a window ``rgb`` ``[T, H, W, 3]`` (rules in the module docstring)."""
    num_frames = rgb.shape[0]
    method = config.segmentation
    if method == "tracks":
        scores, threshold = track_scores(rgb), config.track_motion_threshold
    else:
        scores, threshold = frame_diff_scores(rgb), config.frame_diff_threshold
    if num_frames < 2:
        return Segmentation(
            [], [Dropped(0, num_frames, "a single frame has no motion")], scores, threshold, method
        )
    moving_pairs = scores > threshold
    if not moving_pairs.any():
        reason = (
            f"static: peak motion score {scores.max():.4g} ({method}) never exceeds the threshold "
            f"{threshold:.4g}"
        )
        return Segmentation([], [Dropped(0, num_frames, reason)], scores, threshold, method)
    # Pair t moves -> frames t and t + 1 belong to the event.
    runs = [(a, b + 1) for a, b in _runs(moving_pairs)]
    merged: list[list[int]] = []
    for start, stop in runs:
        if merged and start - merged[-1][1] < config.merge_gap_frames:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    events, dropped = [], []
    for start, stop in merged:
        start = max(0, start - config.event_padding_frames)
        stop = min(num_frames, stop + config.event_padding_frames)
        if events and start < events[-1].stop:  # padding made neighbours touch: keep them apart
            start = events[-1].stop
        if stop - start < config.min_event_frames:
            dropped.append(
                Dropped(
                    start,
                    stop,
                    f"event of {stop - start} frames is shorter than min_event_frames "
                    f"({config.min_event_frames})",
                )
            )
        else:
            events.append(Event(start, stop))
    covered = np.zeros(num_frames, dtype=bool)
    for item in [*events, *dropped]:
        covered[item.start : item.stop] = True
    for start, stop in _runs(~covered):
        dropped.append(Dropped(start, stop, "still: no motion above the threshold"))
    dropped.sort(key=lambda d: d.start)
    return Segmentation(events, dropped, scores, threshold, method)
