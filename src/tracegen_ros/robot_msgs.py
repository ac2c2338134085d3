"""Messages of the robot side <-> the core's types (one place for every conversion).

- ``tracegen/EndEffectorPlan`` <-> :class:`tracegen.robot.plan.EndEffectorPlan` (layout in
  msg/EndEffectorPlan.msg: flat positions [N][xyz] and quaternions [N][xyzw]);
- the plan as ``nav_msgs/Path`` (rviz; each pose stamped observation time + time from start);
- ``sensor_msgs/JointState`` of the FR3 (``fr3_joint1..7`` and both finger joints at half the
  gripper width each) both ways; ``geometry_msgs/Pose`` <-> 4x4 matrices;
- controller events -> ``tracegen/PlanStatus``; joint trajectories -> ``trajectory_msgs/JointTrajectory``.

Conversions from messages validate and raise :class:`~tracegen.errors.InputError` naming the
field, the value seen and what was expected.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import Pose, PoseStamped
from nav_msgs.msg import Path
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from tracegen.errors import InputError
from tracegen.msg import EndEffectorPlan as EndEffectorPlanMsg
from tracegen.msg import PlanStatus
from tracegen.robot.controller import PlanEvent, PlanState
from tracegen.robot.plan import EndEffectorPlan
from tracegen.robot.safety import quaternion_xyzw_to_matrix
from tracegen.robot.trajectory import JointTrajectory as CoreJointTrajectory
from tracegen.robot_assets import ARM_JOINT_NAMES, BASE_FRAME, FINGER_JOINT_NAMES, TCP_FRAME

PLAN_STATES = {
    PlanState.ACCEPTED: PlanStatus.ACCEPTED,
    PlanState.EXECUTING: PlanStatus.EXECUTING,
    PlanState.DONE: PlanStatus.DONE,
    PlanState.REFUSED: PlanStatus.REFUSED,
    PlanState.STOPPED: PlanStatus.STOPPED,
    PlanState.FAILED: PlanStatus.FAILED,
}


def time_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_time(stamp_ns: int) -> Time:
    return Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000))


def seconds_to_duration(seconds: float) -> Duration:
    nanoseconds = round(seconds * 1e9)
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


# --- poses ---------------------------------------------------------------------------------------


def matrix_to_pose(transform: np.ndarray) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in transform[:3, 3])
    x, y, z, w = Rotation.from_matrix(transform[:3, :3]).as_quat()
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = (
        float(x),
        float(y),
        float(z),
        float(w),
    )
    return pose


def pose_to_matrix(pose: Pose, what: str = "pose") -> np.ndarray:
    """4x4 of a Pose; refuses non-finite values and quaternions far from unit norm."""
    position = np.array([pose.position.x, pose.position.y, pose.position.z], dtype=np.float64)
    if not np.isfinite(position).all():
        raise InputError(f"{what} position {position.tolist()} is not finite")
    quaternion = (pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w)
    transform = np.eye(4)
    transform[:3, :3] = quaternion_xyzw_to_matrix(quaternion, what=f"{what} orientation")
    transform[:3, 3] = position
    return transform


# --- plans ---------------------------------------------------------------------------------------


def plan_to_msg(plan: EndEffectorPlan) -> EndEffectorPlanMsg:
    msg = EndEffectorPlanMsg()
    msg.header.stamp = ns_to_time(plan.stamp_ns)
    msg.header.frame_id = plan.frame_id
    msg.tcp_frame = plan.tcp_frame
    msg.positions_m = plan.positions_m.ravel().tolist()
    msg.orientations_xyzw = Rotation.from_matrix(plan.poses[:, :3, :3]).as_quat().ravel().tolist()
    msg.time_from_start_s = plan.times_s.tolist()
    msg.gripper_action = plan.gripper.tolist()
    msg.gripper_width_m = plan.gripper_width_m.astype(np.float32).tolist()
    msg.notes = list(plan.notes)
    return msg


def msg_to_plan(msg: EndEffectorPlanMsg, *, received_ns: int) -> EndEffectorPlan:
    """Unpack and validate; a zero stamp becomes ``received_ns`` (stamped on arrival)."""
    num = len(msg.time_from_start_s)
    if num == 0:
        raise InputError("the EndEffectorPlan has no waypoints (time_from_start_s is empty)")
    expected = {
        "positions_m": 3 * num,
        "orientations_xyzw": 4 * num,
        "gripper_action": num,
        "gripper_width_m": num,
    }
    for name, size in expected.items():
        if len(getattr(msg, name)) != size:
            raise InputError(
                f"EndEffectorPlan {name} has {len(getattr(msg, name))} values; {num} waypoints need {size}"
            )
    if msg.header.frame_id != BASE_FRAME:
        raise InputError(
            f"EndEffectorPlan frame_id is {msg.header.frame_id!r}: poses must be in the robot base "
            f"frame {BASE_FRAME}"
        )
    positions = np.asarray(msg.positions_m, dtype=np.float64).reshape(num, 3)
    quaternions = np.asarray(msg.orientations_xyzw, dtype=np.float64).reshape(num, 4)
    poses = np.repeat(np.eye(4)[None], num, axis=0)
    for index in range(num):
        poses[index, :3, :3] = quaternion_xyzw_to_matrix(
            quaternions[index], what=f"waypoint {index} orientation"
        )
    if not np.isfinite(positions).all():
        index = int(np.argmax(~np.isfinite(positions).all(axis=1)))
        raise InputError(
            f"EndEffectorPlan waypoint {index} position {positions[index].tolist()} is not finite"
        )
    poses[:, :3, 3] = positions
    times = np.asarray(msg.time_from_start_s, dtype=np.float64)
    if not np.isfinite(times).all() or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise InputError(
            f"EndEffectorPlan time_from_start_s must be finite, >= 0 and increasing: {times.tolist()}"
        )
    stamp_ns = time_to_ns(msg.header.stamp) or received_ns
    return EndEffectorPlan(
        poses=poses,
        times_s=times,
        gripper=np.asarray(msg.gripper_action, dtype=np.int64),
        gripper_width_m=np.asarray(msg.gripper_width_m, dtype=np.float64),
        stamp_ns=stamp_ns,
        frame_id=msg.header.frame_id,
        tcp_frame=msg.tcp_frame or TCP_FRAME,
        notes=tuple(msg.notes),
    )


def plan_to_path(plan: EndEffectorPlan) -> Path:
    """The plan's TCP poses as a nav_msgs/Path; pose i is stamped observation + time_from_start[i]."""
    path = Path()
    path.header.stamp = ns_to_time(plan.stamp_ns)
    path.header.frame_id = plan.frame_id
    for pose, time_s in zip(plan.poses, plan.times_s, strict=True):
        stamped = PoseStamped()
        stamped.header.frame_id = plan.frame_id
        stamped.header.stamp = ns_to_time(plan.stamp_ns + round(time_s * 1e9))
        stamped.pose = matrix_to_pose(pose)
        path.poses.append(stamped)
    return path


