"""Fixtures of the model tests: the tiny preset and synthetic triplets (built in code)."""

from __future__ import annotations

import pytest
import torch

from tracegen.model.config import TraceGenConfig, load_preset
from tracegen.model.model import TraceGenModel, build_model
from tracegen.training.synthetic import synthetic_triplets


@pytest.fixture(scope="session")
def tiny_config() -> TraceGenConfig:
    return load_preset("tiny")


@pytest.fixture
def tiny_model(tiny_config: TraceGenConfig) -> TraceGenModel:
    torch.manual_seed(0)
    return build_model(tiny_config).eval()


@pytest.fixture(scope="session")
def scenes():
    """Eight 64 px synthetic scenes (every third one 2D-only)."""
    return synthetic_triplets(8, size_px=64)
