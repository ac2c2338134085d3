"""Parameters every node that commands the FR3 through franky declares the same way.

The IK controller and the teleop node both connect to the arm; these specs are theirs in common
(robot address, safety limits file, franky dynamics factors, gripper, joint-state rate), so the
two nodes' parameters, descriptions and ranges cannot drift apart.
"""

from __future__ import annotations

from tracegen_ros.params import ParamSpec

ROBOT_IP_PARAM = ParamSpec(
    "robot_ip",
    "172.16.0.2",
    "Address of the FR3 controller (franky / libfranka; franky-sim's loopback address in simulation).",
)
USE_GRIPPER_PARAM = ParamSpec("use_gripper", True, "Connect to the Franka Hand (franky.Gripper) as well.")
SAFETY_FILE_PARAM = ParamSpec(
    "safety_file", "", "Safety envelope YAML; empty: the shipped config/safety.yaml."
)
DYNAMICS_VELOCITY_PARAM = ParamSpec(
    "dynamics.velocity",
    0.3,
    "franky relative dynamics factor: fraction of the velocity limits.",
    min_value=0.01,
    max_value=1.0,
)
DYNAMICS_ACCELERATION_PARAM = ParamSpec(
    "dynamics.acceleration",
    0.3,
    "franky relative dynamics factor: fraction of the acceleration limits.",
    min_value=0.01,
    max_value=1.0,
)
DYNAMICS_JERK_PARAM = ParamSpec(
    "dynamics.jerk",
    0.3,
    "franky relative dynamics factor: fraction of the jerk limits.",
    min_value=0.01,
    max_value=1.0,
)
GRIPPER_SPEED_M_S_PARAM = ParamSpec(
    "gripper.speed_m_s", 0.05, "Finger speed, m/s.", min_value=0.001, max_value=0.1
)
GRIPPER_FORCE_N_PARAM = ParamSpec(
    "gripper.force_n", 20.0, "Grasp force, newtons.", min_value=1.0, max_value=140.0
)
JOINT_STATE_RATE_HZ_PARAM = ParamSpec(
    "joint_state_rate_hz", 50.0, "Rate of joint_states and tcp_pose, Hz.", min_value=1.0, max_value=1000.0
)
