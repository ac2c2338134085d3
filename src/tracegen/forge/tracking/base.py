"""The tracker interface: follow query points from their reference frame through a window.

Shapes at this boundary: a :class:`QuerySet` holds ``uv_px`` ``[N, 2]`` query pixels on frame
``start`` of a window and asks for their positions on frames ``start .. stop - 1``; the
answer, :class:`Tracks`, holds ``uv_px`` ``[N, S, 2]`` (S = stop - start) in each frame's own
image, ``visible`` ``[N, S]`` bool, and optionally ``z_m`` ``[N, S]``: the point's depth in each
frame's camera when the tracker knows it (ground truth); otherwise depth comes from the
sensor (:mod:`tracegen.forge.depth`). Step 0 is the query itself (visible by definition).

Several query sets (reference frames every K frames) go to one call, so a tracker can share
work between them (LK builds each frame's pyramid once; CoTracker takes all queries at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from tracegen.errors import InputError
from tracegen.forge.episode import Window


@dataclass(frozen=True, eq=False)
class QuerySet:
    """Query pixels ``uv_px`` ``[N, 2]`` on window frame ``start``, tracked up to ``stop`` (exclusive)."""

    start: int
    stop: int
    uv_px: np.ndarray

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.stop:
            raise InputError(
                f"query set frames must satisfy 0 <= start < stop, got {self.start}, {self.stop}"
            )
        uv = np.asarray(self.uv_px, dtype=np.float32)
        if uv.ndim != 2 or uv.shape[1] != 2:
            raise InputError(f"query uv_px must be [N, 2], got {uv.shape}")
        object.__setattr__(self, "uv_px", uv)

    @property
    def num_steps(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, eq=False)
class Tracks:
    """Tracked positions of one query set (see the module docstring)."""

    uv_px: np.ndarray
    visible: np.ndarray
    z_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        uv = np.asarray(self.uv_px, dtype=np.float32)
        visible = np.asarray(self.visible, dtype=bool)
        if uv.ndim != 3 or uv.shape[2] != 2 or visible.shape != uv.shape[:2]:
            raise InputError(
                f"tracks must be uv [N, S, 2] and visible [N, S], got {uv.shape} and {visible.shape}"
            )
        if self.z_m is not None and np.shape(self.z_m) != uv.shape[:2]:
            raise InputError(
                f"tracks z_m must be [N, S] = {list(uv.shape[:2])}, got {list(np.shape(self.z_m))}"
            )
        object.__setattr__(self, "uv_px", uv)
        object.__setattr__(self, "visible", visible)


@runtime_checkable
class Tracker(Protocol):
    """Follows query points through a window of frames."""

    #: Short name recorded in every triplet's provenance (e.g. "lk", "cotracker3").
    name: str

    def track(self, window: Window, queries: Sequence[QuerySet]) -> list[Tracks]:
        """One :class:`Tracks` per query set, in order."""
        ...


def check_queries(window: Window, queries: Sequence[QuerySet]) -> None:
    """Every query set must lie inside the window."""
    for query in queries:
        if query.stop > window.num_frames:
            raise InputError(
                f"query set asks for frames {query.start}..{query.stop - 1} of a "
                f"{window.num_frames}-frame window"
            )
