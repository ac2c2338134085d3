"""Images and depth into the model's square input, the same way for training and prediction.

Official convention: the reference image is resized to ``S x S`` (not aspect-preserving); trace
u, v are normalised by the original width and height (``u / W``, ``v / H``), which is the same
as normalising pixel positions in the resized image, so no trace conversion is needed here.

- RGB: bicubic, antialiased resize (as the official DINOv3 path), kept as uint8 ``[S, S, 3]`` so
  training samples are compact and the encoder cache can key on exact bytes.
- Depth: raw metres, nearest-neighbour resize (no blending of holes with surfaces); holes,
  NaN and negative values become 0, as the official depth input.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from tracegen.errors import InputError
from tracegen.model.model import ModelInputs


def resize_rgb(rgb: np.ndarray, size_px: int) -> np.ndarray:
    """``[H, W, 3]`` uint8 -> ``[S, S, 3]`` uint8 (bicubic, antialiased)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"rgb must be [H, W, 3] uint8, got {rgb.shape} {rgb.dtype}")
    if rgb.shape[:2] == (size_px, size_px):
        return np.ascontiguousarray(rgb)
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()
    resized = F.interpolate(
        image, size=(size_px, size_px), mode="bicubic", antialias=True, align_corners=False
    )
    return resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def resize_depth(depth_m: np.ndarray | None, size_px: int) -> np.ndarray | None:
    """``[H, W]`` metres -> ``[S, S]`` float32 metres (nearest; invalid -> 0), or None when absent
    or when no pixel is valid (the model then uses its missing-depth token)."""
    if depth_m is None:
        return None
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise InputError(f"depth must be [H, W] metres, got shape {depth.shape}")
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    if not (depth > 0).any():
        return None
    tensor = torch.from_numpy(depth)[None, None]
    return F.interpolate(tensor, size=(size_px, size_px), mode="nearest-exact")[0, 0].numpy()


def content_key(*arrays: np.ndarray | None) -> str:
    """Hex digest of array bytes, shapes and dtypes (cache keys)."""
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        if array is None:
            digest.update(b"none")
            continue
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def to_model_inputs(
    rgbs: list[np.ndarray], depths: list[np.ndarray | None], texts: list[str], size_px: int
) -> ModelInputs:
    """Already resized uint8 images ``[S, S, 3]`` and depths ``[S, S]`` (or None) -> a batch."""
    images = torch.from_numpy(np.stack(rgbs)).permute(0, 3, 1, 2).float() / 255.0
    has_depth = torch.tensor([d is not None for d in depths], dtype=torch.bool)
    zeros = np.zeros((size_px, size_px), np.float32)
    depth = torch.from_numpy(np.stack([zeros if d is None else d for d in depths]))[:, None]
    return ModelInputs(images=images, depth_m=depth, has_depth=has_depth, texts=list(texts))
