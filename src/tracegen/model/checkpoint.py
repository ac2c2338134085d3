"""Checkpoints: a directory of safetensors weights plus one JSON that says how to rebuild them.

Layout of a checkpoint directory::

    tracegen.json          format, model config (preset, encoders' resolved architectures, trace
                           spec = statistics, image size, L), sampler defaults, training facts
                           (step, whether a null condition was trained), library versions,
                           content hash of the weights
    model.safetensors      every parameter and persistent buffer (frozen encoders included, so
                           a checkpoint needs no other files); tied weights stored once
    ema.safetensors        optional: exponential moving average of the trainable parameters
    tokenizer/             optional: the text tokenizer's files (absent for byte-level ``byt5``)
    trainer_state.pt       optional: optimizer, schedule, EMA, RNG and data position for resume

A directory is written under a temporary name and renamed when complete, so a reader (or a
resumed run after ``kill -9``) never sees a partial checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tracegen.errors import InputError
from tracegen.model.config import TraceGenConfig
from tracegen.model.encoders import backbone_config_dict
from tracegen.model.model import TraceGenModel, build_model

FORMAT = "tracegen-checkpoint"
FORMAT_VERSION = 1
META_FILE = "tracegen.json"
WEIGHTS_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
TOKENIZER_DIR = "tokenizer"
TRAINER_STATE_FILE = "trainer_state.pt"


class CheckpointError(InputError):
    """A checkpoint that is missing, corrupt, or does not fit the model it is loaded into."""


def library_versions() -> dict[str, str]:
    import diffusers
    import safetensors
    import transformers

    import tracegen

    return {
        "tracegen": getattr(tracegen, "__version__", "0.1.0"),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "diffusers": diffusers.__version__,
        "safetensors": safetensors.__version__,
    }


def resolved_config(model: TraceGenModel) -> TraceGenConfig:
    """The model's config with each encoder's architecture written out (rebuilds without the
    encoders' original directories)."""
    config = TraceGenConfig.from_dict(model.config.to_dict())
    config.encoders.dino.config = backbone_config_dict(model.dino_encoder.vision_model)
    config.encoders.siglip.config = backbone_config_dict(model.siglip_encoder.vision_model)
    config.encoders.depth.config = backbone_config_dict(model.depth_encoder.vision_model)
    config.encoders.text.config = backbone_config_dict(model.text_encoder.text_model)
    return config


def unique_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """State dict without second names of tied tensors (safetensors stores a tensor once)."""
    seen: dict[tuple[int, int], str] = {}
    out: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key in seen and tensor.numel() > 0:
            continue
        seen[key] = name
        out[name] = tensor.detach().contiguous()
    return out


def _file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_directory_replace(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` directory to ``final`` (replacing an old one)."""
    for path in tmp.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class CheckpointMeta:
    """Contents of ``tracegen.json``."""

    config: TraceGenConfig
    training: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    weights_digest: str = ""
    has_ema: bool = False
    has_tokenizer: bool = False

    @property
    def null_condition_trained(self) -> bool:
        return bool(self.training.get("null_condition_trained", False))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "preset": self.config.name,
            "image_size_px": self.config.image_size_px,
            "horizon": self.config.trace.horizon,
            "config": self.config.to_dict(),
            "training": self.training,
            "versions": self.versions,
            "weights_digest": self.weights_digest,
            "has_ema": self.has_ema,
            "has_tokenizer": self.has_tokenizer,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], where: Path) -> CheckpointMeta:
        if data.get("format") != FORMAT:
            raise CheckpointError(f"{where} is not a tracegen checkpoint (format {data.get('format')!r})")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise CheckpointError(
                f"{where} has checkpoint format {data['format_version']}; this tracegen reads up to "
                f"{FORMAT_VERSION}: upgrade tracegen"
            )
        return cls(
            config=TraceGenConfig.from_dict(data["config"]),
            training=dict(data.get("training", {})),
            versions=dict(data.get("versions", {})),
            weights_digest=str(data.get("weights_digest", "")),
            has_ema=bool(data.get("has_ema", False)),
            has_tokenizer=bool(data.get("has_tokenizer", False)),
        )


def save_checkpoint(
    model: TraceGenModel,
    directory: str | os.PathLike,
    *,
    training: dict[str, Any] | None = None,
    ema_state: dict[str, torch.Tensor] | None = None,
    trainer_state: dict[str, Any] | None = None,
    weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint directory atomically; returns its path.

    ``weights`` overrides the model's own state dict (e.g. DDP-unwrapped weights); ``training``
    holds JSON facts (step, ``null_condition_trained``, data, ...).
    """
    from safetensors.torch import save_file

    final = Path(directory)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        state = weights if weights is not None else unique_state_dict(model)
        state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
        save_file(state, tmp / WEIGHTS_FILE, metadata={"format": FORMAT})
        if ema_state:
            save_file({k: v.detach().cpu().contiguous() for k, v in ema_state.items()}, tmp / EMA_FILE)
        has_tokenizer = False
        encoder = model.text_encoder
        if _tokenizer_available(encoder):
            with contextlib.suppress(InputError, OSError):
                encoder.tokenizer.save_pretrained(tmp / TOKENIZER_DIR)
                has_tokenizer = True
        if trainer_state is not None:
            torch.save(trainer_state, tmp / TRAINER_STATE_FILE)
        meta = CheckpointMeta(
            config=resolved_config(model),
            training=dict(training or {}),
            versions=library_versions(),
            weights_digest=_file_digest(tmp / WEIGHTS_FILE),
            has_ema=bool(ema_state),
            has_tokenizer=has_tokenizer,
        )
        (tmp / META_FILE).write_text(json.dumps(meta.to_json(), indent=2, sort_keys=True), encoding="utf-8")
        atomic_directory_replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _tokenizer_available(encoder: Any) -> bool:
    """A file-based tokenizer that is loaded or on local disk (never a download at save time)."""
    source = encoder.tokenizer_source
    if source in (None, "byt5"):
        return False
    if encoder._tokenizer is not None:
        return True
    from tracegen.model.encoders import resolve_source

    try:
        return Path(resolve_source(source)).is_dir()
    except InputError:
        return False


def read_meta(directory: str | os.PathLike) -> CheckpointMeta:
    path = Path(directory)
    meta_path = path / META_FILE
    if not path.is_dir() or not meta_path.is_file():
        raise CheckpointError(
            f"{path} is not a tracegen checkpoint directory (no {META_FILE}); pass a directory written "
            "by `tracegen train`, or an official .pth file"
        )
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_path} is corrupt (not JSON): {exc}") from exc
    return CheckpointMeta.from_json(data, path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"checkpoint weights {path} are missing")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint weights {path} are corrupt or truncated: {exc}") from exc


def load_state_into(
    model: torch.nn.Module, state: dict[str, torch.Tensor], *, where: str, partial: bool = False
) -> None:
    """Copy ``state`` into ``model``; any missing (unless ``partial``) or unexpected key, or a
    shape mismatch, fails with an error that names them."""
    own = model.state_dict()
    tied = _tied_aliases(model)
    unexpected = sorted(k for k in state if k not in own)
    missing = [] if partial else sorted(k for k in own if k not in state and tied.get(k) not in state)
    mismatched = sorted(
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    )
    if unexpected or missing or mismatched:
        raise CheckpointError(
            f"{where} does not fit the model: {_listing('missing keys', missing)}"
            f"{_listing('unexpected keys', unexpected)}{_listing('shape mismatches', mismatched)}"
            "check that the checkpoint was written for this preset"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor.to(own[name].dtype))


def _listing(what: str, keys: list[str], limit: int = 8) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:limit]) + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")
    return f"{len(keys)} {what} [{shown}]; "


def _tied_aliases(model: torch.nn.Module) -> dict[str, str]:
    """name -> the first name sharing its storage (for tied weights stored once)."""
    first: dict[tuple[int, int], str] = {}
    aliases: dict[str, str] = {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if key in first and tensor.numel() > 0:
            aliases[name] = first[key]
        else:
            first[key] = name
    return aliases


@dataclass
class LoadedCheckpoint:
    model: TraceGenModel
    meta: CheckpointMeta
    path: Path


def load_checkpoint(
    directory: str | os.PathLike, *, device: torch.device | str = "cpu", use_ema: bool = True
) -> LoadedCheckpoint:
    """Rebuild the model of a checkpoint directory and load its weights (EMA ones when present)."""
    path = Path(directory)
    meta = read_meta(path)
    state = read_weights(path / WEIGHTS_FILE)
    tokenizer = str(path / TOKENIZER_DIR) if meta.has_tokenizer else None
    model = build_model(meta.config, tokenizer_source=tokenizer)
    load_state_into(model, state, where=str(path / WEIGHTS_FILE))
    if use_ema and meta.has_ema:
        load_state_into(model, read_weights(path / EMA_FILE), where=str(path / EMA_FILE), partial=True)
    model.to(device).eval()
    return LoadedCheckpoint(model=model, meta=meta, path=path)


def checkpoint_id(path: Path, meta: CheckpointMeta) -> str:
    """``<name>@<short content hash>/<preset>``: which weights produced a prediction."""
    return f"{path.name}@{meta.weights_digest[:10]}/{meta.config.name}"
