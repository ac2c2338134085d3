"""Settings of the trace -> end-effector retargeting, with the reasoning behind each default.

The grid is sparse: 20x20 points over the image, so at a typical 0.8-1.2 m from a D435 the
points are 4-6 cm apart and the gripper covers only a handful of them, an object often one or
two. The defaults are chosen for that density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from tracegen.errors import InputError
from tracegen.robot.safety import SafetyPolicy


@dataclass(frozen=True)
class RetargetConfig:
    """Thresholds of gripper-point selection, rigid fitting, grasp inference and timing."""

    # --- which grid points lie on the gripper (at step 0, the reference image) ---
    #: Grow the projected gripper silhouette by this many pixels (calibration and FK errors).
    gripper_margin_px: float = 6.0
    #: A point inside the silhouette counts only if its 3D position lies within this distance of
    #: the gripper's collision geometry (its depth agrees with the gripper).
    gripper_distance_m: float = 0.03
    #: Fewer gripper points than this: the trace says nothing about the gripper; refuse it.
    min_gripper_points: int = 1

    # --- rigid motion of the gripper points per step (Kabsch in RANSAC) ---
    #: A point is an inlier of a rigid fit when it lies within this distance of its prediction.
    ransac_threshold_m: float = 0.01
    ransac_iterations: int = 64
    #: At least this many rigid inliers, and this fraction of the step's valid gripper points,
    #: for the rigid fit to be used; otherwise the mean displacement (orientation held).
    min_rigid_points: int = 4
    min_inlier_fraction: float = 0.6
    #: The inliers must span at least this much (second singular value of the centred points,
    #: metres) to fix a rotation; thinner sets (nearly collinear) fall back to the mean.
    min_point_spread_m: float = 0.01

    # --- gripper open/close from object points moving with the gripper ---
    #: Object points within this distance of the TCP are candidates for being held.
    grasp_radius_m: float = 0.08
    #: A candidate follows the gripper when it stays within this distance of where the
    #: gripper's rigid motion would carry it.
    co_motion_tolerance_m: float = 0.015
    #: Decide only when the TCP moves at least this much over the look-ahead window (a static
    #: gripper cannot tell a held object from one lying next to it).
    min_gripper_motion_m: float = 0.02
    #: Steps looked ahead to decide whether candidates follow the gripper.
    window_steps: int = 4
    #: This many following candidates mean "closed on an object".
    min_object_points: int = 1
    #: Width commanded to open, and expected width when closing (0: grasp whatever is there).
    open_width_m: float = 0.08
    grasp_width_m: float = 0.0

    # --- timing and safety ---
    #: Time between trace steps on the robot (the trace has no time of its own).
    step_duration_s: float = 0.25
    workspace_policy: SafetyPolicy = SafetyPolicy.CLIP
    speed_policy: SafetyPolicy = SafetyPolicy.CLIP
    #: Seed of RANSAC's random triples (only used when there are more triples than iterations).
    seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("workspace_policy", "speed_policy"):
                object.__setattr__(self, f.name, SafetyPolicy(value))
                continue
            if isinstance(value, float) and (not math.isfinite(value) or value < 0):
                raise InputError(
                    f"retarget setting {f.name} must be a finite non-negative number, got {value}"
                )
        for name in ("min_gripper_points", "ransac_iterations", "window_steps", "min_object_points"):
            if int(getattr(self, name)) < 1:
                raise InputError(f"retarget setting {name} must be >= 1, got {getattr(self, name)}")
        if int(self.min_rigid_points) < 3:
            raise InputError(
                f"min_rigid_points must be >= 3 (a rigid fit needs 3 points), got {self.min_rigid_points}"
            )
        if not 0.0 < self.min_inlier_fraction <= 1.0:
            raise InputError(f"min_inlier_fraction must lie in (0, 1], got {self.min_inlier_fraction}")
        if self.step_duration_s <= 0.0:
            raise InputError(f"step_duration_s must be positive, got {self.step_duration_s}")
        if not 0.0 <= self.grasp_width_m <= self.open_width_m <= 0.08:
            raise InputError(
                f"need 0 <= grasp_width_m <= open_width_m <= 0.08, "
                f"got {self.grasp_width_m}, {self.open_width_m}"
            )
