"""A small rendered MuJoCo scene with known geometry, written as a :class:`SimEpisode`.

A textured box (and a second, static one) on a textured table, seen by a pinhole camera; the
moving box is a mocap body whose pose we set per frame, so its motion is exact. Used to
measure trackers against ground truth (tests, benchmarks) and as a worked example of the
simulation-episode format for other simulators. Rendering runs on the CPU through OSMesa
(``MUJOCO_GL=osmesa``).

Frames: world z up, the table top is z = 0; the camera looks at the table from the front
right and above. Depth is MuJoCo's z-depth (metres along the optical axis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracegen.forge.sim_episode import SimEpisode
from tracegen.trace import CameraIntrinsics

#: MuJoCo's camera looks down its -z axis with y up; the optical frame looks down +z with y down.
OPTICAL_FROM_MJCAM = np.diag([1.0, -1.0, -1.0])

_SCENE_XML = """
<mujoco model="forge_box_scene">
  <visual>
    <global offwidth="{width}" offheight="{height}"/>
    <quality shadowsize="0"/>
    <headlight ambient="0.55 0.55 0.55" diffuse="0.45 0.45 0.45" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="table_tex" type="2d" builtin="checker" rgb1="0.78 0.66 0.5" rgb2="0.55 0.42 0.3"
             mark="random" random="0.25" markrgb="0.1 0.1 0.1" width="512" height="512"/>
    <material name="table_mat" texture="table_tex" texrepeat="6 6"/>
    <texture name="box_tex" type="cube" builtin="checker" rgb1="0.2 0.35 0.8" rgb2="0.9 0.9 0.95"
             mark="random" random="0.3" markrgb="0.9 0.2 0.1" width="128" height="128"/>
    <material name="box_mat" texture="box_tex" texrepeat="3 3"/>
    <texture name="box2_tex" type="cube" builtin="checker" rgb1="0.2 0.6 0.25" rgb2="0.95 0.9 0.3"
             mark="random" random="0.3" markrgb="0.1 0.1 0.1" width="128" height="128"/>
    <material name="box2_mat" texture="box2_tex" texrepeat="2 2"/>
  </asset>
  <worldbody>
    <geom name="table" type="plane" size="1.2 1.2 0.01" material="table_mat"/>
    <body name="static_box" pos="-0.12 0.16 0.05">
      <geom type="box" size="0.05 0.05 0.05" material="box2_mat"/>
    </body>
    <body name="box" mocap="true" pos="0 0 0.06">
      <geom type="box" size="0.06 0.06 0.06" material="box_mat"/>
    </body>
    <body name="camera_rig" mocap="true" pos="{cam_pos}" xyaxes="{cam_xyaxes}">
      <camera name="cam" fovy="{fovy_deg}"/>
    </body>
  </worldbody>
</mujoco>
"""


@dataclass(frozen=True)
class BoxSceneSpec:
    """What to render.

    Attributes:
        width_px, height_px: image size.
        num_frames: frames in the episode.
        still_frames: frames at the start and at the end in which nothing moves.
        start_xy_m, end_xy_m: the moving box's path on the table (straight line, eased).
        turn_deg: how far the box turns about the vertical while it moves.
        lift_m: how high it rises at mid-path (a 3D motion).
        camera_position_m, camera_target_m: where the camera is and what it looks at.
        camera_shift_m: total sideways drift of the camera over the episode (0: fixed camera).
        hfov_deg: horizontal field of view.
        fps: frame rate written into the episode.
    """

    width_px: int = 320
    height_px: int = 240
    num_frames: int = 40
    still_frames: int = 6
    start_xy_m: tuple[float, float] = (-0.08, -0.1)
    end_xy_m: tuple[float, float] = (0.1, 0.06)
    turn_deg: float = 35.0
    lift_m: float = 0.03
    camera_position_m: tuple[float, float, float] = (0.4, -0.32, 0.62)
    camera_target_m: tuple[float, float, float] = (0.0, 0.0, 0.03)
    camera_shift_m: float = 0.0
    hfov_deg: float = 60.0
    fps: float = 15.0


def _camera_axes(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """3x3 rotation of the MuJoCo camera frame (x right, y up, looking down -z) in the world."""
    forward = target - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.column_stack([right, up, -forward])


def _ease(t: np.ndarray) -> np.ndarray:
    return t * t * (3 - 2 * t)


def box_path(spec: BoxSceneSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: moving box position ``[T, 3]`` and yaw ``[T]`` (radians)."""
    moving = max(spec.num_frames - 2 * spec.still_frames, 1)
    phase = np.clip((np.arange(spec.num_frames) - spec.still_frames) / max(moving - 1, 1), 0.0, 1.0)
    s = _ease(phase)
    start, end = np.asarray(spec.start_xy_m), np.asarray(spec.end_xy_m)
    xy = start[None] + (end - start)[None] * s[:, None]
    z = 0.06 + spec.lift_m * np.sin(np.pi * s)
    yaw = math.radians(spec.turn_deg) * s
    return np.column_stack([xy, z]), yaw


