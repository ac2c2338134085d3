"""``tracegen record-demos``: record teleoperated demonstrations, one MCAP bag per episode.

Starts the camera (or, with ``--sim``, the simulated RealSense and FR3), the teleop node and
the demo recorder, then reads the keyboard (or a SpaceMouse) in this terminal; see
:mod:`tracegen_ros.record_demos`. The bags feed ``tracegen forge`` unchanged.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated

import typer


def record_demos(
    task: Annotated[
        str, typer.Option("--task", help="task name, stored in every bag (with --sim: block, ball, ...)")
    ],
    instruction: Annotated[str, typer.Option("--instruction", help="what the demonstrations do")],
    out: Annotated[Path, typer.Option("--out", help="directory of the episode bags")],
    sim: Annotated[bool, typer.Option("--sim", help="simulated RealSense and franky-sim FR3")] = False,
    robot_ip: Annotated[
        str, typer.Option(help="FR3 address (default: config/ik_controller.yaml; sim: free loopback)")
    ] = "",
    recording: Annotated[str, typer.Option(help="play this RealSense recording instead of a camera")] = "",
    camera_serial: Annotated[str, typer.Option(help="RealSense serial number (default: first found)")] = "",
    spacemouse: Annotated[
        bool, typer.Option("--spacemouse", help="drive with a SpaceMouse instead of keys")
    ] = False,
    kinesthetic: Annotated[
        bool, typer.Option("--kinesthetic", help="hand-guiding: move the arm by hand, episodes on keys 1/2/3")
    ] = False,
    max_linear: Annotated[float, typer.Option(help="TCP speed at 100 % scale, m/s")] = 0.1,
    scale: Annotated[float, typer.Option(help="initial speed scale")] = 0.5,
    log_dir: Annotated[Path | None, typer.Option(help="node logs (default: OUT/logs)")] = None,
    sim_fps: Annotated[float, typer.Option(help="--sim: camera frames per second")] = 10.0,
) -> None:
    """Record demos: 1 start, 2 stop and keep, 3 abort an episode; q quits (keys: tracegen teleop)."""
    from tracegen.errors import TracegenError
    from tracegen.teleop_devices import KeyboardTeleop, SpaceMouseTeleop, SpeedSettings
    from tracegen_ros.record_demos import DemoSession, RecordDemosConfig

    def say(line: str) -> None:
        sys.stdout.write("\r\x1b[K" + line + "\n")
        sys.stdout.flush()

    try:
        config = RecordDemosConfig(
            task=task,
            instruction=instruction,
            out_dir=out,
            sim=sim,
            robot_ip=robot_ip,
            recording=recording,
            camera_serial=camera_serial,
            mode="kinesthetic" if kinesthetic else "teleop",
            log_dir=log_dir,
            sim_fps=sim_fps,
        )
        speeds = SpeedSettings(max_linear, max_linear * 5.0, scale)
        device = SpaceMouseTeleop(speeds) if spacemouse else None
        session = DemoSession(config, echo=say)
    except TracegenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from tracegen_ros.teleop_frontend import TeleopPublisher, run_keyboard, run_spacemouse

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt  # the same clean stop as Ctrl-C: every node is stopped

    signal.signal(signal.SIGTERM, terminate)
    say(f"starting the camera, the teleop node and the recorder (logs in {session.log_dir}) ...")
    publisher = None
    try:
        session.start()
        say(f"ready: robot {session.robot_ip or 'from config'}, bags into {out}")
        publisher = TeleopPublisher(on_episode=session.on_episode)
        if device is not None:
            run_spacemouse(publisher, device)
        else:
            run_keyboard(publisher, KeyboardTeleop(speeds), extra_status=session.status)
    except TracegenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        say("interrupted: stopping the nodes")
    finally:
        if publisher is not None:
            publisher.close()
        session.stop()
    say(f"{len(session.summaries)} episode(s) kept, {len(session.aborted)} aborted; bags in {out}")
    for summary in session.summaries:
        say(f"  {summary.describe()}")
    if session.summaries:
        kept = " ".join(str(s.path) for s in session.summaries)
        say(f"forge the kept episodes (not {out}/aborted/) with: tracegen forge {kept} --out DATA_DIR")


def register(app: typer.Typer) -> None:
    app.command("record-demos")(record_demos)
