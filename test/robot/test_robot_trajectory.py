"""Time parameterisation of joint waypoints: the plan's pace where possible, the limits always."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracegen.errors import InputError
from tracegen.robot.trajectory import JointTrajectory, time_parameterize

V_MAX = np.full(7, 0.8)
A_MAX = np.full(7, 3.0)


def waypoints(seed: int, count: int = 8, scale: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(np.concatenate([np.zeros((1, 7)), rng.normal(0.0, scale, (count - 1, 7))]), axis=0)


def test_a_slow_plan_keeps_its_own_timing():
    q = waypoints(0, scale=0.01)
    trajectory = time_parameterize(q, np.full(len(q) - 1, 0.5), V_MAX, A_MAX)
    np.testing.assert_allclose(trajectory.times_s, np.arange(len(q)) * 0.5)
    np.testing.assert_array_equal(trajectory.q_rad, q)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.01, 1.0), duration_s=st.floats(0.01, 1.0))
def test_every_segment_respects_the_velocity_and_acceleration_limits(seed, scale, duration_s):
    q = waypoints(seed, scale=scale)
    trajectory = time_parameterize(q, np.full(len(q) - 1, duration_s), V_MAX, A_MAX)
    peak_v, peak_a = trajectory.peak_rates()
    assert (peak_v <= V_MAX * (1 + 1e-9)).all() and (peak_a <= A_MAX * (1 + 1e-9)).all()
    assert (trajectory.segment_durations_s >= duration_s - 1e-12).all(), "segments are only ever made longer"


def test_sampled_velocities_and_accelerations_agree_with_the_exact_peaks():
    q = waypoints(3, scale=0.4)
    trajectory = time_parameterize(q, np.full(len(q) - 1, 0.05), V_MAX, A_MAX)
    t = np.linspace(0.0, trajectory.duration_s, 20_001)
    spline = trajectory.spline()
    assert np.abs(spline.derivative()(t)).max() <= V_MAX[0] * (1 + 1e-6)
    assert np.abs(spline.derivative(2)(t)).max() <= A_MAX[0] * (1 + 1e-6)


def test_joints_never_overshoot_their_waypoints():
    q = waypoints(4, scale=0.3)
    trajectory = time_parameterize(q, np.full(len(q) - 1, 0.2), V_MAX, A_MAX)
    for segment in range(len(q) - 1):
        t = np.linspace(trajectory.times_s[segment], trajectory.times_s[segment + 1], 501)
        positions, _ = trajectory.sample(t)
        low, high = np.minimum(q[segment], q[segment + 1]), np.maximum(q[segment], q[segment + 1])
        assert (positions >= low - 1e-9).all() and (positions <= high + 1e-9).all()


def test_the_motion_ends_at_rest_and_starts_with_the_given_velocity():
    q = waypoints(5)
    start = np.full(7, 0.1)
    trajectory = time_parameterize(q, np.full(len(q) - 1, 0.3), V_MAX, A_MAX, dq_start_rad_s=start)
    np.testing.assert_array_equal(trajectory.dq_rad_s[0], start)
    np.testing.assert_array_equal(trajectory.dq_rad_s[-1], np.zeros(7))


def test_resampling_reproduces_the_same_curve_with_short_segments():
    q = waypoints(6, count=3, scale=0.5)
    trajectory = time_parameterize(q, np.array([2.0, 1.5]), V_MAX, A_MAX)
    finer = trajectory.resampled(0.4)
    assert finer.segment_durations_s.max() <= 0.4 + 1e-12
    t = np.linspace(0.0, trajectory.duration_s, 1001)
    np.testing.assert_allclose(finer.sample(t)[0], trajectory.sample(t)[0], atol=1e-12)


def test_a_start_velocity_beyond_the_limits_is_refused():
    with pytest.raises(InputError, match="start velocity"):
        time_parameterize(waypoints(7), np.full(7, 0.3), V_MAX, A_MAX, dq_start_rad_s=np.full(7, 2.0))


def test_a_trajectory_with_times_that_do_not_increase_is_refused():
    with pytest.raises(InputError, match="increase strictly"):
        JointTrajectory(np.array([0.0, 0.5, 0.5]), np.zeros((3, 7)), np.zeros((3, 7)))
