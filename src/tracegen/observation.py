"""One RGB-D observation of the reference camera: the input of trace prediction.

Frames and units at this boundary: ``rgb`` is ``[H, W, 3]`` uint8 in RGB order; ``depth_m`` is
``[H, W]`` float32 metres along the optical axis, aligned to the colour image (0 or NaN where
the sensor has no reading), or None for RGB-only input; ``intrinsics`` describe this image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics

#: Depth beyond this is not a tabletop scene: most likely millimetres passed as metres.
MAX_PLAUSIBLE_DEPTH_M = 20.0


@dataclass(frozen=True, eq=False)
class Observation:
    """A validated RGB(-D) frame with its intrinsics and the instruction to condition on."""

    rgb: np.ndarray
    depth_m: np.ndarray | None
    intrinsics: CameraIntrinsics
    instruction: str

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"rgb must be an [H, W, 3] uint8 image, got shape {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        if (width, height) != (self.intrinsics.width_px, self.intrinsics.height_px):
            raise InputError(
                f"rgb is {width}x{height} but the intrinsics describe a "
                f"{self.intrinsics.width_px}x{self.intrinsics.height_px} image: pass the intrinsics "
                "of this stream"
            )
        if self.depth_m is not None:
            depth = np.asarray(self.depth_m, dtype=np.float32)
            if depth.shape != (height, width):
                raise InputError(
                    f"depth image {depth.shape[1] if depth.ndim == 2 else '?'}x{depth.shape[0]} "
                    f"does not match colour {width}x{height}: enable align_depth or pass matching "
                    "streams"
                )
            finite = depth[np.isfinite(depth) & (depth > 0)]
            if finite.size == 0:
                raise InputError("depth image has no valid pixel (all zero, NaN or negative)")
            if float(np.median(finite)) > MAX_PLAUSIBLE_DEPTH_M:
                raise InputError(
                    f"depth median {float(np.median(finite)):.1f} m is implausible: depth must be in "
                    "metres (convert 16UC1 millimetres with depth_mm / 1000)"
                )
            object.__setattr__(self, "depth_m", depth)
        instruction = str(self.instruction).strip()
        if not instruction:
            raise InputError("instruction is empty: say what the robot should do")
        object.__setattr__(self, "instruction", instruction)
        object.__setattr__(self, "rgb", rgb)

    @property
    def has_depth(self) -> bool:
        return self.depth_m is not None
