"""``tracegen bringup``: start the node graph from a pip environment (no ROS launch needed).

The same graph, parameters and argument defaults as ``ros2 launch tracegen bringup.launch.py``
(both read :mod:`tracegen_ros.graph`); see :mod:`tracegen_ros.bringup` for the supervision.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path
from typing import Annotated

import typer


def bringup(
    sim: Annotated[bool, typer.Option("--sim", help="simulated camera and franky-sim (use_sim)")] = False,
    robot_ip: Annotated[
        str | None, typer.Option(help="FR3 controller address (default: config/ik_controller.yaml)")
    ] = None,
    camera_serial: Annotated[
        str | None, typer.Option(help="RealSense serial number (default: first found)")
    ] = None,
    recording: Annotated[
        Path | None, typer.Option(help="play this RealSense recording (.bag/.db3) instead of a camera")
    ] = None,
    checkpoint: Annotated[str | None, typer.Option(help="TraceGen checkpoint directory")] = None,
    instruction: Annotated[str | None, typer.Option(help="what the robot should do")] = None,
    rviz: Annotated[bool, typer.Option("--rviz", help="also start rviz2 with config/tracegen.rviz")] = False,
    record_demos: Annotated[
        bool, typer.Option("--record-demos", help="also start the demo recorder")
    ] = False,
    arg: Annotated[
        list[str] | None, typer.Option("--arg", help="any graph argument as NAME:=VALUE (repeatable)")
    ] = None,
    set_param: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="override a node parameter: NODE:PARAM:=VALUE, VALUE in YAML (repeatable)"
        ),
    ] = None,
    only: Annotated[str | None, typer.Option(help="start only these nodes (comma-separated names)")] = None,
    log_dir: Annotated[
        Path | None, typer.Option(help="also write each node's output to LOG_DIR/<node>.log")
    ] = None,
    stop_on_failure: Annotated[
        bool, typer.Option(help="stop every node when one exits with an error")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the node commands and exit")] = False,
) -> None:
    """Start camera, inference, retarget and IK controller nodes (+ rviz, recorder) and supervise them."""
    from tracegen.errors import InputError
    from tracegen.runtime_env import ros_environment
    from tracegen_ros.bringup import Supervisor, make_work_dir, prepare_commands
    from tracegen_ros.graph import argument_values, format_command, resolve, tracegen_graph

    given: dict[str, str] = {}
    for item in arg or []:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            typer.echo(f"error: --arg {item!r} must look like NAME:=VALUE", err=True)
            raise typer.Exit(code=2)
        given[name.strip()] = value
    options = {
        "use_sim": "true" if sim else None,
        "robot_ip": robot_ip,
        "camera_serial": camera_serial,
        "recording": str(recording.expanduser().resolve()) if recording is not None else None,
        "checkpoint": checkpoint,
        "instruction": instruction,
        "rviz": "true" if rviz else None,
        "record_demos": "true" if record_demos else None,
    }
    given.update({k: v for k, v in options.items() if v is not None})

    work_dir = make_work_dir()
    try:
        try:
            graph = tracegen_graph()
            if only:
                graph = graph.select(n.strip() for n in only.split(",") if n.strip())
                used = {a.name for a in graph.arguments}
                for name in sorted(set(given) - used):
                    typer.echo(f"note: ignoring {name}: none of the nodes in --only uses it", err=True)
                    del given[name]
            nodes = resolve(graph, argument_values(graph, given))
            apply_overrides(nodes, set_param or [])
            children = prepare_commands(nodes, work_dir)
        except InputError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        if dry_run:
            for node, child in zip(nodes, children, strict=True):
                typer.echo(f"{child.name}: {format_command(child.command)}")
                if node.parameters:
                    typer.echo(f"  argument parameters (in the generated params file): {node.parameters}")
            return
        supervisor = Supervisor(children, ros_environment(), log_dir=log_dir, stop_on_failure=stop_on_failure)

        def on_signal(signum, frame) -> None:
            supervisor.request_stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        supervisor.start()
        status = supervisor.run()
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if status:
        raise typer.Exit(code=status)


def apply_overrides(nodes, items: list[str]) -> None:
    """Apply ``NODE:PARAM:=VALUE`` items to the resolved nodes (VALUE parsed as YAML)."""
    import yaml

    from tracegen.errors import InputError

    by_name = {n.spec.name: n for n in nodes}
    for item in items:
        target, sep, text = item.partition(":=")
        node_name, _, param = target.partition(":")
        if not sep or not param or not node_name:
            raise InputError(
                f"--set {item!r} must look like NODE:PARAM:=VALUE, e.g. inference_node:model.steps:=10"
            )
        if node_name not in by_name:
            raise InputError(f"--set {item!r}: no node {node_name!r} is started; started: {sorted(by_name)}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise InputError(f"--set {item!r}: the value is not valid YAML: {exc}") from None
        by_name[node_name].parameters[param] = value


def register(app: typer.Typer) -> None:
    app.command("bringup")(bringup)
