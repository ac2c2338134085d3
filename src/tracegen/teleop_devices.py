"""Operator devices for teleoperation (ROS-free): a terminal keyboard and a 3Dconnexion SpaceMouse.

Each turns its input into the same :class:`DeviceOutput` (a TCP twist, gripper and episode
requests); ``tracegen teleop`` publishes it as geometry_msgs/TwistStamped and std_msgs/Bool.

Keyboard (:class:`KeyboardTeleop`), one key per action; a terminal reports presses only (no
release), so a motion key moves the arm for ``hold_s`` after its last press: holding a key down
(auto-repeat) moves continuously, letting go stops within ``hold_s``; Space stops at once.

=========  ===========================================
w / s      +x / -x (forward / back, base frame)
a / d      +y / -y (left / right)
r / f      +z / -z (up / down)
u / o      roll + / -      i / k   pitch + / -      j / l   yaw + / -
Space      stop now
g          gripper: close / open (toggle)
+ / -      speed scale up / down (x1.25, 5 %..100 %)
t          twist frame: base (fr3_link0) / gripper (fr3_hand_tcp)
1 / 2 / 3  episode: start / stop and keep / abort
e          e-stop (the teleop node refuses twists until its reset_estop service)
q, Ctrl-C  quit
=========  ===========================================

SpaceMouse (:class:`SpaceMouseTeleop`, through ``pyspacemouse``): the six axes (-1..1) scale the
maximum linear and angular speeds; button 0 toggles the gripper, button 1 starts / stops an
episode. Opening it with no device (or no HID library) raises :class:`NoDeviceError` saying
what to do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from tracegen.errors import InputError
from tracegen.robot_assets import BASE_FRAME, TCP_FRAME

#: key -> (index in the 6-vector [vx, vy, vz, wx, wy, wz], sign)
MOTION_KEYS = {
    "w": (0, 1.0),
    "s": (0, -1.0),
    "a": (1, 1.0),
    "d": (1, -1.0),
    "r": (2, 1.0),
    "f": (2, -1.0),
    "u": (3, 1.0),
    "o": (3, -1.0),
    "i": (4, 1.0),
    "k": (4, -1.0),
    "j": (5, 1.0),
    "l": (5, -1.0),
}
SPEED_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.05, 1.0


class Episode(str, Enum):
    START = "start"
    STOP = "stop"
    ABORT = "abort"


@dataclass
class DeviceOutput:
    """What the operator asks for now: a twist (``twist [6]``: m/s, rad/s) in ``frame``, plus events."""

    twist: np.ndarray = field(default_factory=lambda: np.zeros(6))
    frame: str = BASE_FRAME
    gripper_closed: bool | None = None  # a new gripper request, else None
    episode: Episode | None = None
    estop: bool = False
    quit: bool = False


@dataclass(frozen=True)
class SpeedSettings:
    max_linear_m_s: float = 0.1
    max_angular_rad_s: float = 0.5
    scale: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_linear_m_s", "max_angular_rad_s", "scale"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"teleop {name} must be a positive number, got {value}")


class KeyboardTeleop:
    """Key presses -> :class:`DeviceOutput` (see the module docstring for the keys)."""

    def __init__(self, speeds: SpeedSettings | None = None, hold_s: float = 0.5) -> None:
        self.speeds = speeds or SpeedSettings()
        self.scale = min(max(self.speeds.scale, MIN_SCALE), MAX_SCALE)
        self.hold_s = float(hold_s)
        self.frame = BASE_FRAME
        self.gripper_closed = False
        self._until_s = np.full(6, -np.inf)
        self._sign = np.zeros(6)

    def handle(self, key: str, now_s: float) -> DeviceOutput:
        """One key press; returns the events it caused (the twist is :meth:`twist`'s)."""
        out = DeviceOutput(frame=self.frame)
        if key in MOTION_KEYS:
            index, sign = MOTION_KEYS[key]
            self._sign[index], self._until_s[index] = sign, now_s + self.hold_s
        elif key == " ":
            self._until_s[:] = -np.inf
        elif key == "g":
            self.gripper_closed = not self.gripper_closed
            out.gripper_closed = self.gripper_closed
        elif key in ("+", "="):
            self.scale = min(self.scale * SPEED_STEP, MAX_SCALE)
        elif key in ("-", "_"):
            self.scale = max(self.scale / SPEED_STEP, MIN_SCALE)
        elif key == "t":
            self.frame = TCP_FRAME if self.frame == BASE_FRAME else BASE_FRAME
            self._until_s[:] = -np.inf
        elif key in ("1", "2", "3"):
            out.episode = {"1": Episode.START, "2": Episode.STOP, "3": Episode.ABORT}[key]
        elif key == "e":
            self._until_s[:] = -np.inf
            out.estop = True
        elif key in ("q", "\x03", "\x04"):
            out.quit = True
        out.twist, out.frame = self.twist(now_s), self.frame
        return out

    def twist(self, now_s: float) -> np.ndarray:
        """``[6]`` the twist now: m/s for the first three, rad/s for the last three."""
        active = self._until_s > now_s
        unit = np.array([self.speeds.max_linear_m_s] * 3 + [self.speeds.max_angular_rad_s] * 3)
        return np.where(active, self._sign, 0.0) * unit * self.scale

    def status(self, now_s: float) -> str:
        twist = self.twist(now_s)
        frame = "base" if self.frame == BASE_FRAME else "gripper"
        return (
            f"[{frame}] v=({twist[0]:+.3f},{twist[1]:+.3f},{twist[2]:+.3f}) m/s "
            f"w=({twist[3]:+.2f},{twist[4]:+.2f},{twist[5]:+.2f}) rad/s speed {self.scale * 100:.0f}% "
            f"gripper {'closed' if self.gripper_closed else 'open'}"
        )


class NoDeviceError(InputError):
    """No SpaceMouse could be opened."""


class SpaceMouseTeleop:
    """A 3Dconnexion SpaceMouse through pyspacemouse -> :class:`DeviceOutput`."""

    #: Axis values below this are noise (the puck never rests exactly at 0).
    DEADBAND = 0.05

    def __init__(self, speeds: SpeedSettings | None = None, device: object | None = None) -> None:
        self.speeds = speeds or SpeedSettings(scale=1.0)
        self._device = device if device is not None else open_spacemouse()
        self.gripper_closed = False
        self.recording = False
        self._buttons: list[int] = []

    def read(self) -> DeviceOutput:
        state = self._device.read()
        axes = np.array([state.x, state.y, state.z, state.roll, state.pitch, state.yaw], dtype=np.float64)
        axes = np.where(np.abs(axes) < self.DEADBAND, 0.0, np.clip(axes, -1.0, 1.0))
        unit = np.array([self.speeds.max_linear_m_s] * 3 + [self.speeds.max_angular_rad_s] * 3)
        out = DeviceOutput(twist=axes * unit * self.speeds.scale)
        buttons = list(state.buttons)
        pressed = [
            i for i, b in enumerate(buttons) if b and (i >= len(self._buttons) or not self._buttons[i])
        ]
        self._buttons = buttons
        if 0 in pressed:
            self.gripper_closed = not self.gripper_closed
            out.gripper_closed = self.gripper_closed
        if 1 in pressed:
            self.recording = not self.recording
            out.episode = Episode.START if self.recording else Episode.STOP
        return out

    def close(self) -> None:
        close = getattr(self._device, "close", None)
        if close is not None:
            close()


def open_spacemouse() -> object:
    """The first SpaceMouse found, or :class:`NoDeviceError` saying what is missing."""
    try:
        import pyspacemouse
    except ImportError:
        raise NoDeviceError(
            "the SpaceMouse needs the pyspacemouse package: pip install pyspacemouse"
        ) from None
    try:
        device = pyspacemouse.open()
    except RuntimeError as exc:
        text = str(exc)
        if "HID API" in text or "hidapi" in text.lower():
            raise NoDeviceError(
                f"cannot use a SpaceMouse: the HID library is missing ({text}): install it "
                "(Debian/Ubuntu: sudo apt install libhidapi-hidraw0) and allow access to the device "
                "(a udev rule for 3Dconnexion, vendor id 256f or 046d)"
            ) from None
        raise NoDeviceError(
            f"no SpaceMouse found: {text}; plug it in (and check its udev permissions)"
        ) from None
    except Exception as exc:
        raise NoDeviceError(
            f"no SpaceMouse found: {exc}; plug it in (and check its udev permissions)"
        ) from None
    if not device:
        raise NoDeviceError("no SpaceMouse found: plug one in (and check its udev permissions)")
    return device
