"""ball: pick up a ball and drop it into a box (the paper's "ball" task)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from tracegen.sim.tasks.base import (
    GRIPPER_CLOSED_M,
    GRIPPER_OPEN_M,
    ExpertWaypoint,
    SimTask,
    enable_stable_grasps,
    free_body,
    sample_separated_xy,
)
from tracegen.sim.world import SimWorld

BALL_RADIUS_M = 0.025
BOX_HALF_M = 0.07  # inner half width
BOX_WALL_HEIGHT_M = 0.07
BOX_WALL_M = 0.006
BALL_REGION = ((0.38, 0.58), (-0.22, 0.22))
BOX_REGION = ((0.4, 0.6), (-0.25, 0.25))
CARRY_HEIGHT_M = 0.2


class BallTask(SimTask):
    name = "ball"
    instructions = (
        "put the yellow ball in the blue box",
        "open the gripper above the yellow ball, grasp it, lift it, move over the blue box and release it",
        "can you pick up the yellow ball and drop it into the blue box?",
    )

    def build_scene(self, scene: ET.Element, worldbody: ET.Element) -> None:
        enable_stable_grasps(scene)
        # The box is a free body too, so resets can move it; it is heavy enough to stay put.
        box = ET.SubElement(worldbody, "body", name="box", pos="0.5 0.2 0")
        ET.SubElement(box, "freejoint", name="box_joint")
        wall, half, height = BOX_WALL_M, BOX_HALF_M, BOX_WALL_HEIGHT_M
        rgba = "0.15 0.35 0.85 1"
        ET.SubElement(
            box,
            "geom",
            name="box_floor",
            type="box",
            size=f"{half + wall} {half + wall} {wall / 2}",
            pos=f"0 0 {wall / 2}",
            rgba=rgba,
            mass="0.5",
        )
        for i, (x, y, sx, sy) in enumerate(
            [
                (half + wall / 2, 0, wall / 2, half + wall),
                (-half - wall / 2, 0, wall / 2, half + wall),
                (0, half + wall / 2, half, wall / 2),
                (0, -half - wall / 2, half, wall / 2),
            ]
        ):
            ET.SubElement(
                box,
                "geom",
                name=f"box_wall{i}",
                type="box",
                size=f"{sx} {sy} {height / 2}",
                pos=f"{x} {y} {height / 2}",
                rgba=rgba,
                mass="0.2",
            )
        free_body(
            worldbody,
            "ball",
            {
                "type": "sphere",
                "size": f"{BALL_RADIUS_M}",
                "rgba": "0.95 0.85 0.1 1",
                "mass": "0.03",
                "friction": "1.5 0.05 0.01",
                "condim": "6",
                "solref": "0.002 1",
                "solimp": "0.95 0.99 0.001",
            },
            (0.5, 0.0, BALL_RADIUS_M),
        )

    def reset(self, world: SimWorld, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
        ball_xy, box_xy = sample_separated_xy(rng, [BALL_REGION, BOX_REGION], 0.18)
        world.set_free_body_pose("box_joint", np.array([*box_xy, 0.0]), np.array([1.0, 0, 0, 0]))
        world.set_free_body_pose("ball_joint", np.array([*ball_xy, BALL_RADIUS_M]), np.array([1.0, 0, 0, 0]))
        return {"ball": (*ball_xy, BALL_RADIUS_M), "box": (*box_xy, 0.0)}

    def success(self, world: SimWorld) -> bool:
        ball = world.body_pose("ball")[:3, 3]
        box = world.body_pose("box")[:3, 3]
        inside_xy = np.all(np.abs(ball[:2] - box[:2]) <= BOX_HALF_M)
        return bool(inside_xy and ball[2] < box[2] + BOX_WALL_HEIGHT_M)

    def expert(self, world: SimWorld) -> list[ExpertWaypoint]:
        if self.success(world):
            return []
        ball = world.body_pose("ball")[:3, 3]
        box = world.body_pose("box")[:3, 3]
        yaw = 0.0
        grasp_z = ball[2]
        return [
            ExpertWaypoint((ball[0], ball[1], 0.12), yaw, GRIPPER_OPEN_M, 0.25),
            ExpertWaypoint((ball[0], ball[1], grasp_z), yaw, GRIPPER_OPEN_M, 0.12),
            ExpertWaypoint((ball[0], ball[1], grasp_z), yaw, GRIPPER_CLOSED_M, 0.05),
            ExpertWaypoint((ball[0], ball[1], CARRY_HEIGHT_M), yaw, GRIPPER_CLOSED_M, 0.15),
            ExpertWaypoint((box[0], box[1], CARRY_HEIGHT_M), yaw, GRIPPER_CLOSED_M, 0.2),
            ExpertWaypoint((box[0], box[1], CARRY_HEIGHT_M), yaw, GRIPPER_OPEN_M, 0.1),
        ]
