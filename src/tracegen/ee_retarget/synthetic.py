"""Synthetic 3D traces of a known gripper motion, for tests, benchmarks and demos of retargeting.

The scene is what a camera with extrinsic ``T_base_camera`` sees of the FR3's gripper at a joint
state, an optional box-shaped object and the table plane ``z = table_z_m`` (behind everything
else a wall at ``background_depth_m``). Each query-grid ray is cast (slab intersection against
the gripper parts' bounding boxes and the object box, then the plane) and the first hit becomes
the point's 3D position at step 0. Points then move: gripper points with the known gripper
motion ``D_k`` (base frame, step 0 -> step k), object points with the gripper from
``grasp_step`` on (and stay where they were put from ``release_step`` on), the rest stays.

The result is an ordinary :class:`~tracegen.trace.Trace` (screen-aligned, 3D): the same input
the retargeting gets from the model, with the ground truth known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tracegen.ee_retarget.gripper_geometry import GripperGeometry
from tracegen.trace import CameraIntrinsics, Trace, query_grid_uv_px, transform_points

LABEL_BACKGROUND, LABEL_TABLE, LABEL_GRIPPER, LABEL_OBJECT = 0, 1, 2, 3


@dataclass(frozen=True)
class ObjectBox:
    """An axis-aligned box in the base frame (centre and half extents, metres)."""

    center_m: tuple[float, float, float]
    half_extent_m: tuple[float, float, float]


@dataclass(frozen=True, eq=False)
class SyntheticTrace:
    """The trace and its ground truth: per-point labels ``[N]`` and the step-0 points ``[N, 3]``."""

    trace: Trace
    labels: np.ndarray
    points_base_m: np.ndarray


def _ray_box(
    origin: np.ndarray, directions: np.ndarray, center: np.ndarray, half: np.ndarray, rotation: np.ndarray
) -> np.ndarray:
    """``[R]`` distance along unit rays to an oriented box (inf where missed); slab method."""
    local_origin = rotation.T @ (origin - center)
    local_dirs = directions @ rotation
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - local_origin) / local_dirs
        t2 = (half - local_origin) / local_dirs
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    hit = (t_near <= t_far) & (t_far > 0)
    return np.where(hit, np.maximum(t_near, 0.0), np.inf)


def synthetic_trace(
    geometry: GripperGeometry,
    T_base_camera: np.ndarray,
    intrinsics: CameraIntrinsics,
    q_rad: np.ndarray,
    gripper_width_m: float,
    motions: np.ndarray,
    *,
    obj: ObjectBox | None = None,
    grasp_step: int | None = None,
    release_step: int | None = None,
    table_z_m: float = 0.0,
    background_depth_m: float = 3.0,
    rows: int = 20,
    cols: int = 20,
) -> SyntheticTrace:
    """Render the trace of gripper motion ``motions [S, 4, 4]`` (``motions[0]`` = identity)."""
    uv = query_grid_uv_px(intrinsics.width_px, intrinsics.height_px, rows=rows, cols=cols)
    rays_camera = np.stack(
        [
            (uv[:, 0] - intrinsics.cx_px) / intrinsics.fx_px,
            (uv[:, 1] - intrinsics.cy_px) / intrinsics.fy_px,
            np.ones(len(uv)),
        ],
        axis=1,
    )
    rays_camera /= np.linalg.norm(rays_camera, axis=1, keepdims=True)
    origin = T_base_camera[:3, 3]
    directions = rays_camera @ T_base_camera[:3, :3].T
    distance = np.full(len(uv), np.inf)
    labels = np.full(len(uv), LABEL_BACKGROUND)
    for pose, part in zip(geometry.part_poses(q_rad, gripper_width_m), geometry.parts, strict=True):
        center = pose[:3, :3] @ part.box_center_m + pose[:3, 3]
        t = _ray_box(origin, directions, center, part.box_half_extent_m, pose[:3, :3])
        closer = t < distance
        distance[closer], labels[closer] = t[closer], LABEL_GRIPPER
    if obj is not None:
        t = _ray_box(origin, directions, np.asarray(obj.center_m), np.asarray(obj.half_extent_m), np.eye(3))
        closer = t < distance
        distance[closer], labels[closer] = t[closer], LABEL_OBJECT
    with np.errstate(divide="ignore", invalid="ignore"):
        t_table = (table_z_m - origin[2]) / directions[:, 2]
    t_table = np.where(t_table > 0, t_table, np.inf)
    closer = t_table < distance
    distance[closer], labels[closer] = t_table[closer], LABEL_TABLE
    missed = ~np.isfinite(distance)
    distance[missed] = background_depth_m / rays_camera[missed, 2]
    points = origin + directions * distance[:, None]

    num_steps = motions.shape[0]
    points_steps = np.repeat(points[:, None], num_steps, axis=1)
    gripper = labels == LABEL_GRIPPER
    for k in range(num_steps):
        points_steps[gripper, k] = transform_points(motions[k], points[gripper])
        if grasp_step is not None and k >= grasp_step:
            carried_until = k if release_step is None or k < release_step else release_step
            carry = motions[carried_until] @ np.linalg.inv(motions[grasp_step])
            object_points = labels == LABEL_OBJECT
            points_steps[object_points, k] = transform_points(carry, points[object_points])
    camera_base = np.linalg.inv(T_base_camera)
    trace = Trace.from_xyz_m(transform_points(camera_base, points_steps), intrinsics, rows=rows, cols=cols)
    return SyntheticTrace(trace, labels, points)


def translation_motions(offsets_m: np.ndarray) -> np.ndarray:
    """``[S, 4, 4]`` pure translations by ``offsets_m [S, 3]`` (base frame)."""
    motions = np.repeat(np.eye(4)[None], len(offsets_m), axis=0)
    motions[:, :3, 3] = offsets_m
    return motions
