"""Teleoperation command-to-motion latency: twist published -> franky velocity command issued.

Starts franky-sim (MuJoCo FR3 on a loopback address) and teleop_node as real processes, then
publishes ``geometry_msgs/TwistStamped`` on /tracegen/teleop/twist at 100 Hz from this process
(small velocities that alternate direction every second, so the arm stays in the workspace).
Each twist carries its publication time in ``header.stamp``; the node's ``latency_log_file``
records, for every twist it turned into a franky ``CartesianVelocityMotion``, the wall-clock
time at which ``robot.move`` returned. Latency = issued - published (same clock, one machine):
DDS delivery, the node's callback, the worker's wake-up, the safety limiter (Pinocchio FK and
Jacobian, pseudo-inverse) and franky's move call. Jitter = the standard deviation of the latency
and of the interval between successive issued commands (10 ms ideal). Twists that a newer
twist replaced before the worker took them count as ``superseded`` (the newest one wins).

Run: ``scripts/in-env python benchmarks/bench_teleop_latency.py [--seconds 10]``.
Writes benchmarks/results/teleop_latency.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))


def percentile(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to stream twists")
    parser.add_argument("--rate-hz", type=float, default=100.0)
    args = parser.parse_args()

    from geometry_msgs.msg import TwistStamped

    from tracegen.robot.ownership import LOCK_DIR_ENV
    from tracegen.runtime_env import ros_environment
    from tracegen_ros.qos import COMMAND_QOS

    from support.loopback import free_loopback_address
    from support.nodes_harness import RosProbe, start_node
    from support.processes import stop
    from support.sim_arm import start_franky_sim

    tmp = Path(tempfile.mkdtemp(prefix="bench_teleop_"))
    env = {**ros_environment(), LOCK_DIR_ENV: str(tmp)}
    address = free_loopback_address()
    latency_file = tmp / "latency.csv"
    server = start_franky_sim(address, tmp / "franky_sim.log", env=env)
    node = start_node(
        "teleop_node",
        tmp,
        env,
        name="teleop_node",
        namespace="tracegen",
        params_file="teleop.yaml",
        parameters={"robot_ip": address, "latency_log_file": str(latency_file)},
        remappings=(("joint_states", "/joint_states"),),
    )
    probe = RosProbe("bench_teleop")
    published = 0
    try:
        if not node.wait_for_log(rf"connected to .*{address}", 60.0):
            raise SystemExit(f"teleop_node did not connect:\n{node.log()}")
        publisher = probe.publisher(TwistStamped, "/tracegen/teleop/twist", COMMAND_QOS)
        probe.wait_for_subscribers(publisher)
        period = 1.0 / args.rate_hz
        start = time.monotonic()
        next_s = start
        while time.monotonic() - start < args.seconds:
            sign = 1.0 if int(time.monotonic() - start) % 2 == 0 else -1.0
            msg = TwistStamped()
            msg.header.frame_id = "fr3_link0"
            msg.twist.linear.y = 0.03 * sign
            msg.header.stamp = probe.now().to_msg()
            publisher.publish(msg)
            published += 1
            next_s += period
            time.sleep(max(0.0, next_s - time.monotonic()))
        time.sleep(1.0)
    finally:
        probe.close()
        node.stop()
        stop(server)

    rows = np.loadtxt(latency_file, delimiter=",", dtype=np.int64, ndmin=2)
    latency_ms = (rows[:, 1] - rows[:, 0]) / 1e6
    intervals_ms = np.diff(rows[:, 1]) / 1e6
    result = {
        "benchmark": "teleop_latency",
        "input_rate_hz": args.rate_hz,
        "seconds": args.seconds,
        "twists_published": published,
        "commands_issued": len(rows),
        "superseded": int(published - len(rows)),
        "latency_ms": {
            "median": percentile(latency_ms, 50),
            "p90": percentile(latency_ms, 90),
            "p99": percentile(latency_ms, 99),
            "max": float(latency_ms.max()),
            "std": float(latency_ms.std()),
        },
        "command_interval_ms": {
            "median": percentile(intervals_ms, 50),
            "std": float(intervals_ms.std()),
            "p99": percentile(intervals_ms, 99),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "note": "franky-sim on loopback; machine shared with other jobs while measured",
    }
    out = ROOT / "benchmarks" / "results" / "teleop_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    lat, gap = result["latency_ms"], result["command_interval_ms"]
    print("| teleop, 100 Hz twists | median | p90 | p99 | max | std (jitter) |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| twist published -> franky command issued (ms) | {lat['median']:.2f} | {lat['p90']:.2f} | "
        f"{lat['p99']:.2f} | {lat['max']:.2f} | {lat['std']:.2f} |"
    )
    print(
        f"| interval between issued commands (ms) | {gap['median']:.2f} | | {gap['p99']:.2f} | "
        f"| {gap['std']:.2f} |"
    )
    print(f"\n{len(rows)} of {published} twists issued ({result['superseded']} superseded by a newer one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
