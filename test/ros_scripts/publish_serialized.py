"""Publish one serialized ROS message (read from a file) until a subscriber has it.

usage: publish_serialized.py MSG_TYPE TOPIC SERIALIZED_FILE
Runs as its own OS process, so the message crosses real DDS between processes.
"""

import importlib
import sys
import time
from pathlib import Path

import rclpy
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from rclpy.serialization import deserialize_message


def main() -> int:
    type_name, topic, path = sys.argv[1:4]
    package, _, name = type_name.rpartition("/")
    msg_type = getattr(importlib.import_module(package.replace("/", ".")), name)
    msg = deserialize_message(Path(path).read_bytes(), msg_type)
    rclpy.init()
    node = rclpy.create_node("test_publisher")
    qos = QoSProfile(
        depth=1, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL
    )
    pub = node.create_publisher(msg_type, topic, qos)
    deadline = time.monotonic() + 60.0
    try:
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        pub.publish(msg)
        # Keep the transient-local sample available until the test stops this process.
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
