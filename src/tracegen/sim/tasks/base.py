"""What a simulated task is: objects, randomised initial states, a success check, an expert.

Tasks are modelled on the TraceGen paper's four real-world tasks (block, ball, brush,
clothes). Everything is in the world frame = robot base ``fr3_link0`` (metres, z up, the table
top at z = 0). Experts read privileged simulator state and return end-effector waypoints;
they never touch the arm directly: the waypoints go through the same IK controller and franky
path as predicted plans.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from tracegen.sim.world import SimWorld

#: The gripper points straight down; its yaw about the world z axis is free per waypoint.
TOP_DOWN_ROLL_PITCH_RAD = (np.pi, 0.0)
#: Franka Hand opening, metres.
GRIPPER_OPEN_M = 0.08
GRIPPER_CLOSED_M = 0.0
#: Opening while pushing: both fingertip pads touch the pushed face, a stable two-point push.
GRIPPER_PUSH_M = 0.04


@dataclass(frozen=True)
class ExpertWaypoint:
    """One end-effector target of a scripted expert (world = base frame).

    Attributes:
        position_m: TCP position.
        yaw_rad: rotation of the top-down gripper about the world z axis (0: fingers open
            along the world y axis).
        gripper_width_m: gripper opening to command once this waypoint is reached.
        max_speed_m_s: TCP speed limit on the way to this waypoint.
    """

    position_m: tuple[float, float, float]
    yaw_rad: float
    gripper_width_m: float
    max_speed_m_s: float = 0.15


@dataclass(frozen=True)
class EpisodeSetup:
    """What a reset produced: the seed and the sampled object positions (for logs and replays)."""

    task: str
    seed: int
    object_positions_m: dict[str, tuple[float, float, float]]


class SimTask(ABC):
    """A tabletop task. Subclasses define the scene, the randomisation, success and the expert."""

    #: Short name used on the command line (``--task block``).
    name: str
    #: The three official instruction variants: short command, stepwise, natural request.
    instructions: tuple[str, str, str]

    @abstractmethod
    def build_scene(self, scene: ET.Element, worldbody: ET.Element) -> None:
        """Add this task's bodies to the MJCF before the world starts."""

    @abstractmethod
    def reset(self, world: SimWorld, rng: np.random.Generator) -> dict[str, tuple[float, float, float]]:
        """Place the objects for a new episode; return their positions by name."""

    @abstractmethod
    def success(self, world: SimWorld) -> bool:
        """Whether the task is solved in the world's current state."""

    @abstractmethod
    def expert(self, world: SimWorld) -> list[ExpertWaypoint]:
        """The expert's next plan segment from the current state (privileged information).

        Experts are closed loop: the executor calls this again after each segment until the
        task succeeds or a budget is spent (a push may leave a block short; a sweep may move
        other pieces). An empty list means "nothing left to do".
        """

    def setup_episode(self, world: SimWorld, seed: int) -> EpisodeSetup:
        positions = self.reset(world, np.random.default_rng(seed))
        return EpisodeSetup(self.name, seed, {k: tuple(map(float, v)) for k, v in positions.items()})


#: MuJoCo's no-slip solver passes for scenes with grasps. Its soft contacts let a held object
#: creep out of the fingers under gravity (a 3 cm ball fell out of a 20 N grasp within 2 s of
#: a lift); three no-slip passes hold it indefinitely at a small cost per physics step.
GRASP_NOSLIP_ITERATIONS = 3


def enable_stable_grasps(scene: ET.Element) -> None:
    """Turn on the no-slip solver in the scene's ``<option>`` (tasks that lift objects)."""
    option = scene.find("option")
    if option is None:
        option = ET.SubElement(scene, "option")
    option.set("noslip_iterations", str(GRASP_NOSLIP_ITERATIONS))


def free_body(
    worldbody: ET.Element, name: str, geom_attrs: dict[str, str], position_m: tuple[float, float, float]
) -> ET.Element:
    """A movable object: body + free joint ``<name>_joint`` + one geom ``<name>_geom``."""
    body = ET.SubElement(worldbody, "body", name=name, pos=" ".join(map(str, position_m)))
    ET.SubElement(body, "freejoint", name=f"{name}_joint")
    ET.SubElement(body, "geom", name=f"{name}_geom", **geom_attrs)
    return body


def zone_marker(
    worldbody: ET.Element, name: str, half_size_m: float, rgba: str, position_xy_m: tuple[float, float]
) -> ET.Element:
    """A flat coloured square on the table, visible to the camera, with no collision."""
    body = ET.SubElement(
        worldbody, "body", name=name, mocap="true", pos=f"{position_xy_m[0]} {position_xy_m[1]} 0.001"
    )
    ET.SubElement(
        body,
        "geom",
        name=f"{name}_geom",
        type="box",
        size=f"{half_size_m} {half_size_m} 0.001",
        rgba=rgba,
        contype="0",
        conaffinity="0",
    )
    return body


def set_mocap_xy(world: SimWorld, body_name: str, xy_m: np.ndarray) -> None:
    """Move a mocap (fixed, teleportable) body such as a zone marker."""
    mocap = world.model.body_mocapid[world.body_id(body_name)]
    with world.lock:
        world.data.mocap_pos[mocap, :2] = xy_m


def sample_separated_xy(
    rng: np.random.Generator,
    regions: list[tuple[tuple[float, float], tuple[float, float]]],
    min_separation_m: float,
    attempts: int = 1000,
) -> list[np.ndarray]:
    """One point per region ((x_lo, x_hi), (y_lo, y_hi)), all at least ``min_separation_m`` apart."""
    for _ in range(attempts):
        points = [np.array([rng.uniform(*xr), rng.uniform(*yr)]) for xr, yr in regions]
        if all(
            np.linalg.norm(a - b) >= min_separation_m for i, a in enumerate(points) for b in points[i + 1 :]
        ):
            return points
    raise RuntimeError(f"could not place {len(regions)} objects {min_separation_m} m apart")
