"""From tracks to traces: depth per step, camera motion, the reference camera, speed retargeting."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tracegen.data import read_triplets
from tracegen.forge.camera_pose import CameraMotion, decide_geometry
from tracegen.forge.config import ForgeConfig
from tracegen.forge.depth import drop_depth_jumps, query_depth_m, sample_depth_m
from tracegen.forge.engine import forge_input
from tracegen.forge.episode import Episode, Window
from tracegen.forge.readers import discover_inputs
from tracegen.forge.reference_frame import to_reference_uvz
from tracegen.trace import CameraIntrinsics, transform_points, xyz_to_uvz

from support.forge_media import box_episode, write_image_folder

K = CameraIntrinsics(160, 120, 150.0, 150.0, 79.5, 59.5)


def forge(path, out, config: ForgeConfig | None = None):
    specs, _ = discover_inputs([path])
    result = forge_input(specs[0], out, config or ForgeConfig())
    assert result.status == "done", result.reason
    return list(read_triplets(out))


def sliding_texture(speed_px: float, num_frames: int, seed: int = 0) -> np.ndarray:
    """Frames of a textured plane sliding right at ``speed_px`` per frame (sub-pixel by resampling)."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur((rng.uniform(size=(120, 400, 3)) * 255).astype(np.uint8), (5, 5), 1.2)
    frames = []
    for t in range(num_frames):
        shift = np.float32([[1, 0, speed_px * t - 120.0], [0, 1, 0]])
        frames.append(cv2.warpAffine(texture, shift, (160, 120), flags=cv2.INTER_LINEAR))
    return np.stack(frames)


def test_retargeting_makes_a_trace_independent_of_the_demonstrator_speed(tmp_path):
    """The same 84 px slide, at 2 px/frame and at 4 px/frame, gives the same retargeted trace:
    steps every 0.05 of the image width (8 px), 11 steps (0.5 px: LK jitter lengthens the arc)."""
    config = ForgeConfig(min_event_frames=4, min_future_frames=4, event_padding_frames=0)
    traces = []
    for speed, frames in ((2.0, 43), (4.0, 22)):
        folder = write_image_folder(
            tmp_path / f"slide{speed}", sliding_texture(speed, frames), sidecar={"camera_fixed": True}
        )
        first = forge(folder, tmp_path / f"out{speed}", config)[0]
        assert first.frame_index == 0 and not first.trace.is_3d
        traces.append(first.trace)
    slow, fast = traces
    assert slow.num_valid_steps == fast.num_valid_steps == 11
    # Points that stay well inside the image all the way: u advances 8 px per step.
    keep = slow.point_valid[:, :11].all(axis=1) & fast.point_valid[:, :11].all(axis=1)
    keep &= slow.uvz[:, 10, 0] < 150
    assert keep.sum() > 150
    expected_u = slow.uvz[keep, 0, 0][:, None] + 8.0 * np.arange(11)
    np.testing.assert_allclose(slow.uvz[keep, :11, 0], expected_u, atol=0.5)
    np.testing.assert_allclose(fast.uvz[keep, :11, 0], expected_u, atol=0.5)
    np.testing.assert_allclose(slow.uvz[keep, :11], fast.uvz[keep, :11], atol=0.5)
    np.testing.assert_allclose(slow.uvz[keep, :11, 1], np.repeat(slow.uvz[keep, :1, 1], 11, axis=1), atol=0.3)


def test_camera_motion_is_removed_static_points_stay_still_in_the_reference_camera(tmp_path):
    """A camera drifting 12 cm sideways: table points move in the image but, through the known
    poses, their 3D traces in the reference camera stay put; the box's trace still moves."""
    sim = box_episode(camera_shift_m=0.12)
    assert sim.camera_fixed is False
    sim.save(tmp_path / "moving")
    for tracker in ("ground_truth", "lk"):
        triplets = forge(tmp_path / "moving", tmp_path / f"out_{tracker}", ForgeConfig(tracker=tracker))
        trace = triplets[0].trace
        assert trace.is_3d and triplets[0].provenance["camera"] == "poses (source)"
        xyz = trace.to_xyz_m()
        table = np.flatnonzero(
            sim.segmentation[triplets[0].frame_index].ravel()[
                np.rint(trace.query_uv_px[:, 1]).astype(int) * 160
                + np.rint(trace.query_uv_px[:, 0]).astype(int)
            ]
            == sim.body_names.index("world")
        )
        drift_m = np.linalg.norm(xyz[table] - xyz[table, :1], axis=-1)[trace.point_valid[table]]
        assert np.median(drift_m) < 0.003, tracker
        motion_m = np.linalg.norm(xyz[:, trace.num_valid_steps - 1] - xyz[:, 0], axis=-1)
        assert motion_m.max() > 0.05, tracker


