"""On-disk cache of frozen encoder outputs, so frozen backbones run once per triplet.

One entry per (part, encoder version, content key): ``<root>/<part>/<version>/<k[:2]>/<k>.safetensors``
holding the backbone output of one image, depth map or instruction (text entries also hold
the token mask). The content key hashes the exact model-resolution bytes (image, depth) or
the instruction text; the encoder version hashes the backbone class, its architecture and
every weight, so a different or fine-tuned encoder never reads stale features. Entries are
written to a temporary name and renamed, so concurrent DDP ranks and killed runs are safe;
epochs, later runs and warm-up on the same images all reuse them.

Only frozen parts are cached: a trainable backbone (``trainable: true``) runs every step.
The depth path is ``stem -> frozen SigLIP``; its output depends on the trainable 1x1 stem, so
the cache freezes the stem (:meth:`EncoderCache.attach` sets ``requires_grad=False`` and the
stem's weights enter the depth version). Training with the cache therefore keeps the stem at
its initial (or checkpoint) value, a 6-parameter difference from the official setup, in
exchange for never running the depth SigLIP backward (see the README's training table).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from tracegen.model.model import FEATURE_PARTS, EncoderFeatures, TraceGenModel
from tracegen.model.preprocess import to_model_inputs


def encoder_version(model: TraceGenModel, part: str, dtype: torch.dtype) -> str:
    """Hash of the backbone (class, architecture, weights) that produces ``part``."""
    modules: list[torch.nn.Module] = {
        "dino": [model.dino_encoder.vision_model],
        "siglip": [model.siglip_encoder.vision_model],
        "depth": [model.depth_encoder.stem_adapter, model.depth_encoder.vision_model],
        "text": [model.text_encoder.text_model],
    }[part]
    digest = hashlib.blake2b(digest_size=12)
    digest.update(
        f"{part}:{dtype}:{model.config.image_size_px}:{model.config.encoders.text.max_tokens}".encode()
    )
    for module in modules:
        digest.update(type(module).__name__.encode())
        config = getattr(module, "config", None)
        if config is not None:
            digest.update(json.dumps(config.to_diff_dict(), sort_keys=True, default=str).encode())
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class EncoderCache:
    """Frozen-backbone features on disk (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, dtype: torch.dtype = torch.float16) -> None:
        self.root = Path(root)
        self.dtype = dtype
        self.versions: dict[str, str] = {}
        self.hits = 0
        self.misses = 0

    def cacheable_parts(self, model: TraceGenModel) -> list[str]:
        frozen = {
            "dino": not model.dino_encoder.backbone_trainable,
            "siglip": not model.siglip_encoder.backbone_trainable,
            "depth": not model.depth_encoder.backbone_trainable,
            "text": not model.text_encoder.backbone_trainable,
        }
        return [p for p in FEATURE_PARTS if frozen[p]]

    def attach(self, model: TraceGenModel) -> list[str]:
        """Freeze the depth stem (when the depth backbone is cached) and compute versions."""
        parts = self.cacheable_parts(model)
        if "depth" in parts:
            model.depth_encoder.stem_adapter.requires_grad_(False)
        self.versions = {p: encoder_version(model, p, self.dtype) for p in parts}
        return parts

    def _path(self, part: str, key: str) -> Path:
        return self.root / part / self.versions[part] / key[:2] / f"{key}.safetensors"

    def _load(self, part: str, key: str) -> dict[str, torch.Tensor] | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self._path(part, key)
        if not path.is_file():
            return None
        try:
            return load_file(path)
        except (SafetensorError, OSError):
            return None  # a damaged entry is recomputed and rewritten

    def _store(self, part: str, key: str, tensors: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save_file

        path = self._path(part, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp)
        os.replace(tmp, path)

    def _lookup(self, part: str, keys: list[str]) -> tuple[dict[int, dict[str, torch.Tensor]], list[int]]:
        found, missing = {}, []
        for i, key in enumerate(keys):
            entry = self._load(part, key)
            if entry is None:
                missing.append(i)
            else:
                found[i] = entry
        self.hits += len(found)
        self.misses += len(missing)
        return found, missing

    @torch.no_grad()
    def features(self, model: TraceGenModel, batch: dict[str, Any]) -> EncoderFeatures:
        """Features of a training batch (see :mod:`tracegen.training.data` for its keys);
        cached parts come from disk (computed and stored on a miss), the others run live."""
        device = model.device
        size = model.config.image_size_px
        inputs = to_model_inputs(list(batch["rgb"]), batch["depth"], batch["texts"], size).to(device)
        n = len(batch["texts"])
        out: dict[str, Any] = {}

        def gather(part: str, keys: list[str], compute: Any) -> dict[int, dict[str, torch.Tensor]]:
            found, missing = self._lookup(part, keys)
            if missing:
                computed = compute(missing)
                for j, i in enumerate(missing):
                    entry = {
                        name: value[j].to(self.dtype) if value.is_floating_point() else value[j]
                        for name, value in computed.items()
                    }
                    self._store(part, keys[i], entry)
                    found[i] = entry
            return found

        for part in ("dino", "siglip"):
            fn = model.dino_features if part == "dino" else model.siglip_features
            if part in self.versions:
                entries = gather(part, batch["rgb_keys"], lambda idx, fn=fn: {"x": fn(inputs.images[idx])})
                out[part] = torch.stack([entries[i]["x"] for i in range(n)]).to(device, torch.float32)
            else:
                with torch.enable_grad():
                    out[part] = fn(inputs.images)
        if "depth" in self.versions:
            has = inputs.has_depth
            depth = inputs.depth_m.new_zeros(n, model.num_patches, model.depth_encoder.hidden_size)
            with_depth = [i for i in range(n) if bool(has[i])]
            if with_depth:
                keys = [batch["depth_keys"][i] for i in with_depth]
                sub = inputs.depth_m[with_depth]
                entries = gather("depth", keys, lambda idx: {"x": model.depth_encoder.features(sub[idx])})
                depth[with_depth] = torch.stack([entries[j]["x"] for j in range(len(keys))]).to(
                    device, torch.float32
                )
            out["depth"] = depth
        else:
            with torch.enable_grad():
                out["depth"] = model.depth_features(inputs.depth_m, inputs.has_depth)
        if "text" in self.versions:
            texts = batch["texts"]

            def compute_text(idx: list[int]) -> dict[str, torch.Tensor]:
                hidden, mask = model.text_features([texts[i] for i in idx])
                return {"x": hidden, "mask": mask}

            entries = gather("text", batch["text_keys"], compute_text)
            out["text"] = torch.stack([entries[i]["x"] for i in range(n)]).to(device, torch.float32)
            out["text_mask"] = torch.stack([entries[i]["mask"] for i in range(n)]).to(device).bool()
        else:
            with torch.enable_grad():
                out["text"], out["text_mask"] = model.text_features(batch["texts"])
        return EncoderFeatures(has_depth=inputs.has_depth, **out)
