"""The model's view of a trace: normalised start points and normalised per-step increments.

Official TraceGen convention (DESIGN.md): u, v are divided by the image size (equivalently,
pixel coordinates after resizing to the model's square input, divided by its side) and
clamped to [0, 1]; z stays in metres. The model predicts the L increments
``d[s] = p[s + 1] - p[s]``, each channel min-max normalised with the fixed statistics of
:class:`~tracegen.trace.spec.TraceSpec` to [-1, 1] and clamped; absolute traces come back by
a cumulative sum from step 0.

The increment (de)normalisers accept numpy arrays or torch tensors, so the model and the
data pipeline share one implementation of the formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tracegen.errors import TraceError
from tracegen.trace.intrinsics import CameraIntrinsics
from tracegen.trace.spec import OFFICIAL_TRACE_SPEC, TraceSpec
from tracegen.trace.traces import Trace

ArrayT = TypeVar("ArrayT")


def _stats_like(x: ArrayT, stats: tuple[float, float, float]) -> ArrayT:
    """The per-channel statistics as an array of the same kind (numpy or torch) as ``x``."""
    if hasattr(x, "new_tensor"):  # torch.Tensor, without importing torch here
        return x.new_tensor(stats)
    return np.asarray(stats, dtype=np.asarray(x).dtype)


def normalize_increments(increments: ArrayT, spec: TraceSpec = OFFICIAL_TRACE_SPEC) -> ArrayT:
    """``[..., 3]`` increments (du_norm, dv_norm, dz_m) -> [-1, 1], clamped.

    n = (d - b) / a with a = (max - min) / 2 and b = (max + min) / 2.
    """
    lo = _stats_like(increments, spec.increment_min)
    hi = _stats_like(increments, spec.increment_max)
    return ((increments - (hi + lo) / 2) / ((hi - lo) / 2)).clip(-1.0, 1.0)


def denormalize_increments(normalized: ArrayT, spec: TraceSpec = OFFICIAL_TRACE_SPEC) -> ArrayT:
    """Inverse of :func:`normalize_increments` on [-1, 1]: d = n a + b."""
    lo = _stats_like(normalized, spec.increment_min)
    hi = _stats_like(normalized, spec.increment_max)
    return normalized * ((hi - lo) / 2) + (hi + lo) / 2


def normalize_uv(uv_px: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Pixel (u, v) ``[..., 2]`` -> image-size-normalised, clamped to [0, 1] as the official data."""
    scale = np.array([width_px, height_px], dtype=np.float64)
    return np.clip(np.asarray(uv_px, dtype=np.float64) / scale, 0.0, 1.0)


@dataclass(frozen=True)
class ModelSpaceTrace:
    """A trace as the model sees it (one sample; batch by stacking).

    Attributes:
        start: ``[N, 3]`` float32 (u_norm, v_norm, z_m) of step 0; z is 0 for 2D-only traces.
        increments: ``[N, L, 3]`` float32 normalised increments in [-1, 1].
        mask: ``[N, L, 3]`` bool: the increment is supervised (both ends valid; z only for 3D).
    """

    start: np.ndarray
    increments: np.ndarray
    mask: np.ndarray


#: How the steps after a trace's end (padding up to the horizon) are supervised.
#: ``ignore`` (the official recipe): they are masked out of the loss, so the model may predict
#: anything there. ``hold``: each point's increment there is zero motion, supervised, so the
#: model learns to stop where the demonstrated motion stopped; traces shorter than the horizon
#: (speed-retargeted robot demos: 5-7 real steps of 32) otherwise end in an unconstrained walk.
PADDING_TARGETS = ("ignore", "hold")


