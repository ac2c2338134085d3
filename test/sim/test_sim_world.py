"""The simulated world: camera geometry matches its intrinsics and extrinsic; task checks."""

from __future__ import annotations

import numpy as np
import pytest

from tracegen.sim.camera import SimCameraSpec, apply_depth_model, depth_m_to_mm_u16
from tracegen.sim.tasks import TASKS, make_task
from tracegen.sim.world import SimWorld
from tracegen.trace import transform_points, xyz_to_uvz

from support.loopback import free_loopback_address

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def block_world():
    task = make_task("block")
    with SimWorld(free_loopback_address(), SimCameraSpec(), task.build_scene) as world:
        task.setup_episode(world, seed=7)
        yield world, task


def test_rendered_block_lies_where_intrinsics_and_extrinsic_project_it(block_world):
    world, _ = block_world
    rgb, depth_m = world.render()
    camera = world.camera
    assert rgb.shape == (camera.height_px, camera.width_px, 3) and depth_m.shape == rgb.shape[:2]
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    red = (r > 50) & (r > 2 * g) & (r > 2 * b)  # the block's lit and shaded faces
    assert red.sum() > 20, "the red block must be visible"
    rows, cols = np.nonzero(red)
    pose = world.body_pose("block")
    half = 0.03
    corners_block = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
    corners_world = corners_block @ pose[:3, :3].T + pose[:3, 3]
    T_optical_world = np.linalg.inv(camera.T_world_optical)
    corners_uvz = xyz_to_uvz(transform_points(T_optical_world, corners_world), camera.intrinsics)
    # The silhouette's bounding box is the projected corners' bounding box (pixel centres: +-1 px).
    assert abs(cols.min() - corners_uvz[:, 0].min()) < 1.5 and abs(cols.max() - corners_uvz[:, 0].max()) < 1.5
    assert abs(rows.min() - corners_uvz[:, 1].min()) < 1.5 and abs(rows.max() - corners_uvz[:, 1].max()) < 1.5
    uvz = xyz_to_uvz(transform_points(T_optical_world, pose[:3, 3][None]), camera.intrinsics)[0]
    # The depth image holds z-depth along the optical axis: the block's near face is a bit closer.
    rendered_z = np.median(depth_m[red])
    assert uvz[2] - 0.06 < rendered_z < uvz[2] + 0.01


def test_depth_model_adds_holes_and_noise_but_keeps_the_scale():
    rng = np.random.default_rng(0)
    spec = SimCameraSpec(depth_noise_std_m=0.002, depth_hole_fraction=0.05)
    depth = np.full((240, 320), 1.0, np.float32)
    noisy = apply_depth_model(depth, spec, rng)
    holes = noisy == 0
    assert 0.02 < holes.mean() < 0.1
    assert abs(np.median(noisy[~holes]) - 1.0) < 0.001
    assert 0.001 < noisy[~holes].std() < 0.004
    assert depth_m_to_mm_u16(noisy).dtype == np.uint16


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_resets_are_seeded_and_start_unsolved(name):
    task = make_task(name)
    with SimWorld(free_loopback_address(), SimCameraSpec(), task.build_scene) as world:
        first = task.setup_episode(world, seed=11)
        assert not task.success(world)
        second = task.setup_episode(world, seed=11)
        other = task.setup_episode(world, seed=12)
    assert first.object_positions_m == second.object_positions_m
    assert first.object_positions_m != other.object_positions_m


def test_the_child_process_renderer_draws_the_same_frame_as_an_in_process_render():
    task = make_task("block")
    with (
        SimWorld(free_loopback_address(), SimCameraSpec(), task.build_scene) as inline,
        SimWorld(free_loopback_address(), SimCameraSpec(), task.build_scene, render_process=True) as child,
    ):
        for world in (inline, child):
            task.setup_episode(world, seed=5)
        rgb_inline, depth_inline = inline.render()
        rgb_child, depth_child = child.render()
    assert rgb_child.shape == rgb_inline.shape and rgb_child.dtype == np.uint8
    # The two worlds step their physics independently: compare where nothing moves (the table).
    assert np.mean(np.abs(rgb_child.astype(int) - rgb_inline.astype(int))) < 3.0
    assert np.median(np.abs(depth_child - depth_inline)) < 1e-3


def test_ctrl_c_to_the_process_group_leaves_the_render_child_to_its_parent(capfd):
    """A terminal's Ctrl-C reaches the render child too: it keeps serving frames and ends when
    its parent closes it, without a KeyboardInterrupt traceback."""
    import signal

    import mujoco

    from tracegen.sim.render_process import RenderProcess

    model = mujoco.MjModel.from_xml_string(
        '<mujoco><worldbody><camera name="cam" pos="0 0 1"/><geom type="box" size=".1 .1 .1"/>'
        "</worldbody></mujoco>"
    )
    renderer = RenderProcess(model, "cam", 32, 24)
    state = (np.zeros(model.nq), np.zeros((0, 3)), np.zeros((0, 4)))
    renderer.render(*state)
    child = renderer._process
    child.send_signal(signal.SIGINT)
    rgb, depth_m = renderer.render(*state)
    assert rgb.shape == (24, 32, 3) and depth_m.shape == (24, 32)
    renderer.close()
    assert child.returncode == 0
    assert "KeyboardInterrupt" not in capfd.readouterr().err
