"""Samplers and the predictor: solvers, evaluation counts, CFG batching, seeds, absolute traces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracegen.errors import InputError
from tracegen.model.predictor import TraceGenPredictor
from tracegen.model.sampling import SolverSpec, guided_velocity, integrate
from tracegen.observation import Observation
from tracegen.prediction import TracePredictor
from tracegen.trace import CameraIntrinsics, query_grid_uv_px


def linear_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """dx/dt = x - c: a flow whose exact solution from t = 1 to 0 is known."""
    return x - 0.5


def exact(x1: torch.Tensor) -> torch.Tensor:
    # x(t) = c + (x1 - c) e^(t - 1)  =>  x(0) = c + (x1 - c) / e
    return 0.5 + (x1 - 0.5) * np.exp(-1.0)


@pytest.mark.parametrize(
    ("solver", "steps", "evaluations"),
    [("euler", 7, 7), ("midpoint", 3, 6), ("heun", 4, 8), ("rk4", 2, 8), ("official", 5, 5)],
)
def test_fixed_step_solvers_use_the_planned_number_of_decoder_evaluations(solver, steps, evaluations):
    calls = []

    def velocity(x, t):
        calls.append(float(t))
        return linear_velocity(x, t)

    integrate(velocity, torch.ones(2, 3), SolverSpec(solver, steps))
    assert len(calls) == evaluations == SolverSpec(solver, steps).planned_evaluations


@pytest.mark.parametrize(
    ("solver", "steps", "tolerance"),
    [("euler", 100, 5e-3), ("midpoint", 10, 3e-3), ("heun", 10, 3e-3), ("rk4", 4, 1e-4), ("dopri5", 1, 1e-4)],
)
def test_solvers_integrate_from_noise_at_one_to_data_at_zero(solver, steps, tolerance):
    x1 = torch.linspace(-2, 2, 5)
    result = integrate(linear_velocity, x1, SolverSpec(solver, steps))
    assert torch.allclose(result, exact(x1), atol=tolerance)


def test_euler_time_grid_runs_downwards_from_one():
    times = []
    integrate(lambda x, t: (times.append(float(t)), x * 0)[1], torch.zeros(1), SolverSpec("euler", 4))
    assert times == pytest.approx([1.0, 0.75, 0.5, 0.25])


def test_official_sampler_labels_each_step_with_the_time_at_its_end():
    times = []
    integrate(lambda x, t: (times.append(float(t)), x * 0)[1], torch.zeros(1), SolverSpec("official", 4))
    assert times == pytest.approx([0.75, 0.5, 0.25, 0.0])


def test_unknown_solver_is_rejected_with_the_choices():
    with pytest.raises(InputError, match="dopri5"):
        SolverSpec("rk45", 10)


def test_guidance_runs_both_conditions_in_one_batched_pass_and_extrapolates(tiny_model, tiny_config):
    from tracegen.model.preprocess import to_model_inputs

    size = tiny_config.image_size_px
    inputs = to_model_inputs([np.full((size, size, 3), 90, np.uint8)], [None], ["push left"], size)
    condition = tiny_model.encode(inputs)
    null = tiny_model.null_condition(condition)
    batches = []

    def velocity(x, t, cond):
        batches.append(x.shape[0])
        return tiny_model.velocity(x, t, cond)

    x = torch.randn(1, 400, 32, 3)
    t = torch.tensor(0.4)
    with torch.no_grad():
        guided = guided_velocity(velocity, condition, null, 2.5)(x, t)
        v_cond = tiny_model.velocity(x, t, condition)
        v_null = tiny_model.velocity(x, t, null)
    assert batches == [2]
    assert torch.allclose(guided, v_null + 2.5 * (v_cond - v_null), atol=1e-5)


def _observation(size=(96, 72), depth=True):
    width, height = size
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    depth_m = np.full((height, width), 0.9, np.float32) if depth else None
    if depth:
        depth_m[0, 0] = 0.0  # a hole at a query point
    return Observation(rgb, depth_m, CameraIntrinsics.from_fov(width, height, 60.0), "push the block left")


def _predictor(model, **kwargs):
    return TraceGenPredictor(
        model,
        model_id="tiny-test",
        solver=SolverSpec(kwargs.pop("solver", "euler"), kwargs.pop("steps", 3)),
        **kwargs,
    )


def test_predictor_satisfies_the_trace_predictor_protocol(tiny_model):
    assert isinstance(_predictor(tiny_model), TracePredictor)


def test_prediction_starts_on_the_query_grid_of_the_observation_image(tiny_model):
    observation = _observation()
    prediction = _predictor(tiny_model).predict(observation, seed=3)
    trace = prediction.trace
    assert trace.uvz.shape == (400, 33, 3) and trace.is_3d
    assert np.allclose(trace.uvz[:, 0, :2], query_grid_uv_px(96, 72), atol=1e-3)
    assert np.allclose(trace.uvz[:, 0, 2], 0.9)  # the hole at (0, 0) took the median depth
    assert trace.intrinsics == observation.intrinsics
    assert prediction.model_id == "tiny-test" and prediction.latency_s > 0


def test_prediction_without_depth_is_2d(tiny_model):
    trace = _predictor(tiny_model).predict(_observation(depth=False), seed=0).trace
    assert not trace.is_3d and np.isnan(trace.uvz[..., 2]).all()


def test_same_seed_gives_the_same_prediction_and_another_seed_does_not(tiny_model):
    predictor = _predictor(tiny_model)
    observation = _observation()
    a = predictor.predict(observation, seed=11).trace.uvz
    b = predictor.predict(observation, seed=11).trace.uvz
    c = predictor.predict(observation, seed=12).trace.uvz
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_encoders_run_once_per_prediction_whatever_the_step_count(tiny_model, monkeypatch):
    calls = {"encode": 0, "velocity": 0}
    encode, velocity = tiny_model.encode, tiny_model.velocity

    def counting_encode(*args, **kwargs):
        calls["encode"] += 1
        return encode(*args, **kwargs)

    def counting_velocity(*args, **kwargs):
        calls["velocity"] += 1
        return velocity(*args, **kwargs)

    monkeypatch.setattr(tiny_model, "encode", counting_encode)
    monkeypatch.setattr(tiny_model, "velocity", counting_velocity)
    predictor = _predictor(tiny_model, solver="midpoint", steps=3, guidance=2.0)
    predictor.predict(_observation(), seed=0)
    assert calls == {"encode": 1, "velocity": 6}
    assert predictor.last_evaluations == 6


def test_guidance_needs_a_trained_null_condition(tiny_model):
    with pytest.raises(InputError, match="null condition"):
        _predictor(tiny_model, guidance=2.0, null_condition_trained=False)