def encode_model_space(
    trace: Trace, spec: TraceSpec = OFFICIAL_TRACE_SPEC, *, padding: str = "ignore"
) -> ModelSpaceTrace:
    """Trace -> model space over the spec's horizon (longer traces are cut, shorter padded).

    ``padding`` is one of :data:`PADDING_TARGETS`.
    """
    if padding not in PADDING_TARGETS:
        raise TraceError(f"padding {padding!r} is not one of {list(PADDING_TARGETS)}")
    if (trace.rows, trace.cols) != (spec.grid_rows, spec.grid_cols):
        raise TraceError(
            f"trace grid {trace.rows}x{trace.cols} does not match the model's "
            f"{spec.grid_rows}x{spec.grid_cols} grid"
        )
    trace = trace.with_num_steps(spec.num_steps)
    size = trace.intrinsics
    points = np.empty(trace.uvz.shape, dtype=np.float64)
    points[..., :2] = normalize_uv(trace.uvz[..., :2], size.width_px, size.height_px)
    points[..., 2] = trace.uvz[..., 2] if trace.is_3d else 0.0
    increments = normalize_increments(np.diff(points, axis=1), spec)
    pair_valid = trace.point_valid[:, 1:] & trace.point_valid[:, :-1]
    mask = np.repeat(pair_valid[..., None], 3, axis=-1)
    if padding == "hold":
        padded = ~trace.step_valid[1:]  # increment s leads into a padded step s + 1
        increments[:, padded] = normalize_increments(np.zeros(3), spec)
        mask[:, padded] = True
    if not trace.is_3d:
        mask[..., 2] = False
    return ModelSpaceTrace(
        start=points[:, 0].astype(np.float32),
        increments=increments.astype(np.float32),
        mask=mask,
    )


def decode_model_space_uvz(
    start: np.ndarray,
    increments: np.ndarray,
    width_px: int,
    height_px: int,
    spec: TraceSpec = OFFICIAL_TRACE_SPEC,
) -> np.ndarray:
    """Model space -> absolute (u_px, v_px, z_m), batched.

    Args:
        start: ``[..., N, 3]`` (u_norm, v_norm, z_m) of step 0.
        increments: ``[..., N, L, 3]`` normalised increments (values outside [-1, 1] are clamped).

    Returns:
        ``[..., N, L + 1, 3]`` float32 traces in reference-image pixels and metres.
    """
    start = np.asarray(start, dtype=np.float64)
    increments = np.asarray(increments, dtype=np.float64)
    if start.shape[-1] != 3 or increments.shape[-1] != 3 or increments.shape[:-2] != start.shape[:-1]:
        raise TraceError(
            f"model-space shapes do not fit: start {start.shape} must be [..., N, 3] and "
            f"increments {increments.shape} [..., N, L, 3]"
        )
    if increments.shape[-2] != spec.horizon:
        raise TraceError(
            f"model predicted {increments.shape[-2]} increments but the spec's horizon is "
            f"{spec.horizon}: the checkpoint and the trace spec disagree"
        )
    deltas = denormalize_increments(np.clip(increments, -1.0, 1.0), spec)
    points = np.concatenate([start[..., None, :], start[..., None, :] + np.cumsum(deltas, axis=-2)], -2)
    points[..., 0] *= width_px
    points[..., 1] *= height_px
    return points.astype(np.float32)


def decode_model_space(
    start: np.ndarray,
    increments: np.ndarray,
    intrinsics: CameraIntrinsics,
    *,
    is_3d: bool,
    spec: TraceSpec = OFFICIAL_TRACE_SPEC,
) -> Trace:
    """One sample in model space (``[N, 3]``, ``[N, L, 3]``) -> a :class:`Trace`.

    Predicted steps whose depth falls to or below zero have no 3D meaning: they are marked
    invalid (``point_valid`` false) instead of being clamped to a made-up depth.
    """
    uvz = decode_model_space_uvz(start, increments, intrinsics.width_px, intrinsics.height_px, spec)
    point_valid = np.ones(uvz.shape[:2], dtype=bool)
    if is_3d:
        point_valid[:, 1:] = uvz[:, 1:, 2] > 0
    return Trace.from_uvz(
        uvz,
        intrinsics,
        is_3d=is_3d,
        point_valid=point_valid,
        rows=spec.grid_rows,
        cols=spec.grid_cols,
    )
