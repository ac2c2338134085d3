"""Scripted motions from privileged state: the task family and other motions.

A motion turns a :class:`SceneSpec` into per-frame targets (no physics): the tool point
``tool_pos_m`` [T, 3] (world, metres), the gripper closure ``grip`` [T] (0 open .. 1 closed)
and every mocap body's pose ``mocap_pos_m`` [T, M, 3] / ``mocap_quat`` [T, M, 4] (w, x, y, z).
Segments use minimum-jerk interpolation; a grasped or pushed object moves rigidly with the
tool. Every motion starts and ends with the tool still for a few frames (forge's
frame-difference segmentation looks for motion between still periods).

Task family (as the FR3 tasks in tracegen.sim.tasks): ``push`` (an object into the target
square), ``pick_place`` (pick an object, put it on the target), ``sweep`` (grasp a brush and
sweep it across), ``fold`` (lift a cloth's edge and fold it over). Other motions: ``reach``
(reach towards an object and retreat), ``wave``, ``circle``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tracegen.sim.corpus.scene import NOUNS, SceneSpec

TASK_MOTIONS = ("push", "pick_place", "sweep", "fold")
OTHER_MOTIONS = ("reach", "wave", "circle")
MOTIONS = TASK_MOTIONS + OTHER_MOTIONS
#: The main object each motion needs.
MAIN_KIND = {
    "push": ("box", "cylinder", "ball"),
    "pick_place": ("box", "ball", "cylinder"),
    "sweep": ("brush",),
    "fold": ("cloth",),
    "reach": ("box", "ball", "cylinder"),
    "wave": ("box", "ball", "cylinder"),
    "circle": ("box", "ball", "cylinder"),
}
HOME_TOOL_M = np.array([0.4, 0.0, 0.28])
HOLD_S = 0.5


@dataclass
class MotionPlan:
    """Per-frame targets of one episode (shapes in the module docstring)."""

    name: str
    tool_pos_m: np.ndarray
    grip: np.ndarray
    mocap_pos_m: np.ndarray
    mocap_quat: np.ndarray
    mocap_names: list[str]
    instructions: list[str]


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk time scaling 10 s^3 - 15 s^4 + 6 s^5 on [0, 1]."""
    return s**3 * (10 - 15 * s + 6 * s * s)


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


class _Recorder:
    """Appends frames: the tool moves, carried mocap bodies follow it rigidly."""

    def __init__(self, fps: float, tool: np.ndarray, names: list[str], pos: np.ndarray, quat: np.ndarray):
        self.fps, self.tool, self.grip = fps, tool.astype(float), 0.0
        self.names, self.pos, self.quat = names, pos.astype(float), quat.astype(float)
        self.carried: dict[int, np.ndarray] = {}
        self.frames: list[tuple[np.ndarray, float, np.ndarray, np.ndarray]] = []

    def _n(self, seconds: float) -> int:
        return max(2, round(seconds * self.fps))

    def _emit(self) -> None:
        for index, offset in self.carried.items():
            self.pos[index] = self.tool + offset
        self.frames.append((self.tool.copy(), self.grip, self.pos.copy(), self.quat.copy()))

    def hold(self, seconds: float) -> None:
        for _ in range(self._n(seconds)):
            self._emit()

    def move(self, to, seconds: float, grip: float | None = None) -> None:
        start, to = self.tool.copy(), np.asarray(to, dtype=float)
        grip0, grip1 = self.grip, self.grip if grip is None else grip
        n = self._n(seconds)
        for s in min_jerk(np.arange(1, n + 1) / n):
            self.tool = start + s * (to - start)
            self.grip = grip0 + s * (grip1 - grip0)
            self._emit()

    def path(self, fn, seconds: float, on_frame=None) -> None:
        """Follow ``fn(s)`` for s in (0, 1] (min-jerk timed); ``on_frame(s)`` may pose bodies."""
        n = self._n(seconds)
        for s in min_jerk(np.arange(1, n + 1) / n):
            self.tool = np.asarray(fn(s), dtype=float)
            if on_frame is not None:
                on_frame(s)
            self._emit()

    def grasp(self, name: str, seconds: float = 0.4) -> None:
        self.move(self.tool, seconds, grip=1.0)
        index = self.names.index(name)
        self.carried[index] = self.pos[index] - self.tool

    def release(self, name: str, seconds: float = 0.4) -> None:
        self.carried.pop(self.names.index(name), None)
        self.move(self.tool, seconds, grip=0.0)


