"""Loading an official TraceGen ``.pth`` checkpoint into the ``paper`` / ``large`` presets.

The official file is ``torch.save`` of a dict with ``model_state_dict`` (the full model, frozen
encoders included), ``action_min`` / ``action_max`` (increment statistics, shape (3,)),
``config`` (which pickles bound methods of the official config class, so ``weights_only``
loading fails) and training bookkeeping. It is untrusted pickle: :func:`read_official_pth`
unpickles it with an allow-list (tensors, storages, plain containers, numpy arrays); every
other global becomes an inert stand-in, so no foreign code runs.

Key mapping, official -> ours (everything else is the same name, same shape):

==========================================================  ===============================================
official (after stripping ``_orig_mod.`` / ``module.``)     ours
==========================================================  ===============================================
``dino_encoder.vision_model.cls_token``                     ``dino_encoder.vision_model.embeddings.cls_token``
``dino_encoder.vision_model.reg_token``                     ``...embeddings.register_tokens``
``dino_encoder.vision_model.patch_embed.proj.*``            ``...embeddings.patch_embeddings.*``
``...blocks.N.norm1.*`` / ``norm2.*``                       ``...model.layer.N.norm1.*`` / ``norm2.*``
``...blocks.N.attn.qkv.weight`` [3D, D]                     rows 0:D, D:2D, 2D:3D -> ``...model.layer.N.attention.{q,k,v}_proj.weight``
``...blocks.N.attn.proj.*``                                 ``...model.layer.N.attention.o_proj.*``
``...blocks.N.gamma_1`` / ``gamma_2``                       ``...model.layer.N.layer_scale1.lambda1`` / ``layer_scale2.lambda1``
``...blocks.N.mlp.fc1.*`` / ``fc2.*``                       ``...model.layer.N.mlp.up_proj.*`` / ``down_proj.*``
``{siglip,depth}_encoder.vision_model.vision_model.*``     ``{siglip,depth}_encoder.vision_model.*`` (transformers 5 drops
                                                            the inner ``vision_model.`` of SiglipVisionModel; kept when
                                                            the installed transformers still nests it)
``t5_encoder.*``                                            ``text_encoder.*``
``t5_encoder.text_model.encoder.embed_tokens.weight``       (tied to ``...shared.weight``: dropped)
==========================================================  ===============================================

Ours only (kept at their initial values, listed by :data:`OURS_ONLY`): DINOv3's unused
``embeddings.mask_token``; DINOv3 q/v biases when an encoder config has them (set to zero:
timm's ViT-L/16 has none); ``null_condition_token`` (the official model has no trained null
condition, so such a checkpoint never uses classifier-free guidance).
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tracegen.model.checkpoint import CheckpointError, load_state_into, save_checkpoint
from tracegen.model.config import TraceGenConfig, load_preset
from tracegen.model.model import TraceGenModel, build_model
from tracegen.trace import TraceSpec

DINO = "dino_encoder.vision_model."
#: (official regex, our template) for DINOv3 keys below ``DINO``; qkv is handled separately.
DINO_RULES = [
    (r"cls_token", "embeddings.cls_token"),
    (r"reg_token", "embeddings.register_tokens"),
    (r"patch_embed\.proj\.(weight|bias)", r"embeddings.patch_embeddings.\1"),
    (r"blocks\.(\d+)\.norm([12])\.(weight|bias)", r"model.layer.\1.norm\2.\3"),
    (r"blocks\.(\d+)\.gamma_([12])", r"model.layer.\1.layer_scale\2.lambda1"),
    (r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", r"model.layer.\1.attention.o_proj.\2"),
    (r"blocks\.(\d+)\.mlp\.fc1\.(weight|bias)", r"model.layer.\1.mlp.up_proj.\2"),
    (r"blocks\.(\d+)\.mlp\.fc2\.(weight|bias)", r"model.layer.\1.mlp.down_proj.\2"),
    (r"norm\.(weight|bias)", r"norm.\1"),
]
SIGLIP_NESTED = re.compile(r"(siglip|depth)_encoder\.vision_model\.vision_model\.")
SIGLIP_FLAT = re.compile(r"(siglip|depth)_encoder\.vision_model\.(?!vision_model\.)")
QKV = re.compile(r"blocks\.(\d+)\.attn\.qkv\.weight")
T5_TIED = "t5_encoder.text_model.encoder.embed_tokens.weight"
#: Our keys with no official counterpart (regex over our names).
OURS_ONLY = [
    re.compile(r"dino_encoder\.vision_model\.embeddings\.mask_token"),
    re.compile(r"dino_encoder\.vision_model\.model\.layer\.\d+\.attention\.[qkv]_proj\.bias"),
    re.compile(r"null_condition_token"),
    re.compile(r"text_proj\..*"),
]


def strip_wrappers(key: str) -> str:
    """Drop torch.compile's ``_orig_mod.`` and DDP's ``module.`` segments."""
    parts = [p for p in key.split(".") if p not in ("_orig_mod", "module")]
    return ".".join(parts)


def siglip_is_nested() -> bool:
    """Whether the installed transformers' SiglipVisionModel names its keys ``vision_model.*``."""
    from transformers import SiglipVisionConfig, SiglipVisionModel

    with torch.device("meta"):
        model = SiglipVisionModel(
            SiglipVisionConfig(
                hidden_size=8,
                num_hidden_layers=1,
                num_attention_heads=1,
                intermediate_size=8,
                image_size=16,
                patch_size=8,
            )
        )
    return any(k.startswith("vision_model.") for k in model.state_dict())


