"""What every reader produces: an :class:`Episode`, a stream of frames plus what the source says.

Frames and units at this boundary: ``rgb`` ``[H, W, 3]`` uint8 RGB; ``depth_m`` ``[H, W]``
float32 metres along the optical axis, aligned to ``rgb`` (0 = no reading) or None; the
episode's ``intrinsics`` describe ``rgb`` (after any downscaling the reader applied).
``camera_poses`` are ``T_world_camera`` ``[T, 4, 4]`` (camera = REP-103 optical frame) indexed
by frame index, when the source knows them (simulation).

Frames are produced lazily (:meth:`Episode.frames`) so an hour-long recording never has to be
in memory: the engine collects them in bounded windows (:func:`collect_window`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics

#: Depth beyond this median is not a scene a camera sees: most likely millimetres read as metres.
MAX_PLAUSIBLE_MEDIAN_DEPTH_M = 20.0
#: A median below this is most likely metres stored in an integer millimetre image.
MIN_PLAUSIBLE_MEDIAN_DEPTH_M = 0.02


@dataclass(frozen=True, eq=False)
class Frame:
    """One source frame (see the module docstring for shapes and units)."""

    index: int
    rgb: np.ndarray
    depth_m: np.ndarray | None = None
    time_s: float | None = None


@dataclass(eq=False)
class Episode:
    """One continuous recording from one camera and what its source says about it.

    Attributes:
        source: the input (file or directory path, or URI).
        episode_id: the episode within the source ("0" for single-episode sources).
        intrinsics: of the (possibly downscaled) colour frames.
        intrinsics_source: "source" or "default" (no intrinsics in the source).
        frames: a callable returning a fresh iterator over :class:`Frame`.
        fps: source frame rate if known.
        instructions: 0 to 3 variants from the source; empty when the source has none.
        instruction_origin: where they came from (e.g. "bag metadata tracegen.instruction").
        task: a task name if the source has one.
        embodiment: what moves ("fr3", "human_hand", ...; "unknown").
        camera_fixed: True/False when the source says; None when it does not.
        camera_poses: ``[T, 4, 4]`` T_world_camera by frame index, when known.
        ground_truth: a callable giving ground-truth tracks (simulation; see
            :mod:`tracegen.forge.tracking.ground_truth`), or None.
        has_depth: whether frames carry depth.
        notes: provenance details worth keeping (e.g. how intrinsics were chosen).
    """

    source: str
    episode_id: str
    intrinsics: CameraIntrinsics
    intrinsics_source: str
    frames: Callable[[], Iterator[Frame]]
    fps: float | None = None
    instructions: tuple[str, ...] = ()
    instruction_origin: str = ""
    task: str | None = None
    embodiment: str = "unknown"
    camera_fixed: bool | None = None
    camera_poses: np.ndarray | None = None
    ground_truth: Any = None
    has_depth: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Window:
    """A run of consecutive frames in memory: ``rgb`` ``[T, H, W, 3]``, ``depth_m`` ``[T, H, W]``."""

    first_index: int
    rgb: np.ndarray
    depth_m: np.ndarray | None
    indices: np.ndarray

    @property
    def num_frames(self) -> int:
        return self.rgb.shape[0]


def check_depth_frame(depth_m: np.ndarray, rgb_shape: tuple[int, ...], where: str) -> np.ndarray:
    """Validate one aligned depth frame (metres); returns it as float32 with holes as 0.

    Raises :class:`InputError` for a size that does not match colour (not aligned) and for
    implausible units (millimetres read as metres, or metres stored as integer millimetres).
    """
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2 or depth_m.shape != tuple(rgb_shape[:2]):
        raise InputError(
            f"{where}: depth image {tuple(depth_m.shape)} does not match colour {tuple(rgb_shape[:2])}: "
            "record depth aligned to colour (realsense-ros align_depth.enable: true)"
        )
    depth_m = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, 0.0).astype(np.float32)
    valid = depth_m[depth_m > 0]
    if valid.size:
        median = float(np.median(valid))
        if median > MAX_PLAUSIBLE_MEDIAN_DEPTH_M:
            raise InputError(
                f"{where}: median depth {median:.1f} m is implausible: the depth is probably in "
                "millimetres where metres were expected (16UC1 is millimetres, 32FC1 metres)"
            )
        if median < MIN_PLAUSIBLE_MEDIAN_DEPTH_M:
            raise InputError(
                f"{where}: median depth {median * 1000:.1f} mm is implausible: the depth is probably "
                "in metres stored in an integer image meant for millimetres"
            )
    return depth_m


def downscale(
    rgb: np.ndarray, depth_m: np.ndarray | None, max_side_px: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Shrink a frame so its longer side is at most ``max_side_px`` (0: unchanged)."""
    height, width = rgb.shape[:2]
    if max_side_px <= 0 or max(height, width) <= max_side_px:
        return rgb, depth_m
    new_w, new_h = scaled_size(width, height, max_side_px)
    rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    if depth_m is not None:
        # Nearest keeps holes as holes and never blends depths across object edges.
        depth_m = cv2.resize(depth_m, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    return rgb, depth_m


def scaled_size(width_px: int, height_px: int, max_side_px: int) -> tuple[int, int]:
    """(width, height) after :func:`downscale`."""
    if max_side_px <= 0 or max(width_px, height_px) <= max_side_px:
        return width_px, height_px
    scale = max_side_px / max(width_px, height_px)
    return max(2, round(width_px * scale)), max(2, round(height_px * scale))


def collect_window(frames: Iterator[Frame], max_frames: int, where: str) -> Window | None:
    """Up to ``max_frames`` frames from ``frames`` as arrays; None when the iterator is done.

    Raises :class:`InputError` when frames change size or depth comes and goes.
    """
    rgbs: list[np.ndarray] = []
    depths: list[np.ndarray] = []
    indices: list[int] = []
    for frame in frames:
        rgb = np.asarray(frame.rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"{where}: frame {frame.index} is {rgb.shape} {rgb.dtype}, not [H, W, 3] uint8")
        if rgbs and rgb.shape != rgbs[0].shape:
            raise InputError(
                f"{where}: frame {frame.index} is {rgb.shape[1]}x{rgb.shape[0]} but earlier frames are "
                f"{rgbs[0].shape[1]}x{rgbs[0].shape[0]}: one episode must keep one image size"
            )
        if rgbs and (frame.depth_m is None) != (not depths):
            raise InputError(
                f"{where}: frame {frame.index} {'lacks' if frame.depth_m is None else 'adds'} depth"
            )
        rgbs.append(rgb)
        if frame.depth_m is not None:
            depths.append(check_depth_frame(frame.depth_m, rgb.shape, f"{where} frame {frame.index}"))
        indices.append(frame.index)
        if len(rgbs) >= max_frames:
            break
    if not rgbs:
        return None
    return Window(
        first_index=indices[0],
        rgb=np.stack(rgbs),
        depth_m=np.stack(depths) if depths else None,
        indices=np.asarray(indices, dtype=np.int64),
    )
