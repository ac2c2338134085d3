"""IK speed of the controller: time per waypoint (target: median < 1 ms) and per 32-step path.

The paths are what the retarget node hands the IK controller: 33 TCP poses (the query step and
32 steps of a trace) starting at the arm's view posture (support.sim_arm's VIEW_Q_RAD, TCP at
(0.45, 0, 0.22) m pointing down), each a seeded random smooth motion of up to 15 cm with up to
30 degrees of rotation about the tool axis, inside the workspace box. Per solver (``dls``: damped
least squares; ``pink``: the QP with joint limits) the script measures

- ``per waypoint``: one ``solver.solve`` seeded with the previous waypoint's solution, as
  :func:`tracegen.robot.ik.solve_path` does (median, 90th percentile, max);
- ``far target``: one solve of the path's last pose seeded with the view posture (5-15 cm and
  up to 30 degrees away: what a single ``target_pose`` costs);
- ``per path``: :func:`solve_path` over the 33 poses;
- ``compile``: :meth:`PlanCompiler.compile`, everything the controller does before sending a
  plan (Cartesian safety check, IK, time parameterisation, joint-limit checks).

Single-threaded Python on this machine's CPU. Run:
``scripts/in-env python benchmarks/bench_robot_ik.py [--paths 20]``.
Writes benchmarks/results/robot_ik.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from tracegen.robot.controller import ControllerConfig, PlanCompiler
from tracegen.robot.ik import solve_path
from tracegen.robot.interface import RobotState
from tracegen.robot.kinematics import Fr3Kinematics
from tracegen.robot.plan import EndEffectorPlan, GripperAction
from tracegen.robot.safety import SafetyEnvelope

RESULTS = Path(__file__).parent / "results" / "robot_ik.json"
#: support/sim_arm.py's VIEW_Q_RAD (the posture of the node tests and the full-graph test).
VIEW_Q_RAD = np.array([0.0, -0.1289, 0.0, -2.5263, 0.0, 2.3974, 0.785])
STEPS = 32
STEP_DURATION_S = 0.25


def random_path(kinematics: Fr3Kinematics, rng: np.random.Generator) -> np.ndarray:
    """``[STEPS + 1, 4, 4]`` smooth TCP poses from the view posture (see the module docstring)."""
    start = kinematics.fk(VIEW_Q_RAD)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    offset_m = direction * rng.uniform(0.05, 0.15)
    offset_m[2] = max(offset_m[2], -0.12)  # stay above the table
    bend_m = rng.normal(scale=0.02, size=3)
    angle_rad = np.radians(rng.uniform(-30.0, 30.0))
    poses = np.repeat(start[None], STEPS + 1, axis=0)
    for k, s in enumerate(np.linspace(0.0, 1.0, STEPS + 1)):
        eased = 0.5 - 0.5 * np.cos(np.pi * s)
        poses[k, :3, 3] = start[:3, 3] + eased * offset_m + np.sin(np.pi * s) * bend_m
        spin = Rotation.from_rotvec(eased * angle_rad * start[:3, 2]).as_matrix()
        poses[k, :3, :3] = spin @ start[:3, :3]
    return poses


def measure(solver_name: str, paths: list[np.ndarray], kinematics: Fr3Kinematics) -> dict:
    compiler = PlanCompiler(kinematics, SafetyEnvelope(), ControllerConfig(ik_solver=solver_name))
    solver = compiler.solver
    solve_path(solver, paths[0], VIEW_Q_RAD)  # warm-up (Pinocchio / QP set-up)
    per_waypoint, per_path, per_compile, iterations, far = [], [], [], [], []
    for poses in paths:
        started = time.perf_counter()
        solver.solve(poses[-1], VIEW_Q_RAD)
        far.append(time.perf_counter() - started)
        q = VIEW_Q_RAD.copy()
        for pose in poses:
            started = time.perf_counter()
            result = solver.solve(pose, q)
            per_waypoint.append(time.perf_counter() - started)
            iterations.append(result.iterations)
            q = result.q_rad
        started = time.perf_counter()
        solve_path(solver, poses, VIEW_Q_RAD)
        per_path.append(time.perf_counter() - started)
        plan = EndEffectorPlan(
            poses,
            np.arange(1, len(poses) + 1) * STEP_DURATION_S,
            np.full(len(poses), GripperAction.HOLD),
            np.zeros(len(poses)),
        )
        state = RobotState(VIEW_Q_RAD.copy(), np.zeros(7), 0.04)
        started = time.perf_counter()
        compiler.compile(plan, 1, state)
        per_compile.append(time.perf_counter() - started)
    waypoint_ms = np.array(per_waypoint) * 1000
    return {
        "solver": solver_name,
        "paths": len(paths),
        "waypoints_per_path": STEPS + 1,
        "per_waypoint_ms": {
            "median": float(np.median(waypoint_ms)),
            "p90": float(np.percentile(waypoint_ms, 90)),
            "max": float(waypoint_ms.max()),
        },
        "far_target_ms": {"median": statistics.median(far) * 1000, "max": max(far) * 1000},
        "iterations_per_waypoint": {"median": float(np.median(iterations)), "max": int(max(iterations))},
        "per_path_ms": {"median": statistics.median(per_path) * 1000, "max": max(per_path) * 1000},
        "compile_per_path_ms": {"median": statistics.median(per_compile) * 1000},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=20)
    parser.add_argument("--solvers", nargs="+", default=["dls", "pink"])
    args = parser.parse_args()
    kinematics = Fr3Kinematics()
    rng = np.random.default_rng(0)
    paths = [random_path(kinematics, rng) for _ in range(args.paths)]
    rows = [measure(name, paths, kinematics) for name in args.solvers]
    report = {
        "benchmark": "IK per waypoint (warm-started) and per 33-pose path, FR3, from the view posture",
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "| solver | per waypoint median (p90, max) | iterations median | far target median | "
        "per 33-pose path median | compile (IK + timing + checks) median |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        w = row["per_waypoint_ms"]
        print(
            f"| {row['solver']} | {w['median']:.3f} ms ({w['p90']:.3f}, {w['max']:.3f}) | "
            f"{row['iterations_per_waypoint']['median']:.0f} | {row['far_target_ms']['median']:.2f} ms | "
            f"{row['per_path_ms']['median']:.1f} ms | "
            f"{row['compile_per_path_ms']['median']:.1f} ms |"
        )
    print(f"\nwritten to {RESULTS} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
