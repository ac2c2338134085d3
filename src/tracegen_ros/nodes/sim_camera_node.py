"""sim_camera_node: the simulated tabletop world, seen through a simulated RealSense D435.

Hosts a :class:`tracegen.sim.world.SimWorld` (franky-sim's MuJoCo FR3 + table + one task's
objects) whose libfranka-protocol server binds ``robot_ip`` (a loopback address), so
``ik_controller_node`` drives the simulated arm with ``robot_ip`` set to the same address, as
it would the real one. Renders the scene (``MUJOCO_GL=osmesa`` on a CPU) from the pose in the
camera calibration file (config/calibration.yaml: one source of truth for real and sim) and
publishes exactly what ``capture_node`` publishes (started as node ``camera`` in namespace
``camera``):

- ``~/color/image_raw`` (rgb8) and ``~/color/camera_info``;
- ``~/aligned_depth_to_color/image_raw`` (16UC1 millimetres, 0 = no reading) and its
  ``camera_info`` (the colour intrinsics);

sensor-data QoS, frame id ``<camera_name>_color_optical_frame``, one stamp per frameset.

Episode control (:mod:`tracegen_ros.sim_episode` is the client):

- service ``~/reset`` (std_srvs/Trigger): next seed, arm back to ready, gripper open, objects
  re-sampled; the answer's message is JSON ``{task, seed, episode, instruction}``;
- service ``~/expert`` (std_srvs/Trigger): the task's scripted expert's next plan segment,
  computed from privileged simulator state, as JSON (:func:`tracegen_ros.sim_episode.parse_expert_segment`);
  an empty list once the task is solved. Experts never move the arm themselves: the caller
  executes the segment through ik_controller_node (``tracegen sim-demos``);
- topic ``/sim/task_state`` (std_msgs/String JSON, reliable + transient local) at
  ``task_state_rate_hz``: task, seed, episode, success, instruction, object positions.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time

os.environ.setdefault("MUJOCO_GL", "osmesa")  # before mujoco is imported: CPU rendering

import rclpy
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tracegen.calibration import load_calibration
from tracegen.errors import InputError, TracegenError
from tracegen.sim.camera import SimCameraSpec, depth_m_to_mm_u16
from tracegen.sim.tasks import TASKS, SimTask, make_task
from tracegen.sim.tasks.base import GRIPPER_OPEN_M
from tracegen.sim.world import READY_Q_RAD, SimWorld
from tracegen_ros.camera_info import intrinsics_to_camera_info
from tracegen_ros.diagnostics import DiagnosticsReporter, Level
from tracegen_ros.images import numpy_to_image
from tracegen_ros.node_main import run_node
from tracegen_ros.params import ParamSpec, declare_parameters
from tracegen_ros.qos import LATCHED_QOS, SENSOR_QOS
from tracegen_ros.sim_episode import TASK_STATE_TOPIC, EpisodeInfo, TaskState, expert_segment_json

NODE_NAME = "camera"
RESOLUTIONS = ("320x240", "424x240", "640x480", "848x480", "1280x720")

PARAMS = (
    ParamSpec(
        "task", "block", "Simulated task whose scene, resets and success check run.", choices=tuple(TASKS)
    ),
    ParamSpec(
        "seed",
        0,
        "Seed of the first episode; each ~/reset uses the next one.",
        min_value=0,
        max_value=2**31 - 1,
    ),
    ParamSpec(
        "robot_ip",
        "127.0.0.2",
        "Loopback address franky-sim's server binds; give ik_controller_node the same robot_ip.",
    ),
    ParamSpec("camera_name", "camera", "Prefix of the frame ids: <camera_name>_color_optical_frame."),
    ParamSpec(
        "fps",
        15.0,
        "Rendered framesets per second (fewer when the CPU cannot keep up).",
        min_value=0.5,
        max_value=60.0,
    ),
    ParamSpec(
        "resolution", "320x240", "Colour and depth WIDTHxHEIGHT (a D435 colour profile).", choices=RESOLUTIONS
    ),
    ParamSpec(
        "hfov_deg",
        69.4,
        "Horizontal field of view, degrees (D435 colour: 69.4).",
        min_value=10.0,
        max_value=150.0,
    ),
    ParamSpec(
        "calibration_file",
        "",
        "Extrinsic (T_base_camera) the camera is placed at; empty: the shipped config/calibration.yaml.",
    ),
    ParamSpec(
        "depth.noise_std_m",
        0.0,
        "Depth noise std at 1 m, metres (grows with depth squared); 0: perfect depth.",
        min_value=0.0,
        max_value=0.1,
    ),
    ParamSpec(
        "depth.hole_fraction",
        0.0,
        "Fraction of depth pixels dropped to 0 (no reading), in blobs.",
        min_value=0.0,
        max_value=0.9,
    ),
    ParamSpec("task_state_rate_hz", 5.0, "Rate of /sim/task_state messages.", min_value=0.5, max_value=50.0),
    ParamSpec(
        "realtime_factor",
        1.0,
        "Physics speed relative to wall-clock time (franky expects 1.0).",
        min_value=0.1,
        max_value=10.0,
    ),
    ParamSpec(
        "diagnostics_period_s",
        1.0,
        "Seconds between status messages on /diagnostics.",
        min_value=0.1,
        max_value=60.0,
    ),
)


def parse_resolution(text: str) -> tuple[int, int]:
    width, height = (int(v) for v in text.lower().split("x"))
    return width, height


def check_loopback(robot_ip: str) -> str:
    """franky-sim must bind a loopback address: a robot PC's network address is refused."""
    try:
        address = ipaddress.ip_address(robot_ip.strip())
    except ValueError:
        raise InputError(
            f"parameter 'robot_ip' is {robot_ip!r}: expected an address such as 127.0.0.2"
        ) from None
    if not address.is_loopback:
        raise InputError(
            f"parameter 'robot_ip' is {robot_ip}: the simulated arm binds a loopback address (127.x.y.z); "
            "with use_sim:=true pass robot_ip:=127.0.0.2 so ik_controller_node connects to the simulator"
        )
    return str(address)


