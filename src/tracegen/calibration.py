"""The camera extrinsic (hand-eye calibration result): load and save config/calibration.yaml.

File format (YAML; a calibration tool or the simulated world writes it, the retarget node reads
it)::

    parent_frame: fr3_link0                  # the robot base frame
    child_frame: camera_color_optical_frame  # the camera's optical frame (REP-103)
    translation_m: [x, y, z]                 # the camera's origin in the parent frame, metres
    quaternion_xyzw: [x, y, z, w]            # the camera's orientation in the parent frame
    date: "2026-01-31"                       # when it was calibrated (free text, ISO 8601 advised)
    method: "..."                            # how (e.g. "easy_handeye2 eye-to-hand, Tsai")

i.e. the transform ``T_parent_child`` that maps points in the camera's optical frame into the
base frame, ``p_base = R p_camera + t`` (the pose of the camera in the base frame, as tf2 and
easy_handeye2 publish it).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from tracegen.errors import InputError
from tracegen.resources import config_path
from tracegen.robot_assets import BASE_FRAME

CAMERA_OPTICAL_FRAME = "camera_color_optical_frame"
CALIBRATION_FILE = "calibration.yaml"
REQUIRED_KEYS = ("parent_frame", "child_frame", "translation_m", "quaternion_xyzw")
#: A camera farther than this from the robot base is almost certainly a unit mistake (mm for m).
MAX_DISTANCE_M = 10.0


class CalibrationError(InputError):
    """A calibration file that is missing, malformed or implausible."""


@dataclass(frozen=True)
class CameraExtrinsic:
    """``T_parent_child``: the pose of the camera's optical frame in the robot base frame."""

    translation_m: tuple[float, float, float]
    quaternion_xyzw: tuple[float, float, float, float]
    parent_frame: str = BASE_FRAME
    child_frame: str = CAMERA_OPTICAL_FRAME
    date: str = ""
    method: str = ""

    def __post_init__(self) -> None:
        translation = np.asarray(self.translation_m, dtype=np.float64).reshape(-1)
        if translation.shape != (3,) or not np.isfinite(translation).all():
            raise CalibrationError(
                f"calibration translation_m must be 3 finite numbers, got {self.translation_m!r}"
            )
        if np.linalg.norm(translation) > MAX_DISTANCE_M:
            raise CalibrationError(
                f"calibration puts the camera {np.linalg.norm(translation):.1f} m from {self.parent_frame}: "
                "translation_m is in metres (not millimetres)"
            )
        quaternion = np.asarray(self.quaternion_xyzw, dtype=np.float64).reshape(-1)
        if quaternion.shape != (4,) or not np.isfinite(quaternion).all():
            raise CalibrationError(
                f"calibration quaternion_xyzw must be 4 finite numbers, got {self.quaternion_xyzw!r}"
            )
        norm = float(np.linalg.norm(quaternion))
        if abs(norm - 1.0) > 1e-3:
            raise CalibrationError(
                f"calibration quaternion_xyzw {quaternion.tolist()} has norm {norm:.4f}: a unit "
                "quaternion in (x, y, z, w) order is required"
            )
        for name in ("parent_frame", "child_frame"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise CalibrationError(f"calibration {name} must be a frame name, got {value!r}")
        object.__setattr__(self, "translation_m", tuple(float(v) for v in translation))
        object.__setattr__(self, "quaternion_xyzw", tuple(float(v) for v in quaternion / norm))
        object.__setattr__(self, "date", str(self.date))
        object.__setattr__(self, "method", str(self.method))

    @property
    def matrix(self) -> np.ndarray:
        """``T_parent_child`` 4x4 (``p_parent = T @ p_child``)."""
        transform = np.eye(4)
        transform[:3, :3] = Rotation.from_quat(self.quaternion_xyzw).as_matrix()
        transform[:3, 3] = self.translation_m
        return transform

    @classmethod
    def from_matrix(
        cls,
        T_parent_child: np.ndarray,
        *,
        parent_frame: str = BASE_FRAME,
        child_frame: str = CAMERA_OPTICAL_FRAME,
        date: str = "",
        method: str = "",
    ) -> CameraExtrinsic:
        transform = np.asarray(T_parent_child, dtype=np.float64)
        if transform.shape != (4, 4) or not np.isfinite(transform).all():
            raise CalibrationError(
                f"an extrinsic must be a finite 4x4 transform, got shape {transform.shape}"
            )
        rotation = transform[:3, :3]
        if np.abs(rotation.T @ rotation - np.eye(3)).max() > 1e-5 or np.linalg.det(rotation) < 0:
            raise CalibrationError("the extrinsic's rotation part is not a rotation matrix")
        quaternion = Rotation.from_matrix(rotation).as_quat()
        return cls(tuple(transform[:3, 3]), tuple(quaternion), parent_frame, child_frame, date, method)

    @classmethod
    def from_look_at(
        cls, position_m: Sequence[float], look_at_m: Sequence[float], *, date: str = "", method: str = ""
    ) -> CameraExtrinsic:
        """A camera at ``position_m`` looking at ``look_at_m`` (base frame, z up), image upright."""
        position = np.asarray(position_m, dtype=np.float64)
        forward = np.asarray(look_at_m, dtype=np.float64) - position
        if np.linalg.norm(forward) < 1e-6 or abs(forward[2]) / np.linalg.norm(forward) > 0.999:
            raise CalibrationError(
                "look_at_m must differ from position_m and not lie straight above or below it"
            )
        z_axis = forward / np.linalg.norm(forward)
        x_axis = np.cross(z_axis, [0.0, 0.0, 1.0])
        x_axis /= np.linalg.norm(x_axis)
        transform = np.eye(4)
        transform[:3, :3] = np.column_stack([x_axis, np.cross(z_axis, x_axis), z_axis])
        transform[:3, 3] = position
        return cls.from_matrix(transform, date=date, method=method)

    def to_mapping(self) -> dict[str, Any]:
        return {
            "parent_frame": self.parent_frame,
            "child_frame": self.child_frame,
            "translation_m": [round(v, 9) for v in self.translation_m],
            "quaternion_xyzw": [round(v, 12) for v in self.quaternion_xyzw],
            "date": self.date,
            "method": self.method,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "calibration") -> CameraExtrinsic:
        if not isinstance(data, Mapping):
            raise CalibrationError(f"{source} must be a YAML mapping with keys {list(REQUIRED_KEYS)}")
        missing = [k for k in REQUIRED_KEYS if k not in data]
        if missing:
            raise CalibrationError(
                f"{source} lacks {missing}; it needs {list(REQUIRED_KEYS)} (+ date, method)"
            )
        unknown = set(data) - {*REQUIRED_KEYS, "date", "method"}
        if unknown:
            raise CalibrationError(f"{source} has unknown keys {sorted(unknown)}")
        try:
            return cls(
                translation_m=tuple(data["translation_m"]),
                quaternion_xyzw=tuple(data["quaternion_xyzw"]),
                parent_frame=data["parent_frame"],
                child_frame=data["child_frame"],
                date=data.get("date", "") or "",
                method=data.get("method", "") or "",
            )
        except (TypeError, ValueError) as exc:
            raise CalibrationError(f"{source}: {exc}") from None


def default_calibration_path() -> Path:
    """The shipped config/calibration.yaml."""
    return config_path(CALIBRATION_FILE)


def load_calibration(path: Path | str | None = None) -> CameraExtrinsic:
    """Read a calibration file (default: the shipped one); errors name the file and the problem."""
    path = Path(path) if path else default_calibration_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read the camera calibration {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationError(f"camera calibration {path} is not valid YAML: {exc}") from None
    extrinsic = CameraExtrinsic.from_mapping(data, source=str(path))
    if extrinsic.parent_frame != BASE_FRAME:
        raise CalibrationError(
            f"camera calibration {path} is relative to {extrinsic.parent_frame!r}; the robot base frame "
            f"{BASE_FRAME!r} is required"
        )
    return extrinsic


def save_calibration(extrinsic: CameraExtrinsic, path: Path | str, *, comment: str = "") -> Path:
    """Write atomically (temporary file + rename): a crash never leaves half a calibration."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = extrinsic.to_mapping()
    if not data["date"]:
        data["date"] = dt.date.today().isoformat()
    header = "".join(f"# {line}\n" for line in comment.splitlines()) if comment else ""
    text = header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def angle_between_deg(a: CameraExtrinsic, b: CameraExtrinsic) -> float:
    """Rotation angle between two extrinsics' orientations, degrees (for comparing calibrations)."""
    relative = Rotation.from_quat(a.quaternion_xyzw).inv() * Rotation.from_quat(b.quaternion_xyzw)
    return math.degrees(relative.magnitude())
