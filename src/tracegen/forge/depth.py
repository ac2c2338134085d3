"""Depth for tracked points: per step from the sensor's aligned depth, with holes handled.

Shapes: ``depth_m`` ``[T, H, W]`` float32 metres (0 = hole) of a window; ``uv_px`` ``[N, S, 2]``
tracked positions on window frames ``frames`` ``[S]``; results ``[N, S]`` metres, NaN where
there is no usable reading.

Holes: a point on a hole takes the median of the valid readings within ``radius_px`` (a
small patch, so the value comes from the same surface); none there leaves the entry without
depth (the trace marks it invalid). The query step is special: a trace needs depth at every
query point, so :func:`query_depth_m` falls back to the nearest valid pixel of the reference
frame, and reports how many points needed it.
"""

from __future__ import annotations

import cv2
import numpy as np


def _patch_offsets(radius_px: int) -> np.ndarray:
    r = np.arange(-radius_px, radius_px + 1)
    dv, du = np.meshgrid(r, r, indexing="ij")
    order = np.argsort(np.hypot(du, dv).ravel(), kind="stable")
    return np.stack([du.ravel()[order], dv.ravel()[order]], axis=-1)


def sample_depth_m(
    depth_m: np.ndarray, uv_px: np.ndarray, *, radius_px: int = 3, max_depth_m: float = 10.0
) -> np.ndarray:
    """Depth ``[...]`` at pixel positions ``uv_px`` ``[..., 2]`` of one ``[H, W]`` image (see module)."""
    height, width = depth_m.shape
    u = np.clip(np.rint(uv_px[..., 0]), 0, width - 1).astype(np.intp)
    v = np.clip(np.rint(uv_px[..., 1]), 0, height - 1).astype(np.intp)
    offsets = _patch_offsets(radius_px)
    uu = np.clip(u[..., None] + offsets[:, 0], 0, width - 1)
    vv = np.clip(v[..., None] + offsets[:, 1], 0, height - 1)
    patch = depth_m[vv, uu].astype(np.float64)
    patch[(patch <= 0) | (patch > max_depth_m) | ~np.isfinite(patch)] = np.nan
    centre = patch[..., 0]
    has_any = np.isfinite(patch).any(axis=-1)
    median = np.full(centre.shape, np.nan)
    if has_any.any():
        median[has_any] = np.nanmedian(patch[has_any], axis=-1)
    return np.where(np.isfinite(centre), centre, median)


def track_depth_m(
    depth_m: np.ndarray,
    frames: np.ndarray,
    uv_px: np.ndarray,
    *,
    radius_px: int = 3,
    max_depth_m: float = 10.0,
) -> np.ndarray:
    """``[N, S]`` depth of tracked points ``uv_px`` ``[N, S, 2]`` on window frames ``frames`` ``[S]``."""
    out = np.full(uv_px.shape[:2], np.nan)
    for step, frame in enumerate(frames):
        out[:, step] = sample_depth_m(
            depth_m[frame], uv_px[:, step], radius_px=radius_px, max_depth_m=max_depth_m
        )
    return out


def drop_depth_jumps(z_m: np.ndarray, max_jump_m: float) -> np.ndarray:
    """``z_m`` ``[N, S]`` with entries that jump more than ``max_jump_m`` from the point's previous
    kept depth set to NaN: a tracked point sliding off an object edge samples the surface
    behind it, which is not where the point is."""
    z_m = np.array(z_m, dtype=np.float64)
    last = z_m[:, 0].copy()
    for step in range(1, z_m.shape[1]):
        z = z_m[:, step]
        jump = np.isfinite(z) & np.isfinite(last) & (np.abs(z - last) > max_jump_m)
        z[jump] = np.nan
        last = np.where(np.isfinite(z), z, last)
    return z_m


def query_depth_m(
    depth_m: np.ndarray, uv_px: np.ndarray, *, radius_px: int = 3, max_depth_m: float = 10.0
) -> tuple[np.ndarray, int]:
    """Depth ``[N]`` of query points on one ``[H, W]`` image, never NaN unless the image has no
    valid pixel at all; returns it and how many points took their nearest valid pixel's depth."""
    z_m = sample_depth_m(depth_m, uv_px, radius_px=radius_px, max_depth_m=max_depth_m)
    missing = ~np.isfinite(z_m)
    if not missing.any():
        return z_m, 0
    valid = np.isfinite(depth_m) & (depth_m > 0) & (depth_m <= max_depth_m)
    if not valid.any():
        return z_m, int(missing.sum())
    # Distance transform to the nearest valid pixel, with the label of that pixel.
    _, labels = cv2.distanceTransformWithLabels(
        (~valid).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    valid_v, valid_u = np.nonzero(valid)  # labels number zero pixels in row-major order from 1
    height, width = depth_m.shape
    u = np.clip(np.rint(uv_px[missing, 0]), 0, width - 1).astype(np.intp)
    v = np.clip(np.rint(uv_px[missing, 1]), 0, height - 1).astype(np.intp)
    nearest = labels[v, u] - 1
    z_m[missing] = depth_m[valid_v[nearest], valid_u[nearest]]
    return z_m, int(missing.sum())
