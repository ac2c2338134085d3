"""The simulated FR3 tabletop world: franky-sim's MuJoCo FR3, a table, task objects, a RealSense.

:class:`SimWorld` owns one MuJoCo model and runs franky-sim's libfranka-protocol server on a
loopback address, so the rest of the stack drives the simulated arm through franky exactly as
it would the real one. It also renders the simulated camera and exposes privileged object
state for task resets, success checks and scripted experts.

Threads: the physics loop (1 kHz ticks of franky-sim's server: receive commands, step,
send state) runs in a background thread; every tick holds :attr:`SimWorld.lock`, and so do
renders and object resets, so they never see a half-stepped state. Frames: world = robot base
``fr3_link0`` (franky-sim puts the robot at the origin), z up; MuJoCo body names carry
franky-sim's ``robot0_`` prefix for the arm.
"""

from __future__ import annotations

import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from tracegen.errors import TracegenError
from tracegen.sim.camera import SimCameraSpec, apply_depth_model

logger = logging.getLogger(__name__)

#: franky-sim's prefix for the first robot's bodies, joints and geoms.
ROBOT_PREFIX = "robot0_"
#: One physics tick of franky-sim (libfranka runs at 1 kHz).
PHYSICS_DT_S = 0.001
#: Where episodes start: the TCP 22 cm above the table at (0.45, 0), pointing down, fingers
#: opening along the world y axis (solved once with Pinocchio on the FR3 URDF).
READY_Q_RAD = (0.0, -0.1289, 0.0, -2.5263, 0.0, 2.3974, 0.785)


@dataclass(frozen=True)
class TableSpec:
    """The table the robot is mounted on: its top surface is the world plane z = 0."""

    center_xy_m: tuple[float, float] = (0.45, 0.0)
    size_xy_m: tuple[float, float] = (0.9, 1.1)
    thickness_m: float = 0.04
    floor_z_m: float = -0.75
    rgba: tuple[float, float, float, float] = (0.72, 0.6, 0.45, 1.0)


def add_table_and_floor(scene: ET.Element, worldbody: ET.Element, table: TableSpec) -> None:
    """Replace franky-sim's ground plane at z = 0 by a floor below a table whose top is z = 0.

    (A plane at the table height would z-fight with the table top in renders.)
    """
    for geom in list(worldbody.findall("geom")):
        if geom.get("name") == "ground":
            worldbody.remove(geom)
    ET.SubElement(
        worldbody,
        "geom",
        name="floor",
        type="plane",
        size="5 5 0.1",
        pos=f"0 0 {table.floor_z_m}",
        material="ground_checker",
    )
    asset = scene.find("asset")
    ET.SubElement(
        asset,
        "texture",
        name="table_wood",
        type="2d",
        builtin="flat",
        width="64",
        height="64",
        rgb1=" ".join(map(str, table.rgba[:3])),
        rgb2="0.6 0.5 0.38",
        mark="random",
        random="0.01",
        markrgb="0.66 0.55 0.41",
    )
    ET.SubElement(asset, "material", name="table_wood", texture="table_wood", texrepeat="1 1")
    cx, cy = table.center_xy_m
    half_x, half_y = table.size_xy_m[0] / 2, table.size_xy_m[1] / 2
    body = ET.SubElement(worldbody, "body", name="table", pos=f"{cx} {cy} 0")
    ET.SubElement(
        body,
        "geom",
        name="table_top",
        type="box",
        material="table_wood",
        size=f"{half_x} {half_y} {table.thickness_m / 2}",
        pos=f"0 0 {-table.thickness_m / 2}",
        friction="0.8 0.005 0.0001",
    )
    leg_height = -table.floor_z_m - table.thickness_m
    for i, (sx, sy) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
        ET.SubElement(
            body,
            "geom",
            name=f"table_leg{i}",
            type="box",
            size=f"0.03 0.03 {leg_height / 2}",
            pos=f"{sx * (half_x - 0.05)} {sy * (half_y - 0.05)} {-table.thickness_m - leg_height / 2}",
            rgba="0.35 0.3 0.25 1",
        )


