"""Entry point of the ``tracegen`` command."""

from __future__ import annotations

import importlib
import sys

import typer

#: Sub-command modules under tracegen.cli, each exposing ``register(app)``.
COMMAND_MODULES = [
    "doctor",
    "model_info",
    "train",
    "predict",
    "bringup",
    "forge",
    "demo",
    "eval",
    "reproduce",
    "sim_demos",
    "teleop",
    "record_demos",
    "sim_corpus",
]


def _root() -> None:
    """TraceGen on a Franka FR3 + RealSense: environment, data engine, training, robot bringup."""


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="tracegen",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    # A callback keeps typer in multi-command mode even while only one command is registered.
    app.callback()(_root)
    for name in COMMAND_MODULES:
        importlib.import_module(f"tracegen.cli.{name}").register(app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Run the command line (usage errors print a message and exit 2); returns the exit status."""
    from tracegen.runtime_env import restore_ctrl_c

    restore_ctrl_c()
    try:
        build_app()(args=argv, prog_name="tracegen")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
