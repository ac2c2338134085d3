"""The training unit: (reference RGB, depth or none, instruction variants, trace) + provenance.

A :class:`Triplet` is what TraceForge produces and what training consumes (DESIGN.md,
"Datasets"). Frames and units: ``rgb`` ``[H, W, 3]`` uint8; ``depth_m`` ``[H, W]`` float32
metres aligned to ``rgb`` (0 = no reading) or None; the trace's intrinsics describe ``rgb``;
the trace may hold more steps than the model's horizon (speed retargeting keeps up to 128).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracegen.errors import InputError
from tracegen.trace import Trace

#: Where the instructions came from: the recording itself, a captioning model, or a template.
INSTRUCTION_SOURCES = ("source", "captioner", "template")
#: Where the intrinsics came from: the recording, or a documented default (videos without any).
INTRINSICS_SOURCES = ("source", "default")


@dataclass(frozen=True, eq=False)
class Triplet:
    """One reference frame, its instructions and its future trace.

    Attributes:
        rgb: ``[H, W, 3]`` uint8 reference image.
        depth_m: ``[H, W]`` float32 aligned depth in metres (0 = hole), or None.
        trace: the grid's future from this frame (its intrinsics describe ``rgb``).
        instructions: 1 to 3 non-empty variants (official: short command, stepwise, natural request).
        instruction_source: one of :data:`INSTRUCTION_SOURCES` (a captioner adds ``:<model>``).
        intrinsics_source: one of :data:`INTRINSICS_SOURCES`.
        source: the input this came from (file path or URI).
        episode_id: the episode or segment within the source.
        frame_index: index of the reference frame in the source.
        embodiment: what moves in the scene (``fr3``, ``ur5e``, ``human_hand``, ...), for ablations.
        provenance: JSON-serialisable details (tracker, segment, reasons, versions, seed).
    """

    rgb: np.ndarray
    depth_m: np.ndarray | None
    trace: Trace
    instructions: tuple[str, ...]
    instruction_source: str
    intrinsics_source: str
    source: str
    episode_id: str
    frame_index: int
    embodiment: str = "unknown"
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InputError(f"triplet rgb must be [H, W, 3] uint8, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        k = self.trace.intrinsics
        if (k.width_px, k.height_px) != (width, height):
            raise InputError(
                f"triplet rgb is {width}x{height} but its trace's intrinsics describe "
                f"{k.width_px}x{k.height_px}"
            )
        if self.depth_m is not None:
            depth = np.asarray(self.depth_m, dtype=np.float32)
            if depth.shape != (height, width):
                raise InputError(f"triplet depth {depth.shape} does not match rgb {(height, width)}")
            object.__setattr__(self, "depth_m", depth)
        instructions = tuple(str(text).strip() for text in self.instructions)
        if not 1 <= len(instructions) <= 3 or not all(instructions):
            raise InputError(
                f"a triplet needs 1 to 3 non-empty instructions, got {list(self.instructions)!r}"
            )
        if self.instruction_source.split(":")[0] not in INSTRUCTION_SOURCES:
            raise InputError(
                f"instruction_source {self.instruction_source!r} is not one of {INSTRUCTION_SOURCES}"
            )
        if self.intrinsics_source not in INTRINSICS_SOURCES:
            raise InputError(
                f"intrinsics_source {self.intrinsics_source!r} is not one of {INTRINSICS_SOURCES}"
            )
        json.dumps(self.provenance)  # must be serialisable: fail here, not when writing
        object.__setattr__(self, "rgb", rgb)
        object.__setattr__(self, "instructions", instructions)
        object.__setattr__(self, "frame_index", int(self.frame_index))

    @property
    def triplet_id(self) -> str:
        """Stable identifier from where the triplet came from (source, episode, frame)."""
        key = f"{self.source}\0{self.episode_id}\0{self.frame_index}"
        return hashlib.sha256(key.encode()).hexdigest()[:20]
