"""Time parameterisation of joint waypoints within joint velocity and acceleration limits.

A :class:`JointTrajectory` is a C1 piecewise-cubic (Hermite) curve through joint waypoints
``q_rad [N, 7]`` at ``times_s [N]`` with velocities ``dq_rad_s [N, 7]``. It is what the
controller sends (franky's ``JointWaypointMotion``: each waypoint a position, a velocity and a
minimum time from the previous one) and what the dry run replays.

:func:`time_parameterize` keeps the *desired* timing of a plan (the trace's pace) and only
stretches the segments that would break a limit. Waypoint velocities follow the monotone
piecewise-cubic rule of Fritsch and Butland (scipy's PCHIP): zero where a joint changes
direction, a weighted harmonic mean of the neighbouring slopes elsewhere, zero at both ends.
Monotone interpolation never overshoots the waypoints, so a joint stays between its waypoint
values and joint position limits that hold at the waypoints hold everywhere.

Why hand-written rather than a time-optimal parameteriser (toppra, Ruckig): the goal here is not
the fastest motion but the plan's own timing, stretched minimally where needed; franky runs
Ruckig on the robot for the jerk-limited execution between these waypoints anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicHermiteSpline

from tracegen.errors import InputError

#: Shortest segment the parameterisation produces (franky's waypoint times are whole milliseconds).
MIN_SEGMENT_S = 0.01
#: Each stretch overshoots the needed factor by this much, so the loop ends in a few rounds.
STRETCH_MARGIN = 1.02
MAX_ROUNDS = 200


@dataclass(frozen=True, eq=False)
class JointTrajectory:
    """Joint waypoints with times and velocities; C1 cubic Hermite between them.

    Attributes:
        times_s: ``[N]`` strictly increasing, ``times_s[0] == 0``.
        q_rad: ``[N, 7]`` joint positions.
        dq_rad_s: ``[N, 7]`` joint velocities at the waypoints.
    """

    times_s: np.ndarray
    q_rad: np.ndarray
    dq_rad_s: np.ndarray

    def __post_init__(self) -> None:
        times = np.asarray(self.times_s, dtype=np.float64)
        q = np.asarray(self.q_rad, dtype=np.float64)
        dq = np.asarray(self.dq_rad_s, dtype=np.float64)
        if times.ndim != 1 or times.size < 2:
            raise InputError(
                f"a joint trajectory needs at least 2 waypoints, got times of shape {times.shape}"
            )
        if q.ndim != 2 or q.shape[0] != times.size or dq.shape != q.shape:
            raise InputError(f"trajectory shapes disagree: times {times.shape}, q {q.shape}, dq {dq.shape}")
        if not (np.isfinite(times).all() and np.isfinite(q).all() and np.isfinite(dq).all()):
            raise InputError("joint trajectory holds non-finite values")
        if times[0] != 0.0 or np.any(np.diff(times) <= 0.0):
            raise InputError(f"trajectory times must start at 0 and increase strictly, got {times.tolist()}")
        for name, value in (("times_s", times), ("q_rad", q), ("dq_rad_s", dq)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def num_waypoints(self) -> int:
        return self.times_s.size

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    @property
    def segment_durations_s(self) -> np.ndarray:
        return np.diff(self.times_s)

    def spline(self) -> CubicHermiteSpline:
        return CubicHermiteSpline(self.times_s, self.q_rad, self.dq_rad_s, axis=0)

    def sample(self, t_s: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities at time(s) ``t_s`` (clamped to the trajectory's span)."""
        spline = self.spline()
        t = np.clip(t_s, 0.0, self.duration_s)
        return spline(t), spline.derivative()(t)

    def resampled(self, max_segment_s: float) -> JointTrajectory:
        """The same curve with extra waypoints so that no segment is longer than ``max_segment_s``.

        A cubic segment is fixed by the positions and velocities at its ends, so sampling it at
        intermediate times and interpolating again reproduces it exactly.
        """
        times = [self.times_s[:1]]
        for start, end in zip(self.times_s[:-1], self.times_s[1:], strict=True):
            pieces = max(1, int(np.ceil((end - start) / max_segment_s - 1e-9)))
            times.append(np.linspace(start, end, pieces + 1)[1:])
        t = np.concatenate(times)
        if t.size == self.num_waypoints:
            return self
        spline = self.spline()
        q, dq = spline(t), spline.derivative()(t)
        q[np.searchsorted(t, self.times_s)] = self.q_rad  # keep the original waypoints bit for bit
        dq[np.searchsorted(t, self.times_s)] = self.dq_rad_s
        return JointTrajectory(t, q, dq)

    def peak_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``[N-1, 7]`` peak |velocity| and peak |acceleration| of every segment and joint.

        On a cubic ``a + b s + c s^2 + d s^3`` the acceleration is linear (peaks at the segment
        ends) and the velocity quadratic (peaks at an end or at its vertex ``s = -c / 3d``).
        """
        coeffs = self.spline().c  # [4, N-1, 7], highest power first: d, c, b, a
        d, c, b = coeffs[0], coeffs[1], coeffs[2]
        h = self.segment_durations_s[:, None]
        v_start, v_end = b, b + 2 * c * h + 3 * d * h**2
        with np.errstate(divide="ignore", invalid="ignore"):
            s_vertex = np.where(d != 0.0, -c / (3 * d), 0.0)
        inside = (s_vertex > 0.0) & (s_vertex < h)
        v_vertex = np.where(inside, b + 2 * c * s_vertex + 3 * d * s_vertex**2, 0.0)
        peak_velocity = np.maximum.reduce([np.abs(v_start), np.abs(v_end), np.abs(v_vertex)])
        peak_acceleration = np.maximum(np.abs(2 * c), np.abs(2 * c + 6 * d * h))
        return peak_velocity, peak_acceleration


def monotone_velocities(times_s: np.ndarray, q_rad: np.ndarray, dq_start: np.ndarray) -> np.ndarray:
    """Fritsch-Butland waypoint velocities ``[N, 7]``: monotone, zero at the end, ``dq_start`` first."""
    h = np.diff(times_s)[:, None]
    slopes = np.diff(q_rad, axis=0) / h
    dq = np.zeros_like(q_rad)
    dq[0] = dq_start
    if len(h) >= 2:
        s_prev, s_next = slopes[:-1], slopes[1:]
        h_prev, h_next = h[:-1], h[1:]
        w1, w2 = 2 * h_next + h_prev, h_next + 2 * h_prev
        same_sign = s_prev * s_next > 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            harmonic = (w1 + w2) / (w1 / s_prev + w2 / s_next)
        dq[1:-1] = np.where(same_sign, harmonic, 0.0)
    return dq


def time_parameterize(
    q_rad: np.ndarray,
    min_durations_s: np.ndarray,
    velocity_limit_rad_s: np.ndarray,
    acceleration_limit_rad_s2: np.ndarray,
    *,
    dq_start_rad_s: np.ndarray | None = None,
) -> JointTrajectory:
    """Time joint waypoints ``q_rad [N, 7]`` so that no joint exceeds its limits.

    ``min_durations_s [N-1]`` is the desired duration of each segment (the plan's timing); a
    segment is only made longer, never shorter. The result starts at ``dq_start_rad_s``
    (default: at rest) and ends at rest.
    """
    q = np.asarray(q_rad, dtype=np.float64)
    durations = np.maximum(np.asarray(min_durations_s, dtype=np.float64), MIN_SEGMENT_S)
    v_max = np.asarray(velocity_limit_rad_s, dtype=np.float64)
    a_max = np.asarray(acceleration_limit_rad_s2, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] < 2 or durations.shape != (q.shape[0] - 1,):
        raise InputError(
            f"need q_rad [N >= 2, joints] and min_durations_s [N-1], got {q.shape} and {durations.shape}"
        )
    if not (np.isfinite(q).all() and np.isfinite(durations).all()):
        raise InputError("joint waypoints or durations are not finite")
    if v_max.shape != (q.shape[1],) or a_max.shape != v_max.shape or (v_max <= 0).any() or (a_max <= 0).any():
        raise InputError(
            f"limits must be {q.shape[1]} positive values, got {v_max.tolist()} and {a_max.tolist()}"
        )
    dq_start = (
        np.zeros(q.shape[1]) if dq_start_rad_s is None else np.asarray(dq_start_rad_s, dtype=np.float64)
    )
    if (np.abs(dq_start) > v_max).any():
        raise InputError(f"start velocity {dq_start.tolist()} exceeds the velocity limits {v_max.tolist()}")
    # A first guess that the loop only refines: no joint faster than its limit on average, and
    # no segment shorter than sqrt(delta / a_max) (half the rest-to-rest minimum time).
    delta = np.abs(np.diff(q, axis=0))
    durations = np.maximum.reduce(
        [durations, (delta / v_max).max(axis=1), np.sqrt(delta / a_max).max(axis=1)]
    )
    for _ in range(MAX_ROUNDS):
        times = np.concatenate([[0.0], np.cumsum(durations)])
        trajectory = JointTrajectory(times, q, monotone_velocities(times, q, dq_start))
        peak_v, peak_a = trajectory.peak_rates()
        stretch = np.maximum((peak_v / v_max).max(axis=1), np.sqrt((peak_a / a_max).max(axis=1)))
        if (stretch <= 1.0).all():
            return trajectory
        durations = np.where(stretch > 1.0, durations * stretch * STRETCH_MARGIN, durations)
    raise InputError(
        f"could not time {q.shape[0]} joint waypoints within the limits in {MAX_ROUNDS} rounds "
        f"(worst stretch still {float(stretch.max()):.3f}); is the start velocity feasible?"
    )
