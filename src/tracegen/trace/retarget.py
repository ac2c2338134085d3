"""Speed retargeting (TraceForge): resample a segment's tracks at constant arc length.

Human and robot videos move at very different speeds; resampling every track of a segment
synchronously along the arc length of its fastest tracks makes one trace step mean "the
scene moved by about ``retarget_step``" whatever the embodiment's speed.

Algorithm (DESIGN.md, "Speed retargeting"):

1. per track, the length of each frame-to-frame move in normalised image units
   (u / W, v / H) where both frames are valid;
2. the ``ceil(fraction * N)`` tracks with the longest paths (at least one) are the fastest;
   the reference arc length ``s(t)`` is the mean of their cumulative lengths;
3. steps are placed at ``s_k = k * retarget_step`` for k = 0 .. K - 1 with ``s_k <= s(T - 1)``
   and ``K <= retarget_max_steps``; each ``s_k`` maps to the first (fractional) frame time at
   which ``s(t)`` reaches it;
4. every track is linearly interpolated at those times; an entry is valid when the frames
   on both sides of it are; steps past K are padding (``step_valid`` false).

Arc length uses (u, v) only: z is in metres and not commensurate with normalised image units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracegen.errors import TraceError
from tracegen.trace.checks import as_float_array
from tracegen.trace.spec import OFFICIAL_TRACE_SPEC, UVZ_CHANNELS, TraceSpec
from tracegen.trace.traces import forward_fill


@dataclass(frozen=True)
class RetargetResult:
    """Tracks resampled at constant arc length.

    Attributes:
        uvz: ``[N, K_max, 3]`` float32 (u_px, v_px, z_m); padded steps hold the last value.
        step_valid: ``[K_max]`` bool prefix mask (K_max = spec.retarget_max_steps).
        point_valid: ``[N, K_max]`` bool, false on padding and where the source was invalid.
        source_frame: ``[K_max]`` float64 fractional source-frame index of each step (NaN on padding).
        arc_length: total reference arc length of the segment, normalised units.
    """

    uvz: np.ndarray
    step_valid: np.ndarray
    point_valid: np.ndarray
    source_frame: np.ndarray
    arc_length: float

    @property
    def num_valid_steps(self) -> int:
        return int(self.step_valid.sum())


def reference_arc_length(uv_norm: np.ndarray, valid: np.ndarray, fastest_fraction: float) -> np.ndarray:
    """Mean cumulative arc length ``[T]`` of the fastest tracks of ``uv_norm`` ``[N, T, 2]``."""
    num_tracks = uv_norm.shape[0]
    move_ok = valid[:, 1:] & valid[:, :-1]
    moves = np.linalg.norm(np.diff(uv_norm, axis=1), axis=-1)
    moves = np.where(move_ok, moves, 0.0)
    num_fastest = max(1, math.ceil(fastest_fraction * num_tracks))
    fastest = np.argsort(-moves.sum(axis=1), kind="stable")[:num_fastest]
    cumulative = np.cumsum(moves[fastest], axis=1).mean(axis=0)
    return np.concatenate([[0.0], cumulative])


def frame_times_at_arc_lengths(arc: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """First fractional frame time at which the non-decreasing ``arc`` reaches each target."""
    right = np.searchsorted(arc, targets, side="left")
    times = np.zeros(targets.shape, dtype=np.float64)
    inside = right > 0
    j = right[inside]
    times[inside] = (j - 1) + (targets[inside] - arc[j - 1]) / (arc[j] - arc[j - 1])
    return times


def retarget_speed(
    uvz_px: np.ndarray,
    width_px: int,
    height_px: int,
    *,
    valid: np.ndarray | None = None,
    spec: TraceSpec = OFFICIAL_TRACE_SPEC,
) -> RetargetResult:
    """Resample tracks ``[N, T, 3]`` (u_px, v_px, z_m; z NaN for 2D) at constant arc length.

    ``valid`` ``[N, T]`` marks entries that carry data (tracked and, for 3D, with depth);
    by default every finite entry. Frame 0 is the reference frame and must be valid.
    """
    uvz_px = as_float_array("tracks", uvz_px)
    if uvz_px.ndim != 3 or uvz_px.shape[-1] != UVZ_CHANNELS:
        raise TraceError(f"tracks must have shape [points, frames, 3], got {uvz_px.shape}")
    num_tracks, num_frames, _ = uvz_px.shape
    if num_tracks == 0 or num_frames == 0:
        raise TraceError(f"tracks must hold at least one point and one frame, got {uvz_px.shape}")
    finite_uv = np.isfinite(uvz_px[..., :2]).all(axis=-1)
    valid = finite_uv if valid is None else np.asarray(valid, dtype=bool) & finite_uv
    if valid.shape != (num_tracks, num_frames):
        raise TraceError(f"valid must have shape [{num_tracks}, {num_frames}], got {valid.shape}")
    if not valid[:, 0].all():
        raise TraceError(
            f"{int((~valid[:, 0]).sum())} tracks are invalid at frame 0: the reference frame "
            "holds the query points and must be valid for all of them"
        )
    filled = forward_fill(np.nan_to_num(uvz_px, nan=0.0), valid)
    uv_norm = filled[..., :2] / np.array([width_px, height_px], dtype=np.float64)
    arc = reference_arc_length(uv_norm, valid, spec.retarget_fastest_fraction)
    total = float(arc[-1])
    # A tiny tolerance so a segment that is exactly k steps long keeps its k-th step.
    num_steps = min(spec.retarget_max_steps, int(np.floor(total / spec.retarget_step + 1e-9)) + 1)
    times = frame_times_at_arc_lengths(arc, np.arange(num_steps) * spec.retarget_step)

    lower = np.clip(np.floor(times).astype(np.intp), 0, num_frames - 1)
    upper = np.clip(lower + 1, 0, num_frames - 1)
    weight = (times - lower)[None, :, None]
    sampled = filled[:, lower] * (1.0 - weight) + filled[:, upper] * weight
    on_frame = np.isclose(times, lower)
    sampled_valid = valid[:, lower] & (valid[:, upper] | on_frame[None, :])
    z_nan = np.isnan(uvz_px[..., 2])
    if z_nan.all():
        sampled[..., 2] = np.nan

    max_steps = spec.retarget_max_steps
    out = np.repeat(sampled[:, -1:], max_steps, axis=1)
    out[:, :num_steps] = sampled
    step_valid = np.zeros(max_steps, dtype=bool)
    step_valid[:num_steps] = True
    point_valid = np.zeros((num_tracks, max_steps), dtype=bool)
    point_valid[:, :num_steps] = sampled_valid
    source_frame = np.full(max_steps, np.nan)
    source_frame[:num_steps] = times
    return RetargetResult(
        uvz=out.astype(np.float32),
        step_valid=step_valid,
        point_valid=point_valid,
        source_frame=source_frame,
        arc_length=total,
    )
