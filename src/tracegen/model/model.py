"""The TraceGen model: encoders -> fused condition tokens -> CogVideoX velocity decoder.

Fusion (official): per patch token concat ``[DINO | SigLIP-RGB | SigLIP-depth]`` -> Linear to
``cond_dim``; instruction tokens (LayerNorm, projected to ``cond_dim`` when widths differ)
appended: ``P + T`` condition tokens (paper: 576 + 128 = 704). Samples without depth get
the learnable depth mask token at every depth position.

Two stages, so encoders run once per observation (never per ODE step) and frozen backbone
outputs can be cached on disk:

1. :meth:`TraceGenModel.encode_features` -> :class:`EncoderFeatures` (backbone outputs);
2. :meth:`TraceGenModel.condition` -> :class:`Condition` (trainable heads + fusion, optional
   null condition for classifier-free guidance);

then :meth:`TraceGenModel.velocity` evaluates the decoder at ``(x_t, t)`` as often as the ODE
solver needs.

Module names mirror the official state dict where the parts are the same (``dino_encoder``,
``siglip_encoder``, ``depth_encoder``, ``vision_fusion``, ``learnable_depth_mask_token``,
``diffusion_decoder``); see :mod:`tracegen.model.official` for the explicit mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tracegen.errors import InputError
from tracegen.model.config import TraceGenConfig
from tracegen.model.decoder import TraceDecoder
from tracegen.model.encoders import DepthEncoder, DinoEncoder, SiglipEncoder, TextEncoder

#: Parts of :class:`EncoderFeatures`, the unit of caching.
FEATURE_PARTS = ("dino", "siglip", "depth", "text")


@dataclass
class EncoderFeatures:
    """Backbone outputs for a batch (before the trainable LayerNorms).

    Attributes:
        dino: ``[B, P, Dd]``; siglip: ``[B, P, Ds]``.
        depth: ``[B, P, Dz]`` (zeros for samples without depth).
        has_depth: ``[B]`` bool.
        text: ``[B, T, Dt]``; text_mask: ``[B, T]`` bool (True = real token).
    """

    dino: torch.Tensor
    siglip: torch.Tensor
    depth: torch.Tensor
    has_depth: torch.Tensor
    text: torch.Tensor
    text_mask: torch.Tensor


@dataclass
class Condition:
    """Fused condition tokens ``[B, S, D]`` and their mask ``[B, S]`` (True = visible)."""

    tokens: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @staticmethod
    def cat(parts: list[Condition]) -> Condition:
        return Condition(torch.cat([p.tokens for p in parts]), torch.cat([p.mask for p in parts]))

    def repeat(self, n: int) -> Condition:
        """Each sample ``n`` times in a row (several trace samples per observation)."""
        return Condition(self.tokens.repeat_interleave(n, 0), self.mask.repeat_interleave(n, 0))


@dataclass
class ModelInputs:
    """A preprocessed batch (see :mod:`tracegen.model.preprocess`).

    Attributes:
        images: ``[B, 3, S, S]`` float in [0, 1].
        depth_m: ``[B, 1, S, S]`` float metres (zeros where ``has_depth`` is false).
        has_depth: ``[B]`` bool.
        texts: B instructions.
    """

    images: torch.Tensor
    depth_m: torch.Tensor
    has_depth: torch.Tensor
    texts: list[str]

    def to(self, device: torch.device | str) -> ModelInputs:
        return ModelInputs(
            self.images.to(device), self.depth_m.to(device), self.has_depth.to(device), self.texts
        )


class TraceGenModel(nn.Module):
    """See the module docstring. Build with :func:`build_model`."""

    def __init__(
        self, config: TraceGenConfig, *, load_weights: bool = False, tokenizer_source: str | None = None
    ):
        super().__init__()
        self.config = config
        enc = config.encoders
        self.dino_encoder = DinoEncoder(enc.dino, load_weights)
        self.siglip_encoder = SiglipEncoder(enc.siglip, load_weights)
        self.depth_encoder = DepthEncoder(enc.depth, load_weights)
        self.text_encoder = TextEncoder(enc.text, load_weights, tokenizer_source)
        size = config.image_size_px
        grids = {
            name: (size // e.patch_size) ** 2
            for name, e in (
                ("dino", self.dino_encoder),
                ("siglip", self.siglip_encoder),
                ("depth", self.depth_encoder),
            )
        }
        if len(set(grids.values())) != 1 or any(size % e.patch_size for e in self.vision_encoders()):
            raise InputError(
                f"vision encoders must tile the {size}px image into the same patch grid, got tokens {grids}: "
                "use one patch size that divides image_size_px"
            )
        self.num_patches = grids["dino"]
        self.learnable_depth_mask_token = nn.Parameter(torch.randn(1, 1, self.depth_encoder.hidden_size))
        fused_width = (
            self.dino_encoder.hidden_size + self.siglip_encoder.hidden_size + self.depth_encoder.hidden_size
        )
        self.vision_fusion = nn.Linear(fused_width, config.cond_dim)
        text_width = self.text_encoder.hidden_size
        self.text_proj = (
            nn.Identity() if text_width == config.cond_dim else nn.Linear(text_width, config.cond_dim)
        )
        self.null_condition_token = nn.Parameter(torch.randn(1, 1, config.cond_dim) * 0.02)
        self.register_buffer("vision_position_table", self._position_table(), persistent=False)
        self.condition_length = self.num_patches + enc.text.max_tokens
        decoder_tokens = config.decoder.condition_tokens or self.condition_length
        if decoder_tokens < self.condition_length:
            raise InputError(
                f"decoder.condition_tokens {decoder_tokens} is below the condition's {self.condition_length} "
                "tokens (image patches + instruction tokens): raise it or leave it unset"
            )
        self.diffusion_decoder = TraceDecoder(config, decoder_tokens)

    def _position_table(self) -> torch.Tensor | None:
        """``[1, P, cond_dim]`` 2D sin-cos table (diffusers' helper), or None when not configured."""
        if not self.config.decoder.vision_positions:
            return None
        from diffusers.models.embeddings import get_2d_sincos_pos_embed

        side = round(self.num_patches**0.5)
        return get_2d_sincos_pos_embed(self.config.cond_dim, side, output_type="pt").float()[None]

    def vision_encoders(self) -> tuple[DinoEncoder, SiglipEncoder, DepthEncoder]:
        return self.dino_encoder, self.siglip_encoder, self.depth_encoder

    @property
    def device(self) -> torch.device:
        return self.vision_fusion.weight.device

    # -- stage 1: backbones (cacheable when frozen) ------------------------------------------------

    def dino_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.dino_encoder.features(images)

    def siglip_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.siglip_encoder.features(images)

    def depth_features(self, depth_m: torch.Tensor, has_depth: torch.Tensor) -> torch.Tensor:
        """``[B, P, Dz]``; only samples with depth run through the encoder (zeros elsewhere)."""
        out = depth_m.new_zeros(depth_m.shape[0], self.num_patches, self.depth_encoder.hidden_size)
        if bool(has_depth.any()):
            encoded = self.depth_encoder.features(depth_m[has_depth])
            out = out.index_put((has_depth.nonzero().squeeze(1),), encoded.to(out.dtype))
        return out

    def text_features(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.text_encoder.features(texts, self.device)

    def encode_features(self, inputs: ModelInputs) -> EncoderFeatures:
        text, text_mask = self.text_features(inputs.texts)
        return EncoderFeatures(
            dino=self.dino_features(inputs.images),
            siglip=self.siglip_features(inputs.images),
            depth=self.depth_features(inputs.depth_m, inputs.has_depth),
            has_depth=inputs.has_depth,
            text=text,
            text_mask=text_mask,
        )

    # -- stage 2: heads, fusion, null condition ---------------------------------------------------

    def condition(self, features: EncoderFeatures, drop: torch.Tensor | None = None) -> Condition:
        """Fuse features into condition tokens; samples with ``drop[b]`` get the null condition."""
        dino = self.dino_encoder.head(features.dino)
        siglip = self.siglip_encoder.head(features.siglip)
        depth = self.depth_encoder.head(features.depth)
        mask_token = self.learnable_depth_mask_token.to(depth.dtype).expand_as(depth)
        depth = torch.where(features.has_depth.view(-1, 1, 1), depth, mask_token)
        vision = self.vision_fusion(torch.cat([dino, siglip, depth], dim=-1))
        if self.vision_position_table is not None:
            vision = vision + self.vision_position_table.to(vision.dtype)
        text = self.text_proj(self.text_encoder.head(features.text))
        tokens = torch.cat([vision, text], dim=1)
        mask = torch.cat([features.text_mask.new_ones(vision.shape[:2]), features.text_mask], dim=1)
        condition = Condition(tokens, mask)
        return condition if drop is None else self.apply_null_condition(condition, drop)

    def apply_null_condition(self, condition: Condition, drop: torch.Tensor) -> Condition:
        """Replace the instruction tokens (``null_condition: text``) or every token (``all``) of the
        samples where ``drop`` ``[B]`` is true by the learnable null token."""
        tokens, mask = condition.tokens, condition.mask
        start = self.num_patches if self.config.flow.null_condition == "text" else 0
        which = torch.zeros(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        which[:, start:] = True
        which &= drop.view(-1, 1).to(tokens.device)
        null = self.null_condition_token.to(tokens.dtype).expand_as(tokens)
        return Condition(torch.where(which[..., None], null, tokens), mask | which)

    def null_condition(self, condition: Condition) -> Condition:
        return self.apply_null_condition(condition, torch.ones(len(condition), dtype=torch.bool))

    def encode(self, inputs: ModelInputs) -> Condition:
        """Observation batch -> condition (run once per observation)."""
        return self.condition(self.encode_features(inputs))

    # -- decoder -----------------------------------------------------------------------------------

    def velocity(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition) -> torch.Tensor:
        """v(x_t, t | condition): ``[B, N, L, 3]``; ``t`` scalar or ``[B]`` in [0, 1] (1 = noise)."""
        if t.dim() == 0:
            t = t.expand(x_t.shape[0])
        return self.diffusion_decoder(x_t, t.to(x_t.dtype), condition.tokens, condition.mask)

    def trace_shape(self, batch: int) -> tuple[int, int, int, int]:
        spec = self.config.trace
        return (batch, spec.num_points, spec.horizon, 3)


def build_model(
    config: TraceGenConfig,
    *,
    load_weights: bool = False,
    device: torch.device | str = "cpu",
    tokenizer_source: str | None = None,
) -> TraceGenModel:
    """Build a model; ``load_weights`` loads the encoders' pretrained weights (else random init).

    ``device="meta"`` builds without allocating memory (parameter counting of paper-size presets).
    """
    with torch.device(device):
        model = TraceGenModel(config, load_weights=load_weights, tokenizer_source=tokenizer_source)
    return model
