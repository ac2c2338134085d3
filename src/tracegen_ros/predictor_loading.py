"""Build the inference node's :class:`~tracegen.prediction.TracePredictor` from its parameters.

A checkpoint goes through :func:`tracegen.model.predictor.load_predictor`. Without one, a model
preset (``config/model/<name>.yaml``) builds the real network with random weights: its traces
mean nothing, but the whole graph runs and latency can be measured on a robot PC before any
training (the tests and benchmarks use the ``tiny`` preset this way). torch is imported only
here, on the node's worker thread, so the node itself starts at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracegen.errors import InputError
from tracegen.prediction import TracePredictor

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class ModelSettings:
    """The ``model.*`` parameters: what to load and how to sample.

    ``solver`` "" / ``steps`` 0 / ``guidance`` < 0 mean "the checkpoint's (or preset's) default";
    ``threads`` 0 leaves torch's CPU thread count alone.
    """

    checkpoint: str = ""
    preset: str = ""
    device: str = "auto"
    solver: str = ""
    steps: int = 0
    guidance: float = -1.0
    threads: int = 0

    def __post_init__(self) -> None:
        if not _DEVICE.match(self.device):
            raise InputError(f"model.device is {self.device!r}: expected auto, cpu, cuda, cuda:N or mps")

    @property
    def configured(self) -> bool:
        return bool(self.checkpoint or self.preset)

    def describe(self) -> str:
        source = (
            f"checkpoint {self.checkpoint}" if self.checkpoint else f"preset {self.preset} (random weights)"
        )
        sampling = ", ".join(
            part
            for part in (
                f"solver {self.solver}" if self.solver else "",
                f"{self.steps} steps" if self.steps else "",
                f"guidance {self.guidance:g}" if self.guidance >= 0 else "",
            )
            if part
        )
        return f"{source} on {self.device}" + (f" ({sampling})" if sampling else "")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; others unchanged."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"model.device is {device!r} but torch sees no CUDA GPU: use cpu or auto")
    return device


def load_from_settings(settings: ModelSettings) -> TracePredictor:
    """The predictor the settings describe; raises :class:`InputError` with what to fix."""
    if not settings.configured:
        raise InputError("no model configured: set model.checkpoint (or model.preset for random weights)")
    device = resolve_device(settings.device)
    if settings.threads > 0:
        import torch

        torch.set_num_threads(settings.threads)
    solver = settings.solver or None
    steps = settings.steps or None
    guidance = settings.guidance if settings.guidance >= 0 else None
    if settings.checkpoint:
        from tracegen.model.predictor import load_predictor

        return load_predictor(
            settings.checkpoint, device=device, solver=solver, steps=steps, guidance=guidance
        )
    return _random_weights_predictor(settings.preset, device, solver, steps, guidance)


def _random_weights_predictor(
    preset: str, device: str, solver: str | None, steps: int | None, guidance: float | None
) -> TracePredictor:
    from tracegen.model.config import load_preset
    from tracegen.model.model import build_model
    from tracegen.model.predictor import TraceGenPredictor
    from tracegen.model.sampling import SolverSpec

    config = load_preset(preset)
    model = build_model(config, device=device).eval()
    defaults = config.sampler
    return TraceGenPredictor(
        model,
        model_id=f"random-weights/{config.name}",
        solver=SolverSpec(solver=solver or defaults.solver, steps=steps or defaults.steps),
        guidance=defaults.guidance if guidance is None else guidance,
    )