class SimWorld:
    """A running simulated world. Use as a context manager or call :meth:`close`.

    Args:
        hostname: loopback address franky-sim binds (``franky.Robot(hostname)`` connects).
        camera: the simulated RealSense.
        build_scene: adds task objects to the MJCF (``scene``, ``worldbody``) before start.
        initial_q_rad: the arm's joint positions at start.
        realtime_factor: 1.0 runs the physics at wall-clock speed (what libfranka expects);
            larger runs faster than real time when the CPU allows.
        seed: seeds the depth-noise generator.
        render_process: render in a child process (:mod:`tracegen.sim.render_process`); use it
            whenever something else (the physics thread, a franky client) must keep running
            while frames are rendered: an in-process render holds the GIL for the whole frame.
    """

    def __init__(
        self,
        hostname: str,
        camera: SimCameraSpec | None = None,
        build_scene: Callable[[ET.Element, ET.Element], None] | None = None,
        *,
        table: TableSpec | None = None,
        initial_q_rad: tuple[float, ...] = READY_Q_RAD,
        realtime_factor: float = 1.0,
        seed: int = 0,
        render_process: bool = False,
    ) -> None:
        import franky_sim
        from franky_sim.mujoco_simulator import MujocoSimulator

        self.camera = camera or SimCameraSpec()
        self.table = table or TableSpec()
        self.hostname = hostname
        self.realtime_factor = float(realtime_factor)
        self.lock = threading.RLock()
        self._rng = np.random.default_rng(seed)
        self._renderer: mujoco.Renderer | None = None
        self._render_process_wanted = bool(render_process)
        self._render_process = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = 0

        self._sim = MujocoSimulator()
        self._sim.init()
        self._robot = self._sim.add_robot(initial_q=tuple(initial_q_rad))
        add_table_and_floor(self._sim.scene, self._sim.worldbody, self.table)
        if build_scene is not None:
            build_scene(self._sim.scene, self._sim.worldbody)
        self.camera.add_to_worldbody(self._sim.worldbody)
        self._server = franky_sim.SimulationServer(self._sim, hostname_candidates=[hostname])
        try:
            self._server.init()
        except Exception as exc:
            self._sim.cleanup()
            raise TracegenError(
                f"franky-sim could not start on {hostname}: {exc}. Is another simulator bound to "
                "that address? Pick another 127.x.y.z"
            ) from exc
        self.model: mujoco.MjModel = self._sim.model
        self.data: mujoco.MjData = self._sim.data

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> SimWorld:
        """Start the physics loop (background thread)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._physics_loop, name="sim-physics", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._render_process is not None:
            self._render_process.close()
            self._render_process = None
        if not self._sim.is_cleaned_up:
            self._server.cleanup()
            self._sim.cleanup()

    def __enter__(self) -> SimWorld:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _physics_loop(self) -> None:
        period_s = PHYSICS_DT_S / self.realtime_factor
        next_tick = time.perf_counter()
        while not self._stop.is_set():
            with self.lock:
                self._server.run_once(realtime=False)
                self._ticks += 1
            next_tick += period_s
            delay = next_tick - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.1:
                next_tick = time.perf_counter()  # fell behind (loaded CPU): do not try to catch up

    @property
    def sim_time_s(self) -> float:
        return float(self.data.time)

    # --- camera ---------------------------------------------------------------------------------

    def render(self) -> tuple[np.ndarray, np.ndarray]:
        """One RGB-D frame: ``rgb`` [H, W, 3] uint8 and ``depth_m`` [H, W] float32 (0 = no reading)."""
        if self._render_process_wanted:
            return self._render_in_child()
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.camera.height_px, self.camera.width_px)
        renderer = self._renderer
        # update_scene copies the geometry into the renderer's own scene under the lock; the
        # slow part (rasterising) then runs without blocking the physics.
        with self.lock:
            renderer.update_scene(self.data, camera=self.camera.name)
        rgb = renderer.render().copy()
        renderer.enable_depth_rendering()
        try:
            depth_m = renderer.render().copy()
        finally:
            renderer.disable_depth_rendering()
        return rgb, apply_depth_model(depth_m, self.camera, self._rng)

    def _render_in_child(self) -> tuple[np.ndarray, np.ndarray]:
        from tracegen.sim.render_process import RenderProcess

        if self._render_process is None:
            camera = self.camera
            self._render_process = RenderProcess(self.model, camera.name, camera.width_px, camera.height_px)
        with self.lock:  # a consistent snapshot of what moves (a few kB)
            state = (self.data.qpos.copy(), self.data.mocap_pos.copy(), self.data.mocap_quat.copy())
        rgb, depth_m = self._render_process.render(*state)
        return rgb, apply_depth_model(depth_m, self.camera, self._rng)

    # --- privileged state ----------------------------------------------------------------------

    def body_id(self, name: str) -> int:
        body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if body < 0:
            raise TracegenError(f"the simulated scene has no body named {name!r}")
        return body

    def body_pose(self, name: str) -> np.ndarray:
        """4x4 pose of a body in the world (= fr3_link0) frame."""
        body = self.body_id(name)
        with self.lock:
            pose = np.eye(4)
            pose[:3, :3] = self.data.xmat[body].reshape(3, 3)
            pose[:3, 3] = self.data.xpos[body]
        return pose

    def tcp_position_m(self) -> np.ndarray:
        """The TCP (between the fingertips) in the world frame, from the simulator's state."""
        hand = self.body_pose(f"{ROBOT_PREFIX}hand")
        return hand[:3, 3] + hand[:3, :3] @ np.array([0.0, 0.0, 0.1034])

    def reset_arm(self, q_rad: tuple[float, ...] = READY_Q_RAD, gripper_width_m: float = 0.08) -> None:
        """Teleport the arm to ``q_rad`` (at rest) and the fingers to ``gripper_width_m`` (episode resets).

        Only while no franky motion runs: franky-sim then holds the arm where it is, so its
        holding target is moved along (libfranka clients read the new state on their next
        motion). Raises :class:`TracegenError` while a motion is running.
        """
        robot, server = self._robot, self._robot.server
        with self.lock:
            if server is not None and server.current_motion_id > 0:
                raise TracegenError(
                    "cannot reset the simulated arm while a franky motion runs: stop the plan first"
                )
            for address, q in zip(robot._qpos_addrs, q_rad, strict=True):
                self.data.qpos[address] = q
            for address in robot._dof_addrs + robot._finger_dof_addrs:
                self.data.qvel[address] = 0.0
            for address in robot._finger_qpos_addrs:
                self.data.qpos[address] = gripper_width_m / 2
            robot.set_hand_goal(gripper_width_m, 0.1, 70.0)
            mujoco.mj_forward(self.model, self.data)
            if server is not None:
                server._reset_state()  # hold the new configuration (franky-sim's idle controller)

    def set_free_body_pose(self, joint_name: str, position_m: np.ndarray, quat_wxyz: np.ndarray) -> None:
        """Teleport a free-jointed object (task resets) and zero its velocity."""
        joint = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, joint_name)
        if joint < 0 or self.model.jnt_type[joint] != mujoco.mjtJoint.mjJNT_FREE:
            raise TracegenError(f"{joint_name!r} is not a free joint of the simulated scene")
        qpos, dof = self.model.jnt_qposadr[joint], self.model.jnt_dofadr[joint]
        with self.lock:
            self.data.qpos[qpos : qpos + 3] = position_m
            self.data.qpos[qpos + 3 : qpos + 7] = quat_wxyz
            self.data.qvel[dof : dof + 6] = 0.0
            mujoco.mj_forward(self.model, self.data)
