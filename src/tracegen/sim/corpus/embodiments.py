"""The corpus's embodiments: five robosuite arms with their grippers, and a human-hand stand-in.

An arm is robosuite's ``robot.xml`` with a gripper attached at its ``right_hand`` body (the
mount robosuite uses); its tool point is the gripper's ``grip_site``. Opening and closing is
kinematic: each gripper joint is set between an open and a closed value (robosuite couples
the fingers through tendons/equalities that only matter under physics). The iiwa carries the
Robotiq 85 rather than robosuite's default 140 (one Robotiq linkage to keep right).

The hand is a mocap body (palm, four fingers, thumb and a forearm reaching out of view); its
fingers curl on hinge joints when it "grasps".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracegen.errors import InputError
from tracegen.sim.corpus.assets import assets_dir, load_mjcf

ARM_PREFIX = "arm_"
GRIPPER_PREFIX = "grip_"
#: Site the IK drives, after attaching (prefixes nest: arm_ + grip_ + grip_site).
TOOL_SITE = f"{ARM_PREFIX}{GRIPPER_PREFIX}grip_site"
HAND_BODY = "hand"
HAND_FINGER_JOINTS = ("hand_index", "hand_middle", "hand_ring", "hand_little", "hand_thumb")

_ROBOTIQ_85 = {  # joint: (open, closed) in radians
    "finger_joint": (0.0, 0.72),
    "right_outer_knuckle_joint": (0.0, 0.72),
    "left_inner_knuckle_joint": (0.0, 0.72),
    "right_inner_knuckle_joint": (0.0, 0.72),
    "left_inner_finger_joint": (0.0, -0.72),
    "right_inner_finger_joint": (0.0, -0.72),
}


@dataclass(frozen=True)
class ArmModel:
    """One robosuite arm + gripper and how to pose it."""

    robot: str  # folder under robots/
    gripper: str  # file stem under grippers/
    home_q_rad: tuple[float, ...]  # robosuite's init_qpos: a pose with the gripper in front
    gripper_joints: dict[str, tuple[float, float]]  # joint name: (open, closed)


ARMS: dict[str, ArmModel] = {
    "ur5e": ArmModel("ur5e", "robotiq_gripper_85", (-0.47, -1.735, 2.48, -2.275, -1.59, -1.991), _ROBOTIQ_85),
    "kinova3": ArmModel(
        "kinova3", "robotiq_gripper_85", (0.0, 0.65, 0.0, 1.89, 0.0, 0.6, -np.pi / 2), _ROBOTIQ_85
    ),
    "iiwa": ArmModel("iiwa", "robotiq_gripper_85", (0.0, 0.65, 0.0, -1.89, 0.0, 0.6, 0.0), _ROBOTIQ_85),
    "xarm7": ArmModel(
        "xarm7",
        "xarm7_gripper",
        (0.0, 0.0, 0.0, 0.39 * np.pi, 0.0, 0.39 * np.pi, 0.0),
        {
            name: (0.0, 0.8)
            for name in (
                "left_driver_joint",
                "right_driver_joint",
                "left_finger_joint",
                "right_finger_joint",
                "left_inner_knuckle_joint",
                "right_inner_knuckle_joint",
            )
        },
    ),
    "panda": ArmModel(
        "panda",
        "panda_gripper",
        (0.0, np.pi / 16, 0.0, -np.pi / 2 - np.pi / 3, 0.0, np.pi - 0.2, np.pi / 4),
        {"finger_joint1": (0.04, 0.0), "finger_joint2": (-0.04, 0.0)},
    ),
}
EMBODIMENTS: tuple[str, ...] = (*ARMS, "hand")


def check_embodiments(names: list[str]) -> list[str]:
    """The names, validated (unknown or empty raises :class:`InputError`)."""
    if not names:
        raise InputError(f"no embodiment given: choose from {', '.join(EMBODIMENTS)}")
    unknown = [name for name in names if name not in EMBODIMENTS]
    if unknown:
        raise InputError(f"unknown embodiment {', '.join(unknown)}: choose from {', '.join(EMBODIMENTS)}")
    return names


def attach_arm(scene_spec, embodiment: str, base_pos_m: np.ndarray, base_yaw_rad: float) -> None:
    """Attach the arm + gripper to ``scene_spec`` with its base at ``base_pos_m`` (world)."""
    arm = ARMS[embodiment]
    root = assets_dir()
    arm_spec = load_mjcf(root / "robots" / arm.robot / "robot.xml")
    gripper_spec = load_mjcf(root / "grippers" / f"{arm.gripper}.xml")
    for child in (arm_spec, gripper_spec):  # avoid MuJoCo's attach-conflict warning
        child.option.integrator = scene_spec.option.integrator
    arm_spec.body("right_hand").add_frame().attach_body(
        gripper_spec.worldbody.first_body(), GRIPPER_PREFIX, ""
    )
    half = base_yaw_rad / 2
    frame = scene_spec.worldbody.add_frame(pos=list(base_pos_m), quat=[np.cos(half), 0.0, 0.0, np.sin(half)])
    frame.attach_body(arm_spec.worldbody.first_body(), ARM_PREFIX, "")


def arm_joint_names(embodiment: str, model) -> tuple[list[int], list[int]]:
    """(arm joint ids in chain order, gripper joint ids) of a compiled model."""
    arm_ids, grip_ids = [], []
    for joint_id in range(model.njnt):
        name = model.joint(joint_id).name
        if name.startswith(ARM_PREFIX + GRIPPER_PREFIX):
            grip_ids.append(joint_id)
        elif name.startswith(ARM_PREFIX):
            arm_ids.append(joint_id)
    return arm_ids, grip_ids


def gripper_qpos(embodiment: str, model, grip_ids: list[int], closed: float) -> dict[int, float]:
    """qpos address -> value for the gripper at ``closed`` in [0 (open), 1 (closed)]."""
    table = ARMS[embodiment].gripper_joints
    out = {}
    prefix = ARM_PREFIX + GRIPPER_PREFIX
    for joint_id in grip_ids:
        name = model.joint(joint_id).name[len(prefix) :]
        open_q, closed_q = table.get(name, (0.0, 0.0))
        out[int(model.jnt_qposadr[joint_id])] = open_q + closed * (closed_q - open_q)
    return out
