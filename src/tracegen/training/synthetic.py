"""Synthetic triplets with a learnable rule, for tests and benchmarks (no simulator needed).

A scene is a grey table with one coloured square; the instruction says which way to push it
(left, right, up, down, in several phrasings); the trace grid moves the points on the square
in that direction at constant speed (``travel_fraction`` of the image over ``num_steps`` frames)
while the rest stays still. Like TraceForge output, the tracked frames are then speed-retargeted
(:func:`tracegen.trace.retarget_speed`): one trace step is ``retarget_step`` (0.05) of the image
along the block's path, and the steps after the motion ends are padding (invalid). Without
retargeting the per-step increments would be a few percent of the model's normalisation range,
unlike any real training data. 3D scenes carry a depth image
(table at ``table_depth_m``, the square closer) and the square's z recedes slightly as it moves;
2D scenes carry no depth. The trace is fully determined by the image and the instruction, so a
model can fit it, and held-out scenes test generalisation.
"""

from __future__ import annotations

import numpy as np

from tracegen.data import Triplet
from tracegen.trace import CameraIntrinsics, Trace, query_grid_uv_px, retarget_speed

DIRECTIONS = {
    "left": ((-1.0, 0.0), ("push the block left", "move the square to the left", "slide it left")),
    "right": ((1.0, 0.0), ("push the block right", "move the square to the right", "slide it right")),
    "up": ((0.0, -1.0), ("push the block up", "move the square up", "slide it away")),
    "down": ((0.0, 1.0), ("push the block down", "move the square down", "slide it closer")),
}
COLOURS = ((220, 40, 40), (40, 180, 60), (40, 80, 220), (230, 200, 30))


def synthetic_triplet(
    seed: int,
    *,
    size_px: int = 96,
    num_steps: int = 33,
    is_3d: bool = True,
    direction: str | None = None,
    travel_fraction: float = 0.5,
    table_depth_m: float = 1.0,
    centred: bool = False,
    block_fraction: float = 0.35,
    retargeted: bool = True,
) -> Triplet:
    """One scene (see the module docstring); everything random comes from ``seed``.

    ``num_steps`` is the number of tracked frames (the trace itself, when ``retargeted``, has
    the retargeting's padded length); ``retargeted=False`` keeps the constant-speed frames as
    steps.

    ``centred`` puts the block in the middle of the image (scenes then differ only by colour
    and instruction); ``travel_fraction`` must then stay below ``(1 - block_fraction) / 2``.
    """
    rng = np.random.default_rng(seed)
    direction = direction or list(DIRECTIONS)[int(rng.integers(len(DIRECTIONS)))]
    (du, dv), phrasings = DIRECTIONS[direction]
    intrinsics = CameraIntrinsics.from_fov(size_px, size_px, 60.0)
    side = int(size_px * block_fraction)
    speed_px = travel_fraction * size_px / (num_steps - 1)
    travel = int(np.ceil(travel_fraction * size_px)) + 1
    if side + travel >= size_px:
        raise ValueError(f"travel_fraction {travel_fraction} leaves no room for the block in {size_px} px")

    def place(d: float) -> int:  # leave room for the travel in the direction of motion
        low, high = (
            (travel, size_px - side)
            if d < 0
            else (0, size_px - side - travel)
            if d > 0
            else (0, size_px - side)
        )
        return int(rng.integers(low, high + 1))

    u0, v0 = ((size_px - side) // 2,) * 2 if centred else (place(du), place(dv))
    rgb = np.full((size_px, size_px, 3), 128, np.uint8)
    rgb[v0 : v0 + side, u0 : u0 + side] = COLOURS[int(rng.integers(len(COLOURS)))]
    depth = np.full((size_px, size_px), table_depth_m, np.float32)
    depth[v0 : v0 + side, u0 : u0 + side] = table_depth_m - 0.08

    grid = query_grid_uv_px(size_px, size_px)
    on_block = (grid[:, 0] >= u0) & (grid[:, 0] < u0 + side) & (grid[:, 1] >= v0) & (grid[:, 1] < v0 + side)
    steps = np.arange(num_steps, dtype=np.float32)
    motion = np.stack([du * speed_px * steps, dv * speed_px * steps], -1)  # [S, 2]
    uv = grid[:, None, :] + on_block[:, None, None] * motion[None]
    z0 = np.where(on_block, table_depth_m - 0.08, table_depth_m)[:, None]
    z = z0 + on_block[:, None] * 0.001 * steps[None]
    uvz = np.concatenate([uv, z[..., None]], -1).astype(np.float32)
    if retargeted:
        if not is_3d:
            uvz[..., 2] = np.nan
        result = retarget_speed(uvz, size_px, size_px)
        trace = Trace.from_uvz(
            result.uvz if is_3d else result.uvz[..., :2],
            intrinsics,
            is_3d=is_3d,
            step_valid=result.step_valid,
            point_valid=result.point_valid,
        )
    else:
        trace = Trace.from_uvz(uvz if is_3d else uvz[..., :2], intrinsics, is_3d=is_3d)
    return Triplet(
        rgb=rgb,
        depth_m=depth if is_3d else None,
        trace=trace,
        instructions=phrasings,
        instruction_source="template",
        intrinsics_source="source",
        source="synthetic",
        episode_id=f"scene-{seed}",
        frame_index=0,
        embodiment="synthetic",
        provenance={"seed": seed, "direction": direction},
    )


def synthetic_triplets(count: int, *, seed: int = 0, size_px: int = 96, mix_2d: bool = True) -> list[Triplet]:
    """``count`` scenes with seeds ``seed .. seed + count - 1``; every third one 2D-only if ``mix_2d``."""
    return [
        synthetic_triplet(seed + i, size_px=size_px, is_3d=not (mix_2d and i % 3 == 2)) for i in range(count)
    ]
