"""An Intel RealSense colour + depth source through pyrealsense2: a live device or a recording.

Both go through the same SDK pipeline (``rs.pipeline``); a recording (``.bag`` from the
RealSense Viewer or ``.db3`` from SDK 2.59's recorder) is opened with
``rs.config.enable_device_from_file``. Depth is aligned to colour with ``rs.align`` when asked,
as realsense-ros's ``align_depth.enable`` does.

Frames and units at this boundary (:class:`RgbdFrame`): ``rgb`` ``[H, W, 3]`` uint8 RGB;
``depth_mm`` ``[Hd, Wd]`` uint16 millimetres along the optical axis (0 = no reading), which is
``[H, W]`` when aligned to colour; intrinsics are those of each image (pixels).

Failures are typed so a caller can wait, reconnect or stop (realsense-ros behaviour):
:class:`CameraNotFound` (no device yet, or the recording does not exist yet: retry later),
:class:`CameraDisconnected` (a live device stopped delivering: close and reconnect),
:class:`RecordingEnded` (playback finished), :class:`RecordingError` (the file is unusable).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracegen.camera.profiles import StreamProfile
from tracegen.errors import InputError, TraceError, TracegenError
from tracegen.trace import CameraIntrinsics

#: File types the SDK plays back: ROS 1 bags (RealSense Viewer) and rosbag2 sqlite (SDK >= 2.57).
RECORDING_SUFFIXES = (".bag", ".db3")
#: realsense-ros's default colour and depth profile.
DEFAULT_PROFILE = StreamProfile(640, 480, 30)
#: How long one wait for frames lasts before checking for the end of a recording or a stop.
_POLL_S = 0.2


class CameraNotFound(TracegenError):  # noqa: N818 - a condition to wait out, not a fault
    """No matching device is connected, or the recording file does not exist (yet)."""


class CameraDisconnected(TracegenError):  # noqa: N818 - a condition to recover from
    """A live device stopped delivering frames (unplugged, USB reset, power loss)."""


class RecordingEnded(TracegenError):  # noqa: N818 - the normal end of playback
    """The recording was played to its end."""


class RecordingError(InputError):
    """The recording exists but cannot be played (not a RealSense recording, no colour stream)."""


@dataclass(frozen=True)
class CaptureConfig:
    """What to open and how (realsense-ros parameter names in brackets).

    Attributes:
        serial_no: the live device to open [serial_no]; "" takes the first one found.
        recording: a ``.bag``/``.db3`` file to play instead of a device [rosbag_filename].
        color_profile, depth_profile: live stream profiles [rgb_camera.color_profile,
            depth_module.depth_profile]; a recording plays the profiles it holds.
        enable_depth: stream depth at all [enable_depth].
        align_depth: align depth to the colour image [align_depth.enable].
        real_time: play a recording at its recorded pace (False: as fast as frames are read,
            without dropping any).
        frame_timeout_s: a live device that sends nothing for this long counts as disconnected.
    """

    serial_no: str = ""
    recording: Path | None = None
    color_profile: StreamProfile = DEFAULT_PROFILE
    depth_profile: StreamProfile = DEFAULT_PROFILE
    enable_depth: bool = True
    align_depth: bool = True
    real_time: bool = True
    frame_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.recording is not None and Path(self.recording).suffix.lower() not in RECORDING_SUFFIXES:
            raise InputError(
                f"recording {str(self.recording)!r} is not a RealSense recording: expected one of "
                f"{list(RECORDING_SUFFIXES)} (RealSense Viewer .bag or SDK rosbag2 .db3)"
            )
        if not self.frame_timeout_s > 0:
            raise InputError(f"frame_timeout_s is {self.frame_timeout_s}: it must be positive")

    @property
    def source(self) -> str:
        """A human description of the source, for logs."""
        if self.recording is not None:
            return f"recording {self.recording}"
        return f"RealSense serial {self.serial_no}" if self.serial_no else "the first RealSense found"


@dataclass(frozen=True, eq=False)
class RgbdFrame:
    """One synchronised colour (+ depth) frame; see the module docstring for shapes and units."""

    rgb: np.ndarray
    color_intrinsics: CameraIntrinsics
    color_distortion: tuple[float, ...]
    depth_mm: np.ndarray | None
    depth_intrinsics: CameraIntrinsics | None
    depth_aligned: bool
    frame_number: int
    timestamp_ms: float


@dataclass(frozen=True)
class DeviceInfo:
    serial_no: str
    name: str
    firmware: str
    usb_type: str


def connected_devices() -> list[DeviceInfo]:
    """The RealSense devices connected now (empty on a machine without one)."""
    import pyrealsense2 as rs

    def info(device, key) -> str:
        return device.get_info(key) if device.supports(key) else ""

    return [
        DeviceInfo(
            serial_no=info(d, rs.camera_info.serial_number),
            name=info(d, rs.camera_info.name),
            firmware=info(d, rs.camera_info.firmware_version),
            usb_type=info(d, rs.camera_info.usb_type_descriptor),
        )
        for d in rs.context().query_devices()
    ]


def _intrinsics(profile, what: str) -> tuple[CameraIntrinsics, tuple[float, ...]]:
    intr = profile.as_video_stream_profile().get_intrinsics()
    try:
        intrinsics = CameraIntrinsics(intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy)
    except TraceError as exc:
        raise RecordingError(f"the {what} stream reports unusable intrinsics: {exc}") from None
    return intrinsics, tuple(float(c) for c in intr.coeffs)


class RealSenseCamera:
    """Open, read and close one RealSense source (see :class:`CaptureConfig`).

    Not thread-safe: one thread opens, reads and closes it.
    """

    def __init__(self, config: CaptureConfig) -> None:
        self.config = config
        self._pipeline = None
        self._playback = None
        self._align = None
        self._depth_aligned = False
        self.description = ""

    @property
    def is_open(self) -> bool:
        return self._pipeline is not None

    def open(self) -> str:
        """Start streaming; returns a one-line description of what is streaming.

        Raises :class:`CameraNotFound` (retry later) or :class:`RecordingError`.
        """
        import pyrealsense2 as rs

        self.close()
        cfg = rs.config()
        recording = self.config.recording
        if recording is not None:
            if not Path(recording).is_file():
                raise CameraNotFound(f"recording {recording} does not exist")
            cfg.enable_device_from_file(str(recording), repeat_playback=False)
            cfg.enable_all_streams()  # what the file holds; checked in _configure
        else:
            serials = [d.serial_no for d in connected_devices()]
            if not serials:
                raise CameraNotFound("no RealSense device is connected")
            if self.config.serial_no and self.config.serial_no not in serials:
                raise CameraNotFound(
                    f"no RealSense device with serial_no {self.config.serial_no!r} "
                    f"(connected: {', '.join(serials)})"
                )
            if self.config.serial_no:
                cfg.enable_device(self.config.serial_no)
            self._enable_live(cfg, rs.stream.color, self.config.color_profile, rs.format.rgb8)
            if self.config.enable_depth:
                self._enable_live(cfg, rs.stream.depth, self.config.depth_profile, rs.format.z16)
        pipeline = rs.pipeline()
        try:
            if recording is not None:
                # Set the pace on the device the pipeline will use before it starts playing;
                # changed after start(), the first frames may already be gone (or repeated).
                resolved = cfg.resolve(rs.pipeline_wrapper(pipeline))
                resolved.get_device().as_playback().set_real_time(self.config.real_time)
            profile = pipeline.start(cfg)
        except RuntimeError as exc:
            if recording is not None:
                raise RecordingError(
                    f"cannot play recording {recording}: {exc}. Is it a RealSense recording with a "
                    "colour stream (RealSense Viewer .bag or SDK .db3)?"
                ) from None
            raise CameraNotFound(
                f"cannot start {self.config.source} with colour {self.config.color_profile} and depth "
                f"{self.config.depth_profile}: {exc}"
            ) from None
        self._pipeline = pipeline
        try:
            self._configure(rs, profile)
        except Exception:
            self.close()
            raise
        return self.description

    @staticmethod
    def _enable_live(cfg, stream, profile: StreamProfile, fmt) -> None:
        if profile.is_default:
            cfg.enable_stream(stream, fmt)
        else:
            cfg.enable_stream(stream, profile.width_px, profile.height_px, fmt, profile.fps)

    def _configure(self, rs, profile) -> None:
        device = profile.get_device()
        streams = {s.stream_type(): s for s in profile.get_streams()}
        if rs.stream.color not in streams:
            raise RecordingError(f"{self.config.source} has no colour stream")
        color = streams[rs.stream.color]
        if color.format() not in (rs.format.rgb8, rs.format.bgr8):
            raise RecordingError(
                f"{self.config.source} has colour in {color.format()}: rgb8 or bgr8 is required "
                "(record the colour stream as RGB8)"
            )
        has_depth = self.config.enable_depth and rs.stream.depth in streams
        if self.config.enable_depth and not has_depth:
            raise RecordingError(f"{self.config.source} has no depth stream: set enable_depth false")
        if self.config.recording is not None:
            self._playback = device.as_playback()
        self._align = None
        self._depth_aligned = False
        if has_depth and self.config.align_depth:
            self._depth_aligned = True
            if not _already_aligned(streams[rs.stream.depth], color):
                self._align = rs.align(rs.stream.color)
        name = device.get_info(rs.camera_info.name) if device.supports(rs.camera_info.name) else "RealSense"
        parts = [f"colour {_describe(color)}"]
        if has_depth:
            depth = streams[rs.stream.depth]
            parts.append(f"depth {_describe(depth)}" + (" aligned to colour" if self._depth_aligned else ""))
        self.description = f"{name} from {self.config.source}: " + ", ".join(parts)

    def read(self) -> RgbdFrame:
        """The next frame; raises :class:`CameraDisconnected` or :class:`RecordingEnded`."""
        import pyrealsense2 as rs

        if self._pipeline is None:
            raise CameraDisconnected(f"{self.config.source} is not open")
        deadline = time.monotonic() + self.config.frame_timeout_s
        while True:
            try:
                ok, frames = self._pipeline.try_wait_for_frames(int(_POLL_S * 1000))
            except RuntimeError as exc:
                raise CameraDisconnected(f"{self.config.source} failed while streaming: {exc}") from None
            if ok:
                return self._convert(rs, frames)
            if self._playback is not None and self._playback.current_status() == rs.playback_status.stopped:
                raise RecordingEnded(f"{self.config.source} ended")
            if time.monotonic() > deadline:
                if self._playback is not None:
                    raise RecordingEnded(
                        f"{self.config.source} delivered nothing for {self.config.frame_timeout_s} s"
                    )
                raise CameraDisconnected(
                    f"{self.config.source} sent no frame for {self.config.frame_timeout_s} s "
                    "(unplugged or USB reset?)"
                )

    def _convert(self, rs, frames) -> RgbdFrame:
        if self._align is not None:
            frames = self._align.process(frames)
        color = frames.get_color_frame()
        if not color:
            raise CameraDisconnected(f"{self.config.source} delivered a frameset without colour")
        color_intrinsics, distortion = _intrinsics(color.get_profile(), "colour")
        rgb = np.array(np.asanyarray(color.get_data()), dtype=np.uint8, copy=True)
        if color.get_profile().format() == rs.format.bgr8:
            rgb = np.ascontiguousarray(rgb[..., ::-1])
        depth_mm = depth_intrinsics = None
        depth = frames.get_depth_frame() if self.config.enable_depth else None
        if depth:
            depth_intrinsics, _ = _intrinsics(depth.get_profile(), "depth")
            raw = np.asanyarray(depth.get_data())
            depth_mm = _to_millimetres(raw, float(depth.get_units()))
        return RgbdFrame(
            rgb=rgb,
            color_intrinsics=color_intrinsics,
            color_distortion=distortion,
            depth_mm=depth_mm,
            depth_intrinsics=depth_intrinsics,
            depth_aligned=self._depth_aligned,
            frame_number=int(color.get_frame_number()),
            timestamp_ms=float(color.get_timestamp()),
        )

    def close(self) -> None:
        pipeline, self._pipeline, self._playback, self._align = self._pipeline, None, None, None
        if pipeline is not None:
            with contextlib.suppress(RuntimeError):  # already stopped (device gone)
                pipeline.stop()

    def __enter__(self) -> RealSenseCamera:
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _already_aligned(depth_profile, color_profile) -> bool:
    """Depth registered to colour already (same intrinsics, identity extrinsics): ``rs.align``
    would only resample it (it splats each depth pixel's footprint, which moves edges and holes)."""
    depth = depth_profile.as_video_stream_profile().get_intrinsics()
    color = color_profile.as_video_stream_profile().get_intrinsics()
    same_intrinsics = (depth.width, depth.height) == (color.width, color.height) and np.allclose(
        [depth.fx, depth.fy, depth.ppx, depth.ppy], [color.fx, color.fy, color.ppx, color.ppy]
    )
    if not same_intrinsics:
        return False
    try:
        extrinsics = depth_profile.get_extrinsics_to(color_profile)
    except RuntimeError:
        return False
    return np.allclose(extrinsics.rotation, np.eye(3).ravel()) and np.allclose(extrinsics.translation, 0.0)


def _describe(profile) -> str:
    video = profile.as_video_stream_profile()
    return f"{video.width()}x{video.height()}@{profile.fps()} {profile.format()}".replace("format.", "")


def _to_millimetres(raw: np.ndarray, units_m: float) -> np.ndarray:
    """z16 depth in the sensor's units -> uint16 millimetres (a copy; SDK buffers are reused).

    D400 cameras use 1 mm units (a plain copy); others (D405: 0.1 mm) are rescaled, saturating
    at 65.535 m like the 16UC1 encoding itself.
    """
    if abs(units_m - 0.001) < 1e-9:
        return np.array(raw, dtype=np.uint16, copy=True)
    scaled = np.rint(raw.astype(np.float64) * (units_m * 1000.0))
    return np.clip(scaled, 0, np.iinfo(np.uint16).max).astype(np.uint16)