# --- joint states --------------------------------------------------------------------------------


def joint_state_msg(
    q_rad: np.ndarray, dq_rad_s: np.ndarray, gripper_width_m: float | None, stamp: Time
) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    names, positions, velocities = (
        list(ARM_JOINT_NAMES),
        [float(v) for v in q_rad],
        [float(v) for v in dq_rad_s],
    )
    if gripper_width_m is not None:
        names += list(FINGER_JOINT_NAMES)
        positions += [float(gripper_width_m) / 2.0] * 2
        velocities += [0.0, 0.0]
    msg.name, msg.position, msg.velocity = names, positions, velocities
    return msg


def joint_state_from_msg(msg: JointState) -> tuple[np.ndarray, float | None]:
    """``q_rad [7]`` of the arm (by joint name, any order) and the gripper width (None if absent)."""
    if len(msg.position) != len(msg.name):
        raise InputError(f"JointState has {len(msg.name)} names but {len(msg.position)} positions")
    positions = dict(zip(msg.name, msg.position, strict=True))
    missing = [name for name in ARM_JOINT_NAMES if name not in positions]
    if missing:
        raise InputError(f"JointState lacks the FR3 joints {missing} (names seen: {list(msg.name)[:9]})")
    q = np.array([positions[name] for name in ARM_JOINT_NAMES], dtype=np.float64)
    if not np.isfinite(q).all():
        raise InputError(f"JointState holds non-finite arm positions {q.tolist()}")
    width = None
    if all(name in positions for name in FINGER_JOINT_NAMES):
        fingers = [positions[name] for name in FINGER_JOINT_NAMES]
        if np.isfinite(fingers).all():
            width = float(sum(fingers))
    return q, width


def pose_stamped(transform: np.ndarray, stamp: Time, frame_id: str = BASE_FRAME) -> PoseStamped:
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.pose = matrix_to_pose(transform)
    return msg


# --- controller output ---------------------------------------------------------------------------


def plan_status_msg(event: PlanEvent, stamp: Time) -> PlanStatus:
    msg = PlanStatus()
    msg.header.stamp = stamp
    msg.plan_id = int(event.plan_id)
    msg.plan_stamp_ns = int(event.stamp_ns)
    msg.state = PLAN_STATES[event.state]
    msg.reason = event.reason
    return msg


def joint_trajectory_msg(trajectory: CoreJointTrajectory, stamp: Time) -> JointTrajectory:
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.header.frame_id = BASE_FRAME
    msg.joint_names = list(ARM_JOINT_NAMES)
    for time_s, q, dq in zip(trajectory.times_s, trajectory.q_rad, trajectory.dq_rad_s, strict=True):
        point = JointTrajectoryPoint()
        point.positions = [float(v) for v in q]
        point.velocities = [float(v) for v in dq]
        point.time_from_start = seconds_to_duration(float(time_s))
        msg.points.append(point)
    return msg
