"""Starting the robot-side nodes as the node graph would, and building their input messages."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
from tracegen.msg import PlanStatus
from tracegen_ros.graph import tracegen_graph
from tracegen_ros.qos import COMMAND_QOS, SENSOR_QOS
from tracegen_ros.robot_msgs import matrix_to_pose

from support.nodes_harness import NodeProcess, RosProbe, start_node

FINAL = (PlanStatus.DONE, PlanStatus.REFUSED, PlanStatus.STOPPED, PlanStatus.FAILED)


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


class ControllerProbe:
    """Talks to ik_controller_node over DDS."""

    def __init__(self) -> None:
        self.probe = RosProbe("controller_probe")
        self.plans = self.probe.publisher(EndEffectorPlanMsg, "/tracegen/ee_plan", COMMAND_QOS)
        self.targets = self.probe.publisher(PoseStamped, "/tracegen/target_pose", COMMAND_QOS)
        self.estop = self.probe.publisher(Bool, "/tracegen/estop", COMMAND_QOS)
        self.status = self.probe.collect(PlanStatus, "/tracegen/plan_status", COMMAND_QOS)
        self.joint_states = self.probe.collect(JointState, "/joint_states", SENSOR_QOS)
        self.tcp = self.probe.collect(PoseStamped, "/tracegen/tcp_pose", SENSOR_QOS)
        self.trajectories = self.probe.collect(JointTrajectory, "/tracegen/joint_trajectory", COMMAND_QOS)
        self.diagnostics = self.probe.collect(DiagnosticArray, "/diagnostics", COMMAND_QOS)

    def connected(self, timeout_s: float = 30.0) -> bool:
        return all(
            self.probe.wait_for_subscribers(p, 1, timeout_s) for p in (self.plans, self.targets, self.estop)
        )

    def now_ns(self) -> int:
        return self.probe.now().nanoseconds

    def tcp_pose(self) -> np.ndarray:
        assert self.tcp.wait_count(1, 10.0), "no tcp_pose"
        return pose_matrix(self.tcp.messages[-1])

    def send_and_wait(self, publisher, msg, timeout_s: float = 20.0) -> list[PlanStatus]:
        """Publish a plan or target; return the statuses of the plan it became, up to its final one."""
        seen = len(self.status.messages)
        publisher.publish(msg)
        assert self.status.wait_for(lambda m: any(s.state in FINAL for s in m[seen:]), timeout_s), (
            "no final status"
        )
        final = next(s for s in self.status.messages[seen:] if s.state in FINAL)
        return [s for s in self.status.messages[seen:] if s.plan_id == final.plan_id]

    def close(self) -> None:
        self.probe.close()
