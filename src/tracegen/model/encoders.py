"""The condition encoders: DINOv3 + SigLIP on RGB, SigLIP on depth, T5 (or BERT) on the instruction.

Each encoder is a transformers backbone (frozen unless its config says otherwise) followed by
a trainable LayerNorm, as in the official model. The backbone part (:meth:`features`) is what
the encoder-output cache stores; the LayerNorm (:meth:`head`) always runs. Frozen backbones
stay in eval mode even while the model trains, so their outputs are deterministic (no
dropout) and therefore cacheable.

Shapes: images ``[B, 3, S, S]`` float in [0, 1] (S = ``image_size_px``); depth ``[B, 1, S, S]``
float metres (0 = hole); token outputs ``[B, P, D]`` with P = (S / patch)^2 patch tokens
(official: 576 at 384 px).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tracegen.errors import InputError
from tracegen.model.config import TextEncoderConfig, VisionEncoderConfig

#: ImageNet statistics (DINOv3's preprocessing).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: SigLIP's preprocessing maps [0, 1] to [-1, 1].
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)


def resolve_source(source: str) -> str:
    """``pkg:<package>/<sub dir>`` -> the directory inside the installed package; else unchanged.

    Lets a preset name weights that ship inside a PyPI package (e.g. the packaged
    all-MiniLM-L6-v2) without hard-coding a site-packages path.
    """
    if not source.startswith("pkg:"):
        return source
    package, _, sub = source[4:].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"encoder weights {source!r} come from the Python package {package!r}, which is not "
            f"installed: pip install {package.replace('_', '-')}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / sub
    if not path.exists():
        raise InputError(f"package {package!r} has no {sub!r} directory ({path}): reinstall it")
    return str(path)


def _vision_classes(kind: str) -> tuple[type, type]:
    from transformers import DINOv3ViTConfig, DINOv3ViTModel, SiglipVisionConfig, SiglipVisionModel

    return (DINOv3ViTConfig, DINOv3ViTModel) if kind == "dinov3" else (SiglipVisionConfig, SiglipVisionModel)


def _text_classes(kind: str) -> tuple[type, type]:
    from transformers import BertConfig, BertModel, T5Config, T5EncoderModel

    return (T5Config, T5EncoderModel) if kind == "t5" else (BertConfig, BertModel)


def _load_or_build(
    config_cls: type, model_cls: type, pretrained: str | None, config: dict[str, Any], load_weights: bool
) -> nn.Module:
    """``from_pretrained`` when asked and possible, else a random-initialised model from ``config``."""
    extra = {"add_pooling_layer": False} if model_cls.__name__ == "BertModel" else {}
    if load_weights and pretrained:
        try:
            return model_cls.from_pretrained(resolve_source(pretrained), **extra)
        except OSError as exc:
            raise InputError(
                f"cannot load encoder weights {pretrained!r} ({model_cls.__name__}): {exc}. Pass a "
                "local directory with the weights, or build without weights (random init)"
            ) from exc
    if not config:
        if not pretrained:
            raise InputError(f"{model_cls.__name__}: neither weights nor a config to build from")
        built_config = config_cls.from_pretrained(resolve_source(pretrained))
    else:
        clean = {k: v for k, v in config.items() if k not in ("transformers_version", "architectures")}
        built_config = config_cls(**clean)
    return model_cls(built_config, **extra)


def backbone_config_dict(backbone: nn.Module) -> dict[str, Any]:
    """The architecture of a built backbone as config kwargs (saved in checkpoints)."""
    data = backbone.config.to_diff_dict()
    for key in (
        "transformers_version",
        "architectures",
        "_name_or_path",
        "model_type",
        "torch_dtype",
        "dtype",
    ):
        data.pop(key, None)
    return data


def _normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m = images.new_tensor(mean).view(1, -1, 1, 1)
    s = images.new_tensor(std).view(1, -1, 1, 1)
    return (images - m) / s


class FrozenBackboneMixin(nn.Module):
    """Keeps a frozen ``self.backbone_module`` in eval mode and without gradients."""

    backbone_trainable: bool

    def _freeze(self, module: nn.Module, trainable: bool) -> None:
        self.backbone_trainable = trainable
        module.requires_grad_(trainable)
        if not trainable:
            module.eval()

    def train(self, mode: bool = True) -> FrozenBackboneMixin:
        super().train(mode)
        for module in self.frozen_modules():
            module.eval()
        return self

    def frozen_modules(self) -> list[nn.Module]:
        return []


class DinoEncoder(FrozenBackboneMixin):
    """DINOv3 ViT on RGB: ImageNet normalisation, final norm, CLS and register tokens dropped."""

    def __init__(self, cfg: VisionEncoderConfig, load_weights: bool) -> None:
        super().__init__()
        config_cls, model_cls = _vision_classes("dinov3")
        self.vision_model = _load_or_build(config_cls, model_cls, cfg.pretrained, cfg.config, load_weights)
        self.hidden_size = int(self.vision_model.config.hidden_size)
        self.patch_size = int(self.vision_model.config.patch_size)
        self.final_layernorm = nn.LayerNorm(self.hidden_size)
        self._freeze(self.vision_model, cfg.trainable)

    def frozen_modules(self) -> list[nn.Module]:
        return [] if self.backbone_trainable else [self.vision_model]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S]`` in [0, 1] -> ``[B, P, D]`` patch tokens (backbone output, before LayerNorm)."""
        num_patches = (images.shape[-2] // self.patch_size) * (images.shape[-1] // self.patch_size)
        pixels = _normalize(images, IMAGENET_MEAN, IMAGENET_STD)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.backbone_trainable):
            hidden = self.vision_model(pixel_values=pixels).last_hidden_state
        return hidden[:, -num_patches:]

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layernorm(features)


