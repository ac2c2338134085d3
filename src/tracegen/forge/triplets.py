"""Triplets from one motion event: reference frames every K frames, their grid tracked, retargeted.

For an event ``[start, stop)`` of a window (:mod:`tracegen.forge.segmentation`):

1. reference frames r = start, start + K, ... that still have ``min_future_frames`` later
   frames in the event;
2. the 20 x 20 query grid of each reference frame is tracked to the end of the event (at most
   ``max_track_frames`` frames) by the tracker, all reference frames in one call;
3. tracks become screen-aligned ``(u, v, z)`` in the reference camera
   (:mod:`tracegen.forge.depth`, :mod:`tracegen.forge.reference_frame`), or stay 2D-only with
   the reason from :func:`tracegen.forge.camera_pose.decide_geometry`;
4. speed retargeting (:func:`tracegen.trace.retarget_speed`) resamples them at constant arc
   length, up to 128 steps; a reference frame after which too little moves
   (< ``min_trace_steps`` steps) is dropped with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracegen.data import Triplet
from tracegen.forge.camera_pose import Geometry
from tracegen.forge.config import ForgeConfig
from tracegen.forge.depth import drop_depth_jumps, query_depth_m, track_depth_m
from tracegen.forge.episode import Episode, Window
from tracegen.forge.instructions import Instructions
from tracegen.forge.reference_frame import to_reference_uvz
from tracegen.forge.segmentation import Event
from tracegen.forge.tracking.base import QuerySet, Tracker, Tracks
from tracegen.trace import Trace, query_grid_uv_px, retarget_speed


@dataclass
class EventResult:
    """Triplets of one event and the reference frames that gave none (source index, reason)."""

    triplets: list[Triplet] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)


def reference_frames(event: Event, config: ForgeConfig) -> list[int]:
    """Window indices of the event's reference frames."""
    last = event.stop - 1 - config.min_future_frames
    return list(range(event.start, last + 1, config.reference_stride_frames))


def _reference_uvz(
    tracks: Tracks, query: QuerySet, window: Window, geometry: Geometry, episode: Episode, config: ForgeConfig
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], str]:
    """``uvz`` ``[N, S, 3]`` in the reference camera, ``valid`` ``[N, S]``, details, 2D reason."""
    num_points = tracks.uv_px.shape[0]
    frames = np.arange(query.start, query.stop)
    details: dict[str, Any] = {}
    reason_2d = geometry.reason_2d
    if geometry.is_3d:
        if tracks.z_m is not None:
            z_m = np.array(tracks.z_m, dtype=np.float64)
        else:
            z_m = track_depth_m(
                geometry.depth_m,
                frames,
                tracks.uv_px,
                radius_px=config.depth_hole_radius_px,
                max_depth_m=config.max_depth_m,
            )
        z0, filled = query_depth_m(
            geometry.depth_m[query.start],
            tracks.uv_px[:, 0],
            radius_px=config.depth_hole_radius_px,
            max_depth_m=config.max_depth_m,
        )
        z_m[:, 0] = np.where(np.isfinite(z_m[:, 0]), z_m[:, 0], z0)
        if tracks.z_m is None:
            z_m = drop_depth_jumps(z_m, config.max_depth_jump_m)
        if np.isfinite(z_m[:, 0]).all():
            details["query_depth_filled"] = filled
            poses = None if geometry.T_world_camera is None else geometry.T_world_camera[frames]
            uvz, valid = to_reference_uvz(tracks.uv_px, z_m, episode.intrinsics, poses)
            return uvz, valid & tracks.visible, details, ""
        reason_2d = "the reference frame's depth has no valid pixel"
    uvz = np.concatenate([tracks.uv_px.astype(np.float64), np.full((num_points, frames.size, 1), np.nan)], -1)
    return uvz, tracks.visible.copy(), details, reason_2d


def build_event_triplets(
    *,
    episode: Episode,
    window: Window,
    event: Event,
    geometry: Geometry,
    tracker: Tracker,
    instructions: Instructions,
    config: ForgeConfig,
    provenance: dict[str, Any],
) -> EventResult:
    """Triplets of one event (steps in the module docstring)."""
    result = EventResult()
    refs = reference_frames(event, config)
    if not refs:
        result.dropped.append(
            (
                int(window.indices[event.start]),
                f"event of {event.num_frames} frames leaves no reference frame with "
                f"{config.min_future_frames} "
                "later frames (min_future_frames)",
            )
        )
        return result
    spec = config.trace_spec
    k = episode.intrinsics
    grid = query_grid_uv_px(k.width_px, k.height_px, spec.grid_rows, spec.grid_cols)
    queries = [QuerySet(r, min(event.stop, r + config.max_track_frames + 1), grid) for r in refs]
    all_tracks = tracker.track(window, queries)
    for query, tracks in zip(queries, all_tracks, strict=True):
        frame_index = int(window.indices[query.start])
        uvz, valid, details, reason_2d = _reference_uvz(tracks, query, window, geometry, episode, config)
        is_3d = not reason_2d
        valid[:, 0] = True
        retargeted = retarget_speed(uvz, k.width_px, k.height_px, valid=valid, spec=spec)
        if retargeted.num_valid_steps < config.min_trace_steps:
            result.dropped.append(
                (
                    frame_index,
                    f"after reference frame {frame_index} the fastest tracks move "
                    f"{retargeted.arc_length:.3f} "
                    f"(normalised image units): {retargeted.num_valid_steps} retargeted steps < "
                    f"min_trace_steps ({config.min_trace_steps})",
                )
            )
            continue
        trace = Trace.from_uvz(
            retargeted.uvz,
            k,
            is_3d=is_3d,
            step_valid=retargeted.step_valid,
            point_valid=retargeted.point_valid,
            rows=spec.grid_rows,
            cols=spec.grid_cols,
        )
        triplet_provenance = {
            **provenance,
            **details,
            "tracker": tracker.name,
            "camera": geometry.camera,
            "depth": geometry.depth_source,
            "event_frames": [int(window.indices[event.start]), int(window.indices[event.stop - 1])],
            "tracked_frames": [frame_index, int(window.indices[query.stop - 1])],
            "visible_fraction": round(float(tracks.visible.mean()), 4),
            "retarget_arc_length": round(float(retargeted.arc_length), 6),
            "retarget_steps": retargeted.num_valid_steps,
            "instruction_origin": instructions.origin,
        }
        if reason_2d:
            triplet_provenance["why_2d"] = reason_2d
        result.triplets.append(
            Triplet(
                rgb=window.rgb[query.start],
                depth_m=None if window.depth_m is None else window.depth_m[query.start],
                trace=trace,
                instructions=instructions.texts,
                instruction_source=instructions.source,
                intrinsics_source=episode.intrinsics_source,
                source=episode.source,
                episode_id=episode.episode_id,
                frame_index=frame_index,
                embodiment=episode.embodiment,
                provenance=triplet_provenance,
            )
        )
    return result
