"""Warm-up (the paper's few-shot adaptation): fine-tune a trained checkpoint on a few demos.

The same trainer as pre-training, started from the checkpoint's weights (EMA when present)
with defaults for a handful of triplets: a short run, a lower learning rate, a short warm-up
and frequent checkpoints. The encoder cache of pre-training is reused when ``cache_dir`` points
at it (same frozen encoders, so the demo images' features are computed once).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracegen.errors import InputError
from tracegen.model.checkpoint import read_meta
from tracegen.training.trainer import TrainConfig, Trainer

#: Defaults for a 5-demo warm-up (override any TrainConfig field).
WARMUP_DEFAULTS: dict[str, Any] = {
    "steps": 300,
    "batch_size": 8,
    "lr": 5e-5,
    "lr_encoders": 5e-6,
    "warmup_steps": 20,
    "min_lr_ratio": 0.1,
    "checkpoint_every": 100,
    "log_every": 10,
}


#: TrainConfig fields of the loss that a warm-up takes over from the checkpoint's training.
LOSS_RECIPE_KEYS = ("padding", "moving_point_weight")


def warmup_config(checkpoint: str, output_dir: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` that fine-tunes ``checkpoint`` (validated to be a tracegen checkpoint)."""
    meta = read_meta(checkpoint)  # fails early with a clear message for a wrong path
    unknown = set(overrides) - set(TrainConfig.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown warm-up options {sorted(unknown)}")
    # Fine-tune with the loss the checkpoint learned with (a change would re-teach, not adapt).
    trained = meta.training.get("train_config", {})
    loss_recipe = {key: trained[key] for key in LOSS_RECIPE_KEYS if key in trained}
    values = {**WARMUP_DEFAULTS, **loss_recipe, **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(output_dir=output_dir, init_checkpoint=str(checkpoint), **values)


def select_demo_bags(paths: Sequence[str | Path], max_demos: int | None = None) -> list[Path]:
    """The finished episode bags under ``paths`` (bags or demo folders), the first ``max_demos``."""
    from tracegen.demo_bags import finished_episode_bags

    bags = [bag for path in paths for bag in finished_episode_bags(path)]
    bags = list(dict.fromkeys(bags))
    if not bags:
        raise InputError(
            f"no finished demo episode under {', '.join(str(p) for p in paths)}: record some with "
            "`tracegen record-demos` (or `tracegen sim-demos`); aborted episodes are not used"
        )
    if max_demos is not None:
        if max_demos < 1:
            raise InputError(f"max_demos must be at least 1, got {max_demos}")
        if len(bags) < max_demos:
            raise InputError(
                f"{max_demos} demos wanted but only {len(bags)} finished episode(s) under "
                f"{', '.join(str(p) for p in paths)}: record more or ask for fewer"
            )
        bags = bags[:max_demos]
    return bags


def forge_demo_bags(bags: Sequence[Path], out_dir: str | Path, *, progress: bool = True) -> Path:
    """Forge demo bags into triplets under ``out_dir`` with the data engine's defaults.

    LK tracks lifted with each bag's aligned depth, as for any recorded video; resumable (a bag
    forged before is skipped). Fails when a bag cannot be forged or none yields a triplet,
    since a warm-up on part of the demos would silently be a different experiment.
    """
    from tracegen.forge.config import ForgeConfig
    from tracegen.forge.engine import SHARDS_DIR
    from tracegen.forge.pipeline import run_forge

    summary = run_forge([str(b) for b in bags], out_dir, ForgeConfig(), executor="local", progress=progress)
    if summary.failed:
        raise InputError(f"{summary.failed} demo bag(s) could not be forged:\n{summary.table()}")
    if not any((Path(out_dir) / SHARDS_DIR).glob("*.parquet")):
        raise InputError(
            f"the demo bags {', '.join(b.name for b in bags)} yielded no triplet: the arm must move "
            "and rest (the data engine cuts episodes at motion events); see `tracegen forge --help`"
        )
    return Path(out_dir)


def warmup(checkpoint: str, demos: Any, output_dir: str, val_data: Any = None, **overrides: Any):
    """Fine-tune ``checkpoint`` on ``demos`` (Parquet path or triplets); returns the final checkpoint."""
    return Trainer(warmup_config(checkpoint, output_dir, **overrides)).run(demos, val_data)
