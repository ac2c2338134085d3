"""The training loop: rectified flow on triplets, single process or DDP (torchrun), resumable.

What one optimizer step does (global batch G over W ranks, G / W samples each):

1. encoder features of the batch (from the encoder cache for frozen backbones, when enabled);
2. condition tokens, with the null condition for samples drawn for condition dropout;
3. x_t = (1 - t) x0 + t noise, decoder velocity, masked MSE against noise - x0 per sample;
4. backward (DDP averages over ranks), gradient clipping, AdamW, warm-up + cosine LR, EMA.

Checkpoints (``<out>/checkpoints/step-XXXXXXXX``, written atomically, the last
``keep_checkpoints`` kept) hold the weights, the EMA, the optimizer, the schedule, the RNG state
and the step; the data order and every sample's randomness are functions of (seed, step,
position) (:mod:`tracegen.training.data`). Restarting the same command after an interruption
(even ``kill -9``) resumes from the newest checkpoint and reproduces the same loss curve.
``<out>/final`` is the checkpoint to predict with. Metrics go to ``<out>/metrics.csv``,
``<out>/val_metrics.csv`` and TensorBoard (``<out>/tensorboard``).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tracegen.errors import InputError
from tracegen.model.cache import EncoderCache
from tracegen.model.checkpoint import (
    TRAINER_STATE_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    read_meta,
    save_checkpoint,
    unique_state_dict,
)
from tracegen.model.config import TraceGenConfig, load_preset
from tracegen.model.flow import interpolate, masked_mse_per_sample, target_velocity
from tracegen.model.model import TraceGenModel, build_model
from tracegen.model.preprocess import to_model_inputs
from tracegen.model.sampling import SolverSpec
from tracegen.trace.model_space import PADDING_TARGETS
from tracegen.training.data import StepBatchSampler, TrainingDataset, collate, open_source, split_by_episode
from tracegen.training.distributed import DistInfo, all_reduce_mean, barrier, init_distributed, shutdown
from tracegen.training.evaluate import evaluate
from tracegen.training.schedule import build_scheduler

CHECKPOINT_PATTERN = re.compile(r"step-(\d{8})")
TRAIN_COLUMNS = ["step", "loss", "lr", "grad_norm", "step_time_s", "samples_per_s"]


@dataclass
class TrainConfig:
    """Everything a run needs besides the data (saved with each checkpoint).

    Attributes:
        output_dir: run directory (checkpoints, metrics, final checkpoint).
        preset: model preset name or YAML path (ignored when resuming or with ``init_checkpoint``).
        init_checkpoint: start from these weights (warm-up / fine-tuning) instead of a fresh model.
        load_pretrained_encoders: load the preset's pretrained encoder weights (fresh models only).
        steps: total optimizer steps of the run.
        batch_size: global batch (split evenly over DDP processes).
        lr / lr_encoders: AdamW learning rates of the heads + decoder / of trainable backbones.
        weight_decay, warmup_steps, min_lr_ratio: AdamW decay; linear warm-up then cosine to
            ``min_lr_ratio * lr`` at ``steps``.
        grad_clip: max global gradient norm (0 = off).
        ema_decay: EMA of the trainable weights (None = off); predictions use it when present.
        checkpoint_every / keep_checkpoints: checkpoint period in steps / how many to keep.
        log_every: training metrics period (rows of metrics.csv).
        val_every: validation period in steps (0 = only at the end; needs validation data).
        val_fraction: episodes held out of the training data for validation (0 = none).
        val_max_triplets / val_solver / val_steps: validation size and sampler.
        seed: data order, sample randomness and model initialisation.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:N``.
        bf16: bf16 autocast on CUDA (ignored on CPU).
        cache_dir: encoder-output cache directory (None = run the frozen encoders every step).
        cond_dropout: override of the preset's condition-dropout probability.
        padding: target of the steps after a trace's end: ``ignore`` (official: not supervised)
            or ``hold`` (zero motion, supervised); see tracegen.trace.model_space.PADDING_TARGETS.
        moving_point_weight: loss weight of the points whose trace moves, relative to static ones
            (1 = unweighted, the official loss); see tracegen.training.data.loss_weights.
        num_workers: DataLoader worker processes.
        tensorboard / progress: TensorBoard logging / a progress bar on rank 0.
        threads: torch CPU threads per process (0 = torch's default).
    """

    output_dir: str
    preset: str = "sim"
    init_checkpoint: str | None = None
    load_pretrained_encoders: bool = True
    steps: int = 1000
    batch_size: int = 8
    lr: float = 2e-4
    lr_encoders: float = 2e-5
    weight_decay: float = 0.05
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float | None = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    log_every: int = 10
    val_every: int = 0
    val_fraction: float = 0.0
    val_max_triplets: int = 32
    val_solver: str = "midpoint"
    val_steps: int = 4
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    cache_dir: str | None = None
    cond_dropout: float | None = None
    padding: str = "ignore"
    moving_point_weight: float = 1.0
    num_workers: int = 0
    tensorboard: bool = True
    progress: bool = True
    threads: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        checks = [
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}"),
            (self.log_every >= 1, f"log_every must be >= 1, got {self.log_every}"),
            (
                self.ema_decay is None or 0 < self.ema_decay < 1,
                f"ema_decay must be in (0, 1), got {self.ema_decay}",
            ),
            (self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}"),
            (
                self.moving_point_weight > 0,
                f"moving_point_weight must be > 0, got {self.moving_point_weight}",
            ),
            (
                self.padding in PADDING_TARGETS,
                f"padding must be one of {list(PADDING_TARGETS)}, got {self.padding!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        SolverSpec(self.val_solver, self.val_steps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for but CUDA is not available: use --device cpu")
    return name


class FlowLoss(nn.Module):
    """Per-sample rectified-flow loss of a batch (the module DDP wraps)."""

    def __init__(self, model: TraceGenModel, cache: EncoderCache | None) -> None:
        super().__init__()
        self.model = model
        self.cache = cache

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        model, device = self.model, self.model.device
        if self.cache is not None:
            features = self.cache.features(model, batch)
        else:
            size = model.config.image_size_px
            inputs = to_model_inputs(list(batch["rgb"]), batch["depth"], batch["texts"], size).to(device)
            features = model.encode_features(inputs)
        condition = model.condition(features, drop=batch["drop"].to(device))
        x0, noise, t = batch["x0"].to(device), batch["noise"].to(device), batch["t"].to(device)
        x_t = interpolate(x0, noise, t)
        velocity = model.velocity(x_t, t, condition)
        return masked_mse_per_sample(velocity, target_velocity(x0, noise), batch["mask"].to(device))


def checkpoint_dirs(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first."""
    root = output_dir / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = CHECKPOINT_PATTERN.fullmatch(path.name)
        if match and (path / TRAINER_STATE_FILE).is_file() and (path / WEIGHTS_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def _rewrite_csv_upto(path: Path, last_step: int) -> None:
    """Drop rows logged after ``last_step`` (a resumed run logs them again)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= last_step]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, path)


class CsvLog:
    def __init__(self, path: Path, columns: list[str]) -> None:
        self.path, self.columns = path, columns
        if path.is_file() and path.stat().st_size:
            with open(path, newline="") as f:
                header = next(csv.reader(f), None)
            if header:
                self.columns = header
        else:
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(columns)

    def write(self, row: dict[str, Any]) -> None:
        new = [k for k in row if k not in self.columns]
        if new:  # a metric appeared (e.g. metres for the first 3D batch): widen the file
            self.columns += new
            with open(self.path, newline="") as f:
                rows = list(csv.reader(f))[1:]
            with open(self.path, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(self.columns)
                writer.writerows(r + [""] * len(new) for r in rows)
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([_fmt(row.get(k, "")) for k in self.columns])


def _fmt(value: Any) -> str:
    return f"{value:.9g}" if isinstance(value, float) else str(value)


class Trainer:
    """Runs one training job described by a :class:`TrainConfig` (see the module docstring)."""

    def __init__(self, config: TrainConfig, log: Callable[[str], None] | None = None) -> None:
        config.validate()
        self.config = config
        self.out = Path(config.output_dir)
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))

    # -- set-up -----------------------------------------------------------------------------------

    def _build_model(self, resume: Path | None) -> tuple[TraceGenModel, dict[str, Any]]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        if resume is not None:
            model = load_checkpoint(resume, use_ema=False).model
            return model, read_meta(resume).training
        if cfg.init_checkpoint:
            loaded = load_checkpoint(cfg.init_checkpoint, use_ema=True)
            return loaded.model, {"init_checkpoint": str(cfg.init_checkpoint)}
        preset: TraceGenConfig = load_preset(cfg.preset)
        return build_model(preset, load_weights=cfg.load_pretrained_encoders), {}

    def _optimizer(self, model: TraceGenModel) -> torch.optim.Optimizer:
        backbones = {
            id(p)
            for module in (
                model.dino_encoder.vision_model,
                model.siglip_encoder.vision_model,
                model.depth_encoder.vision_model,
                model.text_encoder.text_model,
            )
            for p in module.parameters()
        }
        heads = [p for p in model.parameters() if p.requires_grad and id(p) not in backbones]
        encoders = [p for p in model.parameters() if p.requires_grad and id(p) in backbones]
        groups = [{"params": heads, "lr": self.config.lr}]
        if encoders:
            groups.append({"params": encoders, "lr": self.config.lr_encoders})
        return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, weight_decay=self.config.weight_decay)

    # -- the run ----------------------------------------------------------------------------------

    def run(self, train_data: Any, val_data: Any = None) -> Path:
        """Train on ``train_data`` (Parquet path(s) or iterable of triplets); returns ``<out>/final``."""
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        device = resolve_device(cfg.device)
        dist_info = init_distributed(device)
        if device == "cuda" and dist_info.enabled:
            device = f"cuda:{dist_info.local_rank}"
        try:
            return self._run(train_data, val_data, device, dist_info)
        finally:
            shutdown(dist_info)

    def _run(self, train_data: Any, val_data: Any, device: str, dist_info: DistInfo) -> Path:
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        existing = checkpoint_dirs(self.out)
        resume = existing[-1][1] if existing else None
        model, history = self._build_model(resume)
        if cfg.cond_dropout is not None:
            model.config.flow.cond_dropout = cfg.cond_dropout
        model.to(device)
        cache = None
        if cfg.cache_dir:
            cache = EncoderCache(cfg.cache_dir)
            parts = cache.attach(model)
            if dist_info.is_main:
                self.log(f"encoder cache {cfg.cache_dir}: cached parts {parts} (depth stem frozen)")
        model.train()

        source = open_source(train_data)
        val_source = open_source(val_data) if val_data is not None else None
        if val_source is None and cfg.val_fraction > 0:
            source, val_source = split_by_episode(source, cfg.val_fraction, cfg.seed)
        dataset = TrainingDataset(
            source, model.config, cfg.seed, padding=cfg.padding, moving_point_weight=cfg.moving_point_weight
        )

        optimizer = self._optimizer(model)
        scheduler = build_scheduler(
            optimizer, warmup_steps=cfg.warmup_steps, total_steps=cfg.steps, min_ratio=cfg.min_lr_ratio
        )
        ema = self._make_ema(model)
        start_step = 0
        if resume is not None:
            state = torch.load(resume / TRAINER_STATE_FILE, map_location="cpu", weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if ema is not None and state.get("ema") is not None:
                ema.load_state_dict(state["ema"])
                ema.to(device)
            torch.set_rng_state(state["rng_torch"])
            start_step = int(state["step"])
            if dist_info.is_main:
                self.log(f"resuming from {resume} at step {start_step}")
        if start_step >= cfg.steps:
            if dist_info.is_main:
                self.log(f"run already complete ({start_step} >= {cfg.steps} steps)")
            return self._finish(model, ema, start_step, history, dist_info)

        loss_module = FlowLoss(model, cache)
        wrapped: nn.Module = loss_module
        if dist_info.enabled:
            from torch.nn.parallel import DistributedDataParallel

            wrapped = DistributedDataParallel(
                loss_module,
                device_ids=[dist_info.local_rank] if device.startswith("cuda") else None,
                find_unused_parameters=True,
            )
        sampler = StepBatchSampler(
            len(dataset),
            cfg.batch_size,
            seed=cfg.seed,
            start_step=start_step,
            total_steps=cfg.steps,
            rank=dist_info.rank,
            world=dist_info.world,
        )
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=sampler, collate_fn=collate, num_workers=cfg.num_workers
        )
        train_log = val_log = None
        writer = None
        if dist_info.is_main:
            for name in ("metrics.csv", "val_metrics.csv"):
                _rewrite_csv_upto(self.out / name, start_step)
            train_log = CsvLog(self.out / "metrics.csv", list(TRAIN_COLUMNS))
            val_log = CsvLog(self.out / "val_metrics.csv", ["step"])
            writer = self._tensorboard(start_step)
            (self.out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2), encoding="utf-8")
        val_samples = None
        if val_source is not None and dist_info.is_main:
            val_dataset = TrainingDataset(val_source, model.config, cfg.seed, padding=cfg.padding)
            val_samples = [
                val_dataset.prepared(i) for i in range(min(cfg.val_max_triplets, len(val_dataset)))
            ]

        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if cfg.bf16 and device.startswith("cuda")
            else contextlib.nullcontext()
        )
        progress = self._progress(start_step, dist_info)
        trainable = [p for p in model.parameters() if p.requires_grad]
        step = start_step
        for batch in loader:
            started = time.perf_counter()
            with autocast:
                per_sample = wrapped(batch)
            loss = per_sample.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
                if cfg.grad_clip > 0
                else torch.linalg.vector_norm(
                    torch.stack([p.grad.norm() for p in trainable if p.grad is not None])
                )
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at step {step + 1}: lower the learning rate"
                )
            step_lr = optimizer.param_groups[0]["lr"]  # the rate this step used, logged below
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.step(trainable)
            step += 1
            global_loss = float(all_reduce_mean(loss.detach(), dist_info))
            elapsed = time.perf_counter() - started
            if dist_info.is_main:
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{global_loss:.4f}")
                if step % cfg.log_every == 0 or step == cfg.steps or step == start_step + 1:
                    row = {
                        "step": step,
                        "loss": global_loss,
                        "lr": step_lr,
                        "grad_norm": float(grad_norm),
                        "step_time_s": elapsed,
                        "samples_per_s": cfg.batch_size / max(elapsed, 1e-9),
                    }
                    train_log.write(row)
                    if writer is not None:
                        for key, value in row.items():
                            if key != "step":
                                writer.add_scalar(f"train/{key}", value, step)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                self._checkpoint(model, ema, optimizer, scheduler, step, history, dist_info)
            if val_samples and (step == cfg.steps or (cfg.val_every and step % cfg.val_every == 0)):
                metrics = self._validate(model, ema, val_samples)
                val_log.write({"step": step, **metrics})
                if writer is not None:
                    for key, value in metrics.items():
                        writer.add_scalar(f"val/{key}", value, step)
                self.log(
                    f"step {step} validation: "
                    + ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))
                )
            barrier(dist_info)
        if progress is not None:
            progress.close()
        if writer is not None:
            writer.close()
        if cache is not None and dist_info.is_main:
            self.log(f"encoder cache: {cache.hits} hits, {cache.misses} misses")
        return self._finish(model, ema, step, history, dist_info)

    # -- pieces -----------------------------------------------------------------------------------

    def _make_ema(self, model: TraceGenModel) -> Any:
        if self.config.ema_decay is None:
            return None
        from diffusers.training_utils import EMAModel

        return EMAModel([p for p in model.parameters() if p.requires_grad], decay=self.config.ema_decay)

    def _ema_state(self, model: TraceGenModel, ema: Any) -> dict[str, torch.Tensor] | None:
        if ema is None:
            return None
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        return dict(zip(names, [t.detach().cpu() for t in ema.shadow_params], strict=True))

    def _training_facts(self, step: int, history: dict[str, Any], model: TraceGenModel) -> dict[str, Any]:
        trained_null = model.config.flow.cond_dropout > 0 or bool(history.get("null_condition_trained"))
        return {
            **{k: v for k, v in history.items() if k not in ("step", "train_config")},
            "step": step,
            "null_condition_trained": trained_null,
            "train_config": self.config.to_dict(),
        }

    def _checkpoint(self, model, ema, optimizer, scheduler, step, history, dist_info) -> None:
        if dist_info.is_main:
            state = {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "ema": None if ema is None else ema.state_dict(),
                "rng_torch": torch.get_rng_state(),
                "world": dist_info.world,
            }
            path = self.out / "checkpoints" / f"step-{step:08d}"
            save_checkpoint(
                model,
                path,
                training=self._training_facts(step, history, model),
                ema_state=self._ema_state(model, ema),
                trainer_state=state,
            )
            for _, old in checkpoint_dirs(self.out)[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        barrier(dist_info)

    def _validate(self, model: TraceGenModel, ema: Any, samples: list) -> dict[str, float]:
        trainable = [p for p in model.parameters() if p.requires_grad]
        if ema is not None:
            ema.store(trainable)
            ema.copy_to(trainable)
        try:
            return evaluate(
                model,
                samples,
                SolverSpec(self.config.val_solver, self.config.val_steps),
                seed=self.config.seed,
            )
        finally:
            if ema is not None:
                ema.restore(trainable)

    def _finish(self, model, ema, step, history, dist_info) -> Path:
        final = self.out / "final"
        if dist_info.is_main:
            save_checkpoint(
                model,
                final,
                training=self._training_facts(step, history, model),
                ema_state=self._ema_state(model, ema),
            )
            self.log(f"final checkpoint: {final}")
        barrier(dist_info)
        return final

    def _tensorboard(self, start_step: int) -> Any:
        if not self.config.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            self.log("tensorboard is not installed: metrics go to CSV only")
            return None
        return SummaryWriter(str(self.out / "tensorboard"), purge_step=start_step + 1 if start_step else None)

    def _progress(self, start_step: int, dist_info: DistInfo) -> Any:
        if not (self.config.progress and dist_info.is_main):
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.config.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True
        )


def train(config: TrainConfig, train_data: Any, val_data: Any = None) -> Path:
    """Run a training job (see :class:`Trainer`); returns the final checkpoint directory."""
    return Trainer(config).run(train_data, val_data)


__all__ = [
    "CheckpointError",
    "FlowLoss",
    "TrainConfig",
    "Trainer",
    "checkpoint_dirs",
    "train",
    "unique_state_dict",
]
