"""Starting the robot-side nodes as the node graph would, and building their input messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped

from tracegen_ros.graph import tracegen_graph
from tracegen_ros.robot_msgs import matrix_to_pose

from support.nodes_harness import NodeProcess, start_node


def start_graph_node(name: str, tmp_path: Path, env: Mapping[str, str], **parameters: Any) -> NodeProcess:
    """Start ``name`` with the graph's namespace, params file and remappings, plus ``parameters``."""
    (spec,) = [n for n in tracegen_graph().nodes if n.name == name]
    return start_node(
        spec.executable,
        tmp_path,
        env,
        name=spec.name,
        namespace=spec.namespace,
        parameters=parameters,
        params_file=spec.params_file,
        remappings=spec.remappings,
    )


def stamp_ns_to_time(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def target_msg(pose: np.ndarray, stamp_ns: int, frame_id: str = "fr3_link0") -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp_ns_to_time(stamp_ns)
    msg.pose = matrix_to_pose(pose)
    return msg


def pose_matrix(msg: PoseStamped) -> np.ndarray:
    from tracegen_ros.robot_msgs import pose_to_matrix

    return pose_to_matrix(msg.pose)
