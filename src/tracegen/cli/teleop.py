"""``tracegen teleop --keyboard | --spacemouse``: drive the FR3 through the teleop node.

Publishes geometry_msgs/TwistStamped on ``<namespace>/teleop/twist`` and std_msgs/Bool on
``<namespace>/teleop/gripper`` (the teleop node's inputs); episode keys call the demo recorder's
services. The keys are listed in :mod:`tracegen.teleop_devices`.
"""

from __future__ import annotations

from typing import Annotated

import typer


def teleop(
    keyboard: Annotated[bool, typer.Option("--keyboard", help="keys in this terminal")] = False,
    spacemouse: Annotated[
        bool, typer.Option("--spacemouse", help="a 3Dconnexion SpaceMouse (pyspacemouse)")
    ] = False,
    namespace: Annotated[str, typer.Option(help="namespace of the teleop node's topics")] = "/tracegen",
    recorder: Annotated[
        str, typer.Option(help="the demo recorder node whose start/stop/abort services the episode keys call")
    ] = "/tracegen/demo_recorder",
    max_linear: Annotated[float, typer.Option(help="TCP speed at 100 % scale, m/s")] = 0.1,
    max_angular: Annotated[float, typer.Option(help="TCP angular speed at 100 % scale, rad/s")] = 0.5,
    scale: Annotated[float, typer.Option(help="initial speed scale (keyboard: +/- change it)")] = 0.5,
    hold_s: Annotated[
        float, typer.Option(help="keyboard: a motion key moves the arm this long after its last press, s")
    ] = 0.5,
    rate_hz: Annotated[float, typer.Option(help="publishing rate while moving, Hz")] = 50.0,
) -> None:
    """Teleoperate the arm (the teleop node must run: tracegen record-demos starts everything)."""
    from tracegen.errors import InputError
    from tracegen.teleop_devices import KeyboardTeleop, SpaceMouseTeleop, SpeedSettings

    if keyboard == spacemouse:
        raise typer.BadParameter("choose one device: --keyboard or --spacemouse")
    try:
        speeds = SpeedSettings(max_linear, max_angular, scale)
        device = SpaceMouseTeleop(SpeedSettings(max_linear, max_angular, scale)) if spacemouse else None
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from tracegen_ros.teleop_frontend import TeleopPublisher, run_keyboard, run_spacemouse

    publisher = TeleopPublisher(namespace, recorder)
    try:
        if device is not None:
            run_spacemouse(publisher, device, rate_hz=rate_hz)
        else:
            run_keyboard(publisher, KeyboardTeleop(speeds, hold_s=hold_s), rate_hz=rate_hz)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        publisher.close()


def register(app: typer.Typer) -> None:
    app.command("teleop")(teleop)