def official_to_ours(
    state: dict[str, torch.Tensor], *, siglip_nested: bool | None = None
) -> dict[str, torch.Tensor]:
    """Rename (and split) official keys into ours; unknown keys pass through unchanged (and are
    then reported as unexpected by the loader)."""
    nested = siglip_is_nested() if siglip_nested is None else siglip_nested
    out: dict[str, torch.Tensor] = {}
    for raw_key, tensor in state.items():
        key = strip_wrappers(raw_key)
        if not nested:
            key = SIGLIP_NESTED.sub(r"\1_encoder.vision_model.", key, count=1)
        if key == T5_TIED:
            continue
        if key.startswith("t5_encoder."):
            out["text_encoder." + key[len("t5_encoder.") :]] = tensor
            continue
        if not key.startswith(DINO):
            out[key] = tensor
            continue
        rest = key[len(DINO) :]
        match = QKV.fullmatch(rest)
        if match:
            q, k, v = tensor.chunk(3, dim=0)
            for name, part in (("q", q), ("k", k), ("v", v)):
                out[f"{DINO}model.layer.{match.group(1)}.attention.{name}_proj.weight"] = part.contiguous()
            continue
        for pattern, template in DINO_RULES:
            if re.fullmatch(pattern, rest):
                out[DINO + re.sub(pattern, template, rest)] = tensor
                break
        else:
            out[key] = tensor
    return out


def ours_to_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`official_to_ours` (our-only keys dropped; q/k/v fused; tied T5 key added)."""
    inverse = [
        (r"embeddings\.cls_token", "cls_token"),
        (r"embeddings\.register_tokens", "reg_token"),
        (r"embeddings\.patch_embeddings\.(weight|bias)", r"patch_embed.proj.\1"),
        (r"model\.layer\.(\d+)\.norm([12])\.(weight|bias)", r"blocks.\1.norm\2.\3"),
        (r"model\.layer\.(\d+)\.layer_scale([12])\.lambda1", r"blocks.\1.gamma_\2"),
        (r"model\.layer\.(\d+)\.attention\.o_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
        (r"model\.layer\.(\d+)\.mlp\.up_proj\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
        (r"model\.layer\.(\d+)\.mlp\.down_proj\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
        (r"norm\.(weight|bias)", r"norm.\1"),
    ]
    qkv = re.compile(r"model\.layer\.(\d+)\.attention\.([qkv])_proj\.weight")
    out: dict[str, torch.Tensor] = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        if any(p.fullmatch(key) for p in OURS_ONLY):
            continue
        if SIGLIP_FLAT.match(key):
            key = SIGLIP_FLAT.sub(r"\1_encoder.vision_model.vision_model.", key, count=1)
        if key.startswith("text_encoder."):
            official = "t5_encoder." + key[len("text_encoder.") :]
            out[official] = tensor
            if official == "t5_encoder.text_model.shared.weight":
                out[T5_TIED] = tensor
            continue
        if not key.startswith(DINO):
            out[key] = tensor
            continue
        rest = key[len(DINO) :]
        match = qkv.fullmatch(rest)
        if match:
            pending.setdefault(match.group(1), {})[match.group(2)] = tensor
            continue
        for pattern, template in inverse:
            if re.fullmatch(pattern, rest):
                out[DINO + re.sub(pattern, template, rest)] = tensor
                break
        else:
            out[key] = tensor
    for block, parts in pending.items():
        out[f"{DINO}blocks.{block}.attn.qkv.weight"] = torch.cat([parts["q"], parts["k"], parts["v"]], 0)
    return out


# -- safe unpickling -----------------------------------------------------------------------------


class _StandIn:
    """Inert replacement for any class or function outside the allow-list."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _StandIn:
        return _StandIn()

    def __setstate__(self, state: Any) -> None:
        pass

    def __getattr__(self, name: str) -> _StandIn:
        return _StandIn()


