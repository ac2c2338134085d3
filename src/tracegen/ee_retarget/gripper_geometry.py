"""The Franka Hand's collision geometry, posed by forward kinematics and projected into an image.

The parts are the URDF's collision geometry of ``fr3_hand`` (a convex mesh, 102 vertices) and of
both fingers (four boxes each), loaded with Pinocchio (``buildGeomFromUrdf``) and placed at a
joint state with ``updateGeometryPlacements``, the fingers at half the gripper width each. Each
part is reduced to its vertices (mesh vertices, box corners) and their oriented bounding box in
the part's frame, which is all the retargeting needs:

- *silhouette*: the union of the convex hulls of each part's projected vertices, grown by a
  margin in pixels (the hand and the finger boxes are convex, so their hulls are their exact
  silhouettes);
- *distance*: from a 3D point to the nearest part's bounding box, to keep only grid points
  whose depth agrees with the gripper (a point inside the silhouette whose depth lies far
  behind the hand is background seen through a gap, or a depth error).

Frames: points and poses in the base frame ``fr3_link0``; ``T_camera_base`` maps them into the
camera's optical frame for projection with the trace's intrinsics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pinocchio as pin
from scipy.spatial import ConvexHull, QhullError

from tracegen.errors import InputError
from tracegen.robot.kinematics import Fr3Kinematics, pose_matrix
from tracegen.trace import CameraIntrinsics, transform_points

#: Links whose collision geometry makes up the gripper.
GRIPPER_LINKS = ("fr3_hand", "fr3_leftfinger", "fr3_rightfinger")
#: Vertices closer to the camera plane than this are not projected (metres).
MIN_PROJECTION_DEPTH_M = 0.02


@dataclass(frozen=True)
class GripperPart:
    """One convex piece of the gripper: vertices and bounding box in its own (geometry) frame."""

    name: str
    geometry_index: int
    vertices_m: np.ndarray
    box_center_m: np.ndarray
    box_half_extent_m: np.ndarray


def _part_vertices(geometry_object: pin.GeometryObject) -> np.ndarray:
    shape = geometry_object.geometry
    scale = np.asarray(geometry_object.meshScale, dtype=np.float64)
    if hasattr(shape, "halfSide"):  # coal.Box
        half = np.asarray(shape.halfSide, dtype=np.float64)
        corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T
        return corners * half
    if hasattr(shape, "vertices") and callable(shape.vertices):  # coal.BVHModel / Convex from a mesh
        vertices = np.asarray(shape.vertices(), dtype=np.float64).reshape(-1, 3)
        if vertices.size == 0:
            raise InputError(f"collision mesh {geometry_object.name} has no vertices")
        return vertices * scale
    raise InputError(
        f"gripper collision geometry {geometry_object.name} is a {type(shape).__name__}; only boxes "
        "and meshes are supported"
    )


class GripperGeometry:
    """The gripper's collision parts of an FR3 URDF, posed at a joint state and gripper width."""

    def __init__(self, kinematics: Fr3Kinematics, links: tuple[str, ...] = GRIPPER_LINKS) -> None:
        self.kinematics = kinematics
        model = kinematics.full_model
        urdf = kinematics.urdf_path
        self._geometry_model = pin.buildGeomFromUrdf(
            model, str(urdf), pin.GeometryType.COLLISION, package_dirs=[str(urdf.parent)]
        )
        self._geometry_data = pin.GeometryData(self._geometry_model)
        self._data = model.createData()
        parts = []
        for index, geometry_object in enumerate(self._geometry_model.geometryObjects):
            if model.frames[geometry_object.parentFrame].name not in links:
                continue
            vertices = _part_vertices(geometry_object)
            low, high = vertices.min(axis=0), vertices.max(axis=0)
            parts.append(
                GripperPart(geometry_object.name, index, vertices, (low + high) / 2, (high - low) / 2)
            )
        if not parts:
            raise InputError(f"{urdf.name} has no collision geometry on the gripper links {list(links)}")
        self.parts = tuple(parts)
        self._T_base_world = pose_matrix(kinematics.T_world_base.inverse())

    def part_poses(self, q_rad: np.ndarray, gripper_width_m: float) -> list[np.ndarray]:
        """``T_base_part`` 4x4 of every part at the joint state and gripper width."""
        model = self.kinematics.full_model
        q_full = self.kinematics.full_configuration(q_rad, gripper_width_m)
        pin.forwardKinematics(model, self._data, q_full)
        pin.updateGeometryPlacements(model, self._data, self._geometry_model, self._geometry_data)
        return [
            self._T_base_world @ pose_matrix(self._geometry_data.oMg[p.geometry_index]) for p in self.parts
        ]

    def vertices_base(self, q_rad: np.ndarray, gripper_width_m: float) -> list[np.ndarray]:
        """Per part, its vertices ``[M_i, 3]`` in the base frame."""
        return [
            transform_points(pose, part.vertices_m)
            for pose, part in zip(self.part_poses(q_rad, gripper_width_m), self.parts, strict=True)
        ]

    def distance_m(self, points_base_m: np.ndarray, q_rad: np.ndarray, gripper_width_m: float) -> np.ndarray:
        """``[P]`` distance from each point ``[P, 3]`` to the nearest part's bounding box (0 inside)."""
        points = np.asarray(points_base_m, dtype=np.float64).reshape(-1, 3)
        best = np.full(points.shape[0], np.inf)
        for pose, part in zip(self.part_poses(q_rad, gripper_width_m), self.parts, strict=True):
            local = (points - pose[:3, 3]) @ pose[:3, :3] - part.box_center_m
            outside = np.maximum(np.abs(local) - part.box_half_extent_m, 0.0)
            best = np.minimum(best, np.linalg.norm(outside, axis=1))
        return best

    def silhouette_contains(
        self,
        uv_px: np.ndarray,
        q_rad: np.ndarray,
        gripper_width_m: float,
        T_camera_base: np.ndarray,
        intrinsics: CameraIntrinsics,
        margin_px: float = 0.0,
    ) -> np.ndarray:
        """``[P]`` bool: pixels ``uv_px [P, 2]`` inside the projected gripper (grown by ``margin_px``)."""
        uv = np.asarray(uv_px, dtype=np.float64).reshape(-1, 2)
        inside = np.zeros(uv.shape[0], dtype=bool)
        for vertices in self.vertices_base(q_rad, gripper_width_m):
            camera = transform_points(T_camera_base, vertices)
            if (camera[:, 2] < MIN_PROJECTION_DEPTH_M).any():
                continue  # part (partly) behind the camera: not visible as a closed shape
            projected = np.stack(
                [
                    intrinsics.fx_px * camera[:, 0] / camera[:, 2] + intrinsics.cx_px,
                    intrinsics.fy_px * camera[:, 1] / camera[:, 2] + intrinsics.cy_px,
                ],
                axis=1,
            )
            try:
                hull = ConvexHull(projected)
            except QhullError:
                continue  # seen edge-on: no area
            # Hull facets as unit normals n and offsets b with n.x + b <= 0 inside.
            signed = uv @ hull.equations[:, :2].T + hull.equations[:, 2]
            inside |= (signed <= margin_px).all(axis=1)
        return inside

    def project_vertices(
        self,
        q_rad: np.ndarray,
        gripper_width_m: float,
        T_camera_base: np.ndarray,
        intrinsics: CameraIntrinsics,
    ) -> np.ndarray:
        """All visible vertices projected, ``[M, 2]`` pixels (for drawing and tests)."""
        projected = []
        for vertices in self.vertices_base(q_rad, gripper_width_m):
            camera = transform_points(T_camera_base, vertices)
            camera = camera[camera[:, 2] >= MIN_PROJECTION_DEPTH_M]
            projected.append(
                np.stack(
                    [
                        intrinsics.fx_px * camera[:, 0] / camera[:, 2] + intrinsics.cx_px,
                        intrinsics.fy_px * camera[:, 1] / camera[:, 2] + intrinsics.cy_px,
                    ],
                    axis=1,
                )
            )
        return np.concatenate(projected, axis=0)
