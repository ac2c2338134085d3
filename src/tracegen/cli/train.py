"""``tracegen train`` and ``tracegen warmup``: train TraceGen on Parquet triplets, or fine-tune on demos.

Multi-process: ``tracegen train --nproc 2 ...`` starts torchrun itself (gloo on CPU, NCCL on
GPUs); ``torchrun --nproc-per-node N -m tracegen.cli.main train ...`` works the same. Running
the same command again after an interruption resumes from the newest checkpoint in ``--out``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

_OPTIONS_HELP = "see `tracegen train --help`"
#: Where ``tracegen warmup --bags`` writes the demos' triplets, under its --out.
DEMO_TRIPLETS_DIR = "demo-triplets"


def _overrides(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _relaunch_with_torchrun(nproc: int, command: str) -> None:
    """Run this same command under torchrun with ``nproc`` processes (unless already inside one)."""
    args = sys.argv[1:]
    cleaned: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        cleaned.append(arg)
    start = cleaned.index(command) if command in cleaned else 0
    launch = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "tracegen.cli.main",
        *cleaned[start:],
    ]
    raise typer.Exit(code=subprocess.call(launch))


def _run(
    config_kwargs: dict[str, Any], data: list[Path], val_data: list[Path] | None, nproc: int, command: str
) -> None:
    from tracegen.errors import InputError
    from tracegen.training.trainer import TrainConfig, Trainer

    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        _relaunch_with_torchrun(nproc, command)
    try:
        config = TrainConfig(**config_kwargs)
        final = Trainer(config).run([str(p) for p in data], [str(p) for p in val_data] if val_data else None)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    if int(os.environ.get("RANK", "0")) == 0:
        typer.echo(str(final))


def train(
    data: list[Path] = typer.Option(..., "--data", help="Parquet triplet directory or file (repeatable)"),
    out: Path = typer.Option(
        ..., "--out", help="run directory: checkpoints/, final/, metrics.csv, tensorboard/"
    ),
    preset: str = typer.Option("sim", "--preset", help="model preset (paper, large, tiny, sim) or YAML path"),
    init: str | None = typer.Option(None, "--init", help="start from this checkpoint's weights"),
    val_data: list[Path] | None = typer.Option(None, "--val-data", help="validation triplets (repeatable)"),
    val_fraction: float | None = typer.Option(None, help="hold out this fraction of episodes for validation"),
    steps: int | None = typer.Option(None, help="total optimizer steps"),
    batch_size: int | None = typer.Option(None, help="global batch size (split over processes)"),
    lr: float | None = typer.Option(None, help="learning rate of the decoder and heads"),
    lr_encoders: float | None = typer.Option(None, help="learning rate of trainable encoder backbones"),
    weight_decay: float | None = typer.Option(None, help="AdamW weight decay"),
    warmup_steps: int | None = typer.Option(None, help="linear LR warm-up steps (then cosine)"),
    min_lr_ratio: float | None = typer.Option(None, help="final LR as a fraction of the peak"),
    grad_clip: float | None = typer.Option(None, help="max gradient norm (0 = off)"),
    ema_decay: float | None = typer.Option(None, help="EMA decay of the weights (off unless given)"),
    checkpoint_every: int | None = typer.Option(None, help="checkpoint period in steps"),
    keep_checkpoints: int | None = typer.Option(None, help="checkpoints to keep"),
    log_every: int | None = typer.Option(None, help="metrics period in steps"),
    val_every: int | None = typer.Option(None, help="validation period in steps (0 = at the end)"),
    seed: int | None = typer.Option(None, help="seed of data order, noise and initialisation"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N"),
    cache_dir: str | None = typer.Option(
        None, help="encoder-output cache directory (frozen encoders run once)"
    ),
    cond_dropout: float | None = typer.Option(None, help="condition dropout (null condition for CFG)"),
    padding: str | None = typer.Option(
        None, help="steps after a trace's end: ignore (official, not supervised) or hold (zero motion)"
    ),
    moving_point_weight: float | None = typer.Option(
        None, help="loss weight of points whose trace moves, relative to static ones (1 = official)"
    ),
    workers: int | None = typer.Option(None, help="DataLoader worker processes"),
    threads: int | None = typer.Option(None, help="torch CPU threads per process"),
    no_pretrained: bool = typer.Option(False, "--no-pretrained", help="random-initialise the encoders"),
    no_bf16: bool = typer.Option(False, "--no-bf16", help="no bf16 autocast on CUDA"),
    no_tensorboard: bool = typer.Option(False, "--no-tensorboard", help="metrics to CSV only"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    nproc: int = typer.Option(1, "--nproc", help="processes (DDP through torchrun; gloo on CPU)"),
) -> None:
    """Train TraceGen (rectified flow) on triplets; prints the final checkpoint directory."""
    kwargs = _overrides(
        output_dir=str(out),
        preset=preset,
        init_checkpoint=init,
        val_fraction=val_fraction,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        lr_encoders=lr_encoders,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        min_lr_ratio=min_lr_ratio,
        grad_clip=grad_clip,
        ema_decay=ema_decay,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        log_every=log_every,
        val_every=val_every,
        seed=seed,
        device=device,
        cache_dir=cache_dir,
        cond_dropout=cond_dropout,
        padding=padding,
        moving_point_weight=moving_point_weight,
        num_workers=workers,
        threads=threads,
    )
    kwargs.update(
        load_pretrained_encoders=not no_pretrained,
        bf16=not no_bf16,
        tensorboard=not no_tensorboard,
        progress=not no_progress,
    )
    _run(kwargs, data, val_data, nproc, "train")


def warmup(
    checkpoint: str = typer.Option(
        ..., "--from", "--checkpoint", help="trained checkpoint directory to fine-tune (pre-trained model)"
    ),
    out: Path = typer.Option(..., "--out", help="run directory of the warm-up"),
    bags: list[Path] | None = typer.Option(
        None,
        "--bags",
        help="demo episode bags, or folders of them (repeatable): forged into OUT/demo-triplets first; "
        "aborted episodes are left out",
    ),
    data: list[Path] | None = typer.Option(None, "--data", help="demo triplets already forged (Parquet)"),
    max_demos: int | None = typer.Option(
        None, "--max-demos", help="use only the first N finished episodes of --bags (oldest first)"
    ),
    val_data: list[Path] | None = typer.Option(None, "--val-data", help="validation triplets"),
    steps: int | None = typer.Option(None, help="optimizer steps (default 300)"),
    batch_size: int | None = typer.Option(None, help="batch size (default 8)"),
    lr: float | None = typer.Option(None, help="learning rate (default 5e-5)"),
    warmup_steps: int | None = typer.Option(None, help="LR warm-up steps (default 20)"),
    checkpoint_every: int | None = typer.Option(None, help="checkpoint period (default 100)"),
    seed: int | None = typer.Option(None, help="seed"),
    device: str | None = typer.Option(None, help="auto, cpu, cuda, cuda:N"),
    cache_dir: str | None = typer.Option(None, help="encoder-output cache (reuse pre-training's)"),
    threads: int | None = typer.Option(None, help="torch CPU threads"),
    padding: str | None = typer.Option(
        None, help="steps after a trace's end: ignore or hold (default: as the checkpoint was trained)"
    ),
    no_tensorboard: bool = typer.Option(False, "--no-tensorboard", help="metrics to CSV only"),
    no_progress: bool = typer.Option(False, "--no-progress", help="no progress bar"),
    nproc: int = typer.Option(1, "--nproc", help="processes (DDP through torchrun)"),
) -> None:
    """Warm-up: fine-tune a checkpoint on a few demos (the paper's 5-demo adaptation).

    `tracegen warmup --from PRETRAINED --bags demos/ --max-demos 5 --out runs/warmup` forges the
    demo bags and fine-tunes; `--data` takes triplets forged before.
    """
    from tracegen.errors import InputError
    from tracegen.training.warmup import forge_demo_bags, select_demo_bags, warmup_config

    if not bags and not data:
        typer.echo("error: give the demos: --bags DEMO_FOLDER (recorded bags) or --data TRIPLETS", err=True)
        raise typer.Exit(code=2)
    try:
        config = warmup_config(
            checkpoint,
            str(out),
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            warmup_steps=warmup_steps,
            checkpoint_every=checkpoint_every,
            seed=seed,
            device=device,
            cache_dir=cache_dir,
            threads=threads,
            padding=padding,
            tensorboard=not no_tensorboard,
            progress=not no_progress,
        )
        data = list(data or [])
        # Only the first process forges (torchrun re-runs this command; its forge run then resumes).
        if bags and int(os.environ.get("RANK", "0")) == 0:
            chosen = select_demo_bags(bags, max_demos)
            typer.echo(f"forging {len(chosen)} demo episode(s): {', '.join(b.name for b in chosen)}")
            data.append(forge_demo_bags(chosen, out / DEMO_TRIPLETS_DIR, progress=not no_progress))
        elif bags:
            data.append(out / DEMO_TRIPLETS_DIR)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    _run(config.to_dict(), data, val_data, nproc, "warmup")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("warmup")(warmup)
