"""Pinhole intrinsics of the reference camera.

Pixel coordinates follow OpenCV and sensor_msgs/CameraInfo: u to the right, v down, the
centre of the top-left pixel at (0, 0). Distortion is not modelled: the RealSense colour
stream and rendered images are rectified (CameraInfo ``plumb_bob`` with zero coefficients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracegen.errors import TraceError

#: Horizontal field of view outside which intrinsics are treated as absurd, degrees.
MIN_HFOV_DEG = 5.0
MAX_HFOV_DEG = 170.0


@dataclass(frozen=True)
class CameraIntrinsics:
    """Image size and pinhole parameters, all in pixels.

    Validated on construction: positive size, finite positive focal lengths giving a
    horizontal field of view between 5 and 170 degrees, and a principal point inside the
    image. Anything else is almost certainly a unit or field mix-up (metres for pixels,
    width for height) and raises :class:`TraceError`.
    """

    width_px: int
    height_px: int
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise TraceError(f"intrinsics {name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("fx_px", "fy_px", "cx_px", "cy_px"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise TraceError(f"intrinsics {name} must be finite, got {value!r}")
            object.__setattr__(self, name, value)
        if self.fx_px <= 0 or self.fy_px <= 0:
            raise TraceError(
                f"intrinsics focal lengths must be positive, got fx={self.fx_px}, fy={self.fy_px}"
            )
        hfov_deg = math.degrees(2 * math.atan(self.width_px / (2 * self.fx_px)))
        if not MIN_HFOV_DEG <= hfov_deg <= MAX_HFOV_DEG:
            raise TraceError(
                f"intrinsics fx={self.fx_px} px for a {self.width_px} px wide image give a "
                f"{hfov_deg:.1f} deg field of view: check the units (pixels) and that the "
                "intrinsics belong to this image size"
            )
        if not (0 <= self.cx_px <= self.width_px and 0 <= self.cy_px <= self.height_px):
            raise TraceError(
                f"principal point ({self.cx_px}, {self.cy_px}) lies outside the "
                f"{self.width_px}x{self.height_px} image: the intrinsics belong to another "
                "image size or have cx/cy swapped"
            )

    @classmethod
    def from_matrix(cls, k: np.ndarray, width_px: int, height_px: int) -> CameraIntrinsics:
        """Build from a 3x3 camera matrix K (or the 9 numbers of CameraInfo.k, row-major)."""
        k = np.asarray(k, dtype=np.float64)
        if k.size != 9:
            raise TraceError(f"camera matrix must have 9 entries (3x3), got shape {k.shape}")
        k = k.reshape(3, 3)
        if not np.allclose(k[2], [0.0, 0.0, 1.0]) or k[1, 0] != 0.0:
            raise TraceError(f"camera matrix {k.tolist()} is not a pinhole K (last row 0 0 1)")
        return cls(width_px, height_px, k[0, 0], k[1, 1], k[0, 2], k[1, 2])

    @classmethod
    def from_fov(cls, width_px: int, height_px: int, hfov_deg: float) -> CameraIntrinsics:
        """Square pixels, centred principal point, the given horizontal field of view."""
        fx_px = width_px / (2 * math.tan(math.radians(hfov_deg) / 2))
        return cls(width_px, height_px, fx_px, fx_px, (width_px - 1) / 2, (height_px - 1) / 2)

    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K (float64)."""
        return np.array([[self.fx_px, 0.0, self.cx_px], [0.0, self.fy_px, self.cy_px], [0.0, 0.0, 1.0]])

    def resized(self, width_px: int, height_px: int) -> CameraIntrinsics:
        """Intrinsics of the same camera after resizing the image to width x height."""
        sx, sy = width_px / self.width_px, height_px / self.height_px
        return CameraIntrinsics(
            width_px,
            height_px,
            self.fx_px * sx,
            self.fy_px * sy,
            (self.cx_px + 0.5) * sx - 0.5,
            (self.cy_px + 0.5) * sy - 0.5,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "width_px": self.width_px,
            "height_px": self.height_px,
            "fx_px": self.fx_px,
            "fy_px": self.fy_px,
            "cx_px": self.cx_px,
            "cy_px": self.cy_px,
        }

    @classmethod
    def from_dict(cls, data: dict[str, float | int]) -> CameraIntrinsics:
        try:
            return cls(**data)
        except TypeError as exc:
            raise TraceError(f"intrinsics dict {data!r} is malformed: {exc}") from exc
