"""Rectified flow as in the paper: the training path, target and masked loss.

With data x0 (normalised increments ``[B, N, L, 3]`` in [-1, 1]) and Gaussian noise eps:

    x_t = (1 - t) x0 + t eps,        t in [0, 1] (t = 1 is pure noise),
    target velocity u = dx_t/dt = eps - x0,
    loss = masked mean over (point, step, channel) of (v_theta(x_t, t) - u)^2.

The mask excludes padded steps and, for 2D-only traces, the z channel. Each sample's loss is
its own masked mean and the batch loss is the mean over samples, so the loss of a global batch
does not depend on how it is split over DDP ranks or accumulation steps (the official code
averages over every entry, masked ones included as zeros).

The interpolation is written out here rather than through flow_matching's ``AffineProbPath``
because that library's convention runs the other way (t = 0 noise, t = 1 data); keeping the
official direction keeps official weights and timesteps compatible.
"""

from __future__ import annotations

import torch

from tracegen.model.config import FlowConfig


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - t) x0 + t noise; ``t`` is ``[B]``."""
    t = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - t) * x0 + t * noise


def target_velocity(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """u = noise - x0 (constant along the straight path)."""
    return noise - x0


def masked_mse_per_sample(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B]`` mean squared error over the entries where ``mask`` is true (0 for an empty mask)."""
    weight = mask.to(pred.dtype)
    dims = tuple(range(1, pred.dim()))
    squared = (pred.float() - target.float()) ** 2 * weight.float()
    return squared.sum(dims) / weight.float().sum(dims).clamp_min(1.0)


def sample_time(
    batch: int, flow: FlowConfig, generators: list[torch.Generator] | None = None
) -> torch.Tensor:
    """Training times ``[B]``: uniform (official) or logit-normal, one draw per sample generator."""
    if generators is None:
        u = torch.rand(batch)
        z = torch.randn(batch)
    else:
        u = torch.stack([torch.rand((), generator=g) for g in generators])
        z = torch.stack([torch.randn((), generator=g) for g in generators])
    return torch.sigmoid(z) if flow.time_sampling == "logit_normal" else u
