"""clothes: fold a square cloth corner to corner (the paper's "clothes" task), a MuJoCo flex.

The cloth is a ``flexcomp`` grid: each vertex is a body ``cloth_<i>`` (row-major, i = row *
CLOTH_COUNT + col) with three slide joints whose positions are offsets from the vertex's
rest position. The fold is diagonal: the corner ``cloth_<last>`` goes onto ``cloth_0``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import mujoco
import numpy as np

from tracegen.sim.tasks.base import (
    GRIPPER_CLOSED_M,
    GRIPPER_OPEN_M,
    ExpertWaypoint,
    SimTask,
    enable_stable_grasps,
)
from tracegen.sim.world import SimWorld

CLOTH_COUNT = 8
CLOTH_SPACING_M = 0.03
VERTEX_RADIUS_M = 0.004
CLOTH_REGION = ((0.42, 0.52), (-0.12, 0.12))
#: Folded when the moved corner lies within this distance of its opposite corner.
FOLDED_DISTANCE_M = 0.05
LIFT_HEIGHT_M = 0.12
#: TCP height of the pinch: the lowest the safety workspace allows (config/safety.yaml, 1 cm)
#: plus 2 mm; the finger pads reach below the TCP onto the cloth lying on the table.
GRASP_Z_M = 0.012


class ClothesTask(SimTask):
    name = "clothes"
    instructions = (
        "fold the cloth in half along the diagonal",
        "grasp the far corner of the cloth, lift it, move it onto the opposite corner and let go",
        "could you fold the pink cloth corner to corner?",
    )

    @property
    def corner_names(self) -> tuple[str, str]:
        last = CLOTH_COUNT * CLOTH_COUNT - 1
        return f"cloth_{last}", "cloth_0"

    def build_scene(self, scene: ET.Element, worldbody: ET.Element) -> None:
        enable_stable_grasps(scene)
        half = (CLOTH_COUNT - 1) * CLOTH_SPACING_M / 2
        flex = ET.SubElement(
            worldbody,
            "flexcomp",
            name="cloth",
            type="grid",
            dim="2",
            count=f"{CLOTH_COUNT} {CLOTH_COUNT} 1",
            spacing=f"{CLOTH_SPACING_M} {CLOTH_SPACING_M} {CLOTH_SPACING_M}",
            pos=f"0.47 {-half} {VERTEX_RADIUS_M + 0.001}",
            radius=f"{VERTEX_RADIUS_M}",
            mass="0.05",
            rgba="0.85 0.35 0.55 1",
        )
        ET.SubElement(flex, "edge", equality="true", damping="0.002")
        ET.SubElement(
            flex, "contact", selfcollide="none", condim="3", friction="1.0 0.005 0.0001", solref="0.003 1"
        )

    def _vertex_slices(self, world: SimWorld) -> list[tuple[int, int, np.ndarray]]:
        """(qpos and dof address of the vertex's first slide joint, rest position) per vertex."""
        slices = []
        for i in range(CLOTH_COUNT * CLOTH_COUNT):
            body = world.body_id(f"cloth_{i}")
            joint = world.model.body_jntadr[body]
            slices.append(
                (
                    int(world.model.jnt_qposadr[joint]),
                    int(world.model.jnt_dofadr[joint]),
                    world.model.body_pos[body].copy(),
                )
            )
        return slices

    def reset(self, world: SimWorld, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
        center = np.array([rng.uniform(*CLOTH_REGION[0]), rng.uniform(*CLOTH_REGION[1])])
        yaw = rng.uniform(-np.pi / 6, np.pi / 6)
        rotation = np.array([[np.cos(yaw), -np.sin(yaw)], [np.sin(yaw), np.cos(yaw)]])
        slices = self._vertex_slices(world)
        rest = np.array([p for _, _, p in slices])
        rest_center = rest[:, :2].mean(axis=0)
        targets_xy = center + (rest[:, :2] - rest_center) @ rotation.T
        with world.lock:
            for (address, dof, rest_position), target_xy in zip(slices, targets_xy, strict=True):
                world.data.qpos[address : address + 2] = target_xy - rest_position[:2]
                world.data.qpos[address + 2] = 0.0
                world.data.qvel[dof : dof + 3] = 0.0
            mujoco.mj_forward(world.model, world.data)
        moved, anchor = self.corner_names
        # The sampled layout (the cloth settles a little once physics runs).
        return {
            "cloth_center": (*center, 0.0),
            moved: (*targets_xy[-1], 0.0),
            anchor: (*targets_xy[0], 0.0),
        }

    def success(self, world: SimWorld) -> bool:
        moved, anchor = self.corner_names
        distance = np.linalg.norm(world.body_pose(moved)[:2, 3] - world.body_pose(anchor)[:2, 3])
        return bool(distance < FOLDED_DISTANCE_M)

    def expert(self, world: SimWorld) -> list[ExpertWaypoint]:
        if self.success(world):
            return []
        moved, anchor = self.corner_names
        corner = world.body_pose(moved)[:3, 3]
        target = world.body_pose(anchor)[:3, 3]
        direction = target[:2] - corner[:2]
        # Fingers close across the fold direction so the corner is pinched from both sides.
        yaw = float(np.arctan2(direction[1], direction[0]))
        # Grasp slightly inside the corner so both fingers hold cloth.
        grasp_xy = corner[:2] + direction / np.linalg.norm(direction) * 0.012
        middle_xy = (grasp_xy + target[:2]) / 2
        place_xy = target[:2] + direction / np.linalg.norm(direction) * 0.015
        return [
            ExpertWaypoint((*grasp_xy, 0.1), yaw, GRIPPER_OPEN_M, 0.25),
            ExpertWaypoint((*grasp_xy, GRASP_Z_M), yaw, GRIPPER_OPEN_M, 0.1),
            ExpertWaypoint((*grasp_xy, GRASP_Z_M), yaw, GRIPPER_CLOSED_M, 0.05),
            ExpertWaypoint((*middle_xy, LIFT_HEIGHT_M), yaw, GRIPPER_CLOSED_M, 0.1),
            ExpertWaypoint((*place_xy, 0.03), yaw, GRIPPER_CLOSED_M, 0.1),
            ExpertWaypoint((*place_xy, 0.03), yaw, GRIPPER_OPEN_M, 0.05),
            ExpertWaypoint((*place_xy, 0.12), yaw, GRIPPER_OPEN_M, 0.2),
        ]
