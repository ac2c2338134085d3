"""``tracegen sim-demos``: scripted expert demonstrations in the simulated world, recorded as bags.

The stand-in for teleoperated demos: the expert's plans run through the same IK controller and
franky path as a real robot's, and demo_recorder_node writes one MCAP bag per episode (failed
episodes under ``OUT/aborted/``). ``OUT/sim_demos.json`` lists each episode's seed and outcome.
Then: ``tracegen forge OUT --out DATA`` and ``tracegen train``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sim_demos(
    task: Annotated[str, typer.Option("--task", help="block, ball, brush or clothes")] = "block",
    episodes: Annotated[int, typer.Option("--episodes", help="how many episodes to record")] = 10,
    out: Annotated[Path, typer.Option("--out", help="output directory of the episode bags")] = Path(
        "sim_demos"
    ),
    seed: Annotated[int, typer.Option(help="base seed: episode i starts from seed + i")] = 0,
    robot_ip: Annotated[
        str, typer.Option(help="loopback address of the simulated arm (default: a free 127.x.y.z)")
    ] = "",
    fps: Annotated[float, typer.Option(help="simulated camera frames per second")] = 10.0,
    max_segments: Annotated[int, typer.Option(help="expert segments per episode before giving up")] = 6,
    log_dir: Annotated[
        Path | None, typer.Option(help="write each node's output to LOG_DIR/<node>.log (else: terminal)")
    ] = None,
) -> None:
    """Record expert demos of a simulated task through ik_controller_node and demo_recorder_node."""
    from tracegen.errors import TracegenError
    from tracegen.runtime_env import reexec_in_ros_environment, sigterm_as_ctrl_c

    reexec_in_ros_environment("sim-demos")
    from tracegen_ros.sim_demos import SimDemoConfig, run_sim_demos

    try:
        config = SimDemoConfig(
            task=task,
            episodes=episodes,
            out_dir=out,
            seed=seed,
            robot_ip=robot_ip,
            fps=fps,
            max_segments=max_segments,
            log_dir=log_dir,
        )
        with sigterm_as_ctrl_c():
            report = run_sim_demos(config, echo=typer.echo)
    except TracegenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        # The nodes are stopped by then; the recorder kept the episode in progress as aborted.
        typer.echo(
            f"interrupted: the nodes are stopped; finished episodes are in {out} (see sim_demos.json), "
            "the one in progress in its aborted/ folder",
            err=True,
        )
        raise typer.Exit(130) from None
    typer.echo(f"{report.successes}/{len(report.episodes)} episodes succeeded; bags in {out}")
    raise typer.Exit(0 if report.successes else 1)


def register(app: typer.Typer) -> None:
    app.command("sim-demos")(sim_demos)
