"""What a trace predictor promises: an :class:`Observation` in, a :class:`Prediction` out.

The inference node, ``tracegen predict`` and evaluation depend on this protocol only, not on
the model's classes, so a checkpoint format or a different model can replace TraceGen behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from tracegen.observation import Observation
from tracegen.trace import Trace


@dataclass(frozen=True, eq=False)
class Prediction:
    """A predicted trace grid for one observation.

    Attributes:
        trace: the predicted traces in the observation's image (its intrinsics), L + 1 steps.
        latency_s: wall-clock seconds from observation to trace inside the predictor.
        model_id: which weights produced it (checkpoint name and content hash, preset).
        confidence: ``[N]`` per-point confidence in [0, 1], or None when the model gives none.
    """

    trace: Trace
    latency_s: float
    model_id: str
    confidence: np.ndarray | None = None


@runtime_checkable
class TracePredictor(Protocol):
    """Anything that predicts traces from observations."""

    @property
    def model_id(self) -> str: ...

    def predict(self, observation: Observation, *, seed: int | None = None) -> Prediction:
        """Predict the future traces of the observation's query grid.

        ``seed`` makes the sampling noise reproducible; None draws fresh noise.
        """
        ...
