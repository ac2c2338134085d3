"""The QoS profiles of the stack (STYLE.md): sensor streams best-effort, commands reliable."""

from __future__ import annotations

from rclpy.qos import (
    QoSDurabilityPolicy,
    QoSHistoryPolicy,
    QoSProfile,
    QoSReliabilityPolicy,
    qos_profile_sensor_data,
)

#: Camera images and camera_info: like realsense-ros (best effort, keep last 5).
SENSOR_QOS: QoSProfile = qos_profile_sensor_data

#: Commands, plans and predictions: every message matters, keep the last few.
COMMAND_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.VOLATILE,
)

#: Slowly changing state a late subscriber needs at once (e.g. the instruction, a static pose).
LATCHED_QOS = QoSProfile(
    history=QoSHistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=QoSReliabilityPolicy.RELIABLE,
    durability=QoSDurabilityPolicy.TRANSIENT_LOCAL,
)