_SAFE_BUILTINS = {
    "set",
    "frozenset",
    "slice",
    "complex",
    "tuple",
    "list",
    "dict",
    "int",
    "float",
    "bool",
    "str",
    "bytes",
    "bytearray",
}
_SAFE_TORCH = {"Size", "device", "Tensor"}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _SAFE_BUILTINS:
            return super().find_class(module, name)
        if module == "collections" and name in ("OrderedDict", "defaultdict"):
            return super().find_class(module, name)
        if module == "torch._utils" and name.startswith("_rebuild_"):
            return super().find_class(module, name)
        if module == "torch._tensor" and name == "_rebuild_from_type_v2":
            return super().find_class(module, name)
        if module == "torch.nn.parameter" and name == "Parameter":
            return super().find_class(module, name)
        if module == "torch" and (name in _SAFE_TORCH or isinstance(getattr(torch, name, None), torch.dtype)):
            return super().find_class(module, name)
        if module == "torch" and name.endswith("Storage"):
            return super().find_class(module, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in (
            "_reconstruct",
            "scalar",
        ):
            return super().find_class(module, name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return super().find_class(module, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            return super().find_class(module, name)
        return _StandIn


class _RestrictedPickleModule:
    """What ``torch.load(pickle_module=...)`` needs: an ``Unpickler`` (and ``load``)."""

    Unpickler = _RestrictedUnpickler
    __name__ = "tracegen_restricted_pickle"

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


@dataclass
class OfficialCheckpoint:
    """The parts of an official ``.pth`` that matter: weights (our names) and trace statistics."""

    state: dict[str, torch.Tensor]
    action_min: tuple[float, float, float]
    action_max: tuple[float, float, float]
    epoch: int | None


def read_official_pth(path: str | os.PathLike) -> OfficialCheckpoint:
    """Unpickle an official checkpoint safely and map its keys (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"official checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickleModule)
    except Exception as exc:  # corrupt zip, truncated pickle, ...: all mean "not a readable checkpoint"
        raise CheckpointError(f"{path} is not a readable official TraceGen checkpoint: {exc}") from exc
    if not isinstance(data, dict) or "model_state_dict" not in data:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{path} has no 'model_state_dict' (found {found}): expected an official TraceGen .pth "
            "(checkpoint_epoch_N.pth or final_model.pth)"
        )
    missing_stats = [k for k in ("action_min", "action_max") if k not in data]
    if missing_stats:
        raise CheckpointError(
            f"{path} lacks {missing_stats}: the increment statistics are needed to decode traces"
        )
    state = {k: v for k, v in data["model_state_dict"].items() if isinstance(v, torch.Tensor)}

    def stats(value: Any) -> tuple[float, float, float]:
        array = np.asarray(
            value.cpu() if isinstance(value, torch.Tensor) else value, dtype=np.float64
        ).ravel()
        if array.size != 3:
            raise CheckpointError(f"{path}: action statistics must have 3 values, got {array.tolist()}")
        return (float(array[0]), float(array[1]), float(array[2]))

    epoch = data.get("epoch")
    return OfficialCheckpoint(
        state=official_to_ours(state),
        action_min=stats(data["action_min"]),
        action_max=stats(data["action_max"]),
        epoch=int(epoch) if isinstance(epoch, int) else None,
    )


def config_with_statistics(config: TraceGenConfig, official: OfficialCheckpoint) -> TraceGenConfig:
    """The preset config with the checkpoint's increment statistics in its trace spec."""
    spec = TraceSpec.from_dict(
        {
            **config.trace.to_dict(),
            "increment_min": list(official.action_min),
            "increment_max": list(official.action_max),
        }
    )
    return config.replace(trace=spec)


def infer_official_preset(official: OfficialCheckpoint) -> str:
    """``large`` for a 12-block decoder, else ``paper``."""
    blocks = {
        int(m.group(1))
        for key in official.state
        if (m := re.match(r"diffusion_decoder\.cogvideox\.transformer_blocks\.(\d+)\.", key))
    }
    return "large" if len(blocks) == 12 else "paper"


def load_official(
    path: str | os.PathLike,
    preset: str | TraceGenConfig | None = None,
    *,
    tokenizer_source: str | None = None,
) -> tuple[TraceGenModel, OfficialCheckpoint]:
    """Build ``preset`` (None: inferred, paper or large) and load an official ``.pth`` into it;
    every official key must map and every key of ours must be filled."""
    official = read_official_pth(path)
    if preset is None:
        preset = infer_official_preset(official)
    config = load_preset(preset) if isinstance(preset, str) else preset
    config = config_with_statistics(config, official)
    model = build_model(config, tokenizer_source=tokenizer_source)
    own = model.state_dict()
    for key, tensor in own.items():  # our-only keys: zero the DINOv3 q/v biases, keep the rest
        if key not in official.state and re.fullmatch(OURS_ONLY[1].pattern, key):
            tensor.zero_()
    ours_only = {k for k in own if any(p.fullmatch(k) for p in OURS_ONLY)}
    state = dict(official.state)
    for key in ours_only:
        state.setdefault(key, own[key].clone())
    load_state_into(model, state, where=f"official checkpoint {path}")
    return model.eval(), official


def convert_official(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    preset: str | TraceGenConfig | None = None,
    *,
    tokenizer_source: str | None = None,
) -> Path:
    """Write an official ``.pth`` as a tracegen checkpoint directory."""
    model, official = load_official(path, preset, tokenizer_source=tokenizer_source)
    return save_checkpoint(
        model,
        out_dir,
        training={
            "source": f"official:{Path(path).name}",
            "epoch": official.epoch,
            "null_condition_trained": False,
        },
    )
