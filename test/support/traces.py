"""Synthetic traces for tests."""

from __future__ import annotations

import numpy as np

from tracegen.trace import CameraIntrinsics, Trace, query_grid_uv_px

D435_640 = CameraIntrinsics(640, 480, 615.0, 615.0, 320.0, 240.0)


def random_trace(
    seed: int,
    *,
    num_steps: int = 33,
    is_3d: bool = True,
    intrinsics: CameraIntrinsics = D435_640,
    with_holes: bool = False,
) -> Trace:
    """A smooth random trace on the official 20x20 grid, starting on the query grid."""
    rng = np.random.default_rng(seed)
    grid = query_grid_uv_px(intrinsics.width_px, intrinsics.height_px)
    velocity_px = rng.normal(0.0, 3.0, size=(grid.shape[0], 1, 2))
    steps = np.arange(num_steps)[None, :, None]
    uv = grid[:, None, :] + velocity_px * steps
    z = 0.5 + rng.uniform(0.0, 1.0, size=(grid.shape[0], 1, 1)) + 0.002 * steps
    uvz = np.concatenate([uv, np.broadcast_to(z, (*uv.shape[:2], 1))], axis=-1)
    point_valid = np.ones(uvz.shape[:2], dtype=bool)
    if with_holes:
        point_valid[:, 1:] = rng.uniform(size=(grid.shape[0], num_steps - 1)) > 0.1
    step_valid = np.ones(num_steps, dtype=bool)
    step_valid[num_steps - 3 :] = False
    return Trace.from_uvz(
        uvz, intrinsics, is_3d=is_3d, step_valid=step_valid, point_valid=point_valid & step_valid
    )
