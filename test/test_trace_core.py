"""The trace contract (DESIGN.md): grid, geometry, model space, 2D-only traces, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tracegen.errors import TraceError
from tracegen.trace import (
    OFFICIAL_TRACE_SPEC,
    CameraIntrinsics,
    Trace,
    TraceSpec,
    decode_model_space,
    decode_model_space_uvz,
    denormalize_increments,
    encode_model_space,
    normalize_increments,
    query_grid_uv_px,
    uvz_to_xyz_m,
    xyz_to_uvz,
)

from support.traces import D435_640, random_trace


@st.composite
def intrinsics_strategy(draw: st.DrawFn) -> CameraIntrinsics:
    width = draw(st.integers(64, 1920))
    height = draw(st.integers(48, 1080))
    hfov_deg = draw(st.floats(30.0, 120.0))
    fx = width / (2 * np.tan(np.radians(hfov_deg) / 2))
    fy = fx * draw(st.floats(0.9, 1.1))
    cx = draw(st.floats(0.3, 0.7)) * width
    cy = draw(st.floats(0.3, 0.7)) * height
    return CameraIntrinsics(width, height, fx, fy, cx, cy)


# --- the query grid ---------------------------------------------------------------------------


def test_query_grid_is_official_linspace_in_row_major_order():
    grid = query_grid_uv_px(640, 480)
    assert grid.shape == (400, 2)
    assert np.allclose(grid[:20, 0], np.linspace(0, 639, 20))
    assert np.allclose(grid[:20, 1], 0.0)
    assert np.allclose(grid[::20, 1], np.linspace(0, 479, 20))
    assert grid[20].tolist() == pytest.approx([0.0, 479 / 19])
    assert grid[-1].tolist() == [639.0, 479.0]


def test_query_grid_rejects_degenerate_sizes():
    with pytest.raises(TraceError, match="at least 2x2 px"):
        query_grid_uv_px(1, 480)


# --- uvz <-> camera-frame XYZ -----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    intrinsics=intrinsics_strategy(),
    uv01=arrays(np.float64, (7, 2), elements=st.floats(0.0, 1.0)),
    z_m=arrays(np.float64, (7,), elements=st.floats(0.05, 10.0)),
)
def test_uvz_to_xyz_and_back_round_trips(intrinsics, uv01, z_m):
    uvz = np.column_stack([uv01[:, 0] * intrinsics.width_px, uv01[:, 1] * intrinsics.height_px, z_m])
    xyz = uvz_to_xyz_m(uvz, intrinsics)
    assert np.allclose(xyz[:, 2], z_m)
    assert np.allclose(xyz_to_uvz(xyz, intrinsics), uvz, rtol=1e-9, atol=1e-6)


def test_xyz_formula_matches_the_pinhole_contract():
    xyz = uvz_to_xyz_m(np.array([[320.0 + 61.5, 240.0 - 123.0, 2.0]]), D435_640)
    assert xyz[0].tolist() == pytest.approx([61.5 * 2.0 / 615.0, -123.0 * 2.0 / 615.0, 2.0])


@pytest.mark.parametrize("bad_z", [0.0, -0.3, np.nan, np.inf])
def test_back_projection_refuses_missing_or_non_positive_depth(bad_z):
    with pytest.raises(TraceError, match=r"depth|non-finite"):
        uvz_to_xyz_m(np.array([[10.0, 10.0, 1.0], [20.0, 20.0, bad_z]]), D435_640)


def test_projection_refuses_points_behind_the_camera():
    with pytest.raises(TraceError, match="behind the camera"):
        xyz_to_uvz(np.array([[0.1, 0.1, -1.0]]), D435_640)


def test_trace_to_xyz_matches_from_xyz():
    trace = random_trace(0)
    again = Trace.from_xyz_m(
        trace.to_xyz_m(), trace.intrinsics, step_valid=trace.step_valid, point_valid=trace.point_valid
    )
    assert np.allclose(again.uvz, trace.uvz, atol=1e-3)


# --- model space --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(increments=arrays(np.float64, (5, 4, 3), elements=st.floats(-1.0, 1.0)))
def test_increment_normalisation_round_trips_inside_the_statistics(increments):
    deltas = denormalize_increments(increments)
    assert np.allclose(normalize_increments(deltas), increments, atol=1e-12)


def test_increment_normalisation_uses_the_official_min_max_and_clamps():
    spec = OFFICIAL_TRACE_SPEC
    lo, hi = np.array(spec.increment_min), np.array(spec.increment_max)
    assert np.allclose(normalize_increments(lo), -1.0)
    assert np.allclose(normalize_increments(hi), 1.0)
    assert np.allclose(normalize_increments((lo + hi) / 2), 0.0)
    assert np.allclose(normalize_increments(hi * 10), 1.0)
    assert np.allclose(normalize_increments(lo * 10), -1.0)


def test_increment_normalisation_accepts_torch_tensors_with_the_same_result():
    torch = pytest.importorskip("torch")
    deltas = np.random.default_rng(1).normal(0, 0.03, size=(10, 3))
    from_torch = normalize_increments(torch.from_numpy(deltas)).numpy()
    assert np.allclose(from_torch, normalize_increments(deltas))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), intrinsics=intrinsics_strategy())
def test_model_space_round_trips_traces_inside_the_image_and_statistics(seed, intrinsics):
    rng = np.random.default_rng(seed)
    spec = OFFICIAL_TRACE_SPEC
    grid = query_grid_uv_px(intrinsics.width_px, intrinsics.height_px)
    start = np.column_stack([grid / [intrinsics.width_px, intrinsics.height_px], rng.uniform(0.3, 3, 400)])
    # Increments strictly inside the statistics, pointing inwards so the path stays in the image.
    inward = np.sign(0.5 - start[:, None, :2])
    du_dv = inward * rng.uniform(0, 0.4, size=(400, spec.horizon, 2)) * 0.05 / spec.horizon * 10
    dz = rng.uniform(-0.03, 0.03, size=(400, spec.horizon, 1)) * 0.5
    increments = normalize_increments(np.concatenate([du_dv, dz], axis=-1))
    trace = decode_model_space(start, increments, intrinsics, is_3d=True)
    encoded = encode_model_space(trace)
    assert encoded.mask.all()
    assert np.allclose(encoded.increments, increments, atol=2e-3)
    assert np.allclose(encoded.start, start, atol=1e-5)


def test_model_space_of_a_trace_and_back_reproduces_it_inside_the_image():
    trace = random_trace(3)
    encoded = encode_model_space(trace)
    decoded = decode_model_space(encoded.start, encoded.increments, trace.intrinsics, is_3d=True)
    uv = trace.uvz[..., :2]
    inside = ((uv >= 0) & (uv <= [640, 480])).all(axis=(1, 2))
    assert inside.sum() > 200
    compare = trace.point_valid & inside[:, None]
    assert np.abs(decoded.uvz[compare] - trace.uvz[compare]).max() < 0.05


def test_model_space_clamps_traces_leaving_the_image_to_its_border_like_the_official_data():
    trace = random_trace(3)
    encoded = encode_model_space(trace)
    decoded = decode_model_space(encoded.start, encoded.increments, trace.intrinsics, is_3d=True)
    assert decoded.uvz[..., 0].min() >= -1e-3 and decoded.uvz[..., 0].max() <= 640 + 1e-3
    assert decoded.uvz[..., 1].min() >= -1e-3 and decoded.uvz[..., 1].max() <= 480 + 1e-3


def test_model_space_masks_padded_steps_and_lost_points():
    trace = random_trace(4, with_holes=True)
    encoded = encode_model_space(trace)
    pair_valid = trace.point_valid[:, 1:] & trace.point_valid[:, :-1]
    assert np.array_equal(encoded.mask[..., 0], pair_valid)
    assert not encoded.mask[:, -2:].any(), "increments into padded steps must not be supervised"


def test_model_space_pads_short_traces_and_cuts_long_ones_to_the_horizon():
    short = encode_model_space(random_trace(5, num_steps=10))
    long = encode_model_space(random_trace(5, num_steps=60))
    assert short.increments.shape == long.increments.shape == (400, 32, 3)
    assert not short.mask[:, 9:].any()


def test_hold_padding_supervises_zero_motion_after_the_end_so_decoded_points_stop_there():
    trace = random_trace(5, num_steps=10, with_holes=True)
    last = int(trace.step_valid.sum()) - 1  # the last real step (the trace has padding of its own)
    encoded = encode_model_space(trace, padding="hold")
    ignored = encode_model_space(trace)
    assert last < 9 and encoded.mask[:, last:].all(), "every increment into a padded step is supervised"
    assert np.array_equal(encoded.mask[:, :last], ignored.mask[:, :last]), "real steps keep their mask"
    assert np.array_equal(encoded.increments[:, :last], ignored.increments[:, :last])
    assert np.isfinite(encoded.increments).all(), "points lost at the end still get a finite target"
    decoded = decode_model_space_uvz(encoded.start, encoded.increments, 640, 480)
    assert np.allclose(decoded[:, last + 1 :], decoded[:, last : last + 1], atol=1e-5), "held at the end"
    with pytest.raises(TraceError, match="padding"):
        encode_model_space(trace, padding="zero")


def test_decoding_rejects_a_horizon_other_than_the_spec():
    with pytest.raises(TraceError, match="horizon"):
        decode_model_space_uvz(np.zeros((400, 3)), np.zeros((400, 16, 3)), 640, 480)


def test_decoded_steps_with_non_positive_depth_are_marked_invalid_not_invented():
    start = np.zeros((400, 3))
    start[:, :2] = 0.5
    start[:, 2] = 0.05
    increments = np.full((400, 32, 3), -1.0)
    increments[..., :2] = 0.0
    trace = decode_model_space(start, increments, D435_640, is_3d=True)
    assert trace.point_valid[:, 0].all()
    assert not trace.point_valid[:, 2:].any()


def test_spec_round_trips_through_a_dict_and_refuses_unknown_keys():
    spec = TraceSpec(horizon=16, retarget_max_steps=64)
    assert TraceSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(TraceError, match="newer"):
        TraceSpec.from_dict({**spec.to_dict(), "something_new": 1})


def test_spec_refuses_inverted_statistics():
    with pytest.raises(TraceError, match="below"):
        TraceSpec(increment_min=(0.1, -0.05, -0.04))


# --- 2D-only traces ---------------------------------------------------------------------------


def test_two_dimensional_traces_carry_nan_depth_and_refuse_back_projection():
    uv = query_grid_uv_px(640, 480)[:, None, :].repeat(5, axis=1)
    trace = Trace.from_uvz(uv, D435_640, is_3d=False)
    assert trace.uvz.shape == (400, 5, 3)
    assert np.isnan(trace.uvz[..., 2]).all()
    with pytest.raises(TraceError, match="2D-only"):
        trace.to_xyz_m()


def test_two_dimensional_traces_leave_depth_unsupervised_in_model_space():
    trace = random_trace(6, is_3d=False)
    encoded = encode_model_space(trace)
    assert not encoded.mask[..., 2].any()
    assert encoded.mask[..., :2].any()
    assert np.isfinite(encoded.increments).all() and (encoded.start[:, 2] == 0).all()


def test_claiming_3d_with_only_two_channels_is_an_error():
    with pytest.raises(TraceError, match="is_3d=False"):
        Trace.from_uvz(np.zeros((400, 3, 2)), D435_640, is_3d=True)


# --- trace validation -----------------------------------------------------------------------


def test_trace_is_immutable_and_fills_invalid_entries_with_the_previous_value():
    trace = random_trace(7, with_holes=True)
    with pytest.raises(ValueError):
        trace.uvz[0, 0, 0] = 1.0
    point, step = np.argwhere(~trace.point_valid[:, :-3])[0]
    assert np.array_equal(trace.uvz[point, step], trace.uvz[point, step - 1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uvz": np.zeros((399, 5, 3))}, "shape"),
        ({"uvz": np.zeros((400, 5, 4))}, "shape"),
        ({"step_valid": np.array([True, False, True, True, True])}, "prefix"),
        ({"step_valid": np.ones(4, dtype=bool)}, "step_valid must have shape"),
        ({"point_valid": np.zeros((400, 5), dtype=bool)}, "step 0"),
    ],
)
def test_malformed_traces_are_refused_with_a_reason(kwargs, message):
    base = {
        "uvz": np.ones((400, 5, 3)),
        "step_valid": np.ones(5, dtype=bool),
        "point_valid": np.ones((400, 5), dtype=bool),
        "is_3d": True,
        "intrinsics": D435_640,
    }
    with pytest.raises(TraceError, match=message):
        Trace(**{**base, **kwargs})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_pixels_at_valid_entries_are_refused(bad):
    uvz = np.ones((400, 5, 3))
    uvz[17, 2, 0] = bad
    with pytest.raises(TraceError, match=r"non-finite u, v, the first at \(point, step\) = \(17, 2\)"):
        Trace.from_uvz(uvz, D435_640)


def test_non_finite_values_at_invalid_entries_are_allowed_and_replaced():
    uvz = np.ones((400, 5, 3))
    uvz[17, 2] = np.nan
    point_valid = np.ones((400, 5), dtype=bool)
    point_valid[17, 2] = False
    trace = Trace.from_uvz(uvz, D435_640, point_valid=point_valid)
    assert np.isfinite(trace.uvz).all()


@pytest.mark.parametrize("bad_z", [0.0, -1.0])
def test_non_positive_depth_where_3d_is_claimed_is_refused(bad_z):
    uvz = np.ones((400, 5, 3))
    uvz[3, 4, 2] = bad_z
    with pytest.raises(TraceError, match="non-positive depths"):
        Trace.from_uvz(uvz, D435_640, is_3d=True)


def test_trace_grid_must_match_the_model_grid():
    trace = Trace.from_uvz(np.ones((100, 33, 3)), D435_640, rows=10, cols=10)
    with pytest.raises(TraceError, match="10x10 does not match"):
        encode_model_space(trace)


# --- intrinsics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((640, 480, 0.0, 615.0, 320.0, 240.0), "positive"),
        ((640, 480, 615.0, 615.0, 900.0, 240.0), "outside"),
        ((640, 480, 0.615, 0.615, 320.0, 240.0), "field of view"),
        ((640, 480, np.nan, 615.0, 320.0, 240.0), "finite"),
        ((0, 480, 615.0, 615.0, 320.0, 240.0), "positive integer"),
    ],
)
def test_absurd_intrinsics_are_refused(args, message):
    with pytest.raises(TraceError, match=message):
        CameraIntrinsics(*args)


def test_intrinsics_from_matrix_and_resize_keep_the_same_rays():
    k = D435_640.matrix()
    assert CameraIntrinsics.from_matrix(k.ravel(), 640, 480) == D435_640
    half = D435_640.resized(320, 240)
    # A pixel centre maps to the same ray after resizing.
    uvz = np.array([[100.0, 50.0, 1.0]])
    uvz_half = np.array([[(100.0 + 0.5) / 2 - 0.5, (50.0 + 0.5) / 2 - 0.5, 1.0]])
    assert np.allclose(uvz_to_xyz_m(uvz, D435_640), uvz_to_xyz_m(uvz_half, half))


def test_camera_matrix_that_is_not_pinhole_is_refused():
    with pytest.raises(TraceError, match="pinhole"):
        CameraIntrinsics.from_matrix(np.ones((3, 3)), 640, 480)
