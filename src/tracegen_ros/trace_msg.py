"""tracegen/msg/TraceGrid <-> :class:`tracegen.trace.Trace` (the field layout is documented
in msg/TraceGrid.msg: flat float32 uvz in C order [point][step][channel]).
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Time

from tracegen.errors import TraceError
from tracegen.msg import TraceGrid
from tracegen.trace import Trace
from tracegen_ros.camera_info import camera_info_to_intrinsics, intrinsics_to_camera_info


@dataclass(frozen=True)
class TraceGridMeta:
    """The message fields that are not part of the trace itself."""

    stamp: Time
    frame_id: str
    instruction: str = ""
    model_id: str = ""
    inference_latency_s: float = 0.0
    confidence: np.ndarray | None = None


def trace_to_msg(trace: Trace, meta: TraceGridMeta) -> TraceGrid:
    """Pack a trace and its metadata into a TraceGrid message."""
    msg = TraceGrid()
    msg.header.stamp = meta.stamp
    msg.header.frame_id = meta.frame_id
    msg.rows = trace.rows
    msg.cols = trace.cols
    msg.horizon = trace.horizon
    msg.camera_info = intrinsics_to_camera_info(trace.intrinsics, meta.frame_id)
    msg.camera_info.header.stamp = meta.stamp
    msg.uvz = array.array("f", np.ascontiguousarray(trace.uvz, dtype=np.float32).tobytes())
    msg.step_valid = trace.step_valid.tolist()
    expected_point_valid = np.broadcast_to(trace.step_valid, trace.point_valid.shape)
    if not np.array_equal(trace.point_valid, expected_point_valid):
        msg.point_valid = trace.point_valid.ravel().tolist()
    msg.is_3d = trace.is_3d
    if meta.confidence is not None:
        confidence = np.asarray(meta.confidence, dtype=np.float32)
        if confidence.shape != (trace.num_points,):
            raise TraceError(
                f"confidence must have one value per point ({trace.num_points}), got {confidence.shape}"
            )
        msg.confidence = array.array("f", confidence.tobytes())
    msg.instruction = meta.instruction
    msg.model_id = meta.model_id
    msg.inference_latency_s = float(meta.inference_latency_s)
    return msg


def msg_to_trace(msg: TraceGrid) -> tuple[Trace, TraceGridMeta]:
    """Unpack and validate a TraceGrid; raises :class:`TraceError` naming what is malformed."""
    rows, cols, num_steps = int(msg.rows), int(msg.cols), int(msg.horizon) + 1
    num_points = rows * cols
    if rows < 2 or cols < 2:
        raise TraceError(f"TraceGrid has a {rows}x{cols} grid: at least 2x2 is required")
    expected = num_points * num_steps * 3
    if len(msg.uvz) != expected:
        raise TraceError(
            f"TraceGrid uvz has {len(msg.uvz)} values but rows={rows}, cols={cols}, "
            f"horizon={msg.horizon} need {expected}"
        )
    if len(msg.step_valid) != num_steps:
        raise TraceError(
            f"TraceGrid step_valid has {len(msg.step_valid)} flags, horizon + 1 = {num_steps} needed"
        )
    step_valid = np.asarray(msg.step_valid, dtype=bool)
    if len(msg.point_valid) == 0:
        point_valid = np.broadcast_to(step_valid, (num_points, num_steps)).copy()
    elif len(msg.point_valid) == num_points * num_steps:
        point_valid = np.asarray(msg.point_valid, dtype=bool).reshape(num_points, num_steps)
    else:
        raise TraceError(
            f"TraceGrid point_valid has {len(msg.point_valid)} flags: empty or "
            f"{num_points * num_steps} expected"
        )
    uvz = np.frombuffer(msg.uvz, dtype=np.float32).reshape(num_points, num_steps, 3)
    trace = Trace(
        uvz=uvz,
        step_valid=step_valid,
        point_valid=point_valid,
        is_3d=bool(msg.is_3d),
        intrinsics=camera_info_to_intrinsics(msg.camera_info),
        rows=rows,
        cols=cols,
    )
    confidence = None
    if len(msg.confidence):
        if len(msg.confidence) != num_points:
            raise TraceError(
                f"TraceGrid confidence has {len(msg.confidence)} values: empty or {num_points} expected"
            )
        confidence = np.frombuffer(msg.confidence, dtype=np.float32).copy()
    meta = TraceGridMeta(
        stamp=msg.header.stamp,
        frame_id=msg.header.frame_id,
        instruction=msg.instruction,
        model_id=msg.model_id,
        inference_latency_s=float(msg.inference_latency_s),
        confidence=confidence,
    )
    return trace, meta
