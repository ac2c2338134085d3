"""A small 3D plot of traces (matplotlib, off-screen), colour by time like :mod:`tracegen.viz`.

3D traces are drawn in the reference camera's frame, shown the way a person expects: x to the
right, depth (z) away from the viewer, up = -y (the optical frame's y points down). 2D-only
traces have no depth: they are drawn as (u, v, step), time rising along the vertical axis.
Traces that move less than ``min_motion`` (metres for 3D, pixels for 2D) show only their start.
"""

from __future__ import annotations

import numpy as np

from tracegen.trace import Trace
from tracegen.viz import time_colors_rgb


def render_traces_3d(
    trace: Trace,
    *,
    width_px: int = 480,
    height_px: int = 480,
    min_motion: float | None = None,
    title: str = "",
) -> np.ndarray:
    """``[height_px, width_px, 3]`` uint8 RGB image of the traces (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    colors = time_colors_rgb(trace.num_steps) / 255.0
    valid_steps = trace.num_valid_steps
    if trace.is_3d:
        xyz = trace.to_xyz_m()
        points = np.stack([xyz[..., 0], xyz[..., 2], -xyz[..., 1]], axis=-1)
        labels = ("x (m)", "z, depth (m)", "up (m)")
        threshold = 0.005 if min_motion is None else min_motion
    else:
        steps = np.broadcast_to(np.arange(trace.num_steps, dtype=np.float64), trace.uvz.shape[:2])
        points = np.stack([trace.uvz[..., 0], trace.uvz[..., 1], steps], axis=-1).astype(np.float64)
        labels = ("u (px)", "v (px)", "step")
        threshold = 1.0 if min_motion is None else min_motion
    motion = np.linalg.norm(np.diff(points[:, :valid_steps, : 3 if trace.is_3d else 2], axis=1), axis=-1).sum(
        axis=1
    )
    for point in range(trace.num_points):
        steps = np.flatnonzero(trace.point_valid[point])
        if motion[point] >= threshold and steps.size > 1:
            segments = points[point, steps]
            for a in range(steps.size - 1):
                ax.plot(*segments[a : a + 2].T, color=colors[steps[a + 1]], linewidth=1.0)
        ax.scatter(*points[point, 0], color=colors[0], s=2)
    ax.set_xlabel(labels[0], fontsize=7)
    ax.set_ylabel(labels[1], fontsize=7)
    ax.set_zlabel(labels[2], fontsize=7)
    ax.tick_params(labelsize=6)
    if not trace.is_3d:
        ax.invert_yaxis()
    ax.set_title(
        title or ("3D trace (reference camera)" if trace.is_3d else "2D-only trace (no depth)"), fontsize=8
    )
    fig.tight_layout()
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    return image
