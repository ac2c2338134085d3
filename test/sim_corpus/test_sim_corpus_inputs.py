"""The corpus's building blocks (IK, assets) and its refusal of bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "osmesa")

from tracegen.cli.main import main
from tracegen.errors import InputError
from tracegen.sim.corpus import render_corpus
from tracegen.sim.corpus.assets import ENV_VAR, assets_dir
from tracegen.sim.corpus.embodiments import ARMS, TOOL_SITE, arm_joint_names
from tracegen.sim.corpus.episode import TOOL_DOWN
from tracegen.sim.corpus.ik import orientation_error, solve_ik
from tracegen.sim.corpus.scene import build_model, sample_scene


@pytest.mark.parametrize("embodiment", ["ur5e", "panda"])
def test_ik_brings_the_tool_to_a_workspace_target_pointing_down(embodiment):
    import mujoco

    rng = np.random.default_rng(0)
    model = build_model(sample_scene(rng, embodiment, "box", 0, 64, 48))
    data = mujoco.MjData(model)
    arm_ids, _ = arm_joint_names(embodiment, model)
    data.qpos[model.jnt_qposadr[arm_ids]] = ARMS[embodiment].home_q_rad
    site = model.site(TOOL_SITE).id
    for target in ([0.45, 0.1, 0.05], [0.55, -0.15, 0.2], [0.4, 0.0, 0.12]):
        error_m = solve_ik(model, data, site, arm_ids, np.array(target), TOOL_DOWN, iterations=400)
        assert error_m < 0.002
        rot_error = orientation_error(data.site_xmat[site].reshape(3, 3), TOOL_DOWN)
        assert np.linalg.norm(rot_error) < 0.05


def test_unknown_embodiment_is_refused_with_the_choices(tmp_path):
    with pytest.raises(InputError, match=r"unknown embodiment robotdog.*ur5e"):
        render_corpus(tmp_path, ["ur5e", "robotdog"], 1, seed=0)


def test_fewer_than_one_episode_is_refused(tmp_path):
    with pytest.raises(InputError, match="at least 1, got 0"):
        render_corpus(tmp_path, ["hand"], 0, seed=0)


def test_missing_robot_models_name_the_setup_script(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match=r"scripts/setup\.sh"):
        assets_dir()
    with pytest.raises(InputError, match="nowhere"):
        render_corpus(tmp_path / "out", ["ur5e"], 1, seed=0)
    assert not (tmp_path / "out").exists()


def test_resuming_with_another_seed_is_refused(tmp_path):
    render_corpus(tmp_path, ["hand"], 1, seed=0, width_px=64, height_px=48, fps=5.0)
    with pytest.raises(InputError, match="seed"):
        render_corpus(tmp_path, ["hand"], 1, seed=1, width_px=64, height_px=48, fps=5.0)


def test_cli_reports_bad_input_and_exits_2(tmp_path, capsys):
    code = main(["sim-corpus", "--out", str(tmp_path), "--embodiments", "ur5e,octopus", "--no-progress"])
    assert code == 2
    assert "unknown embodiment octopus" in capsys.readouterr().err


def test_cli_renders_a_corpus(tmp_path, capsys):
    args = ["sim-corpus", "--out", str(tmp_path), "--embodiments", "hand", "--episodes", "2", "--seed", "1"]
    code = main([*args, "--width", "64", "--height", "48", "--fps", "5", "--no-progress"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "hand").iterdir()) == ["ep00000", "ep00001"]
    assert "tracegen forge" in capsys.readouterr().out
