"""ODE samplers: from noise at t = 1 to traces at t = 0 along the learned velocity.

Solvers (``solver`` names in presets, checkpoints and the CLI):

- ``euler``, ``midpoint``, ``heun``, ``rk4``: fixed-step solvers of torchdiffeq run through Meta's
  flow_matching ``ODESolver`` on a uniform grid of ``steps`` intervals (decoder evaluations per
  step: 1, 2, 2, 4);
- ``dopri5``: torchdiffeq's adaptive Dormand-Prince (``steps`` does not apply; tolerances do);
- ``official``: the official sampler's loop, written out because no library reproduces its
  labelling: for k = steps-1 .. 0, ``x <- x - v(x, label = k / steps) / steps``, i.e. each Euler
  step is labelled with the time at its end. ``euler`` labels the start; with 100 steps both
  differ by one hundredth in the time label only.

Classifier-free guidance runs the conditional and null conditions in one batched decoder
pass: v = v_null + g (v_cond - v_null). Guidance 1 skips the null branch entirely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tracegen.errors import InputError
from tracegen.model.config import SOLVERS

#: torchdiffeq method names of the fixed-grid solvers, and decoder evaluations per step.
FIXED_GRID_METHODS = {
    "euler": ("euler", 1),
    "midpoint": ("midpoint", 2),
    "heun": ("heun2", 2),
    "rk4": ("rk4", 4),
}

VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SolverSpec:
    """How to integrate: solver name, steps (fixed-grid), tolerances (dopri5)."""

    solver: str = "euler"
    steps: int = 100
    atol: float = 1e-4
    rtol: float = 1e-4

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise InputError(f"unknown solver {self.solver!r}; choose one of {SOLVERS}")
        if self.steps < 1:
            raise InputError(f"solver steps must be >= 1, got {self.steps}")

    @property
    def planned_evaluations(self) -> int | None:
        """Decoder evaluations (None for the adaptive dopri5)."""
        if self.solver == "dopri5":
            return None
        if self.solver == "official":
            return self.steps
        return self.steps * FIXED_GRID_METHODS[self.solver][1]


class CountingVelocity:
    """Wraps a velocity function and counts its evaluations (NFE)."""

    def __init__(self, fn: VelocityFn) -> None:
        self.fn = fn
        self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fn(x, t)


def integrate(velocity: VelocityFn, noise: torch.Tensor, spec: SolverSpec) -> torch.Tensor:
    """Solve dx/dt = v(x, t) from ``noise`` at t = 1 down to t = 0; returns x at t = 0."""
    if spec.solver == "official":
        x = noise
        for k in range(spec.steps - 1, -1, -1):
            x = x - velocity(x, noise.new_tensor(k / spec.steps)) / spec.steps
        return x
    from flow_matching.solver import ODESolver

    def velocity_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return velocity(x, t)

    solver = ODESolver(velocity_model=velocity_model)
    if spec.solver == "dopri5":
        grid = torch.tensor([1.0, 0.0], dtype=noise.dtype)
        return solver.sample(
            noise, step_size=None, method="dopri5", atol=spec.atol, rtol=spec.rtol, time_grid=grid
        )
    grid = torch.linspace(1.0, 0.0, spec.steps + 1, dtype=noise.dtype)
    return solver.sample(noise, step_size=None, method=FIXED_GRID_METHODS[spec.solver][0], time_grid=grid)


def guided_velocity(
    velocity: Callable[[torch.Tensor, torch.Tensor, object], torch.Tensor],
    condition: object,
    null_condition: object | None,
    guidance: float,
) -> VelocityFn:
    """The CFG velocity; ``condition`` objects must support ``Condition.cat`` (batched pass)."""
    if null_condition is None or guidance == 1.0:
        return lambda x, t: velocity(x, t, condition)
    from tracegen.model.model import Condition

    both = Condition.cat([condition, null_condition])  # type: ignore[list-item]

    def fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        v = velocity(torch.cat([x, x]), t, both)
        v_cond, v_null = v.chunk(2)
        return v_null + guidance * (v_cond - v_null)

    return fn


def initial_noise(shape: tuple[int, ...], seed: int | None, device: torch.device | str) -> torch.Tensor:
    """Gaussian noise; a seed makes it identical on every machine (drawn on the CPU)."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return torch.randn(shape, generator=generator).to(device)
