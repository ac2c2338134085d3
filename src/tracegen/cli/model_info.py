"""``tracegen model-info --preset NAME [--json]``: parameter counts, built without downloading weights."""

from __future__ import annotations

import json

import typer


def model_info(
    preset: str = typer.Option(
        "paper", "--preset", help="preset name (paper, large, tiny, sim) or a YAML path"
    ),
    as_json: bool = typer.Option(
        False, "--json", help="print JSON: integer `total`, `trainable`, a `modules` map"
    ),
) -> None:
    """Print total / trainable / per-module parameter counts of a preset (meta device: no weights)."""
    from tracegen.errors import InputError
    from tracegen.model.config import load_preset
    from tracegen.model.info import parameter_counts
    from tracegen.model.model import build_model

    try:
        config = load_preset(preset)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    counts = parameter_counts(build_model(config, device="meta"))
    report = {"preset": config.name, **counts}
    if as_json:
        print(json.dumps(report, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"TraceGen preset {config.name!r}")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    table.add_column("trainable", justify="right")
    for name, row in counts["modules"].items():
        table.add_row(name, f"{row['total']:,}", f"{row['trainable']:,}")
    table.add_row(
        "[bold]total[/bold]", f"[bold]{counts['total']:,}[/bold]", f"[bold]{counts['trainable']:,}[/bold]"
    )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("model-info")(model_info)
