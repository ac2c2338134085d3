"""Checkpoints (safetensors + JSON) and the official ``.pth`` key mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tracegen.model.checkpoint import (
    EMA_FILE,
    META_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    load_checkpoint,
    read_meta,
    save_checkpoint,
)
from tracegen.model.config import load_preset
from tracegen.model.model import build_model
from tracegen.model.official import load_official, official_to_ours, ours_to_official, read_official_pth
from tracegen.model.predictor import load_predictor
from tracegen.observation import Observation
from tracegen.trace import CameraIntrinsics

OFFICIAL_KEYS = Path(__file__).parent / "data" / "official_paper_state_dict.tsv"


def _observation():
    rgb = np.random.default_rng(5).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return Observation(
        rgb, np.full((48, 64), 1.1, np.float32), CameraIntrinsics.from_fov(64, 48, 60.0), "push left"
    )


def test_checkpoint_round_trip_reproduces_weights_and_predictions(tiny_model, tmp_path):
    path = save_checkpoint(
        tiny_model, tmp_path / "ckpt", training={"step": 7, "null_condition_trained": True}
    )
    loaded = load_checkpoint(path)
    for name, tensor in tiny_model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    assert loaded.meta.training["step"] == 7
    a = load_predictor(path, steps=3).predict(_observation(), seed=4).trace.uvz
    b = load_predictor(path, steps=3).predict(_observation(), seed=4).trace.uvz
    assert np.array_equal(a, b)


def test_checkpoint_json_records_preset_statistics_image_size_horizon_and_versions(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "ckpt")
    meta = json.loads((path / META_FILE).read_text())
    assert meta["preset"] == "tiny" and meta["image_size_px"] == 64 and meta["horizon"] == 32
    assert meta["config"]["trace"]["increment_max"] == [0.05, 0.05, 0.04]
    assert {"torch", "transformers", "diffusers", "tracegen"} <= set(meta["versions"])
    assert len(meta["weights_digest"]) == 32


def test_checkpoint_rebuilds_without_the_preset_file(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "ckpt")
    config = read_meta(path).config
    assert config.encoders.dino.config["hidden_size"] == 32  # architecture written out


def test_model_id_names_checkpoint_content_hash_and_preset(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "run-a")
    model_id = load_predictor(path).model_id
    digest = read_meta(path).weights_digest
    assert model_id == f"run-a@{digest[:10]}/tiny"


def test_ema_weights_are_used_for_prediction_when_present(tiny_model, tmp_path):
    ema = {"vision_fusion.bias": torch.full_like(tiny_model.vision_fusion.bias, 0.25)}
    path = save_checkpoint(tiny_model, tmp_path / "ckpt", ema_state=ema)
    assert (path / EMA_FILE).is_file()
    assert torch.all(load_checkpoint(path).model.vision_fusion.bias == 0.25)
    assert torch.equal(
        load_checkpoint(path, use_ema=False).model.vision_fusion.bias, tiny_model.vision_fusion.bias
    )


def test_truncated_weights_fail_with_an_error_naming_the_file(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "ckpt")
    weights = path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*corrupt"):
        load_checkpoint(path)


def test_garbage_json_fails_with_a_clear_error(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "ckpt")
    (path / META_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(path)


def test_directory_without_checkpoint_is_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="not a tracegen checkpoint"):
        load_checkpoint(tmp_path)


def test_weights_of_another_preset_fail_naming_missing_and_unexpected_keys(tiny_model, tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(tiny_model, tmp_path / "ckpt")
    state = load_file(path / WEIGHTS_FILE)
    state.pop("vision_fusion.weight")
    state["decoder.extra.weight"] = torch.zeros(2)
    save_file(state, path / WEIGHTS_FILE)
    with pytest.raises(
        CheckpointError,
        match=r"missing keys \[vision_fusion\.weight\].*unexpected keys \[decoder\.extra\.weight\]",
    ):
        load_checkpoint(path)


# -- the official .pth ---------------------------------------------------------------------------------


class DictToNamespace:
    """Stands for the official config class whose bound method ends up in the pickle."""

    def __init__(self, data):
        self.data = data

    def get(self, key, default=None):
        return self.data.get(key, default)


def _write_official(model, path: Path, *, prefix="_orig_mod.", drop=()):
    state = {prefix + k: v.clone() for k, v in ours_to_official(model.state_dict()).items() if k not in drop}
    config = DictToNamespace({"d_model": 32})
    torch.save(
        {
            "epoch": 3,
            "model_state_dict": state,
            "optimizer_state_dict": {},
            "config": {"get": config.get, "model": {"get": config.get}},
            "action_min": torch.tensor([-0.04, -0.05, -0.03]),
            "action_max": torch.tensor([0.04, 0.05, 0.03]),
        },
        path,
    )
    return path


def test_official_keys_and_shapes_of_the_paper_preset_match_the_official_state_dict():
    model = build_model(load_preset("paper"), device="meta")
    mapped = {k: tuple(v.shape) for k, v in ours_to_official(model.state_dict()).items()}
    official = {}
    for line in OFFICIAL_KEYS.read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape = line.split("\t")
            official[key] = tuple(int(x) for x in shape.split("x"))
    assert mapped == official


def test_official_mapping_round_trips_every_key_of_ours_except_the_documented_extras(tiny_model):
    state = tiny_model.state_dict()
    back = official_to_ours(ours_to_official(state))
    assert set(state) - set(back) == {
        "dino_encoder.vision_model.embeddings.mask_token",
        "null_condition_token",
        "text_encoder.text_model.encoder.embed_tokens.weight",  # tied to shared.weight
    }
    for key, tensor in back.items():
        assert torch.equal(tensor, state[key]), key


def test_official_pth_loads_with_its_statistics_despite_the_pickled_config_method(tiny_model, tmp_path):
    path = _write_official(tiny_model, tmp_path / "final_model.pth")
    model, official = load_official(path, load_preset("tiny"))
    assert official.action_min == pytest.approx((-0.04, -0.05, -0.03))
    assert model.config.trace.increment_max == pytest.approx((0.04, 0.05, 0.03))
    own = tiny_model.state_dict()
    for key, tensor in model.state_dict().items():
        if key not in ("dino_encoder.vision_model.embeddings.mask_token", "null_condition_token"):
            assert torch.equal(tensor, own[key]), key


def test_official_pth_with_ddp_prefixes_loads(tiny_model, tmp_path):
    path = _write_official(tiny_model, tmp_path / "ddp.pth", prefix="_orig_mod.module.")
    model, _ = load_official(path, load_preset("tiny"))
    assert torch.equal(model.vision_fusion.weight, tiny_model.vision_fusion.weight)


def test_official_pth_missing_keys_are_named(tiny_model, tmp_path):
    path = _write_official(tiny_model, tmp_path / "broken.pth", drop=("vision_fusion.bias",))
    with pytest.raises(CheckpointError, match=r"missing keys \[vision_fusion\.bias\]"):
        load_official(path, load_preset("tiny"))


def test_official_pth_of_another_size_names_the_shape_mismatch(tiny_model, tmp_path):
    path = _write_official(tiny_model, tmp_path / "other.pth")
    bigger = load_preset("tiny")
    bigger.cond_dim = 48
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_official(path, bigger)


def test_corrupt_official_pth_is_rejected(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable official TraceGen checkpoint"):
        read_official_pth(path)


def test_official_pth_never_runs_pickled_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    torch.save(
        {"model_state_dict": {}, "action_min": [0, 0, 0], "action_max": [1, 1, 1], "x": Exploit()},
        tmp_path / "evil.pth",
    )
    read_official_pth(tmp_path / "evil.pth")
    assert not marker.exists()


def test_official_checkpoint_converts_and_refuses_guidance(tiny_model, tmp_path):
    from tracegen.errors import InputError
    from tracegen.model.official import convert_official

    pth = _write_official(tiny_model, tmp_path / "final_model.pth")
    out = convert_official(pth, tmp_path / "converted", load_preset("tiny"))
    assert read_meta(out).null_condition_trained is False
    with pytest.raises(InputError, match="null condition"):
        load_predictor(out, guidance=2.0)
    assert load_predictor(out, steps=2).predict(_observation(), seed=0).trace.num_steps == 33
