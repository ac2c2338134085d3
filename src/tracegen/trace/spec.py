"""The constants of the trace contract, in one place.

Every number that fixes how traces are laid out, normalised or retargeted lives in
:class:`TraceSpec`. Checkpoints, datasets and messages store the spec they were made with,
so a model is never fed traces normalised with other statistics than it was trained on.
The defaults are the official TraceGen release's values (DESIGN.md, "The trace contract").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from tracegen.errors import TraceError

#: Number of channels of a screen-aligned trace step: (u_px, v_px, z_m).
UVZ_CHANNELS = 3


@dataclass(frozen=True)
class TraceSpec:
    """Layout, normalisation and retargeting constants of traces.

    Attributes:
        grid_rows: query points along v (image rows); official 20.
        grid_cols: query points along u (image columns); official 20.
        horizon: L, predicted steps after step 0; a trace has L + 1 steps; official 32.
        model_image_size_px: side of the square image the model sees (u, v are divided by
            the image size after resizing to it, i.e. u_norm = u_px / W, v_norm = v_px / H).
        increment_min: per-channel minimum of per-step increments in model space
            (du_norm, dv_norm, dz_m), used for min-max normalisation to [-1, 1].
        increment_max: per-channel maximum, likewise.
        retarget_step: arc-length step of speed retargeting, in normalised units.
        retarget_max_steps: most steps a retargeted segment keeps (step 0 included).
        retarget_fastest_fraction: fraction of tracks (by path length) whose mean arc length
            drives speed retargeting.
    """

    grid_rows: int = 20
    grid_cols: int = 20
    horizon: int = 32
    model_image_size_px: int = 384
    increment_min: tuple[float, float, float] = (-0.05, -0.05, -0.04)
    increment_max: tuple[float, float, float] = (0.05, 0.05, 0.04)
    retarget_step: float = 0.05
    retarget_max_steps: int = 128
    retarget_fastest_fraction: float = 0.02

    def __post_init__(self) -> None:
        for name in ("grid_rows", "grid_cols", "horizon", "model_image_size_px", "retarget_max_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise TraceError(f"TraceSpec.{name} must be a positive integer, got {value!r}")
        if self.grid_rows < 2 or self.grid_cols < 2:
            raise TraceError(f"TraceSpec grid must be at least 2x2, got {self.grid_rows}x{self.grid_cols}")
        if self.retarget_max_steps < self.horizon + 1:
            raise TraceError(
                f"TraceSpec.retarget_max_steps ({self.retarget_max_steps}) must be at least "
                f"horizon + 1 ({self.horizon + 1})"
            )
        for name in ("increment_min", "increment_max"):
            value = getattr(self, name)
            if len(value) != UVZ_CHANNELS or not all(math.isfinite(float(x)) for x in value):
                raise TraceError(f"TraceSpec.{name} must be 3 finite numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(x) for x in value))
        if any(lo >= hi for lo, hi in zip(self.increment_min, self.increment_max, strict=True)):
            raise TraceError(
                f"TraceSpec.increment_min {self.increment_min} must be below increment_max "
                f"{self.increment_max} in every channel"
            )
        if not (self.retarget_step > 0 and math.isfinite(self.retarget_step)):
            raise TraceError(f"TraceSpec.retarget_step must be > 0, got {self.retarget_step!r}")
        if not 0 < self.retarget_fastest_fraction <= 1:
            raise TraceError(
                "TraceSpec.retarget_fastest_fraction must be in (0, 1], got "
                f"{self.retarget_fastest_fraction!r}"
            )

    @property
    def num_points(self) -> int:
        """Query points per grid (rows * cols)."""
        return self.grid_rows * self.grid_cols

    @property
    def num_steps(self) -> int:
        """Steps per trace, step 0 included (horizon + 1)."""
        return self.horizon + 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TraceSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error (a newer format)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TraceError(
                f"unknown TraceSpec keys {sorted(unknown)}: the file was written by a newer "
                "tracegen; upgrade tracegen to read it"
            )
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)


#: The official TraceGen release's trace contract.
OFFICIAL_TRACE_SPEC = TraceSpec()
