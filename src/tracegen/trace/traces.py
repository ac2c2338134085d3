"""The :class:`Trace`: a grid of screen-aligned point trajectories from one reference image.

Shapes and units at this boundary (DESIGN.md, "The trace contract"):

- ``uvz``: ``[N, S, 3]`` float32, N = rows * cols query points in row-major grid order,
  S steps of which step 0 is the query point itself; channels (u_px, v_px, z_m) in the
  reference camera (pixels of the reference image, metric depth along the optical axis).
- ``step_valid``: ``[S]`` bool, a prefix mask: steps after the trace ended are padding.
- ``point_valid``: ``[N, S]`` bool: the entry carries data (a tracker may lose a point, a
  depth sensor may have a hole). Never true on a padded step; always true at step 0.
- ``is_3d``: False for 2D-only traces, whose z channel is NaN throughout.

Invalid entries are filled with the point's previous valid value (the trace holds still),
so every array is finite where it is used and consumers rely on the masks, not on sentinels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracegen.errors import TraceError
from tracegen.trace.checks import as_float_array
from tracegen.trace.geometry import uvz_to_xyz_m, xyz_to_uvz
from tracegen.trace.intrinsics import CameraIntrinsics
from tracegen.trace.spec import OFFICIAL_TRACE_SPEC, UVZ_CHANNELS


def forward_fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Replace invalid entries along axis 1 by the last valid one before them.

    ``values`` is ``[N, S, C]``, ``valid`` ``[N, S]`` with ``valid[:, 0]`` all true.
    """
    step_index = np.arange(values.shape[1])
    last_valid = np.maximum.accumulate(np.where(valid, step_index, 0), axis=1)
    return np.take_along_axis(values, last_valid[..., None], axis=1)


def _check_valid_entries(what: str, bad: np.ndarray, uvz: np.ndarray) -> None:
    """Raise naming the first (point, step) where ``bad`` [N, S] is set."""
    if bad.any():
        point, step = (int(i) for i in np.argwhere(bad)[0])
        raise TraceError(
            f"trace has {int(bad.sum())} valid entries with non-finite {what}, the first at "
            f"(point, step) = ({point}, {step}): {uvz[point, step].tolist()}; mark them invalid "
            "in point_valid or fix the source"
        )


