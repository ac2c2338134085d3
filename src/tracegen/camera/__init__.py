"""Intel RealSense input without ROS: live devices and recordings through pyrealsense2.

:mod:`tracegen.camera.realsense` opens a device or plays a recording through the SDK pipeline
and yields :class:`RgbdFrame` (colour + aligned depth in millimetres);
:mod:`tracegen.camera.recording` writes SDK recordings from arrays (no camera needed).
pyrealsense2 is imported only when a camera or recording is opened.
"""

from tracegen.camera.profiles import StreamProfile
from tracegen.camera.realsense import (
    CameraDisconnected,
    CameraNotFound,
    CaptureConfig,
    DeviceInfo,
    RealSenseCamera,
    RecordingEnded,
    RecordingError,
    RgbdFrame,
    connected_devices,
)
from tracegen.camera.recording import RealSenseRecordingWriter

__all__ = [
    "CameraDisconnected",
    "CameraNotFound",
    "CaptureConfig",
    "DeviceInfo",
    "RealSenseCamera",
    "RealSenseRecordingWriter",
    "RecordingEnded",
    "RecordingError",
    "RgbdFrame",
    "StreamProfile",
    "connected_devices",
]
