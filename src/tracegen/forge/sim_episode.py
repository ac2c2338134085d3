"""Simulation episodes with ground-truth geometry: the format, and ground-truth tracks from it.

A simulator (MuJoCo: :mod:`tracegen.forge.synthetic`, or the simulated FR3 world) writes an
episode as a directory::

    <episode>/
      episode.json        {"format": "tracegen.sim_episode", "version": 1,
                           "intrinsics": {width_px, height_px, fx_px, fy_px, cx_px, cy_px},
                           "instructions": [1..3 strings], "task": str, "embodiment": str,
                           "fps": float, "camera_fixed": bool, "body_names": [B strings]}
      rgb.npy             [T, H, W, 3] uint8   colour frames
      depth_m.npy         [T, H, W]    float32 z-depth along the optical axis, metres (0 = none)
      segmentation.npy    [T, H, W]    int32   index into body_names per pixel, -1 = no body
      body_poses.npy      [T, B, 4, 4] float64 T_world_body of every body per frame
      camera_poses.npy    [T, 4, 4]    float64 T_world_camera, camera = REP-103 optical frame
                                               (z forward, x right, y down)

Frames: world is any fixed frame (the simulated robot's base); a body's pose moves every point
rigidly attached to it. Write with :meth:`SimEpisode.save` (atomic: a temporary directory
renamed into place), read with :meth:`SimEpisode.load` (arrays memory-mapped).

Ground truth (:func:`ground_truth_tracks`): each query pixel of the reference frame is
back-projected with the reference depth, attached to the body the segmentation says it lies
on (-1: the static world), moved with that body's pose, and projected into every later
frame's camera. It is visible in a frame when it projects inside the image, in front of the
camera, and the frame's depth at that pixel agrees with its own depth (a depth test: anything
nearer occludes it).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics

FORMAT_NAME = "tracegen.sim_episode"
FORMAT_VERSION = 1
META_FILE = "episode.json"
ARRAY_FILES = ("rgb", "depth_m", "segmentation", "body_poses", "camera_poses")
#: A point is occluded when the rendered depth is nearer than its own by more than this
#: (absolute metres + relative to its depth): covers pixel discretisation on slanted surfaces.
OCCLUSION_TOLERANCE_M = 0.01
OCCLUSION_TOLERANCE_REL = 0.01


@dataclass(frozen=True, eq=False)
class SimEpisode:
    """One simulated episode (see the module docstring for shapes, units and frames)."""

    rgb: np.ndarray
    depth_m: np.ndarray
    segmentation: np.ndarray
    body_poses: np.ndarray
    camera_poses: np.ndarray
    intrinsics: CameraIntrinsics
    body_names: tuple[str, ...]
    instructions: tuple[str, ...] = ()
    task: str = ""
    embodiment: str = "unknown"
    fps: float = 30.0
    camera_fixed: bool = True

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb)
        if rgb.ndim != 4 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"sim episode rgb must be [T, H, W, 3] uint8, got {rgb.shape} {rgb.dtype}")
        num_frames, height, width = rgb.shape[:3]
        if (width, height) != (self.intrinsics.width_px, self.intrinsics.height_px):
            raise InputError(
                f"sim episode frames are {width}x{height} but the intrinsics describe "
                f"{self.intrinsics.width_px}x{self.intrinsics.height_px}"
            )
        num_bodies = len(self.body_names)
        expected = {
            "depth_m": (num_frames, height, width),
            "segmentation": (num_frames, height, width),
            "body_poses": (num_frames, num_bodies, 4, 4),
            "camera_poses": (num_frames, 4, 4),
        }
        for name, shape in expected.items():
            actual = tuple(np.shape(getattr(self, name)))
            if actual != shape:
                raise InputError(f"sim episode {name} must have shape {list(shape)}, got {list(actual)}")
        segmentation = np.asarray(self.segmentation)
        if segmentation.size and (segmentation.min() < -1 or segmentation.max() >= num_bodies):
            raise InputError(
                f"sim episode segmentation holds {segmentation.min()}..{segmentation.max()}: it must "
                f"index body_names (0..{num_bodies - 1}) or be -1"
            )
        if not 0 < float(self.fps) < 10_000:
            raise InputError(f"sim episode fps must be positive, got {self.fps}")

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Write the episode directory atomically; refuses to overwrite an existing one."""
        path = Path(path)
        if path.exists():
            raise InputError(f"sim episode {path} exists already: choose a new path")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            meta = {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "intrinsics": self.intrinsics.to_dict(),
                "instructions": list(self.instructions),
                "task": self.task,
                "embodiment": self.embodiment,
                "fps": float(self.fps),
                "camera_fixed": bool(self.camera_fixed),
                "body_names": list(self.body_names),
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
            dtypes = {
                "rgb": np.uint8,
                "depth_m": np.float32,
                "segmentation": np.int32,
                "body_poses": np.float64,
                "camera_poses": np.float64,
            }
            for name in ARRAY_FILES:
                np.save(tmp / f"{name}.npy", np.asarray(getattr(self, name), dtype=dtypes[name]))
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SimEpisode:
        """Read an episode directory (arrays memory-mapped, read-only)."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise InputError(f"{path} is not a sim episode: {META_FILE} is missing")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{meta_path} is not readable JSON: {exc}") from None
        if meta.get("format") != FORMAT_NAME:
            raise InputError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT_NAME!r}")
        if int(meta.get("version", 0)) > FORMAT_VERSION:
            raise InputError(
                f"{meta_path} has version {meta.get('version')}; this tracegen reads up to "
                f"{FORMAT_VERSION}: upgrade tracegen"
            )
        arrays = {}
        for name in ARRAY_FILES:
            file = path / f"{name}.npy"
            try:
                arrays[name] = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise InputError(f"sim episode array {file} is missing or unreadable: {exc}") from None
        try:
            return cls(
                **arrays,
                intrinsics=CameraIntrinsics.from_dict(meta["intrinsics"]),
                body_names=tuple(meta["body_names"]),
                instructions=tuple(meta.get("instructions", ())),
                task=str(meta.get("task", "")),
                embodiment=str(meta.get("embodiment", "unknown")),
                fps=float(meta.get("fps", 30.0)),
                camera_fixed=bool(meta.get("camera_fixed", True)),
            )
        except KeyError as exc:
            raise InputError(f"{meta_path} lacks the key {exc}") from None


def _invert(t_a_b: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms ``[..., 4, 4]``."""
    out = np.zeros_like(t_a_b)
    rot_t = np.swapaxes(t_a_b[..., :3, :3], -1, -2)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -(rot_t @ t_a_b[..., :3, 3, None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def ground_truth_tracks(
    episode: SimEpisode, reference_index: int, query_uv_px: np.ndarray, frame_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground-truth tracks of query pixels of the reference frame (see the module docstring).

    Args:
        reference_index: the frame the queries lie on.
        query_uv_px: ``[N, 2]`` pixel positions in the reference frame.
        frame_indices: ``[S]`` frames to follow them through (normally starting at the reference).

    Returns:
        ``uv_px`` ``[N, S, 2]`` in each frame's image, ``z_m`` ``[N, S]`` depth in each frame's
        camera (NaN where unknown), ``visible`` ``[N, S]`` bool (depth test passed).
        Query pixels without depth at the reference frame are held still and never visible
        after it (their 3D point is unknown).
    """
    k = episode.intrinsics
    height, width = k.height_px, k.width_px
    query_uv_px = np.asarray(query_uv_px, dtype=np.float64)
    frame_indices = np.asarray(frame_indices, dtype=np.intp)
    u_idx = np.clip(np.rint(query_uv_px[:, 0]), 0, width - 1).astype(np.intp)
    v_idx = np.clip(np.rint(query_uv_px[:, 1]), 0, height - 1).astype(np.intp)
    z_ref = np.asarray(episode.depth_m[reference_index], dtype=np.float64)[v_idx, u_idx]
    has_depth = np.isfinite(z_ref) & (z_ref > 0)
    z_safe = np.where(has_depth, z_ref, 1.0)
    xyz_cam = np.stack(
        [
            (query_uv_px[:, 0] - k.cx_px) * z_safe / k.fx_px,
            (query_uv_px[:, 1] - k.cy_px) * z_safe / k.fy_px,
            z_safe,
        ],
        axis=-1,
    )
    t_w_cref = np.asarray(episode.camera_poses[reference_index], dtype=np.float64)
    xyz_world = xyz_cam @ t_w_cref[:3, :3].T + t_w_cref[:3, 3]
    body = np.asarray(episode.segmentation[reference_index])[v_idx, u_idx].astype(np.intp)
    on_body = body >= 0
    body_poses = np.asarray(episode.body_poses, dtype=np.float64)
    # Points in their body's frame (static world points keep world coordinates).
    xyz_body = xyz_world.copy()
    if on_body.any():
        t_b_w = _invert(body_poses[reference_index, body[on_body]])
        xyz_body[on_body] = np.einsum("nij,nj->ni", t_b_w[:, :3, :3], xyz_world[on_body]) + t_b_w[:, :3, 3]

    num_points, num_steps = query_uv_px.shape[0], frame_indices.size
    uv_px = np.repeat(query_uv_px[:, None, :], num_steps, axis=1)
    z_m = np.full((num_points, num_steps), np.nan)
    visible = np.zeros((num_points, num_steps), dtype=bool)
    for step, frame in enumerate(frame_indices):
        xyz_w = xyz_body.copy()
        if on_body.any():
            t_w_b = body_poses[frame, body[on_body]]
            xyz_w[on_body] = np.einsum("nij,nj->ni", t_w_b[:, :3, :3], xyz_body[on_body]) + t_w_b[:, :3, 3]
        t_c_w = _invert(np.asarray(episode.camera_poses[frame], dtype=np.float64))
        xyz_c = xyz_w @ t_c_w[:3, :3].T + t_c_w[:3, 3]
        in_front = xyz_c[:, 2] > 1e-6
        z = np.where(in_front, xyz_c[:, 2], np.nan)
        u = k.fx_px * xyz_c[:, 0] / np.where(in_front, xyz_c[:, 2], 1.0) + k.cx_px
        v = k.fy_px * xyz_c[:, 1] / np.where(in_front, xyz_c[:, 2], 1.0) + k.cy_px
        inside = in_front & (u >= -0.5) & (u <= width - 0.5) & (v >= -0.5) & (v <= height - 0.5)
        ui = np.clip(np.rint(u), 0, width - 1).astype(np.intp)
        vi = np.clip(np.rint(v), 0, height - 1).astype(np.intp)
        rendered = np.asarray(episode.depth_m[frame], dtype=np.float64)[vi, ui]
        tolerance = OCCLUSION_TOLERANCE_M + OCCLUSION_TOLERANCE_REL * np.nan_to_num(z, nan=0.0)
        unoccluded = (rendered > 0) & (rendered >= np.nan_to_num(z, nan=np.inf) - tolerance)
        step_visible = inside & unoccluded & has_depth
        uv_px[:, step, 0] = np.where(in_front & has_depth, u, query_uv_px[:, 0])
        uv_px[:, step, 1] = np.where(in_front & has_depth, v, query_uv_px[:, 1])
        z_m[:, step] = np.where(has_depth, z, np.nan)
        visible[:, step] = step_visible
    return uv_px.astype(np.float32), z_m, visible