@dataclass(frozen=True, eq=False)
class Trace:
    """Validated, immutable screen-aligned traces (see the module docstring for the contract)."""

    uvz: np.ndarray
    step_valid: np.ndarray
    point_valid: np.ndarray
    is_3d: bool
    intrinsics: CameraIntrinsics
    rows: int = OFFICIAL_TRACE_SPEC.grid_rows
    cols: int = OFFICIAL_TRACE_SPEC.grid_cols

    def __post_init__(self) -> None:
        if not isinstance(self.intrinsics, CameraIntrinsics):
            raise TraceError(
                f"Trace.intrinsics must be CameraIntrinsics, got {type(self.intrinsics).__name__}"
            )
        uvz = as_float_array("trace uvz", self.uvz, np.float32)
        num_points = self.rows * self.cols
        if uvz.ndim != 3 or uvz.shape[0] != num_points or uvz.shape[2] != UVZ_CHANNELS:
            raise TraceError(
                f"trace uvz must have shape [{num_points}, steps, 3] for a {self.rows}x{self.cols} "
                f"grid, got {uvz.shape}"
            )
        num_steps = uvz.shape[1]
        if num_steps < 1:
            raise TraceError("trace uvz has 0 steps: a trace needs at least its query step")

        step_valid = np.asarray(self.step_valid, dtype=bool)
        if step_valid.shape != (num_steps,):
            raise TraceError(
                f"step_valid must have shape [{num_steps}] (one flag per step), got {step_valid.shape}"
            )
        num_valid = int(step_valid.sum())
        if num_valid == 0 or not step_valid[:num_valid].all():
            raise TraceError(
                "step_valid must be true for a prefix of steps starting at step 0 (padding "
                f"only at the end), got {step_valid.astype(int).tolist()}"
            )
        point_valid = np.asarray(self.point_valid, dtype=bool)
        if point_valid.shape != (num_points, num_steps):
            raise TraceError(
                f"point_valid must have shape [{num_points}, {num_steps}], got {point_valid.shape}"
            )
        if not point_valid[:, 0].all():
            missing = np.flatnonzero(~point_valid[:, 0])
            raise TraceError(
                f"{missing.size} points are invalid at step 0 (first: point {missing[0]}): step 0 "
                "is the query point and must carry data; fill depth holes before building a trace"
            )
        point_valid = point_valid & step_valid[None, :]

        _check_valid_entries("u, v", (~np.isfinite(uvz[..., :2])).any(-1) & point_valid, uvz)
        if self.is_3d:
            _check_valid_entries("z (non-finite depth)", ~np.isfinite(uvz[..., 2]) & point_valid, uvz)
            non_positive = (uvz[..., 2] <= 0) & point_valid
            if non_positive.any():
                point, step = np.argwhere(non_positive)[0]
                raise TraceError(
                    f"trace claims 3D but has {int(non_positive.sum())} non-positive depths at "
                    f"valid entries (first {uvz[point, step, 2]} m at point {point}, step {step}): "
                    "mark those entries invalid or build a 2D-only trace (is_3d=False)"
                )
        uvz = forward_fill(uvz, point_valid)
        if not self.is_3d:
            uvz[..., 2] = np.nan
        for array in (uvz, step_valid, point_valid):
            array.setflags(write=False)
        object.__setattr__(self, "uvz", uvz)
        object.__setattr__(self, "step_valid", step_valid)
        object.__setattr__(self, "point_valid", point_valid)
        object.__setattr__(self, "is_3d", bool(self.is_3d))

    @classmethod
    def from_uvz(
        cls,
        uvz: np.ndarray,
        intrinsics: CameraIntrinsics,
        *,
        is_3d: bool = True,
        step_valid: np.ndarray | None = None,
        point_valid: np.ndarray | None = None,
        rows: int = OFFICIAL_TRACE_SPEC.grid_rows,
        cols: int = OFFICIAL_TRACE_SPEC.grid_cols,
    ) -> Trace:
        """Build a trace; masks default to "every entry valid"."""
        uvz = as_float_array("trace uvz", uvz, np.float32)
        if uvz.ndim != 3:
            raise TraceError(f"trace uvz must be [points, steps, 3], got shape {uvz.shape}")
        if uvz.shape[-1] == 2:
            if is_3d:
                raise TraceError("trace uvz has only (u, v) channels: pass is_3d=False for 2D traces")
            uvz = np.concatenate([uvz, np.full((*uvz.shape[:2], 1), np.nan, np.float32)], -1)
        num_steps = uvz.shape[1]
        if step_valid is None:
            step_valid = np.ones(num_steps, dtype=bool)
        if point_valid is None:
            point_valid = np.ones(uvz.shape[:2], dtype=bool)
        return cls(uvz, step_valid, point_valid, is_3d, intrinsics, rows, cols)

    @classmethod
    def from_xyz_m(
        cls,
        xyz_m: np.ndarray,
        intrinsics: CameraIntrinsics,
        *,
        step_valid: np.ndarray | None = None,
        point_valid: np.ndarray | None = None,
        rows: int = OFFICIAL_TRACE_SPEC.grid_rows,
        cols: int = OFFICIAL_TRACE_SPEC.grid_cols,
    ) -> Trace:
        """Build a 3D trace from camera-frame points ``[N, S, 3]`` (metres, optical frame)."""
        return cls.from_uvz(
            xyz_to_uvz(xyz_m, intrinsics),
            intrinsics,
            step_valid=step_valid,
            point_valid=point_valid,
            rows=rows,
            cols=cols,
        )

    @property
    def num_points(self) -> int:
        return self.uvz.shape[0]

    @property
    def num_steps(self) -> int:
        """Steps including step 0 (horizon + 1)."""
        return self.uvz.shape[1]

    @property
    def horizon(self) -> int:
        """Steps after the query step (L)."""
        return self.num_steps - 1

    @property
    def num_valid_steps(self) -> int:
        return int(self.step_valid.sum())

    @property
    def query_uv_px(self) -> np.ndarray:
        """``[N, 2]`` pixel positions of the query points (step 0)."""
        return self.uvz[:, 0, :2]

    def to_xyz_m(self) -> np.ndarray:
        """Camera-frame points ``[N, S, 3]`` in metres (REP-103 optical frame); 3D traces only."""
        if not self.is_3d:
            raise TraceError("this trace is 2D-only (is_3d=False): it has no depth to back-project")
        return uvz_to_xyz_m(self.uvz, self.intrinsics)

    def with_num_steps(self, num_steps: int) -> Trace:
        """The first ``num_steps`` steps, or this trace padded (held, invalid) up to that many."""
        if num_steps < 1:
            raise TraceError(f"a trace needs at least 1 step, asked for {num_steps}")
        if num_steps <= self.num_steps:
            sl = slice(0, num_steps)
            return Trace(
                self.uvz[:, sl],
                self.step_valid[sl],
                self.point_valid[:, sl],
                self.is_3d,
                self.intrinsics,
                self.rows,
                self.cols,
            )
        pad = num_steps - self.num_steps
        uvz = np.concatenate([self.uvz, np.repeat(self.uvz[:, -1:], pad, axis=1)], axis=1)
        step_valid = np.concatenate([self.step_valid, np.zeros(pad, dtype=bool)])
        point_valid = np.concatenate([self.point_valid, np.zeros((self.num_points, pad), dtype=bool)], axis=1)
        return Trace(uvz, step_valid, point_valid, self.is_3d, self.intrinsics, self.rows, self.cols)

    def same_as(self, other: Trace) -> bool:
        """Bit-for-bit equality of data, masks, flags, intrinsics and grid."""
        return (
            self.rows == other.rows
            and self.cols == other.cols
            and self.is_3d == other.is_3d
            and self.intrinsics == other.intrinsics
            and np.array_equal(self.uvz, other.uvz, equal_nan=True)
            and np.array_equal(self.step_valid, other.step_valid)
            and np.array_equal(self.point_valid, other.point_valid)
        )
