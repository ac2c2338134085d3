"""brush: sweep small scattered objects into a zone with the gripper (the paper's "brush" task)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from tracegen.sim.tasks.base import ExpertWaypoint, SimTask, free_body, set_mocap_xy, zone_marker
from tracegen.sim.tasks.block import push_waypoints
from tracegen.sim.world import SimWorld

NUM_PIECES = 3
PIECE_HALF_M = 0.016
ZONE_HALF_M = 0.08
PIECES_REGION = ((0.38, 0.55), (-0.18, 0.18))
COLORS = ("0.9 0.5 0.1 1", "0.6 0.2 0.8 1", "0.1 0.7 0.7 1")


class BrushTask(SimTask):
    name = "brush"
    instructions = (
        "sweep the small pieces into the grey area",
        "lower the gripper behind each small piece and sweep it into the grey area",
        "please sweep all the little pieces over into the grey area",
    )

    def build_scene(self, scene: ET.Element, worldbody: ET.Element) -> None:
        zone_marker(worldbody, "sweep_zone", ZONE_HALF_M, "0.45 0.45 0.5 1", (0.55, 0.25))
        for i in range(NUM_PIECES):
            free_body(
                worldbody,
                f"piece{i}",
                {
                    "type": "box",
                    "size": f"{PIECE_HALF_M} {PIECE_HALF_M} {PIECE_HALF_M}",
                    "rgba": COLORS[i],
                    "mass": "0.02",
                    "friction": "0.5 0.005 0.0001",
                },
                (0.45, -0.1 + 0.1 * i, PIECE_HALF_M),
            )

    def reset(self, world: SimWorld, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
        side = rng.choice([-1.0, 1.0])
        zone_xy = np.array([rng.uniform(0.42, 0.58), side * rng.uniform(0.2, 0.26)])
        set_mocap_xy(world, "sweep_zone", zone_xy)
        positions = {"sweep_zone": (*zone_xy, 0.0)}
        placed: list[np.ndarray] = []
        for i in range(NUM_PIECES):
            for _ in range(1000):
                xy = np.array([rng.uniform(*PIECES_REGION[0]), rng.uniform(*PIECES_REGION[1])])
                far_from_zone = np.linalg.norm(xy - zone_xy) > ZONE_HALF_M + 0.08
                if far_from_zone and all(np.linalg.norm(xy - p) > 0.07 for p in placed):
                    break
            placed.append(xy)
            world.set_free_body_pose(
                f"piece{i}_joint", np.array([*xy, PIECE_HALF_M]), np.array([1.0, 0, 0, 0])
            )
            positions[f"piece{i}"] = (*xy, PIECE_HALF_M)
        return positions

    def _pieces_in_zone(self, world: SimWorld) -> list[bool]:
        zone_xy = world.body_pose("sweep_zone")[:2, 3]
        return [
            bool(np.all(np.abs(world.body_pose(f"piece{i}")[:2, 3] - zone_xy) <= ZONE_HALF_M))
            for i in range(NUM_PIECES)
        ]

    def success(self, world: SimWorld) -> bool:
        return all(self._pieces_in_zone(world))

    def expert(self, world: SimWorld) -> list[ExpertWaypoint]:
        """Sweep the piece farthest from the zone (then the executor asks again)."""
        zone_xy = world.body_pose("sweep_zone")[:2, 3]
        inside = self._pieces_in_zone(world)
        outside = [i for i in range(NUM_PIECES) if not inside[i]]
        if not outside:
            return []
        farthest = max(outside, key=lambda i: np.linalg.norm(world.body_pose(f"piece{i}")[:2, 3] - zone_xy))
        return push_waypoints(world.body_pose(f"piece{farthest}")[:2, 3], zone_xy, PIECE_HALF_M)
