"""Scripted motions do what their instruction says (checked on the privileged state, no rendering)."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.sim.corpus.motions import HOLD_S, MAIN_KIND, MOTIONS, plan_motion
from tracegen.sim.corpus.scene import sample_scene

FPS = 10.0


def _plan(motion: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, "ur5e", MAIN_KIND[motion][0], 1, 96, 72)
    return scene, plan_motion(motion, scene, rng, FPS)


@pytest.mark.parametrize("motion", MOTIONS)
def test_every_motion_starts_and_ends_still_and_lasts_2_to_6_s(motion):
    _, plan = _plan(motion)
    still = int(HOLD_S * FPS)
    assert np.ptp(plan.tool_pos_m[:still], axis=0).max() < 1e-9
    assert np.ptp(plan.tool_pos_m[-still:], axis=0).max() < 1e-9
    assert 2.0 <= len(plan.grip) / FPS <= 6.0
    assert np.abs(np.diff(plan.tool_pos_m, axis=0)).max() < 0.1  # smooth: < 1 m/s at 10 fps


@pytest.mark.parametrize("seed", range(3))
def test_pick_place_puts_the_object_on_the_target_with_a_closed_gripper(seed):
    scene, plan = _plan("pick_place", seed)
    final_xy = plan.mocap_pos_m[-1, 0, :2]
    assert np.linalg.norm(final_xy - scene.target_xy_m) < 0.01
    lifted = plan.mocap_pos_m[:, 0, 2] > scene.objects[0].height_m + 0.03
    assert (plan.grip[lifted] > 0.99).all()
    assert plan.grip[-1] == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_push_slides_the_object_into_the_target_square_on_the_table(seed):
    scene, plan = _plan("push", seed)
    assert np.abs(plan.mocap_pos_m[-1, 0, :2] - scene.target_xy_m).max() < 0.05
    assert np.allclose(plan.mocap_pos_m[:, 0, 2], scene.objects[0].height_m)


def test_fold_turns_the_cloth_flap_over():
    _, plan = _plan("fold")
    flap = plan.mocap_names.index("obj0_flap")
    w = plan.mocap_quat[-1, flap, 0]
    assert abs(w) < 0.1  # rotated by about 180 degrees
    assert np.allclose(plan.mocap_quat[0, flap], [1, 0, 0, 0])


def test_instructions_name_the_main_object_and_target_colours():
    scene, plan = _plan("pick_place")
    main = scene.objects[0]
    assert main.colour in plan.instructions[0] and scene.target_colour in plan.instructions[0]
    assert len(plan.instructions) == 3
