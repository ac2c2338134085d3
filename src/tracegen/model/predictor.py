"""The TraceGen :class:`~tracegen.prediction.TracePredictor`: observation in, absolute traces out.

Per prediction: the encoders run once (condition, and the null condition when guidance is on),
then the ODE solver calls only the decoder; with guidance both branches share one batched
decoder pass. Traces come back through the trace core (:func:`tracegen.trace.decode_model_space`):
step 0 is the query grid of the observation's image, with z sampled from its depth (holes
filled with the median valid query depth); without depth the prediction is 2D-only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from tracegen.errors import InputError
from tracegen.model.checkpoint import CheckpointMeta, checkpoint_id, load_checkpoint
from tracegen.model.model import ModelInputs, TraceGenModel
from tracegen.model.preprocess import resize_depth, resize_rgb, to_model_inputs
from tracegen.model.sampling import SolverSpec, guided_velocity, initial_noise, integrate
from tracegen.observation import Observation
from tracegen.prediction import Prediction
from tracegen.trace import (
    CameraIntrinsics,
    TraceSpec,
    decode_model_space,
    query_grid_uv_px,
    sample_depth_at_uv_m,
)


def query_start_points(
    intrinsics: CameraIntrinsics, depth_m: np.ndarray | None, spec: TraceSpec
) -> tuple[np.ndarray, bool]:
    """Step 0 in model space ``[N, 3]`` (u / W, v / H, z_m) and whether it is 3D.

    Query points on depth holes take the median depth of the valid query points (or of the
    whole image when none is valid), so a 3D trace always starts at a positive depth.
    """
    width, height = intrinsics.width_px, intrinsics.height_px
    uv_px = query_grid_uv_px(width, height, spec.grid_rows, spec.grid_cols)
    start = np.zeros((uv_px.shape[0], 3), np.float32)
    start[:, 0] = uv_px[:, 0] / width
    start[:, 1] = uv_px[:, 1] / height
    if depth_m is None:
        return start, False
    z_m = sample_depth_at_uv_m(depth_m, uv_px)
    if np.isnan(z_m).any():
        valid = z_m[np.isfinite(z_m)]
        if valid.size == 0:
            image = np.asarray(depth_m, np.float64)
            valid = image[np.isfinite(image) & (image > 0)]
        if valid.size == 0:
            return start, False
        z_m = np.where(np.isnan(z_m), np.median(valid), z_m)
    start[:, 2] = z_m
    return start, True


class TraceGenPredictor:
    """Predicts traces with a loaded model and fixed sampling settings."""

    def __init__(
        self,
        model: TraceGenModel,
        *,
        model_id: str,
        solver: SolverSpec,
        guidance: float = 1.0,
        null_condition_trained: bool = True,
    ) -> None:
        if guidance != 1.0 and not null_condition_trained:
            raise InputError(
                f"guidance {guidance} needs a checkpoint trained with a null condition (condition "
                "dropout); this one was not (e.g. official weights): use guidance 1.0"
            )
        if guidance < 0:
            raise InputError(f"guidance must be >= 0, got {guidance}")
        self.model = model.eval()
        self._model_id = model_id
        self.solver = solver
        self.guidance = float(guidance)
        self.spec = model.config.trace
        self.last_evaluations = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def device(self) -> torch.device:
        return self.model.device

    def prepare(self, observations: list[Observation]) -> ModelInputs:
        size = self.model.config.image_size_px
        return to_model_inputs(
            [resize_rgb(o.rgb, size) for o in observations],
            [resize_depth(o.depth_m, size) for o in observations],
            [o.instruction for o in observations],
            size,
        ).to(self.device)

    @torch.inference_mode()
    def sample_increments(self, inputs: ModelInputs, seed: int | None = None) -> torch.Tensor:
        """Normalised increments ``[B, N, L, 3]`` for a preprocessed batch (encoders run once)."""
        model = self.model
        condition = model.encode(inputs)
        null = model.null_condition(condition) if self.guidance != 1.0 else None
        velocity = guided_velocity(model.velocity, condition, null, self.guidance)
        calls = 0

        def counted(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            nonlocal calls
            calls += 1
            return velocity(x, t)

        noise = initial_noise(model.trace_shape(len(inputs.texts)), seed, self.device)
        out = integrate(counted, noise, self.solver)
        self.last_evaluations = calls
        return out

    def predict(self, observation: Observation, *, seed: int | None = None) -> Prediction:
        return self.predict_batch([observation], seed=seed)[0]

    def predict_batch(self, observations: list[Observation], *, seed: int | None = None) -> list[Prediction]:
        """Several observations in one batch (one noise draw for the batch from ``seed``)."""
        started = time.perf_counter()
        increments = self.sample_increments(self.prepare(observations), seed).float().cpu().numpy()
        latency_s = (time.perf_counter() - started) / len(observations)
        predictions = []
        for observation, sample in zip(observations, increments, strict=True):
            start, is_3d = query_start_points(observation.intrinsics, observation.depth_m, self.spec)
            trace = decode_model_space(start, sample, observation.intrinsics, is_3d=is_3d, spec=self.spec)
            predictions.append(Prediction(trace=trace, latency_s=latency_s, model_id=self.model_id))
        return predictions


def load_predictor(
    checkpoint: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    solver: str | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    tokenizer: str | None = None,
) -> TraceGenPredictor:
    """A predictor from a tracegen checkpoint directory or an official ``.pth`` file.

    None for solver / steps / guidance means the checkpoint's defaults (its preset's sampler
    section). ``tokenizer`` overrides where the text tokenizer is read from (official ``.pth``
    files carry none: give the t5-base directory).
    """
    path = Path(checkpoint)
    if path.suffix == ".pth":
        from tracegen.model.checkpoint import _file_digest
        from tracegen.model.official import load_official

        model, _ = load_official(path, tokenizer_source=tokenizer)
        preset = model.config.name
        model.to(device)
        meta = CheckpointMeta(
            config=model.config, training={"null_condition_trained": False}, weights_digest=_file_digest(path)
        )
        model_id = f"{path.stem}@{meta.weights_digest[:10]}/{preset}"
    else:
        loaded = load_checkpoint(path, device=device)
        model, meta = loaded.model, loaded.meta
        if tokenizer is not None:
            model.text_encoder.tokenizer_source = tokenizer
            model.text_encoder._tokenizer = None
        model_id = checkpoint_id(path, meta)
    defaults = meta.config.sampler
    spec = SolverSpec(solver=solver or defaults.solver, steps=steps or defaults.steps)
    return TraceGenPredictor(
        model,
        model_id=model_id,
        solver=spec,
        guidance=defaults.guidance if guidance is None else guidance,
        null_condition_trained=meta.null_condition_trained,
    )
