"""The TraceGen world model: presets, encoders, decoder, flow matching, samplers, checkpoints, predictor.

Entry points: :func:`load_preset` / :func:`build_model` (a model from a preset),
:func:`load_predictor` (a :class:`~tracegen.prediction.TracePredictor` from a checkpoint
directory or an official ``.pth``), :func:`save_checkpoint` / :func:`load_checkpoint`.
"""

from tracegen.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tracegen.model.config import TraceGenConfig, load_preset
from tracegen.model.model import Condition, TraceGenModel, build_model
from tracegen.model.predictor import TraceGenPredictor, load_predictor
from tracegen.model.sampling import SolverSpec

__all__ = [
    "CheckpointError",
    "Condition",
    "SolverSpec",
    "TraceGenConfig",
    "TraceGenModel",
    "TraceGenPredictor",
    "build_model",
    "load_checkpoint",
    "load_predictor",
    "load_preset",
    "save_checkpoint",
]
