"""Trace -> end-effector retargeting (ROS-free): follow the grid points on the gripper.

See :mod:`tracegen.ee_retarget.retarget` for the recipe. Inputs: a 3D
:class:`~tracegen.trace.Trace` (intrinsics inside), the camera extrinsic ``T_base_camera``
(:mod:`tracegen.calibration`), the joint state of the reference image; output: an
:class:`~tracegen.robot.plan.EndEffectorPlan` in ``fr3_link0`` that passed the safety envelope.
"""

from tracegen.ee_retarget.config import RetargetConfig
from tracegen.ee_retarget.gripper_geometry import GripperGeometry
from tracegen.ee_retarget.retarget import RetargetResult, TraceRetargeter

__all__ = ["GripperGeometry", "RetargetConfig", "RetargetResult", "TraceRetargeter"]
