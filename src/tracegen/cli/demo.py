"""``tracegen demo``: the shipped checkpoint driving the simulated FR3 in a closed loop.

Starts the node graph with the simulated world (``use_sim``), runs a few episodes of a task,
prints each episode's result and ``success: N%``, and writes demo.mp4 (the camera view with the
predicted traces drawn), summary.png and summary.json into an output folder. The work is in
:mod:`tracegen_ros.demo_runner`; shipped files are found through :mod:`tracegen.resources`, so
it works from any working directory.
"""

from __future__ import annotations

import signal
import threading
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
    from tqdm import tqdm

    from tracegen.errors import InputError, TracegenError
    from tracegen_ros.demo_runner import DemoOptions, DemoRunner, NodeDiedError

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
    try:
        options.validate()
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    stop = threading.Event()
    bar = tqdm(total=episodes, unit="episode", desc=f"demo {task}", dynamic_ncols=True)

    def progress(episode: int, step: int, commands: int, elapsed_s: float) -> None:
        bar.set_postfix_str(f"episode {episode}: step {step}/{max_steps}, {commands} cmds, {elapsed_s:.0f}s")

    def episode_done(result) -> None:
        verdict = "success" if result.success else f"failed ({result.end_reason})"
        bar.write(
            f"episode {result.episode} (seed {result.seed}): {verdict}, {result.steps} steps, "
            f"{result.commands} commands, {result.duration_s:.1f} s"
        )
        bar.update(1)

    def on_signal(signum, frame) -> None:
        bar.write("stopping (Ctrl-C): every node is being shut down")
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        runner = DemoRunner(
            options, stop=stop, progress=progress, episode_done=episode_done, say=bar.write, verbose=verbose
        )
        report = runner.run()
    except NodeDiedError as exc:
        bar.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    except InputError as exc:
        bar.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except TracegenError as exc:
        bar.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    bar.close()
    loop = report.summary["closed_loop"]
    latency = loop["latency_s"]["frame_to_command_s"]
    typer.echo(
        f"closed loop: {loop['prediction_rate_hz']:.2f} predictions/s, "
        f"{loop['command_rate_hz']:.2f} commands/s"
        + (f", frame -> command {latency['median']:.2f} s median" if latency["count"] else "")
    )
    written = [p for p in (report.video, report.summary_png, report.summary_json) if p is not None]
    typer.echo(f"wrote {', '.join(str(p) for p in written)}")
    if report.interrupted:
        typer.echo(f"interrupted after {len(report.results)} of {episodes} episode(s)", err=True)
    if report.results:
        typer.echo(f"success: {report.summary['success_percent']}%")
    if report.interrupted:
        raise typer.Exit(code=130)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
