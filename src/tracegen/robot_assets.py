"""Robot description files of the Franka Research 3.

The FR3 URDF (with meshes) ships in franky-sim's package data (``franky_sim/assets/``), the
same model the simulator runs; on a robot PC without franky-sim, ``$TRACEGEN_FR3_URDF`` points
at another copy (e.g. one exported from franka_description).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from tracegen.errors import TracegenError

#: Frames of the FR3 description used across the stack (REP-105 style names, DESIGN.md).
BASE_FRAME = "fr3_link0"
TCP_FRAME = "fr3_hand_tcp"
HAND_FRAME = "fr3_hand"
ARM_JOINT_NAMES = tuple(f"fr3_joint{i}" for i in range(1, 8))
FINGER_JOINT_NAMES = ("fr3_finger_joint1", "fr3_finger_joint2")


def franky_sim_assets_dir() -> Path:
    spec = importlib.util.find_spec("franky_sim")
    if spec is None or spec.origin is None:
        raise TracegenError(
            "franky-sim is not installed, so its FR3 description is not available: "
            "pip install franky-sim, or set TRACEGEN_FR3_URDF to an FR3 URDF"
        )
    return Path(spec.origin).parent / "assets"


def fr3_urdf_path() -> Path:
    """The FR3 URDF: ``$TRACEGEN_FR3_URDF`` if set, else franky-sim's copy."""
    override = os.environ.get("TRACEGEN_FR3_URDF")
    path = Path(override) if override else franky_sim_assets_dir() / "fr3.urdf"
    if not path.is_file():
        raise TracegenError(f"FR3 URDF not found at {path}: set TRACEGEN_FR3_URDF to an FR3 URDF")
    return path


def fr3_mjcf_path() -> Path:
    """franky-sim's FR3 MJCF (the simulated robot)."""
    path = franky_sim_assets_dir() / "fr3.xml"
    if not path.is_file():
        raise TracegenError(f"franky-sim's FR3 MJCF is missing at {path}: reinstall franky-sim")
    return path
