"""Trace drawing: colour by time, only moving traces get lines."""

from __future__ import annotations

import numpy as np

from tracegen.trace import Trace, query_grid_uv_px
from tracegen.viz import draw_traces, time_colors_rgb

from support.traces import D435_640


def test_time_colours_go_from_dark_blue_to_yellow():
    colors = time_colors_rgb(33)
    assert colors.shape == (33, 3)
    assert colors[0, 2] > colors[0, 0]  # early: blue dominates red
    assert colors[-1, 0] > 200 and colors[-1, 1] > 200 and colors[-1, 2] < 100  # late: yellow


def test_moving_traces_are_drawn_and_static_ones_only_dotted():
    grid = query_grid_uv_px(640, 480)
    uv = np.repeat(grid[:, None, :], 33, axis=1)
    uv[210, :, 0] += np.linspace(0, 200, 33)  # one point moves right by 200 px
    trace = Trace.from_uvz(uv, D435_640, is_3d=False)
    canvas = draw_traces(np.zeros((480, 640, 3), np.uint8), trace, min_motion_px=5.0)
    row = int(np.rint(grid[210, 1]))
    start_u = int(np.rint(grid[210, 0]))
    drawn = canvas[row, start_u + 10 : start_u + 190].any(axis=-1)
    assert drawn.mean() > 0.9
    # A static point elsewhere: only its dot, nothing 20 px to its right.
    static_u, static_v = np.rint(grid[0]).astype(int)
    assert not canvas[static_v, static_u + 20 : static_u + 30].any()
    assert canvas.sum() > 0
