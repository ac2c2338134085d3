"""What ``tracegen demo`` and ``tracegen eval`` share: run the simulated closed loop from the CLI.

A progress bar with one line per finished episode, Ctrl-C stopping every node in order (exit
130), and errors mapped to exit codes (2: bad input, 1: a node died or the world did not
answer). The work itself is :class:`tracegen_ros.demo_runner.DemoRunner`.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tracegen_ros.demo_runner import DemoOptions, DemoReport


def run_closed_loop(options: DemoOptions, *, desc: str, verbose: bool = False) -> DemoReport:
    """Run ``options`` with a progress bar; returns the report (exits the CLI on errors)."""
    from tqdm import tqdm

    from tracegen.errors import InputError, TracegenError
    from tracegen_ros.demo_runner import DemoRunner, NodeDiedError

    try:
        options.validate()
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    stop = threading.Event()
    bar = tqdm(total=options.episodes, unit="episode", desc=desc, dynamic_ncols=True)

    def progress(episode: int, step: int, commands: int, elapsed_s: float) -> None:
        bar.set_postfix_str(
            f"episode {episode}: step {step}/{options.max_steps}, {commands} cmds, {elapsed_s:.0f}s"
        )

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
        return runner.run()
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except (NodeDiedError, TracegenError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def echo_loop_figures(report: DemoReport) -> None:
    """The closed loop's prediction and command rates and its frame -> command latency."""
    loop = report.summary["closed_loop"]
    latency = loop["latency_s"]["frame_to_command_s"]
    typer.echo(
        f"closed loop: {loop['prediction_rate_hz']:.2f} predictions/s, "
        f"{loop['command_rate_hz']:.2f} commands/s"
        + (f", frame -> command {latency['median']:.2f} s median" if latency["count"] else "")
    )


def exit_if_interrupted(report: DemoReport) -> None:
    if report.interrupted:
        typer.echo(
            f"interrupted after {len(report.results)} of {report.summary.get('episodes_planned', '?')} "
            "episode(s)",
            err=True,
        )
        raise typer.Exit(code=130)
