"""``tracegen forge``: videos, RGB-D recordings and bags -> trace triplets (TraceForge).

    tracegen forge INPUTS... --out DIR [--ray-address auto] [--workers N] [--local]
    tracegen forge run INPUTS... --out DIR            (the same, spelled out)
    tracegen forge show DIR --index I --out X.png|X.mp4
    tracegen forge export-official DIR --out OFFICIAL_DIR

The first spelling works because the ``forge`` group runs ``run`` when its first argument is
not one of its sub-commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import click
import typer
from typer.core import TyperGroup


class _DefaultRunGroup(TyperGroup):
    """A group that treats ``forge INPUTS...`` as ``forge run INPUTS...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


forge_app = typer.Typer(
    cls=_DefaultRunGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="TraceForge: turn videos, RGB-D recordings, bags and datasets into trace triplets (Parquet).",
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@forge_app.command("run")
def run(
    inputs: Annotated[list[Path], typer.Argument(help="files or directories (searched recursively)")],
    out: Annotated[Path, typer.Option("--out", help="output directory: shards/*.parquet + manifest.json")],
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="join this Ray cluster ('auto', ray://...)"
    ),
    workers: int | None = typer.Option(None, "--workers", help="parallel workers (default: all CPUs)"),
    local: bool = typer.Option(False, "--local", help="no Ray: forge inputs one by one in this process"),
    overwrite: bool = typer.Option(False, "--overwrite", help="discard what DIR holds and start afresh"),
    camera_fixed: bool = typer.Option(
        False, "--camera-fixed", help="vouch that every input's camera did not move"
    ),
    tracker: str = typer.Option(
        "auto", help="auto (ground truth for sim episodes, else lk), lk, cotracker, ground_truth"
    ),
    cotracker_repo: str | None = typer.Option(None, help="local clone of facebookresearch/co-tracker"),
    cotracker_checkpoint: str | None = typer.Option(None, help="CoTracker3 weights, e.g. scaled_offline.pth"),
    vggt_repo: str | None = typer.Option(None, help="local clone of facebookresearch/vggt (camera poses)"),
    vggt_weights: str | None = typer.Option(None, help="local facebook/VGGT-1B directory"),
    captioner: str | None = typer.Option(None, "--captioner", help="local vision-language model directory"),
    segmentation: str = typer.Option("frame_diff", help="event segmentation: frame_diff or tracks"),
    frame_diff_threshold: float = typer.Option(
        0.002, help="fraction of changed pixels that counts as motion"
    ),
    track_motion_threshold: float = typer.Option(
        0.002, help="tracks: displacement / image diagonal per frame"
    ),
    min_event_frames: int = typer.Option(8, help="shorter motion events are dropped"),
    stride: int = typer.Option(8, "--stride", help="K: a reference frame every K frames"),
    max_side: int = typer.Option(640, "--max-side", help="downscale frames to this longer side (0: keep)"),
    frame_stride: int = typer.Option(1, help="keep every n-th source frame"),
    hfov_deg: float = typer.Option(
        60.0, "--default-hfov", help="field of view for sources without intrinsics"
    ),
    seed: int = typer.Option(0, help="seed of every random choice"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
) -> None:
    """Forge INPUTS into trace triplets under --out (resumes what a previous run finished)."""
    from tracegen.errors import InputError
    from tracegen.forge.config import ForgeConfig
    from tracegen.forge.pipeline import run_forge

    try:
        config = ForgeConfig(
            assume_camera_fixed=camera_fixed,
            tracker=tracker,
            cotracker_repo=cotracker_repo,
            cotracker_checkpoint=cotracker_checkpoint,
            vggt_repo=vggt_repo,
            vggt_weights=vggt_weights,
            captioner_dir=captioner,
            segmentation=segmentation,
            frame_diff_threshold=frame_diff_threshold,
            track_motion_threshold=track_motion_threshold,
            min_event_frames=min_event_frames,
            reference_stride_frames=stride,
            max_image_side_px=max_side,
            frame_stride=frame_stride,
            default_hfov_deg=hfov_deg,
            seed=seed,
        )
        summary = run_forge(
            inputs,
            out,
            config,
            executor="local" if local else "ray",
            ray_address=ray_address,
            num_workers=workers,
            overwrite=overwrite,
            progress=not no_progress,
        )
    except InputError as exc:
        _fail(str(exc))
    typer.echo(summary.table())
    if summary.failed:
        raise typer.Exit(code=1)


@forge_app.command("show")
def show_command(
    dataset: Annotated[
        Path, typer.Argument(help="a forge output directory (or any triplet Parquet dataset)")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="X.png (picture) or X.mp4 (traces growing step by step)")
    ],
    index: int = typer.Option(0, "--index", help="which triplet (0-based, in shard order)"),
) -> None:
    """Draw one triplet: the reference frame with its traces (colour by time) and a 3D plot."""
    from tracegen.errors import InputError
    from tracegen.forge.show import show

    try:
        written = show(dataset, index, out)
    except InputError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {written}")


@forge_app.command("export-official")
def export_official_command(
    dataset: Annotated[
        Path, typer.Argument(help="a forge output directory (or any triplet Parquet dataset)")
    ],
    out: Annotated[Path, typer.Option("--out", help="directory for the official TraceGen episode folders")],
) -> None:
    """Write the triplets in the official TraceGen folder format (images/, samples/, depth/)."""
    from tracegen.data import read_triplets
    from tracegen.errors import InputError
    from tracegen.forge.official import export_official

    try:
        episodes = export_official(read_triplets(dataset), out)
    except InputError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {len(episodes)} episode folders under {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(forge_app, name="forge")
