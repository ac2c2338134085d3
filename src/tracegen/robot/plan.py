"""The end-effector plan: what the retargeting produces and the IK controller executes.

An :class:`EndEffectorPlan` is a timed sequence of TCP poses in the base frame with a gripper
action per waypoint:

- ``poses``: ``[N, 4, 4]`` ``T_base_tcp`` (frame ``fr3_link0``, TCP frame ``tcp_frame``);
- ``times_s``: ``[N]`` time from the start of execution at which each waypoint is reached;
- ``gripper``: ``[N]`` :class:`GripperAction` to perform once the waypoint is reached
  (``HOLD``: leave the gripper as it is);
- ``gripper_width_m``: ``[N]`` the width for ``OPEN`` (move to it) and ``CLOSE`` (grasp
  expecting about that width; 0 = whatever is between the fingers);
- ``stamp_ns``: when the observation the plan was made from was taken (ROS time, ns), so
  the controller can refuse or stop a stale plan.

It maps one to one onto ``tracegen/msg/EndEffectorPlan`` (``tracegen_ros.plan_msg``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from tracegen.errors import InputError
from tracegen.robot.kinematics import MAX_GRIPPER_WIDTH_M
from tracegen.robot_assets import BASE_FRAME, TCP_FRAME


class GripperAction(IntEnum):
    """Gripper action at a waypoint (the values of EndEffectorPlan.msg's constants)."""

    HOLD = 0
    OPEN = 1
    CLOSE = 2


@dataclass(frozen=True, eq=False)
class EndEffectorPlan:
    """A timed TCP path with gripper actions (see the module docstring for shapes and frames)."""

    poses: np.ndarray
    times_s: np.ndarray
    gripper: np.ndarray
    gripper_width_m: np.ndarray
    stamp_ns: int = 0
    frame_id: str = BASE_FRAME
    tcp_frame: str = TCP_FRAME
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        poses = np.asarray(self.poses, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or poses.shape[0] < 1:
            raise InputError(f"a plan needs poses [N >= 1, 4, 4], got shape {poses.shape}")
        n = poses.shape[0]
        times = np.asarray(self.times_s, dtype=np.float64).reshape(-1)
        gripper = np.asarray(self.gripper).reshape(-1)
        width = np.asarray(self.gripper_width_m, dtype=np.float64).reshape(-1)
        for name, array in (("times_s", times), ("gripper", gripper), ("gripper_width_m", width)):
            if array.shape != (n,):
                raise InputError(f"plan has {n} poses but {array.size} entries in {name}")
        valid_actions = {int(a) for a in GripperAction}
        bad = [int(a) for a in gripper if int(a) not in valid_actions]
        if bad:
            raise InputError(
                f"plan gripper actions must be {sorted(valid_actions)} (hold, open, close), got {bad[:5]}"
            )
        if not np.isfinite(width).all() or (width < 0).any() or (width > MAX_GRIPPER_WIDTH_M + 1e-6).any():
            raise InputError(
                f"plan gripper widths must lie in [0, {MAX_GRIPPER_WIDTH_M}] m, got {width[:8].tolist()}"
            )
        if self.frame_id != BASE_FRAME:
            raise InputError(
                f"plan poses are in {self.frame_id!r}: they must be in the robot base frame {BASE_FRAME}"
            )
        object.__setattr__(self, "poses", poses)
        object.__setattr__(self, "times_s", times)
        object.__setattr__(self, "gripper", gripper.astype(np.uint8))
        object.__setattr__(self, "gripper_width_m", width)
        object.__setattr__(self, "stamp_ns", int(self.stamp_ns))

    @property
    def num_waypoints(self) -> int:
        return self.poses.shape[0]

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    @property
    def positions_m(self) -> np.ndarray:
        return self.poses[:, :3, 3]

    @classmethod
    def single_target(
        cls, pose: np.ndarray, duration_s: float, *, stamp_ns: int = 0, tcp_frame: str = TCP_FRAME
    ) -> EndEffectorPlan:
        """One TCP target reached after ``duration_s``, gripper untouched."""
        return cls(
            poses=np.asarray(pose, dtype=np.float64)[None],
            times_s=np.array([duration_s]),
            gripper=np.array([GripperAction.HOLD]),
            gripper_width_m=np.zeros(1),
            stamp_ns=stamp_ns,
            tcp_frame=tcp_frame,
        )
