"""Play one corpus episode kinematically and render it; write it as forge reads it.

Arms -> a :class:`tracegen.forge.sim_episode.SimEpisode` directory (RGB, depth, segmentation,
poses: forge can track it with LK and still lift the tracks to 3D). The hand -> an RGB-only
mp4 with a sidecar ``clip.json`` (instructions, task, embodiment "hand", intrinsics, fixed
camera): a plain video, so forge makes 2D-only traces, like the paper's human videos.

Episode ``index`` of ``embodiment`` under ``seed`` is deterministic: its random generator is
seeded with (seed, crc32(embodiment), index), and nothing else is random.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracegen.errors import InputError
from tracegen.sim.corpus.embodiments import (
    ARMS,
    HAND_BODY,
    HAND_FINGER_JOINTS,
    TOOL_SITE,
    arm_joint_names,
    gripper_qpos,
)
from tracegen.sim.corpus.ik import solve_ik
from tracegen.sim.corpus.motions import MAIN_KIND, MOTIONS, MotionPlan, plan_motion
from tracegen.sim.corpus.scene import SceneSpec, build_model, sample_scene

HAND_VIDEO = "clip.mp4"
HAND_SIDECAR = "clip.json"
#: Hand pose: palm down, fingers along +x (the model's own frame), grasp point below the palm.
HAND_GRASP_OFFSET_M = np.array([0.05, 0.0, -0.005])
#: Tool orientation for the arms: approach axis (site z) pointing down.
TOOL_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])


@dataclass
class RenderedEpisode:
    """Frames of one episode: rgb [T, H, W, 3] uint8; for arms also depth/segmentation/poses."""

    scene: SceneSpec
    plan: MotionPlan
    rgb: np.ndarray
    depth_m: np.ndarray | None
    segmentation: np.ndarray | None
    body_poses: np.ndarray | None
    body_names: tuple[str, ...]
    max_ik_error_m: float


def episode_rng(seed: int, embodiment: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(embodiment.encode()), int(index)])


def choose_motion(rng: np.random.Generator) -> str:
    """Task-family motions twice as often as the others."""
    weights = np.array([2.0 if m in ("push", "pick_place", "sweep", "fold") else 1.0 for m in MOTIONS])
    return str(rng.choice(MOTIONS, p=weights / weights.sum()))


def _pose_matrices(data) -> np.ndarray:
    """[B-1, 4, 4] T_world_body of every body but the world."""
    poses = np.tile(np.eye(4), (data.xpos.shape[0] - 1, 1, 1))
    poses[:, :3, :3] = data.xmat[1:].reshape(-1, 3, 3)
    poses[:, :3, 3] = data.xpos[1:]
    return poses


def render_episode(
    embodiment: str,
    seed: int,
    index: int,
    width_px: int,
    height_px: int,
    fps: float,
    motion: str | None = None,
) -> RenderedEpisode:
    """Sample, play and render episode ``index`` (see the module docstring)."""
    import mujoco

    rng = episode_rng(seed, embodiment, index)
    motion = motion or choose_motion(rng)
    if motion not in MOTIONS:
        raise InputError(f"unknown motion {motion!r}: choose from {', '.join(MOTIONS)}")
    main_kind = str(rng.choice(MAIN_KIND[motion]))
    scene = sample_scene(rng, embodiment, main_kind, int(rng.integers(0, 3)), width_px, height_px)
    plan = plan_motion(motion, scene, rng, fps)
    model = build_model(scene)
    data = mujoco.MjData(model)
    mocap_ids = [int(model.body_mocapid[model.body(name).id]) for name in plan.mocap_names]
    is_arm = embodiment in ARMS
    if is_arm:
        arm_ids, grip_ids = arm_joint_names(embodiment, model)
        site_id = model.site(TOOL_SITE).id
        data.qpos[model.jnt_qposadr[arm_ids]] = ARMS[embodiment].home_q_rad
        yaw = float(rng.uniform(-0.4, 0.4))
        c, s = math.cos(yaw), math.sin(yaw)
        tool_rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ TOOL_DOWN
        # Converge once from robosuite's home pose, then warm-start every frame from the last.
        solve_ik(model, data, site_id, arm_ids, plan.tool_pos_m[0], tool_rot, iterations=400)
    else:
        hand_mocap = int(model.body_mocapid[model.body(HAND_BODY).id])
        hand_yaw = float(rng.uniform(-0.5, 0.5))
        hand_quat = np.array([math.cos(hand_yaw / 2), 0.0, 0.0, math.sin(hand_yaw / 2)])
        c, s = math.cos(hand_yaw), math.sin(hand_yaw)
        grasp_offset = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ HAND_GRASP_OFFSET_M
        finger_adr = [int(model.jnt_qposadr[model.joint(name).id]) for name in HAND_FINGER_JOINTS]
    renderer = mujoco.Renderer(model, height_px, width_px)
    camera = scene.camera.name
    rgb, depth, seg, poses = [], [], [], []
    max_error = 0.0
    try:
        for t in range(plan.tool_pos_m.shape[0]):
            data.mocap_pos[mocap_ids] = plan.mocap_pos_m[t]
            data.mocap_quat[mocap_ids] = plan.mocap_quat[t]
            if is_arm:
                max_error = max(
                    max_error, solve_ik(model, data, site_id, arm_ids, plan.tool_pos_m[t], tool_rot)
                )
                for adr, q in gripper_qpos(embodiment, model, grip_ids, float(plan.grip[t])).items():
                    data.qpos[adr] = q
            else:
                data.mocap_pos[hand_mocap] = plan.tool_pos_m[t] - grasp_offset + np.array([0.0, 0.0, 0.01])
                data.mocap_quat[hand_mocap] = hand_quat
                curl = 0.15 + 1.1 * float(plan.grip[t])
                for adr in finger_adr[:4]:
                    data.qpos[adr] = curl
                data.qpos[finger_adr[4]] = -0.8 * float(plan.grip[t])
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera)
            rgb.append(renderer.render().copy())
            if is_arm:
                renderer.enable_depth_rendering()
                renderer.update_scene(data, camera=camera)
                depth_m = renderer.render().astype(np.float32)
                renderer.disable_depth_rendering()
                renderer.enable_segmentation_rendering()
                renderer.update_scene(data, camera=camera)
                ids = renderer.render()
                renderer.disable_segmentation_rendering()
                geom = np.where(ids[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM), ids[..., 0], -1)
                depth.append(np.where(geom >= 0, depth_m, 0.0))  # nothing hit (sky): no reading
                body = np.where(geom >= 0, model.geom_bodyid[np.maximum(geom, 0)], 0)
                seg.append((body - 1).astype(np.int32))  # world body (table, floor) -> -1
                poses.append(_pose_matrices(data))
    finally:
        renderer.close()
    body_names = tuple(model.body(i).name for i in range(1, model.nbody))
    return RenderedEpisode(
        scene=scene,
        plan=plan,
        rgb=np.stack(rgb),
        depth_m=np.stack(depth) if is_arm else None,
        segmentation=np.stack(seg) if is_arm else None,
        body_poses=np.stack(poses) if is_arm else None,
        body_names=body_names,
        max_ik_error_m=max_error,
    )


def episode_entry(
    embodiment: str, index: int, rel_path: str, motion: str, instruction: str, frames: int
) -> dict:
    return {
        "embodiment": embodiment,
        "index": index,
        "motion": motion,
        "path": rel_path,
        "instruction": instruction,
        "frames": frames,
    }


def write_episode(episode: RenderedEpisode, path: Path, fps: float) -> None:
    """Write an arm episode directory or a hand video directory at ``path`` (atomically)."""
    from tracegen.forge.sim_episode import SimEpisode

    scene, plan = episode.scene, episode.plan
    intrinsics = scene.camera.intrinsics
    if episode.depth_m is not None:
        num_frames = episode.rgb.shape[0]
        sim = SimEpisode(
            rgb=episode.rgb,
            depth_m=episode.depth_m,
            segmentation=episode.segmentation,
            body_poses=episode.body_poses,
            camera_poses=np.repeat(scene.camera.T_world_optical[None], num_frames, axis=0),
            intrinsics=intrinsics,
            body_names=episode.body_names,
            instructions=tuple(plan.instructions),
            task=plan.name,
            embodiment=scene.embodiment,
            fps=fps,
            camera_fixed=True,
        )
        sim.save(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_mp4(tmp / HAND_VIDEO, episode.rgb, fps)
        sidecar = {
            "instructions": plan.instructions,
            "task": plan.name,
            "embodiment": "hand",
            "camera_fixed": True,
            "fps": fps,
            "intrinsics": intrinsics.to_dict(),
            "frames": int(episode.rgb.shape[0]),
        }
        (tmp / HAND_SIDECAR).write_text(json.dumps(sidecar, indent=2))
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_mp4(path: Path, rgb: np.ndarray, fps: float) -> None:
    """H.264 mp4 of ``rgb`` [T, H, W, 3] uint8 (near-lossless, every frame a keyframe-friendly GOP)."""
    from fractions import Fraction

    import av

    height, width = rgb.shape[1:3]
    if width % 2 or height % 2:
        raise InputError(f"hand videos need even frame sizes for H.264, got {width}x{height}")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "12", "preset": "fast"}
        for frame in rgb:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
