"""Inverse kinematics: both solvers reach what is reachable, within limits, and say why not otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from tracegen.robot.errors import UnreachableError
from tracegen.robot.ik import DlsIkSolver, IkSettings, make_solver, solve_path
from tracegen.robot.safety import SafetyLimits

SOLVERS = ("dls", "pink")


def reachable_targets(kinematics, count: int, seed: int):
    """(target pose, seed configuration) pairs: FK of random in-limit configurations, seeds nearby."""
    limits = SafetyLimits()
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        q = rng.uniform(limits.q_lower_rad + 0.2, limits.q_upper_rad - 0.2)
        pairs.append((kinematics.fk(q), q + rng.normal(0.0, 0.15, 7)))
    return pairs


@pytest.mark.parametrize("name", SOLVERS)
def test_reachable_targets_are_reached_within_tolerance(kinematics, name):
    solver = make_solver(name, kinematics)
    for target, seed in reachable_targets(kinematics, 10, seed=1):
        result = solver.solve(target, seed)
        assert result.converged, result.describe()
        reached = kinematics.fk(result.q_rad)
        assert np.linalg.norm(reached[:3, 3] - target[:3, 3]) <= solver.settings.position_tolerance_m
        assert np.arccos(np.clip((np.trace(reached[:3, :3].T @ target[:3, :3]) - 1) / 2, -1, 1)) <= 1e-3


@pytest.mark.parametrize("name", SOLVERS)
def test_solutions_stay_inside_the_safety_envelopes_joint_limits(kinematics, name):
    limits = SafetyLimits()
    solver = make_solver(name, kinematics, limits=limits)
    for target, seed in reachable_targets(kinematics, 10, seed=2):
        q = solver.solve(target, seed).q_rad
        assert np.all(q >= limits.q_lower_rad - 1e-9) and np.all(q <= limits.q_upper_rad + 1e-9)


@pytest.mark.parametrize("name", SOLVERS)
def test_a_target_beyond_the_arms_reach_is_refused_with_the_distance(kinematics, view_q, name):
    target = kinematics.fk(view_q)
    target[:3, 3] = [1.3, 0.0, 0.3]
    with pytest.raises(UnreachableError, match=r"1\.3\d* m from the FR3's shoulder; the arm reaches at most"):
        make_solver(name, kinematics).solve(target, view_q)


@pytest.mark.parametrize("name", SOLVERS)
def test_a_target_inside_the_robot_base_is_unreachable_within_the_joint_limits(kinematics, view_q, name):
    target = kinematics.fk(view_q)
    target[:3, 3] = [0.0, 0.0, 0.05]
    solver = make_solver(name, kinematics, IkSettings(max_iterations=60))
    with pytest.raises(
        UnreachableError,
        match=r"waypoint 0 .* not reachable within the joint limits: the IK did not "
        r"converge .* mm and",
    ):
        solve_path(solver, target[None], view_q)


def singular_configuration(kinematics) -> np.ndarray:
    """A configuration within the limits where the TCP Jacobian loses rank (found by minimisation)."""
    limits = SafetyLimits()

    def manipulability(q):
        jacobian = kinematics.tcp_jacobian(np.clip(q, limits.q_lower_rad, limits.q_upper_rad))
        return np.sqrt(max(np.linalg.det(jacobian @ jacobian.T), 0.0))

    start = np.array([0.3, -0.4, -0.3, -2.2, 0.5, 1.9, 0.8])
    bounds = list(zip(limits.q_lower_rad + 0.1, limits.q_upper_rad - 0.1, strict=True))
    return minimize(manipulability, start, bounds=bounds, method="L-BFGS-B").x


def test_near_a_singularity_the_damped_solver_still_converges(kinematics):
    singular = singular_configuration(kinematics)
    jacobian = kinematics.tcp_jacobian(singular)
    assert np.sqrt(max(np.linalg.det(jacobian @ jacobian.T), 0.0)) < 1e-4, "the seed is singular"
    target = kinematics.fk(singular + np.random.default_rng(7).uniform(-0.05, 0.05, 7))
    result = DlsIkSolver(kinematics).solve(target, singular)
    assert result.converged, result.describe()


@pytest.mark.parametrize("name", SOLVERS)
def test_a_straight_line_path_gives_continuous_joint_waypoints(kinematics, view_q, name):
    start = kinematics.fk(view_q)
    poses = np.repeat(start[None], 33, axis=0)
    poses[:, :3, 3] += np.linspace(0.0, 1.0, 33)[:, None] * [0.12, 0.15, 0.1]
    q_path = solve_path(make_solver(name, kinematics), poses, view_q)
    assert np.abs(np.diff(q_path, axis=0)).max() < 0.1
    reached = np.stack([kinematics.fk(q)[:3, 3] for q in q_path])
    assert np.abs(reached - poses[:, :3, 3]).max() < 1e-4
