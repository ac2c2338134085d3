"""Presets as data: parameter counts of the official sizes, config validation, model-info."""

from __future__ import annotations

import json

import pytest

from tracegen.cli.main import main
from tracegen.errors import InputError
from tracegen.model.config import PRESET_NAMES, TraceGenConfig, load_preset
from tracegen.model.info import parameter_counts
from tracegen.model.model import build_model

#: Official counts (the official code with cfg/eval.yaml and cfg/eval_larger.yaml).
OFFICIAL_PAPER_TOTAL, OFFICIAL_PAPER_TRAINABLE = 674_546_334, 75_486_238
OFFICIAL_LARGE_TOTAL = 831_057_566


def test_paper_preset_counts_the_official_parameters_within_half_a_percent():
    counts = parameter_counts(build_model(load_preset("paper"), device="meta"))
    assert counts["total"] == pytest.approx(OFFICIAL_PAPER_TOTAL, rel=0.005)
    assert counts["trainable"] == pytest.approx(OFFICIAL_PAPER_TRAINABLE, rel=0.005)


def test_paper_preset_modules_match_the_official_table():
    modules = parameter_counts(build_model(load_preset("paper"), device="meta"))["modules"]
    assert modules["siglip_encoder.vision_model"]["total"] == 93_176_064
    assert modules["text_encoder.text_model"]["total"] == 109_628_544  # tied embeddings counted once
    assert modules["diffusion_decoder.cogvideox"]["total"] == 72_971_288
    assert modules["vision_fusion"]["total"] == 1_966_848
    # transformers' DINOv3 adds one unused mask token (1024) to timm's 303,079,424
    assert modules["dino_encoder.vision_model"]["total"] == 303_079_424 + 1024
    assert modules["dino_encoder.vision_model"]["trainable"] == 0


def test_large_preset_counts_831m_parameters():
    counts = parameter_counts(build_model(load_preset("large"), device="meta"))
    assert counts["total"] == pytest.approx(OFFICIAL_LARGE_TOTAL, rel=0.005)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_shipped_preset_loads_and_keeps_the_official_trace_layout(name):
    config = load_preset(name)
    assert (config.trace.grid_rows, config.trace.grid_cols, config.trace.horizon) == (20, 20, 32)
    assert config.decoder.patch_size == 2
    # The official 2-step folding, except the CPU preset, which folds 8 steps per frame for speed.
    assert config.decoder.steps_per_frame == (8 if name == "sim" else 2)


def test_config_round_trips_through_a_dict():
    config = load_preset("sim")
    assert TraceGenConfig.from_dict(config.to_dict()) == config


def test_unknown_config_key_is_an_error_naming_it():
    data = load_preset("tiny").to_dict()
    data["decoder"]["num_layer"] = 3
    with pytest.raises(InputError, match="num_layer"):
        TraceGenConfig.from_dict(data)


def test_horizon_must_fold_into_frames():
    data = load_preset("tiny").to_dict()
    data["trace"]["horizon"] = 31
    data["trace"]["retarget_max_steps"] = 128
    with pytest.raises(InputError, match="steps_per_frame"):
        TraceGenConfig.from_dict(data)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(InputError, match="paper"):
        load_preset("huge")


def test_model_info_json_has_integer_totals_and_a_module_map(capsys):
    assert main(["model-info", "--preset", "paper", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert isinstance(report["total"], int) and isinstance(report["trainable"], int)
    assert report["total"] == pytest.approx(OFFICIAL_PAPER_TOTAL, rel=0.005)
    assert (
        report["modules"]["diffusion_decoder"]["trainable"] == report["modules"]["diffusion_decoder"]["total"]
    )


def test_model_info_table_names_the_modules(capsys):
    assert main(["model-info", "--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "diffusion_decoder" in out and "total" in out


def test_sim_preset_builds_with_its_packaged_pretrained_text_encoder():
    config = load_preset("sim")
    model = build_model(config, load_weights=True)
    counts = parameter_counts(model)
    assert counts["modules"]["text_encoder.text_model"]["trainable"] == 0
    hidden, mask = model.text_features(["push the red block to the left"])
    assert hidden.shape == (1, config.encoders.text.max_tokens, 384) and mask[0, 0]
