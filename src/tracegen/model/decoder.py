"""The trace decoder: diffusers' ``CogVideoXTransformer3DModel`` over the folded trace grid.

Layout (official, so official weights map 1:1): model-space increments ``[B, N, L, 3]`` with
N = rows * cols points in row-major order become a "video" ``x`` of shape ``[B, C=3, T=L, H=rows,
W=cols]`` (H = grid row v, W = grid column u). ``steps_per_frame`` = k consecutive steps are
folded into channels: ``x`` is viewed as ``[B, C, T/k, k, H, W]``, permuted to
``[B, C, k, T/k, H, W]`` and reshaped to ``[B, C*k, T/k, H, W]`` (channel index ``c*k + j``),
then permuted to diffusers' ``[B, frames, channels, H, W]``. With k = 2, 2x2 spatial patches
and patch_size_t = 1 the paper's decoder sees 16 x 10 x 10 = 1600 trace tokens.

The condition tokens ``[B, S, D]`` enter as CogVideoX's "text" stream (joint attention).
"""

from __future__ import annotations

import torch
from torch import nn

from tracegen.model.config import TraceGenConfig

#: diffusers' CogVideoX default; it sizes the sin-cos positional table by "pre-compression" frames.
COGVIDEOX_TEMPORAL_COMPRESSION = 4


def fold_traces(x: torch.Tensor, rows: int, cols: int, steps_per_frame: int) -> torch.Tensor:
    """``[B, N, L, 3]`` -> diffusers' ``[B, L/k, 3k, rows, cols]`` (see the module docstring)."""
    b, _n, steps, c = x.shape
    k = steps_per_frame
    video = x.reshape(b, rows, cols, steps, c).permute(0, 4, 3, 1, 2)  # [B, C, T, H, W]
    video = video.reshape(b, c, steps // k, k, rows, cols).permute(0, 1, 3, 2, 4, 5)
    video = video.reshape(b, c * k, steps // k, rows, cols)  # channel = c * k + j
    return video.permute(0, 2, 1, 3, 4)


def unfold_traces(video: torch.Tensor, steps_per_frame: int) -> torch.Tensor:
    """Inverse of :func:`fold_traces`: ``[B, F, 3k, rows, cols]`` -> ``[B, N, F*k, 3]``."""
    b, frames, ck, rows, cols = video.shape
    k = steps_per_frame
    c = ck // k
    x = video.permute(0, 2, 1, 3, 4).reshape(b, c, k, frames, rows, cols)  # [B, C, k, F, H, W]
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, c, frames * k, rows, cols)  # [B, C, T, H, W]
    return x.permute(0, 3, 4, 2, 1).reshape(b, rows * cols, frames * k, c)


class TraceDecoder(nn.Module):
    """Velocity network v(x_t, t, condition) over model-space increments."""

    def __init__(self, cfg: TraceGenConfig, condition_length: int) -> None:
        super().__init__()
        from diffusers import CogVideoXTransformer3DModel

        dec, spec = cfg.decoder, cfg.trace
        self.rows, self.cols = spec.grid_rows, spec.grid_cols
        self.steps_per_frame = dec.steps_per_frame
        self.condition_length = condition_length
        self.timestep_scale = cfg.flow.timestep_scale
        num_frames = cfg.num_frames
        self.cogvideox = CogVideoXTransformer3DModel(
            num_attention_heads=dec.num_heads,
            attention_head_dim=dec.head_dim,
            in_channels=3 * dec.steps_per_frame,
            out_channels=3 * dec.steps_per_frame,
            time_embed_dim=dec.time_embed_dim,
            text_embed_dim=cfg.cond_dim,
            num_layers=dec.num_layers,
            sample_height=self.rows,
            sample_width=self.cols,
            # CogVideoX rebuilds its sin-cos table unless sample_frames equals the "pre-compression"
            # frame count (F - 1) * 4 + 1; giving that count up front yields the same table once.
            sample_frames=(num_frames - 1) * COGVIDEOX_TEMPORAL_COMPRESSION + 1,
            temporal_compression_ratio=COGVIDEOX_TEMPORAL_COMPRESSION,
            patch_size=dec.patch_size,
            patch_size_t=1,
            max_text_seq_length=condition_length,
            use_rotary_positional_embeddings=False,
        )
        self.learnable_padding_tokens = (
            nn.Parameter(torch.randn(1, condition_length, cfg.cond_dim) * 0.01)
            if dec.padding_tokens
            else None
        )
        self.mask_text_padding = dec.mask_text_padding

    def pad_condition(
        self, tokens: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Official rule for conditions shorter than the decoder's length: repeat, then fill with
        the learnable padding tokens. Inactive when the lengths match (all shipped presets)."""
        b, s, _ = tokens.shape
        if s == self.condition_length:
            return tokens, mask
        if s > self.condition_length:
            return tokens[:, : self.condition_length], None if mask is None else mask[
                :, : self.condition_length
            ]
        repeat = self.condition_length // s
        tokens = tokens.repeat(1, repeat, 1)
        mask = None if mask is None else mask.repeat(1, repeat)
        fill = self.condition_length - tokens.shape[1]
        if fill:
            if self.learnable_padding_tokens is None:
                raise ValueError("condition shorter than the decoder's and no padding tokens configured")
            pad = self.learnable_padding_tokens[:, :fill].expand(b, -1, -1).to(tokens.dtype)
            tokens = torch.cat([tokens, pad], 1)
            if mask is not None:
                mask = torch.cat([mask, mask.new_ones(b, fill)], 1)
        return tokens, mask

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor,
        condition_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Velocity ``[B, N, L, 3]`` at ``x_t`` ``[B, N, L, 3]``, times ``t`` ``[B]`` in [0, 1].

        ``condition`` is ``[B, S, D]``; ``condition_mask`` ``[B, S]`` bool (True = visible) is used
        only when the preset masks text padding.
        """
        tokens, mask = self.pad_condition(condition, condition_mask)
        hidden = fold_traces(x_t, self.rows, self.cols, self.steps_per_frame).to(tokens.dtype)
        attention_kwargs = None
        if self.mask_text_padding and mask is not None and not bool(mask.all()):
            num_trace_tokens = (
                hidden.shape[1]
                * (self.rows // self.cogvideox.config.patch_size)
                * (self.cols // self.cogvideox.config.patch_size)
            )
            keys = torch.cat([mask, mask.new_ones(mask.shape[0], num_trace_tokens)], 1)
            attention_kwargs = {"attention_mask": keys[:, None, :]}
        out = self.cogvideox(
            hidden_states=hidden,
            encoder_hidden_states=tokens,
            timestep=t * self.timestep_scale,
            attention_kwargs=attention_kwargs,
            return_dict=False,
        )[0]
        return unfold_traces(out, self.steps_per_frame).to(x_t.dtype)
