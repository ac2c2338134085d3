"""``tracegen reproduce``: the paper's few-shot table (scratch vs pre-trained, source ablation) in simulation.

``tracegen reproduce --out runs/repro`` runs every stage of :mod:`tracegen_ros.reproduce` on
the ``small`` preset and writes results.md, results.json and results.png; running the same
command again resumes. ``--preset paper`` is the paper's protocol and model size (a GPU job).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer


def _split(text: str | None) -> tuple[str, ...] | None:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None


def reproduce(
    out: Annotated[Path, typer.Option("--out", help="output folder (rerun the same command to resume)")],
    preset: Annotated[str, typer.Option(help="smoke, small (CPU, hours) or paper (GPU)")] = "small",
    tasks: Annotated[str | None, typer.Option(help="comma-separated tasks (default: the preset's)")] = None,
    rows: Annotated[
        str | None, typer.Option(help="comma-separated rows SOURCE-DEMOS, e.g. scratch-5,all-5,arms-5,hand-5")
    ] = None,
    trials: Annotated[int | None, typer.Option(help="closed-loop trials per task and row")] = None,
    eval_seed: Annotated[int | None, typer.Option(help="seed of the first trial")] = None,
    max_steps: Annotated[int | None, typer.Option(help="predictions per trial before it fails")] = None,
    episode_timeout_s: Annotated[float | None, typer.Option(help="seconds per trial before it fails")] = None,
    arms: Annotated[
        str | None, typer.Option(help="corpus arms, comma-separated: ur5e,xarm7,kinova3,iiwa,panda")
    ] = None,
    corpus_episodes: Annotated[int | None, typer.Option(help="corpus episodes per arm")] = None,
    hand_episodes: Annotated[int | None, typer.Option(help="corpus episodes of the hand")] = None,
    pretrain_steps: Annotated[int | None, typer.Option(help="pre-training optimizer steps")] = None,
    adapt_steps: Annotated[
        int | None, typer.Option(help="warm-up (and from-scratch) optimizer steps")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size of every training")] = None,
    threads: Annotated[int | None, typer.Option(help="torch CPU threads for training (0: all)")] = None,
    device: Annotated[str | None, typer.Option(help="training device: auto, cpu, cuda, cuda:N")] = None,
    demos: Annotated[
        Path | None,
        typer.Option(help="expert demos folder, DEMOS/<task>/ (reused; missing ones are recorded there)"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="show every node's output")] = False,
) -> None:
    """Scratch vs pre-trained (x 5, 15 demos) and the pre-training source ablation, in simulation."""
    from tracegen.runtime_env import reexec_in_ros_environment, sigterm_as_ctrl_c

    reexec_in_ros_environment("reproduce")
    from tracegen.errors import InputError, TracegenError
    from tracegen.reproduce.plan import Row, make_plan
    from tracegen_ros.reproduce import Reproduction

    try:
        plan = make_plan(
            preset,
            tasks=_split(tasks),
            rows=tuple(Row.parse(r) for r in _split(rows)) if rows else None,
            trials=trials,
            eval_seed=eval_seed,
            max_steps=max_steps,
            episode_timeout_s=episode_timeout_s,
            corpus_arms=_split(arms),
            corpus_episodes_per_arm=corpus_episodes,
            corpus_hand_episodes=hand_episodes,
            pretrain_steps=pretrain_steps,
            adapt_steps=adapt_steps,
            batch_size=batch_size,
            threads=threads,
            device=device,
        )
        stop = threading.Event()
        reproduction = Reproduction(plan, out, demos_dir=demos, say=typer.echo, stop=stop, verbose=verbose)
        with sigterm_as_ctrl_c():
            md, _, png = reproduction.run()
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    except TracegenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: every node is stopped; run the same command again to resume ({out})", err=True
        )
        raise typer.Exit(code=130) from None
    typer.echo(md.read_text(encoding="utf-8").split("## How it was made")[0].rstrip())
    typer.echo(f"wrote {md}, {png}")


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce)
