"""capture_node: Intel RealSense colour + aligned depth, published like realsense2_camera.

A live device (``serial_no``, profiles, ``align_depth.enable``) or a recording
(``rosbag_filename``: ``.bag``/``.db3``) through the same pyrealsense2 pipeline
(:mod:`tracegen.camera`). Publishes, relative to the node (``~/``), the realsense-ros topics:

- ``~/color/image_raw`` (rgb8) and ``~/color/camera_info``;
- ``~/aligned_depth_to_color/image_raw`` (16UC1, millimetres) and its ``camera_info`` (the
  colour intrinsics), or ``~/depth/image_rect_raw`` + ``~/depth/camera_info`` when alignment
  is off;

with sensor-data QoS and frame ids ``<camera_name>_color_optical_frame`` /
``<camera_name>_depth_optical_frame``. Started as node ``camera`` in namespace ``camera`` the
names are realsense-ros's (``/camera/camera/color/image_raw``), so realsense2_camera can replace
this node unchanged. All messages of one frameset carry the same stamp (the ROS time the
frameset arrived).

No camera: waits, retrying every ``reconnect_timeout`` s with a log line saying what it waits
for. Unplugged: logs, reports an error diagnostic and reconnects. A recording that ends:
``playback.on_end`` = idle (stay up, report it), stop (exit cleanly) or loop (play again).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from tracegen.camera import (
    CameraDisconnected,
    CameraNotFound,
    CaptureConfig,
    RealSenseCamera,
    RecordingEnded,
    RecordingError,
    RgbdFrame,
    StreamProfile,
)
from tracegen.errors import InputError
from tracegen_ros.camera_info import intrinsics_to_camera_info
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.images import numpy_to_image
from tracegen_ros.node_main import run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.qos import SENSOR_QOS

NODE_NAME = "camera"
ON_END_CHOICES = ("idle", "stop", "loop")

PARAMS = (
    ParamSpec("camera_name", "camera", "Prefix of the frame ids: <camera_name>_color_optical_frame."),
    ParamSpec("serial_no", "", "Serial number of the live RealSense to open; empty: the first one found."),
    ParamSpec(
        "rosbag_filename",
        "",
        "Play this RealSense recording (.bag or .db3) instead of a live device; empty: live device.",
    ),
    ParamSpec(
        "rgb_camera.color_profile",
        "640x480x30",
        "Colour stream WIDTHxHEIGHTxFPS of a live device (0x0x0: the device default).",
    ),
    ParamSpec(
        "depth_module.depth_profile",
        "640x480x30",
        "Depth stream WIDTHxHEIGHTxFPS of a live device (0x0x0: the device default).",
    ),
    ParamSpec("enable_depth", True, "Stream depth (16UC1 millimetres) besides colour."),
    ParamSpec(
        "align_depth.enable",
        True,
        "Align depth to colour and publish it on aligned_depth_to_color/ (else depth/image_rect_raw).",
    ),
    ParamSpec(
        "wait_for_device_timeout",
        -1.0,
        "Seconds to wait for the camera or recording before giving up and exiting; -1: wait forever.",
        min_value=-1.0,
        max_value=86400.0,
    ),
    ParamSpec(
        "reconnect_timeout",
        6.0,
        "Seconds between attempts to find or reopen the camera (at start and after an unplug).",
        min_value=0.1,
        max_value=600.0,
    ),
    ParamSpec(
        "frame_timeout_s",
        5.0,
        "A live camera that sends no frame for this many seconds counts as disconnected.",
        min_value=0.1,
        max_value=120.0,
    ),
    ParamSpec(
        "playback.real_time",
        True,
        "Play a recording at its recorded pace; false: as fast as frames are published, none dropped.",
    ),
    ParamSpec(
        "playback.on_end",
        "idle",
        "When a recording ends: idle (stay up, report it), stop (exit cleanly) or loop (play again).",
        choices=ON_END_CHOICES,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Seconds between status messages on /diagnostics.",
        min_value=0.1,
        max_value=60.0,
    ),
)


def capture_config(values: dict) -> CaptureConfig:
    """The :class:`CaptureConfig` the parameters describe (raises :class:`InputError`)."""
    recording = str(values["rosbag_filename"]).strip()
    return CaptureConfig(
        serial_no=str(values["serial_no"]).strip(),
        recording=Path(recording).expanduser() if recording else None,
        color_profile=StreamProfile.parse(
            values["rgb_camera.color_profile"], name="rgb_camera.color_profile"
        ),
        depth_profile=StreamProfile.parse(
            values["depth_module.depth_profile"], name="depth_module.depth_profile"
        ),
        enable_depth=bool(values["enable_depth"]),
        align_depth=bool(values["align_depth.enable"]),
        real_time=bool(values["playback.real_time"]),
        frame_timeout_s=float(values["frame_timeout_s"]),
    )


class CaptureNode(Node):
    """Streams one RealSense source on a capture thread; the executor only serves ROS."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.exit_status = 0
        params = declare_parameters(self, PARAMS)
        self._config = capture_config(params)
        if not params["camera_name"].strip():
            raise InputError("parameter 'camera_name' is empty: frame ids need a prefix such as 'camera'")
        self._camera_name = params["camera_name"].strip()
        self._wait_timeout_s = float(params["wait_for_device_timeout"])
        self._retry_s = float(params["reconnect_timeout"])
        self._on_end = params["playback.on_end"]
        self._color_frame = f"{self._camera_name}_color_optical_frame"
        self._depth_frame = f"{self._camera_name}_depth_optical_frame"

        self._color_pub = self.create_publisher(Image, "~/color/image_raw", SENSOR_QOS)
        self._color_info_pub = self.create_publisher(CameraInfo, "~/color/camera_info", SENSOR_QOS)
        self._depth_pub = self._depth_info_pub = None
        if self._config.enable_depth:
            prefix = "~/aligned_depth_to_color" if self._config.align_depth else "~/depth"
            image = "image_raw" if self._config.align_depth else "image_rect_raw"
            self._depth_pub = self.create_publisher(Image, f"{prefix}/{image}", SENSOR_QOS)
            self._depth_info_pub = self.create_publisher(CameraInfo, f"{prefix}/camera_info", SENSOR_QOS)

        self._diagnostics = DiagnosticsReporter(
            self, "RealSense capture", period_s=float(params["diagnostics_period_s"])
        )
        self._camera = RealSenseCamera(self._config)
        self._frames_published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="realsense-capture", daemon=True)
        self._thread.start()

    # --- the capture thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._capture_loop()
        except Exception as exc:
            if not self._alive():
                return  # shutting down: publishers are gone, nothing to report
            # A bug, not a camera condition: report it and end instead of looping on it.
            self.get_logger().fatal(f"capture thread failed: {type(exc).__name__}: {exc}")
            self._diagnostics.set(Level.ERROR, f"capture thread failed: {exc}")
            self._finish(1)
        finally:
            self._camera.close()

    def _alive(self) -> bool:
        """False once the node is stopping (Ctrl-C shuts the context down before destroy_node)."""
        return not self._stop.is_set() and self.context.ok()

    def _capture_loop(self) -> None:
        waiting_since = time.monotonic()
        while self._alive():
            try:
                description = self._camera.open()
            except CameraNotFound as exc:
                if not self._alive() or not self._wait_for_source(str(exc), waiting_since):
                    return
                continue
            except RecordingError as exc:
                self.get_logger().error(f"{exc}; set rosbag_filename to a RealSense recording. Not retrying.")
                self._diagnostics.set(Level.ERROR, f"unusable recording: {exc}")
                return
            self.get_logger().info(f"streaming {description}")
            self._diagnostics.set(Level.OK, f"streaming {description}")
            outcome = self._stream()
            self._camera.close()
            if not self._alive():
                return
            if outcome == "disconnected":
                waiting_since = time.monotonic()
            elif outcome == "ended" and not self._handle_end():
                return

    def _wait_for_source(self, reason: str, waiting_since: float) -> bool:
        """Log what is missing; False when wait_for_device_timeout ran out (the node exits)."""
        waited_s = time.monotonic() - waiting_since
        what = "recording" if self._config.recording is not None else "RealSense camera"
        if 0 < self._wait_timeout_s <= waited_s:
            message = f"gave up waiting for the {what} after {waited_s:.0f} s: {reason}"
            self.get_logger().error(message + " (wait_for_device_timeout)")
            self._diagnostics.set(Level.ERROR, message)
            self._finish(1)
            return False
        message = (
            f"waiting for the {what} ({self._config.source}): {reason}; retrying every {self._retry_s:g} s"
        )
        self.get_logger().warning(message)
        self._diagnostics.set(Level.WARN, message, waited_s=f"{waited_s:.0f}")
        self._stop.wait(self._retry_s)
        return True

    def _stream(self) -> str:
        """Publish frames until the source fails or ends: "disconnected", "ended" or "stopped"."""
        while self._alive():
            try:
                frame = self._camera.read()
            except CameraDisconnected as exc:
                if not self._alive():
                    return "stopped"
                message = f"camera lost: {exc}; reconnecting every {self._retry_s:g} s"
                self.get_logger().error(message)
                self._diagnostics.set(Level.ERROR, message)
                return "disconnected"
            except RecordingEnded as exc:
                if not self._alive():
                    return "stopped"
                self.get_logger().info(f"{exc} after {self._frames_published} frames published")
                return "ended"
            self._publish(frame)
        return "stopped"

    def _handle_end(self) -> bool:
        """React to the end of a recording; True to open it again."""
        if self._on_end == "loop":
            self.get_logger().info("playing the recording again (playback.on_end: loop)")
            return True
        message = f"recording ended after {self._frames_published} frames"
        if self._on_end == "stop":
            self._diagnostics.set(Level.OK, message + "; stopping (playback.on_end: stop)")
            self._finish(0)
        else:
            self._diagnostics.set(Level.WARN, message + "; idle (playback.on_end: idle)")
            self.get_logger().info("idle: no more frames will be published (playback.on_end: idle)")
        return False

    def _publish(self, frame: RgbdFrame) -> None:
        stamp = self.get_clock().now().to_msg()
        color_info = intrinsics_to_camera_info(frame.color_intrinsics, self._color_frame)
        color_info.d = list(frame.color_distortion)
        color_info.header.stamp = stamp
        self._color_pub.publish(numpy_to_image(frame.rgb, "rgb8", frame_id=self._color_frame, stamp=stamp))
        self._color_info_pub.publish(color_info)
        if self._depth_pub is not None and frame.depth_mm is not None:
            if frame.depth_aligned:
                depth_frame, depth_info = self._color_frame, color_info
            else:
                depth_frame = self._depth_frame
                depth_info = intrinsics_to_camera_info(frame.depth_intrinsics, depth_frame)
                depth_info.header.stamp = stamp
            self._depth_pub.publish(
                numpy_to_image(frame.depth_mm, "16UC1", frame_id=depth_frame, stamp=stamp)
            )
            self._depth_info_pub.publish(depth_info)
        self._frames_published += 1
        self._diagnostics.update_values(
            frames_published=self._frames_published, frame_number=frame.frame_number
        )

    def _finish(self, status: int) -> None:
        """End the node from the capture thread: the executor returns and main() exits."""
        self.exit_status = status
        rclpy.try_shutdown(context=self.context)

    def destroy_node(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CaptureNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
