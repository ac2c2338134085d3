"""Subscribe to a topic and write the first message received, serialized, to a file.

usage: record_first.py MSG_TYPE TOPIC OUT_FILE
"""

import importlib
import os
import sys
import time

import rclpy
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from rclpy.serialization import serialize_message


def main() -> int:
    type_name, topic, out = sys.argv[1:4]
    package, _, name = type_name.rpartition("/")
    msg_type = getattr(importlib.import_module(package.replace("/", ".")), name)
    rclpy.init()
    node = rclpy.create_node("test_recorder")
    received = []
    qos = QoSProfile(
        depth=1, reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.TRANSIENT_LOCAL
    )
    node.create_subscription(msg_type, topic, received.append, qos)
    deadline = time.monotonic() + 60.0
    try:
        while not received and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    if not received:
        return 1
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(serialize_message(received[0]))
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
