"""A simulated RealSense D435 colour + aligned-depth camera rendered with MuJoCo.

Frames (REP-103): the camera's *optical* frame has z forward, x right, y down; MuJoCo's camera
frame has -z forward, x right, y up, so ``T_world_optical = T_world_mjcam @ diag(1, -1, -1)``.
The simulated robot's base frame ``fr3_link0`` coincides with MuJoCo's world frame (franky-sim
places the robot at the origin), so world poses are base-frame poses.

Intrinsics follow MuJoCo's pinhole: square pixels, ``fy = (H / 2) / tan(fovy / 2)``, principal
point at the image centre, i.e. ``(W - 1) / 2`` in OpenCV pixel coordinates. Depth is the
z-depth along the optical axis in metres (what an aligned RealSense depth image holds).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from tracegen.errors import InputError
from tracegen.trace import CameraIntrinsics

#: MuJoCo camera frame -> optical frame (flip y and z).
MJCAM_FROM_OPTICAL = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class SimCameraSpec:
    """Where the simulated camera is and what it sees.

    Attributes:
        name: MJCF camera name.
        width_px, height_px: rendered resolution (a RealSense colour profile).
        hfov_deg: horizontal field of view (D435 colour: 69.4 deg).
        position_m: camera centre in the world (= robot base) frame.
        look_at_m: the world point on the optical axis.
        depth_noise_std_m: Gaussian depth noise per pixel, proportional to depth squared / 1 m
            (RealSense-like: error grows with distance); 0 disables.
        depth_hole_fraction: fraction of pixels dropped to 0 (no reading), in small blobs.
        depth_min_m, depth_max_m: the sensor's valid range; readings outside become 0.
    """

    name: str = "d435"
    width_px: int = 320
    height_px: int = 240
    hfov_deg: float = 69.4
    position_m: tuple[float, float, float] = (0.9, -0.55, 0.58)
    look_at_m: tuple[float, float, float] = (0.42, 0.0, 0.08)
    depth_noise_std_m: float = 0.0
    depth_hole_fraction: float = 0.0
    depth_min_m: float = 0.1
    depth_max_m: float = 6.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 10.0 <= self.hfov_deg <= 150.0:
            raise InputError(f"sim camera hfov_deg {self.hfov_deg} is outside 10..150 degrees")
        forward = np.subtract(self.look_at_m, self.position_m)
        if np.linalg.norm(forward) < 1e-6:
            raise InputError("sim camera look_at_m must differ from position_m")
        if abs(forward[2]) / np.linalg.norm(forward) > 0.999:
            raise InputError("sim camera must not look straight up or down (its x axis is undefined)")

    @classmethod
    def from_pose(cls, T_world_optical: np.ndarray, **fields) -> SimCameraSpec:
        """A camera at a calibrated pose (e.g. config/calibration.yaml's ``T_base_camera``).

        The spec is position + look-at with the image upright (no roll about the optical
        axis), so a pose with roll is refused rather than silently rendered differently.
        """
        pose = np.asarray(T_world_optical, dtype=np.float64)
        position = pose[:3, 3]
        spec = cls(position_m=tuple(position), look_at_m=tuple(position + pose[:3, 2]), **fields)
        if np.abs(spec.rotation_world_optical - pose[:3, :3]).max() > 1e-3:
            raise InputError(
                "the simulated camera needs an upright pose (optical x axis horizontal); the given "
                f"rotation has roll: x axis {np.round(pose[:3, 0], 3).tolist()} has z component "
                f"{pose[2, 0]:.3f}. Use a calibration without roll about the optical axis"
            )
        return spec

    @property
    def fovy_deg(self) -> float:
        """MuJoCo's vertical field of view for this width, height and horizontal field of view."""
        half_w = math.tan(math.radians(self.hfov_deg) / 2)
        return math.degrees(2 * math.atan(half_w * self.height_px / self.width_px))

    @property
    def intrinsics(self) -> CameraIntrinsics:
        f_px = (self.height_px / 2) / math.tan(math.radians(self.fovy_deg) / 2)
        return CameraIntrinsics(
            self.width_px, self.height_px, f_px, f_px, (self.width_px - 1) / 2, (self.height_px - 1) / 2
        )

    @property
    def rotation_world_optical(self) -> np.ndarray:
        """3x3: columns are the optical frame's x (right), y (down), z (forward) in the world."""
        z_axis = np.subtract(self.look_at_m, self.position_m)
        z_axis = z_axis / np.linalg.norm(z_axis)
        x_axis = np.cross(z_axis, [0.0, 0.0, 1.0])  # right = forward x up (world z up)
        x_axis /= np.linalg.norm(x_axis)
        y_axis = np.cross(z_axis, x_axis)  # down
        return np.column_stack([x_axis, y_axis, z_axis])

    @property
    def T_world_optical(self) -> np.ndarray:
        """4x4 pose of the optical frame in the world (= fr3_link0) frame."""
        t = np.eye(4)
        t[:3, :3] = self.rotation_world_optical
        t[:3, 3] = self.position_m
        return t

    def add_to_worldbody(self, worldbody: ET.Element) -> ET.Element:
        """Add the MJCF camera (x axis right, y axis up in MuJoCo's convention)."""
        rotation_mjcam = self.rotation_world_optical @ MJCAM_FROM_OPTICAL
        x_axis, y_axis = rotation_mjcam[:, 0], rotation_mjcam[:, 1]
        return ET.SubElement(
            worldbody,
            "camera",
            name=self.name,
            pos=" ".join(f"{v:.6f}" for v in self.position_m),
            xyaxes=" ".join(f"{v:.6f}" for v in (*x_axis, *y_axis)),
            fovy=f"{self.fovy_deg:.6f}",
        )


def apply_depth_model(depth_m: np.ndarray, spec: SimCameraSpec, rng: np.random.Generator) -> np.ndarray:
    """Sensor effects on a perfect z-depth image: range limits, noise, holes (0 = no reading)."""
    depth_m = depth_m.astype(np.float32, copy=True)
    if spec.depth_noise_std_m > 0:
        depth_m += rng.normal(0.0, 1.0, depth_m.shape).astype(np.float32) * (
            spec.depth_noise_std_m * depth_m**2
        )
    if spec.depth_hole_fraction > 0:
        # Holes come in blobs, like IR shadows and specular dropouts: drop coarse cells.
        cell = 4
        coarse = rng.uniform(size=(depth_m.shape[0] // cell + 1, depth_m.shape[1] // cell + 1))
        mask = np.kron(coarse < spec.depth_hole_fraction, np.ones((cell, cell), dtype=bool))
        depth_m[mask[: depth_m.shape[0], : depth_m.shape[1]]] = 0.0
    depth_m[(depth_m < spec.depth_min_m) | (depth_m > spec.depth_max_m)] = 0.0
    return depth_m


def depth_m_to_mm_u16(depth_m: np.ndarray) -> np.ndarray:
    """Metres -> 16UC1 millimetres (the realsense-ros aligned depth encoding), 0 = no reading."""
    depth_mm = np.rint(np.nan_to_num(depth_m, nan=0.0) * 1000.0)
    return np.clip(depth_mm, 0, 65535).astype(np.uint16)