class SiglipEncoder(FrozenBackboneMixin):
    """SigLIP vision tower on RGB ([0, 1] -> [-1, 1] as SiglipImageProcessor(do_rescale=False))."""

    def __init__(self, cfg: VisionEncoderConfig, load_weights: bool) -> None:
        super().__init__()
        config_cls, model_cls = _vision_classes("siglip")
        self.vision_model = _load_or_build(config_cls, model_cls, cfg.pretrained, cfg.config, load_weights)
        self.hidden_size = int(self.vision_model.config.hidden_size)
        self.patch_size = int(self.vision_model.config.patch_size)
        self.final_layernorm = nn.LayerNorm(self.hidden_size)
        self._freeze(self.vision_model, cfg.trainable)

    def frozen_modules(self) -> list[nn.Module]:
        return [] if self.backbone_trainable else [self.vision_model]

    def backbone(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and (self.backbone_trainable or pixels.requires_grad)
        ):
            return self.vision_model(pixel_values=pixels).last_hidden_state

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S]`` in [0, 1] -> ``[B, P, D]``."""
        return self.backbone(_normalize(images, SIGLIP_MEAN, SIGLIP_STD))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layernorm(features)


class DepthEncoder(SiglipEncoder):
    """Raw depth (metres) -> trainable 1x1 conv stem (1 -> 3 channels) -> SigLIP -> LayerNorm.

    With ``stem_trainable`` the gradient flows through the frozen SigLIP into the stem (the
    official setup, costly); the encoder cache freezes the stem instead (its weights are then
    part of the cache key).
    """

    def __init__(self, cfg: VisionEncoderConfig, load_weights: bool) -> None:
        super().__init__(cfg, load_weights)
        self.stem_adapter = nn.Conv2d(1, 3, kernel_size=1)
        self.stem_adapter.requires_grad_(cfg.stem_trainable)

    @property
    def stem_trainable(self) -> bool:
        return self.stem_adapter.weight.requires_grad

    def features(self, depth_m: torch.Tensor) -> torch.Tensor:
        """``[B, 1, S, S]`` metres -> ``[B, P, D]``."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stem_trainable):
            pixels = self.stem_adapter(depth_m)
        return self.backbone(pixels)


class TextEncoder(FrozenBackboneMixin):
    """T5 encoder (official) or BERT on the instruction; the attention mask is kept.

    Instructions are padded / truncated to ``max_tokens`` so every condition has the same
    length (official: 128 T5 tokens).
    """

    def __init__(
        self, cfg: TextEncoderConfig, load_weights: bool, tokenizer_source: str | None = None
    ) -> None:
        super().__init__()
        config_cls, model_cls = _text_classes(cfg.kind)
        self.kind = cfg.kind
        self.max_tokens = cfg.max_tokens
        self.text_model = _load_or_build(config_cls, model_cls, cfg.pretrained, cfg.config, load_weights)
        self.hidden_size = int(
            self.text_model.config.d_model if cfg.kind == "t5" else self.text_model.config.hidden_size
        )
        self.final_layernorm = nn.LayerNorm(self.hidden_size)
        self._freeze(self.text_model, cfg.trainable)
        self.tokenizer_source = tokenizer_source or cfg.tokenizer or cfg.pretrained
        self._tokenizer: Any = None

    def frozen_modules(self) -> list[nn.Module]:
        return [] if self.backbone_trainable else [self.text_model]

    @property
    def tokenizer(self) -> Any:
        """Built on first use (paper presets need the tokenizer files; counting does not)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_source)
            vocab = int(self.text_model.config.vocab_size)
            if len(self._tokenizer) > vocab:
                raise InputError(
                    f"tokenizer {self.tokenizer_source!r} has {len(self._tokenizer)} tokens but the text "
                    f"encoder's vocabulary has only {vocab}: use the encoder's own tokenizer"
                )
        return self._tokenizer

    def tokenize(
        self, texts: list[str], device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (input ids ``[B, T]``, attention mask ``[B, T]`` bool), T = ``max_tokens``."""
        batch = self.tokenizer(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        return batch["input_ids"].to(device), batch["attention_mask"].to(device).bool()

    def features(
        self, texts: list[str], device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (``[B, T, D]`` backbone tokens, ``[B, T]`` bool mask)."""
        ids, mask = self.tokenize(texts, device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.backbone_trainable):
            hidden = self.text_model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return hidden, mask

    def head(self, features: torch.Tensor) -> torch.Tensor:
        return self.final_layernorm(features)


def load_tokenizer(source: str | None) -> Any:
    """A tokenizer from a directory / hub id / ``pkg:...``, or ``byt5`` (byte-level, no files)."""
    if source is None:
        raise InputError("the text encoder has no tokenizer configured (encoders.text.tokenizer)")
    if source == "byt5":
        from transformers import ByT5Tokenizer

        return ByT5Tokenizer()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(resolve_source(source))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot load the tokenizer {source!r}: {exc}. Pass the local directory of the text "
            "encoder (it holds the tokenizer files)"
        ) from exc
