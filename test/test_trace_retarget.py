"""Speed retargeting (DESIGN.md): constant arc-length steps along the fastest tracks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracegen.errors import TraceError
from tracegen.trace import TraceSpec, query_grid_uv_px, retarget_speed
from tracegen.trace.retarget import frame_times_at_arc_lengths, reference_arc_length

W, H = 640, 480


def tracks_along(path_uv_px: np.ndarray, moving: int = 8, z_m: float = 1.0) -> np.ndarray:
    """400 tracks: ``moving`` of them follow ``path_uv_px`` [T, 2] (offset), the rest stand still."""
    grid = query_grid_uv_px(W, H)
    num_frames = path_uv_px.shape[0]
    uv = np.repeat(grid[:, None, :], num_frames, axis=1).astype(np.float64)
    uv[:moving] += path_uv_px - path_uv_px[0]
    z = np.full((*uv.shape[:2], 1), z_m)
    return np.concatenate([uv, z], axis=-1)


def test_constant_speed_line_gives_equally_spaced_steps_of_the_retarget_step():
    t = np.linspace(0.0, 1.0, 101)
    path = np.column_stack([100 + 320 * t, 100 + 0 * t])  # 0.5 of the width
    result = retarget_speed(tracks_along(path), W, H)
    assert result.num_valid_steps == 11  # 0.5 / 0.05 + 1
    steps_norm = np.diff(result.uvz[0, :11, 0]) / W
    assert np.allclose(steps_norm, 0.05, atol=1e-9)


def test_accelerating_motion_is_resampled_to_constant_spacing():
    t = np.linspace(0.0, 1.0, 200)
    path = np.column_stack([50 + 400 * t**3, 200 + 100 * t**3])
    result = retarget_speed(tracks_along(path), W, H)
    moved = result.uvz[0, : result.num_valid_steps, :2] / [W, H]
    spacing = np.linalg.norm(np.diff(moved, axis=0), axis=-1)
    assert np.allclose(spacing, 0.05, atol=1e-3)
    times = result.source_frame[: result.num_valid_steps]
    assert np.all(np.diff(times) > 0)
    assert np.diff(times)[0] > 3 * np.diff(times)[-1], "slow start needs more source frames per step"


def test_resampled_points_lie_on_the_original_path_and_keep_its_shape():
    t = np.linspace(0.0, np.pi, 150)
    path = np.column_stack([320 + 150 * np.cos(t), 240 + 150 * np.sin(t)])  # a half circle
    result = retarget_speed(tracks_along(path), W, H)
    # Track 0 starts on grid point (0, 0) and follows the path shifted by that offset.
    points = result.uvz[0, : result.num_valid_steps, :2] - result.uvz[0, 0, :2] + path[0]
    radius = np.linalg.norm(points - [320, 240], axis=-1)
    assert np.allclose(radius, 150, atol=0.5)
    angles = np.arctan2(points[:, 1] - 240, points[:, 0] - 320)
    assert np.all(np.diff(np.unwrap(angles)) > 0), "order along the path is kept"


def test_first_step_is_the_query_point_and_last_step_does_not_overshoot_the_end():
    t = np.linspace(0.0, 1.0, 80)
    path = np.column_stack([100 + 333 * t, 100 + 77 * t])
    tracks = tracks_along(path)
    result = retarget_speed(tracks, W, H)
    assert np.array_equal(result.uvz[:, 0], tracks[:, 0].astype(np.float32))
    last = result.uvz[0, result.num_valid_steps - 1, :2]
    travelled = np.linalg.norm((last - tracks[0, 0, :2]) / [W, H])
    assert travelled <= result.arc_length + 1e-6
    assert result.arc_length - travelled < 0.05


def test_padding_after_the_last_step_is_marked_and_holds_the_last_value():
    spec = TraceSpec()
    t = np.linspace(0.0, 1.0, 30)
    result = retarget_speed(tracks_along(np.column_stack([100 + 100 * t, 100 + 0 * t])), W, H)
    k = result.num_valid_steps
    assert result.uvz.shape == (400, spec.retarget_max_steps, 3)
    assert result.step_valid[:k].all() and not result.step_valid[k:].any()
    assert not result.point_valid[:, k:].any()
    assert np.array_equal(result.uvz[:, k:], np.repeat(result.uvz[:, k - 1 : k], 128 - k, axis=1))
    assert np.isnan(result.source_frame[k:]).all()


def test_long_motions_are_cut_at_the_maximum_number_of_steps():
    t = np.linspace(0.0, 1.0, 500)
    zigzag = np.column_stack([320 + 300 * np.sin(40 * t), 240 + 0 * t])  # ~ 12 widths of travel
    result = retarget_speed(tracks_along(zigzag), W, H)
    assert result.num_valid_steps == 128


def test_static_clip_keeps_only_the_query_step():
    result = retarget_speed(tracks_along(np.full((20, 2), 200.0)), W, H)
    assert result.num_valid_steps == 1
    assert result.arc_length == 0.0


def test_two_dimensional_tracks_stay_two_dimensional():
    t = np.linspace(0.0, 1.0, 50)
    tracks = tracks_along(np.column_stack([100 + 200 * t, 100 + 0 * t]))
    tracks[..., 2] = np.nan
    result = retarget_speed(tracks, W, H)
    assert np.isnan(result.uvz[..., 2]).all()
    assert result.point_valid[:, : result.num_valid_steps].all()


def test_lost_tracks_are_marked_invalid_around_the_loss_and_ignored_by_arc_length():
    t = np.linspace(0.0, 1.0, 101)
    tracks = tracks_along(np.column_stack([100 + 320 * t, 100 + 0 * t]))
    valid = np.ones(tracks.shape[:2], dtype=bool)
    valid[300, 40:60] = False  # a static point lost for a while
    tracks[300, 40:60] = np.nan
    result = retarget_speed(tracks, W, H, valid=valid)
    assert result.num_valid_steps == 11
    lost_steps = (result.source_frame > 39) & (result.source_frame < 60)
    assert not result.point_valid[300, lost_steps].any()
    assert result.point_valid[299, : result.num_valid_steps].all()


def test_the_fastest_two_percent_drive_the_arc_length():
    t = np.linspace(0.0, 1.0, 60)
    tracks = tracks_along(np.column_stack([100 + 320 * t, 100 + 0 * t]), moving=8)
    tracks[8:16] = tracks_along(np.column_stack([100 + 32 * t, 100 + 0 * t]), moving=8)[:8]
    result = retarget_speed(tracks, W, H)
    assert result.arc_length == pytest.approx(0.5)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_reference_arc_length_is_monotone_and_step_times_increase(seed):
    rng = np.random.default_rng(seed)
    uv = np.cumsum(rng.normal(0, 0.01, size=(50, 40, 2)) * (rng.uniform(size=(50, 40, 1)) > 0.5), axis=1)
    valid = rng.uniform(size=(50, 40)) > 0.05
    valid[:, 0] = True
    arc = reference_arc_length(uv, valid, 0.02)
    assert arc[0] == 0.0 and np.all(np.diff(arc) >= 0)
    targets = np.arange(0.0, arc[-1], 0.01)
    times = frame_times_at_arc_lengths(arc, targets)
    assert np.all(np.diff(times) > 0) or len(times) < 2
    assert np.allclose(np.interp(times, np.arange(40), arc), targets, atol=1e-9)


def test_retarget_refuses_bad_input_with_a_reason():
    with pytest.raises(TraceError, match="shape"):
        retarget_speed(np.zeros((400, 10, 2)), W, H)
    tracks = tracks_along(np.full((5, 2), 100.0))
    tracks[3, 0, 0] = np.nan
    with pytest.raises(TraceError, match="frame 0"):
        retarget_speed(tracks, W, H)
