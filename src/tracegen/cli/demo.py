"""``tracegen demo``: the shipped checkpoint driving the simulated FR3 in a closed loop.

Starts the node graph with the simulated world (``use_sim``), runs a few episodes of a task,
prints each episode's result and ``success: N%``, and writes demo.mp4 (the camera view with the
predicted traces drawn), summary.png and summary.json into an output folder. The work is in
:mod:`tracegen_ros.demo_runner`; shipped files are found through :mod:`tracegen.resources`, so
it works from any working directory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

#: The shipped checkpoint, under the share directory's models/ (see models/README.md).
DEFAULT_CHECKPOINT = "tracegen-sim-block"


def default_checkpoint() -> Path:
    """models/<DEFAULT_CHECKPOINT> in the installed share directory (a checkout or a pip install)."""
    from tracegen.resources import models_dir

    return models_dir() / DEFAULT_CHECKPOINT


def demo(
    task: Annotated[str, typer.Option(help="simulated task: block, ball, brush or clothes")] = "block",
    episodes: Annotated[int, typer.Option(min=1, help="episodes to run")] = 3,
    max_steps: Annotated[
        int, typer.Option(min=1, help="predictions (closed-loop steps) per episode before it fails")
    ] = 30,
    episode_timeout_s: Annotated[
        float, typer.Option(min=1.0, help="seconds per episode before it counts as failed")
    ] = 90.0,
    checkpoint: Annotated[
        Path | None, typer.Option(help="checkpoint directory (default: the shipped one in models/)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output folder (default: ./tracegen-demo-<timestamp>/)")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the first episode's initial state (+1 per episode)")] = 0,
    video_fps: Annotated[float, typer.Option(min=0.5, help="frames per second in the video")] = 10.0,
    model_threads: Annotated[
        int, typer.Option(min=0, help="CPU threads for the model (0: all; leave some to the simulator)")
    ] = 1,
    stale_plan_timeout_s: Annotated[
        float,
        typer.Option(
            min=0.1,
            help="IK controller: refuse plans whose camera frame is older (config/ik_controller.yaml: 5 s on "
            "the robot; more here because the simulator slows down with the CPU)",
        ),
    ] = 15.0,
    solver_steps: Annotated[int, typer.Option(min=0, help="ODE solver steps (0: the checkpoint's)")] = 0,
    startup_timeout_s: Annotated[
        float, typer.Option(min=10.0, help="seconds allowed for the nodes to start and the model to load")
    ] = 300.0,
    verbose: Annotated[bool, typer.Option("--verbose", help="show every node's output")] = False,
) -> None:
    """Run the shipped TraceGen checkpoint on the simulated FR3: success rate, video, summary."""
    from tracegen.runtime_env import reexec_in_ros_environment

    reexec_in_ros_environment("demo")
    from tracegen.cli.closed_loop import echo_loop_figures, exit_if_interrupted, run_closed_loop
    from tracegen_ros.demo_runner import DemoOptions

    checkpoint = (checkpoint or default_checkpoint()).expanduser().resolve()
    out_dir = (out or Path.cwd() / f"tracegen-demo-{time.strftime('%Y%m%d-%H%M%S')}").expanduser().resolve()
    options = DemoOptions(
        checkpoint=checkpoint,
        out_dir=out_dir,
        task=task,
        episodes=episodes,
        max_steps=max_steps,
        episode_timeout_s=episode_timeout_s,
        seed=seed,
        video_fps=video_fps,
        startup_timeout_s=startup_timeout_s,
        model_threads=model_threads,
        model_steps=solver_steps,
        stale_plan_timeout_s=stale_plan_timeout_s,
    )
    report = run_closed_loop(options, desc=f"demo {task}", verbose=verbose)
    echo_loop_figures(report)
    written = [p for p in (report.video, report.summary_png, report.summary_json) if p is not None]
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")
    if report.results:
        typer.echo(f"success: {report.summary['success_percent']}%")
    exit_if_interrupted(report)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
