"""The query grid: the points whose futures a trace describes.

Official layout (DESIGN.md): ``u = linspace(0, W - 1, cols)``, ``v = linspace(0, H - 1, rows)``,
points in row-major order (v outer, u inner), so point ``p = row * cols + col``.
"""

from __future__ import annotations

import numpy as np

from tracegen.errors import TraceError
from tracegen.trace.spec import OFFICIAL_TRACE_SPEC


def query_grid_uv_px(
    width_px: int,
    height_px: int,
    rows: int = OFFICIAL_TRACE_SPEC.grid_rows,
    cols: int = OFFICIAL_TRACE_SPEC.grid_cols,
) -> np.ndarray:
    """Pixel coordinates of the query points, shape ``[rows * cols, 2]`` (u_px, v_px), float32."""
    if width_px < 2 or height_px < 2:
        raise TraceError(f"query grid needs an image of at least 2x2 px, got {width_px}x{height_px}")
    if rows < 2 or cols < 2:
        raise TraceError(f"query grid needs at least 2x2 points, got {rows}x{cols}")
    u_px = np.linspace(0.0, width_px - 1, cols)
    v_px = np.linspace(0.0, height_px - 1, rows)
    vv, uu = np.meshgrid(v_px, u_px, indexing="ij")
    return np.stack([uu.ravel(), vv.ravel()], axis=-1).astype(np.float32)


def sample_depth_at_uv_m(depth_m: np.ndarray, uv_px: np.ndarray) -> np.ndarray:
    """Depth at (rounded) pixel positions, metres, shape ``uv_px.shape[:-1]``.

    ``depth_m`` is ``[H, W]``; positions are clipped into the image. Holes (zero, NaN) come
    back as NaN so callers decide how to treat them.
    """
    depth_m = np.asarray(depth_m, dtype=np.float64)
    if depth_m.ndim != 2:
        raise TraceError(f"depth image must be 2-D [H, W], got shape {depth_m.shape}")
    height_px, width_px = depth_m.shape
    u_idx = np.clip(np.rint(uv_px[..., 0]), 0, width_px - 1).astype(np.intp)
    v_idx = np.clip(np.rint(uv_px[..., 1]), 0, height_px - 1).astype(np.intp)
    z_m = depth_m[v_idx, u_idx]
    return np.where(np.isfinite(z_m) & (z_m > 0), z_m, np.nan)
