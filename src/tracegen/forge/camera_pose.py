"""Camera motion: where each frame's camera was, so moving-camera clips can still give 3D traces.

Decision per window (:func:`decide_geometry`), first match wins:

1. the source knows the poses (simulation episodes): use them;
2. the source says the camera is fixed (sidecar, bag metadata ``tracegen.camera_fixed``,
   simulation), or the user vouches for it (``--camera-fixed``): static camera;
3. a :class:`CameraPoseBackend` is configured (e.g. :class:`VggtPoseBackend` with local
   weights): estimated poses (and estimated depth when the source has none);
4. otherwise the camera may have moved and nobody knows how: the clip gets 2D-only traces, and
   each triplet's provenance says why.

3D traces also need metric depth: the sensor's aligned depth, or a backend's metric estimate.
Poses are ``T_world_camera`` ``[T, 4, 4]`` with the camera the REP-103 optical frame (z
forward, x right, y down: OpenCV's convention, which VGGT also uses).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from tracegen.errors import InputError
from tracegen.forge.episode import Episode, Window
from tracegen.trace import CameraIntrinsics


@dataclass(frozen=True, eq=False)
class CameraMotion:
    """A backend's answer for a window: poses ``[T, 4, 4]`` and, if it estimates it, depth ``[T, H, W]``."""

    T_world_camera: np.ndarray
    depth_m: np.ndarray | None = None


@runtime_checkable
class CameraPoseBackend(Protocol):
    """Estimates camera poses (and optionally metric depth) for a window of frames."""

    name: str

    def estimate(
        self, rgb: np.ndarray, depth_m: np.ndarray | None, intrinsics: CameraIntrinsics
    ) -> CameraMotion:
        """``rgb`` ``[T, H, W, 3]`` uint8, sensor ``depth_m`` ``[T, H, W]`` or None."""
        ...


@dataclass(frozen=True, eq=False)
class Geometry:
    """How a window's tracks become traces.

    Attributes:
        is_3d: traces carry depth.
        camera: "fixed (source)", "fixed (user)", "poses (source)", "poses (<backend>)" or "unknown".
        T_world_camera: ``[T, 4, 4]`` per window frame, None for a fixed camera.
        depth_m: ``[T, H, W]`` metres for tracking depth (sensor or estimated), or None.
        depth_source: "sensor", "estimated (<backend>)" or "none".
        reason_2d: why traces are 2D-only ("" when 3D).
    """

    is_3d: bool
    camera: str
    T_world_camera: np.ndarray | None
    depth_m: np.ndarray | None
    depth_source: str
    reason_2d: str = ""


def decide_geometry(
    episode: Episode,
    window: Window,
    *,
    assume_camera_fixed: bool = False,
    pose_backend: CameraPoseBackend | None = None,
) -> Geometry:
    """Choose poses and depth for a window (rules in the module docstring)."""
    depth_m, depth_source = window.depth_m, "sensor" if window.depth_m is not None else "none"
    poses: np.ndarray | None = None
    if episode.camera_poses is not None:
        poses, camera = np.asarray(episode.camera_poses, dtype=np.float64)[window.indices], "poses (source)"
    elif episode.camera_fixed:
        camera = "fixed (source)"
    elif assume_camera_fixed:
        camera = "fixed (user)"
    elif pose_backend is not None:
        motion = pose_backend.estimate(window.rgb, window.depth_m, episode.intrinsics)
        poses, camera = motion.T_world_camera, f"poses ({pose_backend.name})"
        if depth_m is None and motion.depth_m is not None:
            depth_m, depth_source = motion.depth_m, f"estimated ({pose_backend.name})"
    else:
        camera = "unknown"
    if camera == "unknown":
        reason = (
            "the source does not say the camera is fixed and no camera-pose backend is configured, "
            "so camera motion cannot be removed (pass --camera-fixed if the camera did not move)"
        )
        return Geometry(False, camera, None, depth_m, depth_source, reason)
    if depth_m is None:
        return Geometry(False, camera, poses, None, "none", "the source has no depth (RGB only)")
    return Geometry(True, camera, poses, depth_m, depth_source)


class VggtPoseBackend:
    """Camera poses and depth from VGGT (facebookresearch/vggt) with local weights.

    ``code_dir`` is a local clone of the VGGT repository (its ``vggt`` package is imported from
    there) and ``weights_dir`` a local copy of the ``facebook/VGGT-1B`` model (loaded with
    ``VGGT.from_pretrained``). VGGT's extrinsics are camera-from-world (OpenCV) in the first
    frame's frame, up to scale; with sensor depth the scale is fixed by the median ratio of
    sensor to predicted depth, without it VGGT's depth is taken as metric (approximate).
    Frames are resized to VGGT's 518 px width (height a multiple of 14) for inference.
    """

    name = "vggt"
    INPUT_WIDTH_PX = 518
    PATCH_PX = 14

    def __init__(self, code_dir: str | Path, weights_dir: str | Path, device: str = "cpu") -> None:
        code_dir, weights_dir = Path(code_dir), Path(weights_dir)
        if not (code_dir / "vggt" / "__init__.py").is_file():
            raise InputError(
                f"VGGT code not found: {code_dir}/vggt/__init__.py is missing; clone "
                "https://github.com/facebookresearch/vggt and pass its directory"
            )
        if not weights_dir.is_dir():
            raise InputError(
                f"VGGT weights directory {weights_dir} does not exist (a local facebook/VGGT-1B copy)"
            )
        if str(code_dir) not in sys.path:
            sys.path.insert(0, str(code_dir))
        import torch
        from vggt.models.vggt import VGGT  # type: ignore[import-not-found]

        self._torch = torch
        self.device = device
        self.model = VGGT.from_pretrained(str(weights_dir)).to(device).eval()

    def estimate(
        self, rgb: np.ndarray, depth_m: np.ndarray | None, intrinsics: CameraIntrinsics
    ) -> CameraMotion:
        import cv2
        from vggt.utils.pose_enc import pose_encoding_to_extri_intri  # type: ignore[import-not-found]

        torch = self._torch
        num_frames, height, width = rgb.shape[:3]
        in_w = self.INPUT_WIDTH_PX
        in_h = max(self.PATCH_PX, round(height * in_w / width / self.PATCH_PX) * self.PATCH_PX)
        images = np.stack([cv2.resize(f, (in_w, in_h), interpolation=cv2.INTER_AREA) for f in rgb])
        batch = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).to(self.device)
        with torch.no_grad():
            predictions = self.model(batch)
        extrinsic, _ = pose_encoding_to_extri_intri(predictions["pose_enc"], (in_h, in_w))
        t_cam_world = np.tile(np.eye(4), (num_frames, 1, 1))
        t_cam_world[:, :3, :] = extrinsic[0].cpu().numpy()
        predicted = predictions["depth"][0, ..., 0].cpu().numpy()
        predicted = np.stack(
            [cv2.resize(d, (width, height), interpolation=cv2.INTER_LINEAR) for d in predicted]
        )
        scale = 1.0
        if depth_m is not None:
            both = (depth_m > 0) & (predicted > 0)
            if both.any():
                scale = float(np.median(depth_m[both] / predicted[both]))
        t_world_cam = np.linalg.inv(t_cam_world)
        t_world_cam[:, :3, 3] *= scale
        return CameraMotion(T_world_camera=t_world_cam, depth_m=(predicted * scale).astype(np.float32))
