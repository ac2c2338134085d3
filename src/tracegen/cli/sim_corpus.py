"""``tracegen sim-corpus``: render the cross-embodiment pre-training corpus (MuJoCo, CPU).

    tracegen sim-corpus --out DIR --embodiments ur5e,xarm7,kinova3,iiwa,hand --episodes N --seed S

Then forge it with LK tracking (not ground truth):
``tracegen forge DIR --out TRIPLETS --local --tracker lk``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def sim_corpus(
    out: Annotated[Path, typer.Option("--out", help="corpus directory (resumed when it exists)")],
    embodiments: str = typer.Option(
        "ur5e,xarm7,kinova3,iiwa,panda,hand",
        "--embodiments",
        help="comma-separated: ur5e, xarm7, kinova3, iiwa, panda, hand",
    ),
    episodes: int = typer.Option(10, "--episodes", help="episodes per embodiment"),
    seed: int = typer.Option(
        0, "--seed", help="seed: episode i of an embodiment is the same for the same seed"
    ),
    width: int = typer.Option(320, "--width", help="image width in pixels"),
    height: int = typer.Option(240, "--height", help="image height in pixels"),
    fps: float = typer.Option(10.0, "--fps", help="frames per second of the episodes"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
) -> None:
    """Render arm and hand episodes of the task family and other motions under --out."""
    os.environ.setdefault("MUJOCO_GL", "osmesa")
    from tqdm import tqdm

    from tracegen.errors import InputError
    from tracegen.sim.corpus import INDEX_FILE, render_corpus

    names = [name.strip() for name in embodiments.split(",") if name.strip()]
    bar = tqdm(total=len(names) * max(episodes, 0), unit="episode", disable=no_progress)
    try:
        entries = render_corpus(
            out,
            names,
            episodes,
            seed,
            width_px=width,
            height_px=height,
            fps=fps,
            progress=lambda entry: (
                bar.set_postfix_str(f"{entry['embodiment']} {entry['motion']}"),
                bar.update(1),
            ),
        )
    except InputError as exc:
        bar.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    bar.close()
    typer.echo(f"{len(entries)} episodes in {out} (index: {out / INDEX_FILE})")
    typer.echo(f"forge them: tracegen forge {out} --out TRIPLETS --local --tracker lk")


def register(app: typer.Typer) -> None:
    app.command("sim-corpus")(sim_corpus)
