"""Evaluating a model on prepared triplets: sample traces, decode them, compare with the truth.

Used by validation during training and by the accuracy benchmarks. Predictions start from the
ground-truth step 0 (query grid and its depth), so the errors measure the model alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tracegen.model.model import TraceGenModel
from tracegen.model.predictor import TraceGenPredictor
from tracegen.model.preprocess import to_model_inputs
from tracegen.model.sampling import SolverSpec
from tracegen.trace import decode_model_space_uvz
from tracegen.training.data import PreparedSample
from tracegen.training.metrics import increment_mse, mean_metrics, trace_errors


def sample_prepared(
    model: TraceGenModel,
    samples: Sequence[PreparedSample],
    solver: SolverSpec,
    *,
    guidance: float = 1.0,
    seed: int = 0,
    batch_size: int = 8,
    null_condition_trained: bool = True,
) -> np.ndarray:
    """Normalised increments ``[len(samples), N, L, 3]`` (first instruction of each sample);
    batch ``i`` uses seed ``seed + i``."""
    predictor = TraceGenPredictor(
        model,
        model_id="eval",
        solver=solver,
        guidance=guidance,
        null_condition_trained=null_condition_trained,
    )
    size = model.config.image_size_px
    out = []
    for i in range(0, len(samples), batch_size):
        chunk = samples[i : i + batch_size]
        inputs = to_model_inputs(
            [s.rgb for s in chunk], [s.depth for s in chunk], [s.instructions[0] for s in chunk], size
        )
        out.append(predictor.sample_increments(inputs.to(model.device), seed=seed + i).float().cpu().numpy())
    return np.concatenate(out)


def errors_of_increments(increments: np.ndarray, samples: Sequence[PreparedSample], spec) -> dict[str, float]:
    """Mean metrics of predicted increments against the samples' traces."""
    rows = []
    for pred, sample in zip(increments, samples, strict=True):
        k = sample.trace.intrinsics
        uvz = decode_model_space_uvz(sample.start, pred, k.width_px, k.height_px, spec)
        row = trace_errors(uvz, sample.trace)
        row["increment_mse"] = increment_mse(pred, sample.x0, sample.mask)
        rows.append(row)
    return mean_metrics(rows)


@torch.no_grad()
def evaluate(
    model: TraceGenModel,
    samples: Sequence[PreparedSample],
    solver: SolverSpec,
    *,
    guidance: float = 1.0,
    seed: int = 0,
    null_condition_trained: bool = True,
) -> dict[str, float]:
    was_training = model.training
    model.eval()
    try:
        increments = sample_prepared(
            model,
            samples,
            solver,
            guidance=guidance,
            seed=seed,
            null_condition_trained=null_condition_trained,
        )
    finally:
        model.train(was_training)
    return errors_of_increments(increments, samples, model.config.trace)
