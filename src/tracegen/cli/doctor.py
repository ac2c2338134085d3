"""``tracegen doctor [--json]``: check the environment (see :mod:`tracegen.doctor`)."""

from __future__ import annotations

import json

import typer


def doctor(
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON instead of a table"),
) -> None:
    """Check every part of the stack (ROS 2, messages, robot, camera, rendering, model) and report."""
    from rich.console import Console
    from rich.table import Table

    from tracegen.doctor import results_to_json, run_checks

    results = run_checks()
    report = results_to_json(results)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        table = Table(title="tracegen doctor")
        table.add_column("part")
        table.add_column("status")
        table.add_column("detail", overflow="fold")
        for result in results:
            if result.ok:
                status = "[green]ok[/green]"
            elif result.required:
                status = "[red]MISSING[/red]"
            else:
                status = "[yellow]absent[/yellow]"
            table.add_row(result.name, status, result.detail)
        Console().print(table)
        missing = [r.name for r in results if r.required and not r.ok]
        print("all required parts present" if not missing else f"missing: {', '.join(missing)}")
    if not report["ok"]:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
