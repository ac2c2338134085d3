"""``tracegen eval``: closed-loop success rate of a checkpoint on a simulated task.

Trials run through the full node graph (sim_camera_node with franky-sim, inference_node,
retarget_node, ik_controller_node), exactly as ``tracegen demo`` runs them, from seeded initial
states: trial i starts from ``seed + i``. The default seeds (0, 1, ...) are disjoint from the
expert demos' (``tracegen sim-demos --seed 1000``: 1001, 1002, ...), so a warm-up never sees an
evaluation scene. Writes summary.json (per trial: seed, outcome, steps, commands, duration;
success rate with its 95 % Wilson interval; loop rate and latency) and summary.png.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def evaluate(
    task: Annotated[str, typer.Option(help="simulated task: block, ball, brush or clothes")] = "block",
    trials: Annotated[int, typer.Option(min=1, help="closed-loop trials")] = 10,
    seed: Annotated[int, typer.Option(help="seed of the first trial's initial state (+1 per trial)")] = 0,
    checkpoint: Annotated[
        Path | None, typer.Option(help="checkpoint directory (default: the shipped one in models/)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: ./tracegen-eval-<task>-<timestamp>/)")
    ] = None,
    max_steps: Annotated[int, typer.Option(min=1, help="predictions per trial before it fails")] = 30,
    episode_timeout_s: Annotated[
        float, typer.Option(min=1.0, help="seconds per trial before it counts as failed")
    ] = 90.0,
    video: Annotated[bool, typer.Option("--video/--no-video", help="also write demo.mp4")] = False,
    model_threads: Annotated[int, typer.Option(min=0, help="CPU threads for the model (0: all)")] = 1,
    solver_steps: Annotated[int, typer.Option(min=0, help="ODE solver steps (0: the checkpoint's)")] = 0,
    stale_plan_timeout_s: Annotated[
        float, typer.Option(min=0.1, help="IK controller: refuse plans whose camera frame is older")
    ] = 15.0,
    startup_timeout_s: Annotated[
        float, typer.Option(min=10.0, help="seconds allowed for the nodes to start and the model to load")
    ] = 300.0,
    verbose: Annotated[bool, typer.Option("--verbose", help="show every node's output")] = False,
) -> None:
    """Closed-loop success rate of a checkpoint on a simulated task, through the full ROS graph."""
    from tracegen.runtime_env import reexec_in_ros_environment

    reexec_in_ros_environment("eval")
    from tracegen.cli.closed_loop import echo_loop_figures, exit_if_interrupted, run_closed_loop
    from tracegen.cli.demo import default_checkpoint
    from tracegen_ros.demo_runner import DemoOptions

    stamp = time.strftime("%Y%m%d-%H%M%S")
    options = DemoOptions(
        checkpoint=(checkpoint or default_checkpoint()).expanduser().resolve(),
        out_dir=(out or Path.cwd() / f"tracegen-eval-{task}-{stamp}").expanduser().resolve(),
        task=task,
        episodes=trials,
        max_steps=max_steps,
        episode_timeout_s=episode_timeout_s,
        seed=seed,
        startup_timeout_s=startup_timeout_s,
        model_threads=model_threads,
        model_steps=solver_steps,
        stale_plan_timeout_s=stale_plan_timeout_s,
        record_video=video,
    )
    report = run_closed_loop(options, desc=f"eval {task}", verbose=verbose)
    echo_loop_figures(report)
    typer.echo(f"wrote {report.summary_json}")
    if report.results:
        low, high = report.summary["success_ci95"]
        typer.echo(
            f"success: {report.summary['successes']}/{len(report.results)} = "
            f"{report.summary['success_percent']}% (95% CI {100 * low:.0f}-{100 * high:.0f}%)"
        )
    exit_if_interrupted(report)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
