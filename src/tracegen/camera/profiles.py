"""RealSense stream profiles written as realsense-ros writes them: ``"640x480x30"``.

realsense-ros 4.x accepts ``WIDTHxHEIGHTxFPS`` and ``WIDTH,HEIGHT,FPS``; ``0x0x0`` (all zero)
lets the SDK choose the device's default profile. Both spellings are accepted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tracegen.errors import InputError

_PROFILE = re.compile(r"^\s*(\d+)\s*[x,]\s*(\d+)\s*[x,]\s*(\d+)\s*$")

#: Largest image side of any RealSense stream (D455 colour is 1280x800, L515 1920x1080).
MAX_SIDE_PX = 4096
MAX_FPS = 300


@dataclass(frozen=True)
class StreamProfile:
    """Resolution and frame rate of one stream; all zero means "the device's default"."""

    width_px: int
    height_px: int
    fps: int

    def __post_init__(self) -> None:
        values = (self.width_px, self.height_px, self.fps)
        if self.is_default:
            return
        if any(v <= 0 for v in values):
            raise InputError(
                f"stream profile {self}: width, height and fps must all be positive, or all zero "
                "for the device's default"
            )
        if max(self.width_px, self.height_px) > MAX_SIDE_PX or self.fps > MAX_FPS:
            raise InputError(
                f"stream profile {self} is beyond any RealSense camera (max side {MAX_SIDE_PX} px, "
                f"max {MAX_FPS} fps)"
            )

    @property
    def is_default(self) -> bool:
        return self.width_px == 0 and self.height_px == 0 and self.fps == 0

    @classmethod
    def parse(cls, text: str, *, name: str = "profile") -> StreamProfile:
        """Parse ``"640x480x30"`` or ``"640,480,30"``; ``name`` is used in the error message."""
        match = _PROFILE.match(str(text))
        if match is None:
            raise InputError(
                f"{name} is {text!r}: expected WIDTHxHEIGHTxFPS such as '640x480x30' "
                "(or '0x0x0' for the device's default)"
            )
        width, height, fps = (int(g) for g in match.groups())
        try:
            return cls(width, height, fps)
        except InputError as exc:
            raise InputError(f"{name} is {text!r}: {exc}") from None

    def __str__(self) -> str:
        return f"{self.width_px}x{self.height_px}x{self.fps}"