def plan_motion(name: str, scene: SceneSpec, rng: np.random.Generator, fps: float) -> MotionPlan:
    """The motion ``name`` in ``scene`` (randomised speeds, heights and paths)."""
    names, pos, quat = [], [], []
    for obj in scene.objects:
        names.append(obj.name)
        pos.append(obj.pos_m)
        quat.append(_yaw_quat(obj.yaw_rad if obj.kind not in ("cloth", "brush") else 0.0))
        if obj.kind == "cloth":
            names.append(f"{obj.name}_flap")
            pos.append(obj.pos_m)
            quat.append(_yaw_quat(0.0))
    start = HOME_TOOL_M + rng.uniform([-0.05, -0.08, -0.04], [0.05, 0.08, 0.04])
    rec = _Recorder(fps, start, names, np.array(pos), np.array(quat))
    main = scene.objects[0]
    obj_xy = main.pos_m[:2].copy()
    target = np.array([*scene.target_xy_m, 0.0])
    speed = rng.uniform(0.75, 1.05)  # duration scale of every segment: episodes last 2..6 s
    above = rng.uniform(0.1, 0.16)
    rec.hold(HOLD_S)
    thing = main.label
    square = f"the {scene.target_colour} square"
    if name == "push":
        direction = target[:2] - obj_xy
        direction /= max(np.linalg.norm(direction), 1e-6)
        radius = max(main.size_m[0], main.size_m[1] if len(main.size_m) > 1 else 0) + 0.03
        behind = np.array([*(obj_xy - radius * direction), main.height_m])
        goal = np.array([*(target[:2] - (radius - 0.03) * direction), main.height_m])
        rec.move(behind + np.array([0, 0, above]), 0.9 * speed, grip=1.0)
        rec.move(behind, 0.5 * speed)
        rec.carried[0] = main.pos_m - behind
        rec.move(goal, 1.4 * speed)
        rec.carried.clear()
        rec.move(goal + np.array([0, 0, above]), 0.6 * speed)
        instructions = [
            f"push the {thing} into {square}",
            f"slide the {thing} onto {square}",
            f"move the {thing} to {square} by pushing it",
        ]
    elif name == "pick_place":
        grasp = np.array([*obj_xy, main.height_m])
        place = np.array([*target[:2], main.height_m])
        rec.move(grasp + np.array([0, 0, above]), 0.9 * speed)
        rec.move(grasp, 0.5 * speed)
        rec.grasp(main.name)
        rec.move(grasp + np.array([0, 0, above]), 0.6 * speed)
        rec.move(place + np.array([0, 0, above]), 0.9 * speed)
        rec.move(place + np.array([0, 0, 0.002]), 0.5 * speed)
        rec.release(main.name)
        rec.move(place + np.array([0, 0, above]), 0.5 * speed)
        instructions = [
            f"pick up the {thing} and put it on {square}",
            f"place the {thing} on {square}",
            f"move the {thing} onto {square}",
        ]
    elif name == "sweep":
        grasp = np.array([*obj_xy, main.height_m + 0.01])
        side = rng.choice([-1.0, 1.0])
        rec.move(grasp + np.array([0, 0, above]), 0.9 * speed)
        rec.move(grasp, 0.5 * speed)
        rec.grasp(main.name)
        low = grasp + np.array([0, 0, 0.015])
        rec.move(low, 0.3 * speed)
        rec.move(low + np.array([0.03, side * 0.13, 0]), 0.7 * speed)
        rec.move(low + np.array([0.06, -side * 0.03, 0]), 0.6 * speed)
        rec.move(grasp + np.array([0.06, 0, 0]), 0.3 * speed)
        rec.release(main.name)
        rec.move(grasp + np.array([0.06, 0, above]), 0.4 * speed)
        instructions = [
            f"sweep the table with the {thing}",
            f"use the {thing} to sweep sideways",
            f"grab the {thing} and sweep",
        ]
    elif name == "fold":
        hx = main.size_m[0]
        hinge = main.pos_m.copy()
        edge = hinge + np.array([hx, 0, 0])
        flap = names.index(f"{main.name}_flap")
        rec.move(edge + np.array([0, 0, above]), 0.9 * speed)
        rec.move(edge + np.array([0, 0, 0.004]), 0.5 * speed)
        rec.move(rec.tool, 0.4 * speed, grip=1.0)

        def arc(s: float) -> np.ndarray:
            angle = math.pi * 0.97 * s
            return hinge + np.array([hx * math.cos(angle), 0.0, hx * math.sin(angle) + 0.004 + 0.008 * s])

        def pose_flap(s: float) -> None:
            angle = math.pi * 0.97 * s
            rec.pos[flap] = hinge + np.array([0, 0, 0.008 * s])
            rec.quat[flap] = np.array([math.cos(-angle / 2), 0.0, math.sin(-angle / 2), 0.0])

        rec.path(arc, 1.6 * speed, pose_flap)
        rec.move(rec.tool, 0.4 * speed, grip=0.0)
        rec.move(rec.tool + np.array([0, 0, above]), 0.5 * speed)
        instructions = [
            f"fold the {thing} in half",
            f"fold the {thing} from right to left",
            f"lift the edge of the {thing} and fold it over",
        ]
    elif name == "reach":
        near = np.array([*obj_xy, main.height_m + rng.uniform(0.03, 0.06)])
        rec.move(near, 1.2 * speed)
        rec.hold(0.3)
        rec.move(start + rng.uniform(-0.03, 0.03, 3), 1.2 * speed)
        instructions = [
            f"reach towards the {thing} and come back",
            f"point at the {thing}",
            f"touch near the {thing} and retreat",
        ]
    elif name == "wave":
        centre = start + np.array([0.05, 0, 0.03])
        rec.move(centre, 0.6 * speed)
        amplitude = rng.uniform(0.06, 0.1)
        for _ in range(2):
            rec.move(centre + np.array([0, amplitude, 0]), 0.5 * speed)
            rec.move(centre - np.array([0, amplitude, 0]), 0.5 * speed)
        rec.move(centre, 0.4 * speed)
        instructions = ["wave", "wave from side to side", "move back and forth above the table"]
    elif name == "circle":
        centre = np.array([*obj_xy, main.height_m + rng.uniform(0.08, 0.14)])
        radius = rng.uniform(0.05, 0.09)
        entry = centre + np.array([radius, 0, 0])
        rec.move(entry, 0.8 * speed)
        rec.path(
            lambda s: centre + radius * np.array([math.cos(2 * math.pi * s), math.sin(2 * math.pi * s), 0]),
            2.0 * speed,
        )
        rec.move(start, 0.8 * speed)
        instructions = [
            f"draw a circle above the {thing}",
            f"circle around the {thing}",
            f"move in a circle over the {NOUNS[main.kind]}",
        ]
    else:
        raise ValueError(name)
    rec.hold(HOLD_S)
    tool, grip, mpos, mquat = (np.array(x) for x in zip(*rec.frames, strict=True))
    return MotionPlan(name, tool, grip, mpos, mquat, names, instructions)
