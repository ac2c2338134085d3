"""block: push a block into a marked zone (the paper's "block" task)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from tracegen.sim.tasks.base import (
    GRIPPER_PUSH_M,
    ExpertWaypoint,
    SimTask,
    free_body,
    sample_separated_xy,
    set_mocap_xy,
    zone_marker,
)
from tracegen.sim.world import SimWorld

BLOCK_HALF_M = 0.03
ZONE_HALF_M = 0.07
#: Where blocks and zones are sampled: in front of the robot, inside its comfortable reach.
BLOCK_REGION = ((0.38, 0.58), (-0.22, 0.22))
ZONE_REGION = ((0.38, 0.62), (-0.25, 0.25))
#: TCP height while pushing: fingertips a few millimetres above the table.
PUSH_HEIGHT_M = 0.015
APPROACH_HEIGHT_M = 0.12


def push_waypoints(
    object_xy_m: np.ndarray, target_xy_m: np.ndarray, object_half_m: float, speed_m_s: float = 0.1
) -> list[ExpertWaypoint]:
    """Approach behind the object, lower the gripper, push the object onto the target, lift.

    The fingers open to a little less than the object so that both fingertip pads touch it
    (a stable two-point push); a gap wider than the object would let it slip between them.
    """
    width_m = min(GRIPPER_PUSH_M, 2 * object_half_m - 0.012)
    direction = target_xy_m - object_xy_m
    direction /= max(np.linalg.norm(direction), 1e-9)
    # Fingers spread across the push direction (a wider contact face).
    yaw_rad = float(np.arctan2(direction[1], direction[0]))
    standoff_m = object_half_m + 0.035
    start = object_xy_m - direction * standoff_m
    end = target_xy_m - direction * (object_half_m + 0.01)
    retreat = end - direction * 0.05
    return [
        ExpertWaypoint((*start, APPROACH_HEIGHT_M), yaw_rad, width_m, 0.25),
        ExpertWaypoint((*start, PUSH_HEIGHT_M), yaw_rad, width_m, 0.15),
        ExpertWaypoint((*end, PUSH_HEIGHT_M), yaw_rad, width_m, speed_m_s),
        ExpertWaypoint((*retreat, PUSH_HEIGHT_M), yaw_rad, width_m, speed_m_s),
        ExpertWaypoint((*retreat, APPROACH_HEIGHT_M), yaw_rad, width_m, 0.25),
    ]


class BlockTask(SimTask):
    name = "block"
    instructions = (
        "push the red block into the green square",
        "move behind the red block, lower the gripper, push the block until it is inside the green square",
        "could you slide the red block over onto the green square for me?",
    )

    def build_scene(self, scene: ET.Element, worldbody: ET.Element) -> None:
        zone_marker(worldbody, "zone", ZONE_HALF_M, "0.2 0.75 0.3 1", (0.5, 0.2))
        free_body(
            worldbody,
            "block",
            {
                "type": "box",
                "size": f"{BLOCK_HALF_M} {BLOCK_HALF_M} {BLOCK_HALF_M}",
                "rgba": "0.85 0.12 0.1 1",
                "mass": "0.15",
                "friction": "0.6 0.005 0.0001",
            },
            (0.5, 0.0, BLOCK_HALF_M),
        )

    def reset(self, world: SimWorld, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
        block_xy, zone_xy = sample_separated_xy(rng, [BLOCK_REGION, ZONE_REGION], 0.16)
        yaw = rng.uniform(-np.pi / 4, np.pi / 4)
        set_mocap_xy(world, "zone", zone_xy)
        world.set_free_body_pose(
            "block_joint",
            np.array([*block_xy, BLOCK_HALF_M]),
            np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]),
        )
        return {"block": (*block_xy, BLOCK_HALF_M), "zone": (*zone_xy, 0.0)}

    def zone_xy(self, world: SimWorld) -> np.ndarray:
        return world.body_pose("zone")[:2, 3]

    def success(self, world: SimWorld) -> bool:
        block = world.body_pose("block")[:3, 3]
        inside = np.all(np.abs(block[:2] - self.zone_xy(world)) <= ZONE_HALF_M)
        return bool(inside and block[2] < 2 * BLOCK_HALF_M)

    def expert(self, world: SimWorld) -> list[ExpertWaypoint]:
        if self.success(world):
            return []
        block_xy = world.body_pose("block")[:2, 3]
        return push_waypoints(block_xy, self.zone_xy(world), BLOCK_HALF_M)