def camera_spec(params: dict) -> SimCameraSpec:
    """The simulated D435 at the calibrated pose, with the configured resolution and depth model."""
    extrinsic = load_calibration(params["calibration_file"].strip() or None)
    width_px, height_px = parse_resolution(params["resolution"])
    return SimCameraSpec.from_pose(
        extrinsic.matrix,
        width_px=width_px,
        height_px=height_px,
        hfov_deg=float(params["hfov_deg"]),
        depth_noise_std_m=float(params["depth.noise_std_m"]),
        depth_hole_fraction=float(params["depth.hole_fraction"]),
    )


def object_positions(world: SimWorld, task: SimTask, names: list[str], fallback: dict) -> dict:
    """Current positions of the episode's named objects (bodies); markers without a body keep theirs."""
    positions = {}
    for name in names:
        try:
            positions[name] = tuple(round(float(v), 5) for v in world.body_pose(name)[:3, 3])
        except TracegenError:
            positions[name] = tuple(round(float(v), 5) for v in fallback[name])
    return positions


class SimCameraNode(Node):
    """The world's physics runs on its own thread, rendering on another; ROS callbacks only read."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.exit_status = 0
        params = declare_parameters(self, PARAMS)
        if not params["camera_name"].strip():
            raise InputError("parameter 'camera_name' is empty: frame ids need a prefix such as 'camera'")
        robot_ip = check_loopback(params["robot_ip"])
        self._frame_id = f"{params['camera_name'].strip()}_color_optical_frame"
        self._period_s = 1.0 / float(params["fps"])
        self._task = make_task(params["task"])
        self._spec = camera_spec(params)
        self._info = intrinsics_to_camera_info(self._spec.intrinsics, self._frame_id)

        self._color_pub = self.create_publisher(Image, "~/color/image_raw", SENSOR_QOS)
        self._color_info_pub = self.create_publisher(CameraInfo, "~/color/camera_info", SENSOR_QOS)
        self._depth_pub = self.create_publisher(Image, "~/aligned_depth_to_color/image_raw", SENSOR_QOS)
        self._depth_info_pub = self.create_publisher(
            CameraInfo, "~/aligned_depth_to_color/camera_info", SENSOR_QOS
        )
        self._state_pub = self.create_publisher(String, TASK_STATE_TOPIC, LATCHED_QOS)
        self._diagnostics = DiagnosticsReporter(
            self, "Simulated RealSense", period_s=float(params["diagnostics_period_s"])
        )

        self._world = SimWorld(
            robot_ip,
            self._spec,
            self._task.build_scene,
            realtime_factor=float(params["realtime_factor"]),
            seed=int(params["seed"]),
            render_process=True,  # an in-process render would stall the 1 kHz physics
        )
        self._episode_lock = threading.Lock()
        self._episode = 0
        self._seed = int(params["seed"])
        self._setup = self._task.setup_episode(self._world, self._seed)
        self._world.start()
        self._frames_published = 0
        self.get_logger().info(
            f"simulated {self._task.name} world: franky-sim on {robot_ip}, camera "
            f"{self._spec.width_px}x{self._spec.height_px} at {params['fps']:g} fps, seed {self._seed}"
        )
        self._diagnostics.set(Level.OK, f"simulating task {self._task.name} on {robot_ip}")

        episode_group = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "~/reset", self._on_reset, callback_group=episode_group)
        self.create_service(Trigger, "~/expert", self._on_expert, callback_group=episode_group)
        self.create_timer(1.0 / float(params["task_state_rate_hz"]), self._publish_state)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._render_loop, name="sim-camera", daemon=True)
        self._thread.start()
        self._publish_state()

    # --- rendering ----------------------------------------------------------------------------

    def _render_loop(self) -> None:
        next_frame = time.monotonic()
        try:
            while not self._stop.is_set() and self.context.ok():
                rgb, depth_m = self._world.render()
                self._publish_frame(rgb, depth_m)
                next_frame += self._period_s
                delay = next_frame - time.monotonic()
                if delay < -self._period_s:
                    next_frame = time.monotonic()  # behind (CPU-starved): do not burst to catch up
                self._stop.wait(max(delay, 0.0))
        except Exception as exc:
            if self._stop.is_set() or not self.context.ok():
                return
            self.get_logger().fatal(f"render thread failed: {type(exc).__name__}: {exc}")
            self._diagnostics.set(Level.ERROR, f"render thread failed: {exc}")
            self.exit_status = 1
            rclpy.try_shutdown(context=self.context)

    def _publish_frame(self, rgb, depth_m) -> None:
        stamp = self.get_clock().now().to_msg()
        self._info.header.stamp = stamp
        self._color_pub.publish(numpy_to_image(rgb, "rgb8", frame_id=self._frame_id, stamp=stamp))
        self._color_info_pub.publish(self._info)
        depth_mm = depth_m_to_mm_u16(depth_m)
        self._depth_pub.publish(numpy_to_image(depth_mm, "16UC1", frame_id=self._frame_id, stamp=stamp))
        self._depth_info_pub.publish(self._info)
        self._frames_published += 1
        self._diagnostics.update_values(frames_published=self._frames_published)

    # --- episodes -----------------------------------------------------------------------------

    def _task_state(self) -> TaskState:
        with self._episode_lock:
            setup, episode = self._setup, self._episode
        with self._world.lock:
            success = self._task.success(self._world)
            objects = object_positions(
                self._world, self._task, list(setup.object_positions_m), setup.object_positions_m
            )
            tcp = tuple(round(float(v), 5) for v in self._world.tcp_position_m())
            sim_time_s = self._world.sim_time_s
        return TaskState(
            task=self._task.name,
            seed=setup.seed,
            episode=episode,
            success=success,
            instruction=self._task.instructions[0],
            objects=objects,
            tcp_position_m=tcp,
            sim_time_s=round(sim_time_s, 4),
            frames_published=self._frames_published,
        )

    def _publish_state(self) -> None:
        if self.context.ok():
            self._state_pub.publish(String(data=self._task_state().to_json()))

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            with self._episode_lock:
                self._world.reset_arm(READY_Q_RAD, GRIPPER_OPEN_M)
                seed = self._seed + self._episode + 1
                self._setup = self._task.setup_episode(self._world, seed)
                self._episode += 1
                info = EpisodeInfo(self._task.name, seed, self._episode, self._task.instructions[0])
        except TracegenError as exc:
            response.success, response.message = False, str(exc)
            self.get_logger().warning(f"reset refused: {exc}")
            return response
        self.get_logger().info(f"episode {info.episode}: {info.task}, seed {info.seed}")
        self._publish_state()
        response.success, response.message = True, info.to_json()
        return response

    def _on_expert(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """The scripted expert's next segment from privileged state (JSON; [] once solved)."""
        with self._world.lock:
            waypoints = self._task.expert(self._world)
        response.success = True
        response.message = expert_segment_json(waypoints)
        return response

    def destroy_node(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        self._world.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimCameraNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
