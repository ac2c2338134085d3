"""Node status on ``/diagnostics`` (diagnostic_msgs/DiagnosticArray), as diagnostic_updater does.

diagnostic_updater is not on PyPI; this is the small part of it the nodes need: one status per
node (level, one-line message saying what the node does or waits for, key/values), published
periodically and immediately on every level change, under the name ``<node>: <task>``.
"""

from __future__ import annotations

import contextlib
import threading
from enum import IntEnum

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from tracegen_ros.qos import COMMAND_QOS

#: diagnostic_updater publishes on this absolute topic whatever the node's namespace.
DIAGNOSTICS_TOPIC = "/diagnostics"


class Level(IntEnum):
    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


class DiagnosticsReporter:
    """Holds one node's current status and publishes it every ``period_s`` and on level change."""

    def __init__(self, node: Node, task: str, *, hardware_id: str = "", period_s: float = 1.0) -> None:
        self._node = node
        self._name = f"{node.get_name()}: {task}"
        self._hardware_id = hardware_id
        self._lock = threading.Lock()
        self._level = Level.STALE
        self._message = "starting"
        self._values: dict[str, str] = {}
        self._publisher = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, COMMAND_QOS)
        self._timer = node.create_timer(period_s, self.publish)

    @property
    def level(self) -> Level:
        return self._level

    @property
    def message(self) -> str:
        return self._message

    def set(self, level: Level, message: str, **values: object) -> None:
        """Replace the status; publishes at once when the level or message changed."""
        with self._lock:
            changed = level != self._level or message != self._message
            self._level, self._message = level, message
            self._values.update({k: str(v) for k, v in values.items()})
        if changed:
            self.publish()

    def update_values(self, **values: object) -> None:
        with self._lock:
            self._values.update({k: str(v) for k, v in values.items()})

    def set_hardware_id(self, hardware_id: str) -> None:
        with self._lock:
            self._hardware_id = hardware_id

    def status(self) -> DiagnosticStatus:
        with self._lock:
            return DiagnosticStatus(
                level=bytes([int(self._level)]),
                name=self._name,
                message=self._message,
                hardware_id=self._hardware_id,
                values=[KeyValue(key=k, value=v) for k, v in sorted(self._values.items())],
            )

    def publish(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status = [self.status()]
        with contextlib.suppress(Exception):  # best effort: the context may be shutting down
            self._publisher.publish(msg)