def test_reference_transform_projects_every_frame_into_the_first_camera():
    rng = np.random.default_rng(3)
    points_world = rng.uniform([-0.2, -0.2, 0.0], [0.2, 0.2, 0.1], size=(30, 3))
    poses = np.stack([np.eye(4)] * 4)
    for step in range(4):  # camera 1 m above, sliding along x and yawing slightly
        angle = 0.05 * step
        rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
        poses[step, :3, :3] = rot @ np.diag([1.0, -1.0, -1.0])  # looking down
        poses[step, :3, 3] = [0.03 * step, 0.0, 1.0]
    uvz = np.stack([xyz_to_uvz(transform_points(np.linalg.inv(p), points_world), K) for p in poses], axis=1)
    ref_uvz, valid = to_reference_uvz(uvz[..., :2], uvz[..., 2], K, poses)
    assert valid.all()
    np.testing.assert_allclose(ref_uvz, np.repeat(uvz[:, :1], 4, axis=1), atol=1e-6)


def test_depth_holes_take_the_local_median_and_query_points_the_nearest_reading():
    depth = np.full((40, 40), 0.8, np.float32)
    depth[10:13, 10:13] = 0.0  # a small hole
    depth[25:, 25:] = 0.0  # a large one
    depth[0, 0] = 1.2
    samples = sample_depth_m(depth, np.array([[11.0, 11.0], [35.0, 35.0]]), radius_px=3)
    assert samples[0] == pytest.approx(0.8) and np.isnan(samples[1])
    z, filled = query_depth_m(depth, np.array([[11.0, 11.0], [35.0, 35.0]]), radius_px=3)
    assert filled == 1 and z[1] == pytest.approx(0.8)


def test_a_depth_jump_off_an_object_edge_invalidates_only_that_entry():
    z = np.array([[0.70, 0.71, 0.95, 0.72, 0.73], [0.5, 0.52, 0.54, 0.56, 0.58]])
    out = drop_depth_jumps(z, max_jump_m=0.05)
    assert np.isnan(out[0, 2]) and np.isfinite(np.delete(out[0], 2)).all()
    np.testing.assert_array_equal(out[1], z[1])


def _episode(**kwargs) -> Episode:
    return Episode(
        source="x",
        episode_id="0",
        intrinsics=K,
        intrinsics_source="source",
        frames=lambda: iter(()),
        **kwargs,
    )


def _window(depth: bool) -> Window:
    return Window(
        0,
        np.zeros((3, 120, 160, 3), np.uint8),
        np.ones((3, 120, 160), np.float32) if depth else None,
        np.arange(3),
    )


def test_geometry_is_3d_only_with_depth_and_a_known_camera():
    assert decide_geometry(_episode(camera_fixed=True), _window(True)).camera == "fixed (source)"
    assert decide_geometry(_episode(camera_fixed=True), _window(True)).is_3d
    no_depth = decide_geometry(_episode(camera_fixed=True), _window(False))
    assert not no_depth.is_3d and "no depth" in no_depth.reason_2d
    unknown = decide_geometry(_episode(), _window(True))
    assert not unknown.is_3d and unknown.camera == "unknown" and "--camera-fixed" in unknown.reason_2d
    vouched = decide_geometry(_episode(), _window(True), assume_camera_fixed=True)
    assert vouched.is_3d and vouched.camera == "fixed (user)"
    said_moving = decide_geometry(_episode(camera_fixed=False), _window(True), assume_camera_fixed=True)
    assert said_moving.camera == "fixed (user)"


class _ConstantPoses:
    """A camera-pose backend answering fixed poses and a flat estimated depth (interface test)."""

    name = "constant"

    def estimate(self, rgb, depth_m, intrinsics):
        poses = np.repeat(np.eye(4)[None], rgb.shape[0], axis=0)
        return CameraMotion(poses, np.full(rgb.shape[:3], 0.9, np.float32))


def test_a_camera_pose_backend_supplies_poses_and_depth_for_rgb_only_clips():
    geometry = decide_geometry(_episode(), _window(False), pose_backend=_ConstantPoses())
    assert geometry.is_3d and geometry.camera == "poses (constant)"
    assert geometry.depth_source == "estimated (constant)" and geometry.T_world_camera.shape == (3, 4, 4)


def test_video_triplets_without_a_known_camera_are_2d_and_say_why(tmp_path):
    folder = write_image_folder(tmp_path / "frames", sliding_texture(3.0, 20))
    triplet = forge(folder, tmp_path / "out", ForgeConfig(min_future_frames=4))[0]
    assert not triplet.trace.is_3d and triplet.intrinsics_source == "default"
    assert "camera motion cannot be removed" in triplet.provenance["why_2d"]
    assert json.loads(json.dumps(triplet.provenance)) == triplet.provenance


def test_vggt_backend_without_its_code_says_where_to_get_it(tmp_path):
    from tracegen.errors import InputError
    from tracegen.forge.camera_pose import VggtPoseBackend

    with pytest.raises(InputError, match="facebookresearch/vggt"):
        VggtPoseBackend(tmp_path / "vggt-clone", tmp_path / "weights")


def test_a_run_with_missing_model_files_fails_before_any_work(tmp_path):
    from tracegen.errors import InputError
    from tracegen.forge.pipeline import run_forge

    config = ForgeConfig(vggt_repo=str(tmp_path / "vggt"), vggt_weights=str(tmp_path / "w"))
    with pytest.raises(InputError, match="VGGT clone"):
        run_forge([tmp_path], tmp_path / "out", config, executor="local", progress=False)
    assert not (tmp_path / "out").exists()