def render_box_episode(
    spec: BoxSceneSpec = BoxSceneSpec(), *, instruction: str = "push the blue box"
) -> SimEpisode:
    """Render the scene into a :class:`SimEpisode` (ground-truth poses, depth, segmentation)."""
    import mujoco

    position0 = np.asarray(spec.camera_position_m, dtype=np.float64)
    target = np.asarray(spec.camera_target_m, dtype=np.float64)
    axes = _camera_axes(position0, target)
    fovy_deg = math.degrees(
        2 * math.atan(math.tan(math.radians(spec.hfov_deg) / 2) * spec.height_px / spec.width_px)
    )
    xml = _SCENE_XML.format(
        width=spec.width_px,
        height=spec.height_px,
        cam_pos=" ".join(f"{v:.6f}" for v in position0),
        cam_xyaxes=" ".join(f"{v:.6f}" for v in (*axes[:, 0], *axes[:, 1])),
        fovy_deg=f"{fovy_deg:.6f}",
    )
    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    box_mocap = model.body_mocapid[model.body("box").id]
    rig_mocap = model.body_mocapid[model.body("camera_rig").id]
    camera_id = model.camera("cam").id
    f_px = (spec.height_px / 2) / math.tan(math.radians(fovy_deg) / 2)
    intrinsics = CameraIntrinsics(
        spec.width_px, spec.height_px, f_px, f_px, (spec.width_px - 1) / 2, (spec.height_px - 1) / 2
    )
    positions, yaws = box_path(spec)
    right = axes[:, 0]
    shift = np.linspace(0.0, spec.camera_shift_m, spec.num_frames)

    num_bodies = model.nbody
    shape = (spec.num_frames, spec.height_px, spec.width_px)
    rgb = np.zeros((*shape, 3), dtype=np.uint8)
    depth_m = np.zeros(shape, dtype=np.float32)
    segmentation = np.full(shape, -1, dtype=np.int32)
    body_poses = np.zeros((spec.num_frames, num_bodies, 4, 4))
    camera_poses = np.zeros((spec.num_frames, 4, 4))
    renderer = mujoco.Renderer(model, spec.height_px, spec.width_px)
    try:
        for frame in range(spec.num_frames):
            data.mocap_pos[box_mocap] = positions[frame]
            half = yaws[frame] / 2
            data.mocap_quat[box_mocap] = [math.cos(half), 0.0, 0.0, math.sin(half)]
            data.mocap_pos[rig_mocap] = position0 + right * shift[frame]
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera_id)
            rgb[frame] = renderer.render()
            renderer.enable_depth_rendering()
            depth_m[frame] = renderer.render()
            renderer.disable_depth_rendering()
            renderer.enable_segmentation_rendering()
            seg = renderer.render()
            renderer.disable_segmentation_rendering()
            geom_ids = seg[..., 0]
            is_geom = (geom_ids >= 0) & (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM))
            segmentation[frame] = np.where(is_geom, model.geom_bodyid[np.clip(geom_ids, 0, None)], -1)
            body_poses[frame, :, :3, :3] = data.xmat.reshape(-1, 3, 3)
            body_poses[frame, :, :3, 3] = data.xpos
            body_poses[frame, :, 3, 3] = 1.0
            camera_poses[frame, :3, :3] = data.cam_xmat[camera_id].reshape(3, 3) @ OPTICAL_FROM_MJCAM
            camera_poses[frame, :3, 3] = data.cam_xpos[camera_id]
            camera_poses[frame, 3, 3] = 1.0
    finally:
        renderer.close()
    # Depth beyond the far plane (nothing there) reads as the far clip distance: no reading.
    depth_m[depth_m >= 0.99 * model.vis.map.zfar * model.stat.extent] = 0.0
    body_names = tuple(model.body(i).name or "world" for i in range(num_bodies))
    return SimEpisode(
        rgb=rgb,
        depth_m=depth_m,
        segmentation=segmentation,
        body_poses=body_poses,
        camera_poses=camera_poses,
        intrinsics=intrinsics,
        body_names=body_names,
        instructions=(instruction,),
        task="push_box",
        embodiment="none",
        fps=spec.fps,
        camera_fixed=spec.camera_shift_m == 0.0,
    )
