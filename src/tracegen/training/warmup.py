"""Warm-up (the paper's few-shot adaptation): fine-tune a trained checkpoint on a few demos.

The same trainer as pre-training, started from the checkpoint's weights (EMA when present)
with defaults for a handful of triplets: a short run, a lower learning rate, a short warm-up
and frequent checkpoints. The encoder cache of pre-training is reused when ``cache_dir`` points
at it (same frozen encoders, so the demo images' features are computed once).
"""

from __future__ import annotations

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


def warmup(checkpoint: str, demos: Any, output_dir: str, val_data: Any = None, **overrides: Any):
    """Fine-tune ``checkpoint`` on ``demos`` (Parquet path or triplets); returns the final checkpoint."""
    return Trainer(warmup_config(checkpoint, output_dir, **overrides)).run(demos, val_data)
