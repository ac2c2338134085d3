"""Teleoperation front-ends as ROS publishers: a device's output -> TwistStamped, gripper, e-stop.

:class:`TeleopPublisher` is an rclpy node (its own context, spun on a thread) that publishes what
a :mod:`tracegen.teleop_devices` device asks for on the teleop node's topics
(``<namespace>/teleop/twist``, ``<namespace>/teleop/gripper``, ``<namespace>/estop``) and starts
and stops episodes through the demo recorder's services (``<recorder>/start|stop|abort``).
:func:`run_keyboard` and :func:`run_spacemouse` are the loops of ``tracegen teleop``.

Twists are published while the device asks for motion, once more as zero when it stops, and not
at all when idle: the teleop node's deadman then holds the arm.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import sys
import termios
import threading
import time
import tty
from collections.abc import Callable
from typing import TextIO

import numpy as np
import rclpy
from geometry_msgs.msg import TwistStamped
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from tracegen.errors import InputError
from tracegen.teleop_devices import DeviceOutput, Episode, KeyboardTeleop, SpaceMouseTeleop
from tracegen_ros.qos import COMMAND_QOS

#: How long an episode key waits for the recorder's service to be discovered, seconds.
SERVICE_WAIT_S = 20.0

EpisodeCallback = Callable[[Episode, bool, str], None]


class TeleopPublisher:
    """Publishes device outputs; calls the recorder's services without blocking the device loop."""

    def __init__(
        self,
        namespace: str = "/tracegen",
        recorder: str = "/tracegen/demo_recorder",
        *,
        on_episode: EpisodeCallback | None = None,
        node_name: str = "teleop_frontend",
    ) -> None:
        namespace = "/" + namespace.strip("/")
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(node_name, context=self.context)
        self._twist_pub = self.node.create_publisher(TwistStamped, f"{namespace}/teleop/twist", COMMAND_QOS)
        self._gripper_pub = self.node.create_publisher(Bool, f"{namespace}/teleop/gripper", COMMAND_QOS)
        self._estop_pub = self.node.create_publisher(Bool, f"{namespace}/estop", COMMAND_QOS)
        self._clients = {
            kind: self.node.create_client(Trigger, f"{recorder.rstrip('/')}/{kind.value}") for kind in Episode
        }
        self._on_episode = on_episode
        self.message = ""
        self.published = 0
        self._moving = False
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context was shut down by close()
            self._executor.spin()

    def publish(self, out: DeviceOutput) -> None:
        moving = bool(np.abs(out.twist).max() > 0.0)
        if moving or self._moving:
            msg = TwistStamped()
            msg.header.stamp = self.node.get_clock().now().to_msg()
            msg.header.frame_id = out.frame
            t = [float(v) for v in out.twist]
            msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = t[:3]
            msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = t[3:]
            self._twist_pub.publish(msg)
            self.published += 1
        self._moving = moving
        if out.gripper_closed is not None:
            self._gripper_pub.publish(Bool(data=out.gripper_closed))
            self.message = f"gripper {'close' if out.gripper_closed else 'open'} sent"
        if out.estop:
            self._estop_pub.publish(Bool(data=True))
            self.message = "E-STOP sent: reset it with the teleop node's reset_estop service"
        if out.episode is not None:
            self.episode(out.episode)

    def episode(self, kind: Episode) -> None:
        """Call the recorder's service for ``kind`` on a thread (it may take a moment to be discovered)."""
        self.message = f"episode {kind.value}: asking {self._clients[kind].srv_name}"
        threading.Thread(target=self._call_episode, args=(kind,), daemon=True).start()

    def _call_episode(self, kind: Episode) -> None:
        client = self._clients[kind]
        if not client.wait_for_service(timeout_sec=SERVICE_WAIT_S):
            self.message = f"episode {kind.value}: no demo recorder at {client.srv_name}"
            if self._on_episode is not None:
                self._on_episode(kind, False, self.message)
            return
        future = client.call_async(Trigger.Request())
        future.add_done_callback(lambda f, kind=kind: self._episode_done(kind, f))

    def _episode_done(self, kind: Episode, future) -> None:
        try:
            result = future.result()
            success, message = bool(result.success), str(result.message)
        except Exception as exc:
            success, message = False, f"service call failed: {exc}"
        self.message = f"episode {kind.value}: {'ok' if success else 'FAILED'}: {message}"
        if self._on_episode is not None:
            self._on_episode(kind, success, message)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5.0)


def _status_line(out: TextIO, text: str) -> None:
    width = shutil.get_terminal_size((120, 20)).columns
    out.write("\r" + text[: max(width - 1, 10)] + "\x1b[K")
    out.flush()


def run_keyboard(
    publisher: TeleopPublisher,
    keyboard: KeyboardTeleop,
    *,
    rate_hz: float = 50.0,
    stdin_fd: int | None = None,
    out: TextIO = sys.stdout,
    extra_status: Callable[[], str] = lambda: "",
) -> None:
    """Read keys from a terminal until ``q`` / Ctrl-C; publish at ``rate_hz``; a one-line status."""
    fd = sys.stdin.fileno() if stdin_fd is None else stdin_fd
    if not os.isatty(fd):
        raise InputError(
            "--keyboard reads keys from a terminal, but standard input is not one: run it in a terminal"
        )
    saved = termios.tcgetattr(fd)
    period = 1.0 / rate_hz
    try:
        # TCSANOW: keys typed while the stack was starting are kept, not flushed.
        tty.setcbreak(fd, termios.TCSANOW)
        out.write(
            "keys: w/s a/d r/f move x/y/z, u/o i/k j/l rotate, space stop, g gripper, +/- speed, "
            "t frame, 1/2/3 episode start/stop/abort, e e-stop, q quit\n"
        )
        last_draw, drawn = 0.0, ""
        while True:
            ready, _, _ = select.select([fd], [], [], period)
            now = time.monotonic()
            keys = os.read(fd, 64).decode(errors="ignore") if ready else ""
            quit_now = False
            for key in keys:
                event = keyboard.handle(key, now)
                publisher.publish(event)
                quit_now = quit_now or event.quit
            if quit_now:
                break
            if not keys:
                publisher.publish(DeviceOutput(twist=keyboard.twist(now), frame=keyboard.frame))
            line = " | ".join(p for p in (keyboard.status(now), extra_status(), publisher.message) if p)
            if line != drawn and now - last_draw > 0.1:
                last_draw, drawn = now, line
                _status_line(out, line)
    except KeyboardInterrupt:
        pass
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        publisher.publish(DeviceOutput())  # a final zero twist if it was moving
        out.write("\n")
        out.flush()


def run_spacemouse(
    publisher: TeleopPublisher, device: SpaceMouseTeleop, *, rate_hz: float = 100.0, out: TextIO = sys.stdout
) -> None:
    """Read the SpaceMouse at ``rate_hz`` until Ctrl-C; publish; a one-line status."""
    period = 1.0 / rate_hz
    last_draw, drawn = 0.0, ""
    try:
        while True:
            started = time.monotonic()
            event = device.read()
            publisher.publish(event)
            t = event.twist
            line = (
                f"v=({t[0]:+.3f},{t[1]:+.3f},{t[2]:+.3f}) m/s w=({t[3]:+.2f},{t[4]:+.2f},{t[5]:+.2f}) "
                f"gripper {'closed' if device.gripper_closed else 'open'} | {publisher.message}"
            )
            if line != drawn and started - last_draw > 0.1:
                last_draw, drawn = started, line
                _status_line(out, line)
            time.sleep(max(0.0, period - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        publisher.publish(DeviceOutput())
        device.close()
        out.write("\n")
