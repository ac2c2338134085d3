"""The trace contract: grid, screen-aligned traces, geometry, model space, speed retargeting.

See DESIGN.md ("The trace contract") and the module docstrings for shapes, frames and units.
"""

from tracegen.trace.geometry import transform_points, uvz_to_xyz_m, xyz_to_uvz
from tracegen.trace.grid import query_grid_uv_px, sample_depth_at_uv_m
from tracegen.trace.intrinsics import CameraIntrinsics
from tracegen.trace.model_space import (
    ModelSpaceTrace,
    decode_model_space,
    decode_model_space_uvz,
    denormalize_increments,
    encode_model_space,
    normalize_increments,
    normalize_uv,
)
from tracegen.trace.retarget import RetargetResult, retarget_speed
from tracegen.trace.spec import OFFICIAL_TRACE_SPEC, TraceSpec
from tracegen.trace.traces import Trace

__all__ = [
    "OFFICIAL_TRACE_SPEC",
    "CameraIntrinsics",
    "ModelSpaceTrace",
    "RetargetResult",
    "Trace",
    "TraceSpec",
    "decode_model_space",
    "decode_model_space_uvz",
    "denormalize_increments",
    "encode_model_space",
    "normalize_increments",
    "normalize_uv",
    "query_grid_uv_px",
    "retarget_speed",
    "sample_depth_at_uv_m",
    "transform_points",
    "uvz_to_xyz_m",
    "xyz_to_uvz",
]
