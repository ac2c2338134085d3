"""Closed-loop rate of ``tracegen demo``: camera frame -> robot command, and where the time goes.

Runs ``tracegen demo`` (the whole graph as processes: simulated RealSense + franky-sim,
inference, retarget, IK controller) for a few episodes and reads its summary.json:

- rates: predictions per second and robot commands (plans the IK controller starts executing)
  per second of closed-loop time;
- per-stage latency, ROS time: camera frame stamp -> TraceGrid received (inference incl.
  transport), TraceGrid -> EndEffectorPlan (retargeting), plan accepted -> executing (IK,
  timing, franky), and the whole loop frame -> command;
- the success rate of the checkpoint on the task (the README's demo table).

Run: ``scripts/in-env python benchmarks/bench_demo_loop.py [--task block] [--episodes 3]
[--checkpoint DIR] [--max-steps 30]``. Writes benchmarks/results/demo_loop_<task>.json and
prints a markdown table. The machine's load matters (2 shared cores: every node competes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"
STAGES = (
    ("frame_to_trace_s", "camera frame -> trace (inference)"),
    ("trace_to_plan_s", "trace -> plan (retarget)"),
    ("plan_to_command_s", "plan accepted -> command (IK controller)"),
    ("frame_to_command_s", "camera frame -> robot command (whole loop)"),
    ("model_latency_s", "frame received -> trace published (inference node)"),
)


def run_demo(args: argparse.Namespace, out: Path) -> tuple[dict, float]:
    from tracegen.runtime_env import ros_environment

    command = [sys.executable, "-m", "tracegen.cli.main", "demo", "--task", args.task]
    command += ["--episodes", str(args.episodes), "--max-steps", str(args.max_steps)]
    command += ["--episode-timeout-s", str(args.episode_timeout_s), "--out", str(out)]
    if args.checkpoint:
        command += ["--checkpoint", args.checkpoint]
    if args.solver_steps:
        command += ["--solver-steps", str(args.solver_steps)]
    started = time.monotonic()
    result = subprocess.run(command, env=ros_environment(), capture_output=True, text=True)
    wall_s = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"tracegen demo failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads((out / "summary.json").read_text()), wall_s


def table(summary: dict, wall_s: float) -> str:
    loop = summary["closed_loop"]
    lines = [
        f"tracegen demo, task {summary['task']}, {len(summary['episodes'])} episode(s), "
        f"model {summary['model_id']}: success {summary['success_percent']}%, "
        f"{loop['prediction_rate_hz']:.2f} predictions/s, {loop['command_rate_hz']:.2f} commands/s, "
        f"startup {summary['startup_s']:.0f} s, wall {wall_s:.0f} s",
        "",
        "| stage | count | median s | p90 s | max s |",
        "|---|---|---|---|---|",
    ]
    for key, label in STAGES:
        stats = loop["latency_s"][key]
        cells = [f"{stats[k]:.3f}" if stats["count"] else "-" for k in ("median", "p90", "max")]
        lines.append(f"| {label} | {stats['count']} | {' | '.join(cells)} |")
    lines += ["", "| episode | seed | result | steps | commands | seconds |", "|---|---|---|---|---|---|"]
    for episode in summary["episodes"]:
        result = "success" if episode["success"] else episode["end_reason"]
        lines.append(
            f"| {episode['episode']} | {episode['seed']} | {result} | {episode['steps']} | "
            f"{episode['commands']} | {episode['duration_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="block")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--episode-timeout-s", type=float, default=90.0)
    parser.add_argument("--checkpoint", default="", help="default: the shipped checkpoint")
    parser.add_argument("--solver-steps", type=int, default=0, help="0: the checkpoint's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        summary, wall_s = run_demo(args, Path(tmp) / "out")
    record = {
        "benchmark": "demo_loop",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "wall_s": wall_s,
        "summary": summary,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"demo_loop_{args.task}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(table(summary, wall_s))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
