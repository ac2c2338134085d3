"""Every knob of TraceForge in one validated, serialisable dataclass.

A forge run stores its :class:`ForgeConfig` in the manifest; resuming into a directory forged
with another configuration is refused, so one output directory never mixes triplets made
with different thresholds.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tracegen.errors import InputError
from tracegen.trace import OFFICIAL_TRACE_SPEC, TraceSpec

#: Horizontal field of view assumed for videos that carry no intrinsics (degrees): a common
#: webcam / phone main-camera value. Triplets made with it say ``intrinsics_source = "default"``.
DEFAULT_HFOV_DEG = 60.0

TRACKERS = ("lk", "cotracker", "ground_truth", "auto")
SEGMENTATION_METHODS = ("frame_diff", "tracks")


@dataclass(frozen=True)
class ForgeConfig:
    """What TraceForge does with each input (units in the names; defaults in brackets).

    Frames:
        max_image_side_px: frames larger than this are downscaled (area filter; depth nearest)
            and their intrinsics rescaled [640]; 0 keeps the source size.
        frame_stride: keep every n-th source frame [1].
        max_window_frames: a long recording is processed in windows of at most this many
            frames, so memory stays bounded; motion events do not cross windows [900].
        default_hfov_deg: field of view assumed for sources without intrinsics [60].
        assume_camera_fixed: declare every input's camera fixed (the user vouches for it);
            otherwise only a source that says so (sidecar, bag metadata, simulation) counts.

    Event segmentation (see :mod:`tracegen.forge.segmentation`):
        segmentation: "frame_diff" (how much of the image changes) or "tracks" (how far a
            sparse LK grid moves) ["frame_diff"].
        frame_diff_threshold: frame_diff: a frame pair moves when more than this fraction of
            its (blurred, downscaled) pixels change by more than 10 grey levels [0.002].
        track_motion_threshold: tracks: a frame pair moves when the 98th percentile of grid
            displacements exceeds this fraction of the image diagonal [0.002].
        min_event_frames: shorter events are dropped with a reason [8].
        merge_gap_frames: events separated by fewer still frames are merged [6].
        event_padding_frames: frames kept before and after each event [3].

    Tracking and triplets:
        tracker: "lk", "cotracker", "ground_truth" or "auto" (ground truth when the episode
            has it, else LK) ["auto"].
        cotracker_repo, cotracker_checkpoint: local CoTracker clone and weights (tracker
            "cotracker" only).
        lk_window_px, lk_levels, lk_fb_threshold_px: LK window side, pyramid levels and the
            forward-backward error above which a point is lost [15, 3, 1.0].
        reference_stride_frames: K, a triplet's reference frame every K frames of an event [8].
        min_future_frames: a reference frame needs this many later frames in its event [8].
        max_track_frames: a trace follows at most this many frames after its reference [240].
        min_trace_steps: triplets whose retargeted trace has fewer valid steps are dropped
            (the scene barely moves after the reference) [4].
        vggt_repo, vggt_weights: a local VGGT clone and weights directory: camera poses (and
            depth) for clips whose camera may move (:mod:`tracegen.forge.camera_pose`); unset,
            such clips get 2D-only traces.
        depth_hole_radius_px: a tracked point on a depth hole takes the median valid depth
            within this radius; none there makes the entry invalid [3].
        max_depth_m: depth readings beyond this are treated as holes [10].
        max_depth_jump_m: a tracked point whose sensor depth jumps by more than this from its
            previous reading has slid off an edge: that entry is invalid [0.05].

    Instructions:
        captioner_dir: local vision-language model for clips without instructions; without
            one, the template fallback is used (and says so).
        caption_max_new_tokens: generation budget per variant [32].

    Output:
        max_triplets_per_shard: an input's triplets are split into shards of this size [128].
        seed: seeds every random choice (model sampling); the output is a function of the
            inputs, this config and the seed [0].
        trace_spec: the trace contract (grid, retargeting constants).
    """

    max_image_side_px: int = 640
    frame_stride: int = 1
    max_window_frames: int = 900
    default_hfov_deg: float = DEFAULT_HFOV_DEG
    assume_camera_fixed: bool = False
    segmentation: str = "frame_diff"
    frame_diff_threshold: float = 0.002
    track_motion_threshold: float = 0.002
    min_event_frames: int = 8
    merge_gap_frames: int = 6
    event_padding_frames: int = 3
    tracker: str = "auto"
    cotracker_repo: str | None = None
    cotracker_checkpoint: str | None = None
    lk_window_px: int = 15
    lk_levels: int = 3
    lk_fb_threshold_px: float = 1.0
    reference_stride_frames: int = 8
    min_future_frames: int = 8
    max_track_frames: int = 240
    min_trace_steps: int = 4
    vggt_repo: str | None = None
    vggt_weights: str | None = None
    depth_hole_radius_px: int = 3
    max_depth_m: float = 10.0
    max_depth_jump_m: float = 0.05
    captioner_dir: str | None = None
    caption_max_new_tokens: int = 32
    max_triplets_per_shard: int = 128
    seed: int = 0
    trace_spec: TraceSpec = field(default=OFFICIAL_TRACE_SPEC)

    def __post_init__(self) -> None:
        positive_ints = (
            "frame_stride",
            "max_window_frames",
            "min_event_frames",
            "lk_window_px",
            "lk_levels",
            "reference_stride_frames",
            "min_future_frames",
            "max_track_frames",
            "min_trace_steps",
            "caption_max_new_tokens",
            "max_triplets_per_shard",
        )
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"forge config {name} must be a positive integer, got {value!r}")
        for name in ("max_image_side_px", "merge_gap_frames", "event_padding_frames", "depth_hole_radius_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"forge config {name} must be a non-negative integer, got {value!r}")
        if 0 < self.max_image_side_px < 32:
            raise InputError(f"max_image_side_px {self.max_image_side_px} is too small (use >= 32, or 0)")
        for name in (
            "frame_diff_threshold",
            "track_motion_threshold",
            "lk_fb_threshold_px",
            "max_depth_m",
            "max_depth_jump_m",
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(f"forge config {name} must be a positive number, got {value!r}")
        if not 10.0 <= self.default_hfov_deg <= 150.0:
            raise InputError(f"default_hfov_deg {self.default_hfov_deg} is outside 10..150 degrees")
        if self.segmentation not in SEGMENTATION_METHODS:
            raise InputError(f"segmentation {self.segmentation!r} is not one of {SEGMENTATION_METHODS}")
        if self.tracker not in TRACKERS:
            raise InputError(f"tracker {self.tracker!r} is not one of {TRACKERS}")
        if self.tracker == "cotracker" and not (self.cotracker_repo and self.cotracker_checkpoint):
            raise InputError(
                "tracker 'cotracker' needs cotracker_repo (a local clone of facebookresearch/co-tracker) "
                "and cotracker_checkpoint (e.g. scaled_offline.pth): pass both, or use tracker 'lk'"
            )
        if bool(self.vggt_repo) != bool(self.vggt_weights):
            raise InputError(
                "the VGGT camera-pose backend needs both vggt_repo and vggt_weights (local paths)"
            )
        if self.lk_window_px % 2 == 0 or self.lk_window_px < 5:
            raise InputError(f"lk_window_px must be odd and >= 5, got {self.lk_window_px}")
        if not isinstance(self.trace_spec, TraceSpec):
            raise InputError(f"trace_spec must be a TraceSpec, got {type(self.trace_spec).__name__}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trace_spec"] = self.trace_spec.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ForgeConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"unknown forge config keys {sorted(unknown)}; known: {sorted(known)}")
        data = dict(data)
        if isinstance(data.get("trace_spec"), dict):
            data["trace_spec"] = TraceSpec.from_dict(data["trace_spec"])
        return cls(**data)

    def fingerprint(self) -> str:
        """A short hash of every setting that changes the output."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]
