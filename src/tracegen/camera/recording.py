"""Write RealSense recordings without a camera: ``rs.software_device`` + ``rs.recorder``.

The result is a genuine SDK recording (rosbag2 sqlite ``.db3`` in pyrealsense2 2.59) that
:class:`tracegen.camera.RealSenseCamera` and realsense-ros play back like one made by the
RealSense Viewer: a colour sensor (rgb8) and, optionally, a depth sensor (z16 with its depth
units) registered with identity extrinsics to colour. By default depth has the colour
intrinsics (already aligned, like an aligned stream); ``depth_intrinsics`` gives it its
own (e.g. another resolution), so playback must align it as with a real camera. Used to
turn rendered or logged RGB-D frames into camera input for the capture node, and by tests.

The recorder stamps each frame with its arrival time, so playback in real time replays the
pace at which frames were written: :class:`RealSenseRecordingWriter` paces writes at ``fps``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics

#: Depth units of D400 cameras (1 mm), the default of a recording.
DEFAULT_DEPTH_UNITS_M = 0.001


def _rs_intrinsics(rs, intrinsics: CameraIntrinsics):
    intr = rs.intrinsics()
    intr.width, intr.height = intrinsics.width_px, intrinsics.height_px
    intr.fx, intr.fy = intrinsics.fx_px, intrinsics.fy_px
    intr.ppx, intr.ppy = intrinsics.cx_px, intrinsics.cy_px
    intr.model = rs.distortion.none
    intr.coeffs = [0.0] * 5
    return intr


class RealSenseRecordingWriter:
    """Record colour ``[H, W, 3]`` uint8 RGB and depth ``[H, W]`` metres frames to ``path``.

    Use as a context manager; :meth:`write` one frame at a time. ``path`` must end in ``.db3``
    (the format pyrealsense2 2.59 writes) and must not exist.
    """

    def __init__(
        self,
        path: str | Path,
        intrinsics: CameraIntrinsics,
        *,
        fps: int = 30,
        with_depth: bool = True,
        depth_intrinsics: CameraIntrinsics | None = None,
        depth_units_m: float = DEFAULT_DEPTH_UNITS_M,
        pace: bool = True,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix != ".db3":
            raise InputError(
                f"recording path {str(self.path)!r} must end in .db3: pyrealsense2 2.59 writes "
                "rosbag2 sqlite files"
            )
        if self.path.exists():
            raise InputError(f"recording {self.path} exists already: choose a new path")
        if not 1 <= fps <= 300:
            raise InputError(f"recording fps is {fps}: expected 1..300")
        if not 0 < depth_units_m <= 0.01:
            raise InputError(f"depth_units_m is {depth_units_m}: RealSense units are 0.0001..0.01 m")
        self.intrinsics = intrinsics
        self.depth_intrinsics = depth_intrinsics or intrinsics
        self.fps = fps
        self.with_depth = with_depth
        self.depth_units_m = depth_units_m
        self.pace = pace
        self.frames_written = 0
        self._started_s = 0.0
        self._open()

    def _open(self) -> None:
        import pyrealsense2 as rs

        self._rs = rs
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._device = rs.software_device()
        self._color_sensor = self._device.add_sensor("RGB Camera")
        self._color_profile = self._color_sensor.add_video_stream(
            self._stream(rs.stream.color, 0, 3, rs.format.rgb8, self.intrinsics)
        )
        self._sensors = [(self._color_sensor, self._color_profile)]
        if self.with_depth:
            self._depth_sensor = self._device.add_sensor("Stereo Module")
            self._depth_profile = self._depth_sensor.add_video_stream(
                self._stream(rs.stream.depth, 1, 2, rs.format.z16, self.depth_intrinsics)
            )
            self._depth_sensor.add_read_only_option(rs.option.depth_units, self.depth_units_m)
            identity = rs.extrinsics()
            identity.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            identity.translation = [0.0, 0.0, 0.0]
            self._depth_profile.register_extrinsics_to(self._color_profile, identity)
            self._sensors.append((self._depth_sensor, self._depth_profile))
        self._recorder = rs.recorder(str(self.path), self._device)
        for sensor, profile in self._sensors:
            sensor.open(profile)
            sensor.start(lambda frame: None)

    def _stream(self, stream_type, uid: int, bpp: int, fmt, intrinsics: CameraIntrinsics):
        stream = self._rs.video_stream()
        stream.type, stream.index, stream.uid = stream_type, 0, uid
        stream.width, stream.height = intrinsics.width_px, intrinsics.height_px
        stream.fps, stream.bpp, stream.fmt = self.fps, bpp, fmt
        stream.intrinsics = _rs_intrinsics(self._rs, intrinsics)
        return stream

    def write(self, rgb: np.ndarray, depth_m: np.ndarray | None = None) -> None:
        """Append one frame: ``rgb`` ``[H, W, 3]`` uint8, ``depth_m`` ``[Hd, Wd]`` metres (0/NaN = none)."""
        size = (self.intrinsics.height_px, self.intrinsics.width_px)
        depth_size = (self.depth_intrinsics.height_px, self.depth_intrinsics.width_px)
        rgb = np.ascontiguousarray(rgb)
        if rgb.shape != (*size, 3) or rgb.dtype != np.uint8:
            raise InputError(f"rgb must be {size[1]}x{size[0]} uint8 [H, W, 3], got {rgb.shape} {rgb.dtype}")
        if self.with_depth:
            if depth_m is None:
                raise InputError("this recording has a depth stream: pass depth_m with every frame")
            depth_m = np.asarray(depth_m, dtype=np.float64)
            if depth_m.shape != depth_size:
                raise InputError(f"depth_m must be [H, W] = {list(depth_size)}, got {list(depth_m.shape)}")
            raw = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m / self.depth_units_m, 0.0)
            depth_raw = np.clip(np.rint(raw), 0, np.iinfo(np.uint16).max).astype(np.uint16)
        if self.pace:
            if self.frames_written == 0:
                self._started_s = time.monotonic()
            wait_s = self._started_s + self.frames_written / self.fps - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
        timestamp_ms = 1000.0 * self.frames_written / self.fps
        self._color_sensor.on_video_frame(self._frame(rgb, 3, self._color_profile, timestamp_ms))
        if self.with_depth:
            frame = self._frame(depth_raw, 2, self._depth_profile, timestamp_ms)
            frame.depth_units = self.depth_units_m
            self._depth_sensor.on_video_frame(frame)
        self.frames_written += 1

    def _frame(self, pixels: np.ndarray, bpp: int, profile, timestamp_ms: float):
        frame = self._rs.software_video_frame()
        frame.pixels = pixels
        frame.bpp = bpp
        frame.stride = pixels.shape[1] * bpp
        frame.timestamp = timestamp_ms
        frame.domain = self._rs.timestamp_domain.hardware_clock
        frame.frame_number = self.frames_written
        frame.profile = profile.as_video_stream_profile()
        return frame

    def close(self) -> None:
        """Stop the sensors and finish the file (the recorder writes on destruction)."""
        if self._recorder is None:
            return
        for sensor, _ in self._sensors:
            sensor.stop()
            sensor.close()
        self._recorder = None
        self._sensors = []
        self._device = None

    def __enter__(self) -> RealSenseRecordingWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
