"""Shapes, layouts and masks of the TraceGen model (tiny preset, random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tracegen.model.decoder import fold_traces, unfold_traces
from tracegen.model.flow import interpolate, masked_mse_per_sample, target_velocity
from tracegen.model.preprocess import resize_depth, resize_rgb, to_model_inputs
from tracegen.trace import encode_model_space
from tracegen.training.synthetic import synthetic_triplet


def _inputs(config, texts, with_depth):
    size = config.image_size_px
    rng = np.random.default_rng(0)
    rgbs = [rng.integers(0, 255, (size, size, 3), dtype=np.uint8) for _ in texts]
    depths = [np.full((size, size), 0.8, np.float32) if d else None for d in with_depth]
    return to_model_inputs(rgbs, depths, texts, size)


def test_folding_puts_two_consecutive_steps_of_a_channel_side_by_side_in_channels():
    b, rows, cols, steps = 2, 20, 20, 32
    x = torch.arange(b * rows * cols * steps * 3, dtype=torch.float32).reshape(b, rows * cols, steps, 3)
    video = fold_traces(x, rows, cols, steps_per_frame=2)
    assert video.shape == (b, 16, 6, 20, 20)
    point, step, channel = 7 * 20 + 3, 9, 2  # row 7, column 3
    frame, j = divmod(step, 2)
    assert video[1, frame, channel * 2 + j, 7, 3] == x[1, point, step, channel]


def test_unfolding_inverts_folding():
    x = torch.randn(3, 400, 32, 3)
    assert torch.equal(unfold_traces(fold_traces(x, 20, 20, 2), 2), x)


def test_condition_has_patch_tokens_then_instruction_tokens(tiny_model, tiny_config):
    condition = tiny_model.encode(_inputs(tiny_config, ["push the block left", "go"], [True, False]))
    patches = (tiny_config.image_size_px // 16) ** 2
    assert condition.tokens.shape == (2, patches + tiny_config.encoders.text.max_tokens, tiny_config.cond_dim)
    assert condition.mask[:, :patches].all()


def test_text_mask_marks_only_real_tokens(tiny_model, tiny_config):
    condition = tiny_model.encode(_inputs(tiny_config, ["push the block left", "go"], [True, True]))
    patches = (tiny_config.image_size_px // 16) ** 2
    text_mask = condition.mask[:, patches:]
    # byte-level tokens + end-of-sequence
    assert text_mask.sum(1).tolist() == [len("push the block left") + 1, len("go") + 1]


def test_samples_without_depth_get_the_missing_depth_token(tiny_model, tiny_config):
    inputs = _inputs(tiny_config, ["a", "a"], [True, False])
    features = tiny_model.encode_features(inputs)
    assert features.has_depth.tolist() == [True, False]
    assert torch.count_nonzero(features.depth[1]) == 0
    with torch.no_grad():
        tiny_model.learnable_depth_mask_token.add_(5.0)
        shifted = tiny_model.condition(features)
        tiny_model.learnable_depth_mask_token.sub_(5.0)
        base = tiny_model.condition(features)
    assert torch.allclose(shifted.tokens[0], base.tokens[0])
    assert not torch.allclose(shifted.tokens[1], base.tokens[1])


def test_null_condition_replaces_only_the_instruction_tokens(tiny_model, tiny_config):
    condition = tiny_model.encode(_inputs(tiny_config, ["push left", "push right"], [True, True]))
    null = tiny_model.apply_null_condition(condition, torch.tensor([True, False]))
    patches = (tiny_config.image_size_px // 16) ** 2
    assert torch.equal(null.tokens[0, :patches], condition.tokens[0, :patches])
    token = tiny_model.null_condition_token[0, 0]
    assert torch.equal(null.tokens[0, patches:], token.expand_as(null.tokens[0, patches:]))
    assert null.mask[0].all()
    assert torch.equal(null.tokens[1], condition.tokens[1])


def test_null_conditions_of_different_instructions_are_identical(tiny_model, tiny_config):
    condition = tiny_model.encode(_inputs(tiny_config, ["push left", "push right"], [True, True]))
    null = tiny_model.null_condition(condition)
    patches = (tiny_config.image_size_px // 16) ** 2
    assert torch.equal(null.tokens[0, patches:], null.tokens[1, patches:])


def test_velocity_has_the_shape_of_the_traces(tiny_model, tiny_config):
    condition = tiny_model.encode(_inputs(tiny_config, ["a", "b", "c"], [True, False, True]))
    x_t = torch.randn(3, 400, tiny_config.trace.horizon, 3)
    with torch.no_grad():
        v = tiny_model.velocity(x_t, torch.tensor([0.1, 0.5, 0.9]), condition)
    assert v.shape == x_t.shape
    assert torch.isfinite(v).all()


def test_padded_instruction_tokens_are_hidden_from_the_decoder(tiny_model, tiny_config):
    condition = tiny_model.encode(_inputs(tiny_config, ["push"], [True]))
    x_t = torch.randn(1, 400, 32, 3)
    changed_tokens = condition.tokens.clone()
    padded = ~condition.mask[0]
    changed_tokens[0, padded] += 10.0
    from tracegen.model.model import Condition

    with torch.no_grad():
        v = tiny_model.velocity(x_t, torch.tensor(0.3), condition)
        v_changed = tiny_model.velocity(x_t, torch.tensor(0.3), Condition(changed_tokens, condition.mask))
    assert torch.allclose(v, v_changed, atol=1e-5)


def test_frozen_backbones_get_no_gradient_but_heads_and_decoder_do(tiny_model, tiny_config):
    tiny_model.train()
    inputs = _inputs(tiny_config, ["a", "b"], [True, False])
    condition = tiny_model.condition(tiny_model.encode_features(inputs))
    v = tiny_model.velocity(torch.randn(2, 400, 32, 3), torch.tensor([0.2, 0.7]), condition)
    v.square().mean().backward()
    assert all(p.grad is None for p in tiny_model.dino_encoder.vision_model.parameters())
    assert all(p.grad is None for p in tiny_model.text_encoder.text_model.parameters())
    assert tiny_model.vision_fusion.weight.grad is not None
    assert tiny_model.dino_encoder.final_layernorm.weight.grad is not None
    assert tiny_model.depth_encoder.stem_adapter.weight.grad is not None  # through the frozen SigLIP
    assert not tiny_model.dino_encoder.vision_model.training  # frozen parts stay in eval mode


def test_rectified_flow_path_runs_from_data_at_zero_to_noise_at_one():
    x0, noise = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    assert torch.equal(interpolate(x0, noise, torch.zeros(2)), x0)
    assert torch.equal(interpolate(x0, noise, torch.ones(2)), noise)
    assert torch.equal(target_velocity(x0, noise), noise - x0)


def test_loss_ignores_z_of_2d_traces_and_padded_steps():
    trace_2d = synthetic_triplet(2, size_px=64, is_3d=False, retargeted=False).trace  # 33 valid steps
    target = encode_model_space(trace_2d.with_num_steps(20).with_num_steps(33))
    mask = torch.from_numpy(target.mask)[None]
    assert not mask[..., 2].any()
    assert not mask[:, :, 19:].any() and mask[:, :, :19, :2].all()
    truth = torch.from_numpy(target.increments)[None]
    pred = truth.clone()
    pred[..., 2] += 3.0  # z is not supervised
    pred[:, :, 25:] -= 2.0  # padded steps are not supervised
    assert masked_mse_per_sample(pred, truth, mask).item() == 0.0
    pred[:, 0, 0, 0] += 1.0
    assert masked_mse_per_sample(pred, truth, mask).item() > 0.0


def test_per_sample_loss_is_independent_of_the_other_samples_in_the_batch():
    pred, truth = torch.randn(3, 10, 4, 3), torch.randn(3, 10, 4, 3)
    mask = torch.rand(3, 10, 4, 3) > 0.3
    full = masked_mse_per_sample(pred, truth, mask)
    assert torch.allclose(full[1:], masked_mse_per_sample(pred[1:], truth[1:], mask[1:]))


def test_images_are_resized_to_the_model_square_and_depth_keeps_metres():
    rgb = np.zeros((48, 80, 3), np.uint8)
    rgb[:, 40:] = 200
    assert resize_rgb(rgb, 32).shape == (32, 32, 3)
    depth = np.full((48, 80), 1.25, np.float32)
    depth[0, 0] = np.nan
    resized = resize_depth(depth, 32)
    assert resized.shape == (32, 32) and np.isclose(resized.max(), 1.25) and np.isfinite(resized).all()
    assert resize_depth(np.zeros((48, 80), np.float32), 32) is None


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_resize_rejects_images_that_are_not_rgb_uint8(bad):
    from tracegen.errors import InputError

    with pytest.raises(InputError, match="uint8"):
        resize_rgb(bad, 16)
