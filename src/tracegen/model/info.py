"""Parameter counts of a model: total, trainable, per module (``tracegen model-info``)."""

from __future__ import annotations

from typing import Any

from torch import nn


def _count(module: nn.Module | nn.Parameter) -> tuple[int, int]:
    params = [module] if isinstance(module, nn.Parameter) else list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def parameter_counts(model: nn.Module) -> dict[str, Any]:
    """``{"total", "trainable", "modules": {name: {"total", "trainable"}}}``.

    ``modules`` lists every top-level child and parameter, and the second level below each
    top-level module (e.g. ``dino_encoder.vision_model``), as the official tables do. Tied
    weights (T5's embeddings) count once.
    """
    total, trainable = _count(model)
    modules: dict[str, dict[str, int]] = {}
    for name, param in model.named_parameters(recurse=False):
        modules[name] = dict(zip(("total", "trainable"), _count(param), strict=True))
    for name, child in model.named_children():
        child_total, child_trainable = _count(child)
        if child_total == 0:
            continue
        modules[name] = {"total": child_total, "trainable": child_trainable}
        for sub_name, param in child.named_parameters(recurse=False):
            modules[f"{name}.{sub_name}"] = dict(zip(("total", "trainable"), _count(param), strict=True))
        for sub_name, sub in child.named_children():
            sub_total, sub_trainable = _count(sub)
            if sub_total:
                modules[f"{name}.{sub_name}"] = {"total": sub_total, "trainable": sub_trainable}
    return {"total": total, "trainable": trainable, "modules": modules}
