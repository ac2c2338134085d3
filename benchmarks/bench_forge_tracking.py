"""TraceForge tracking accuracy: LK (+ sensor depth) against ground truth on rendered MuJoCo episodes.

For several rendered episodes of the box scene (different paths, turns, lifts; one with a
drifting camera), the 20x20 grids of reference frames every 8 frames are tracked with LK and
lifted to 3D with the rendered depth and the known camera poses, exactly as ``tracegen forge``
does, and compared with the simulator's ground truth on entries visible in both:

- median pixel error (in the frame the point was tracked in) and % within 5 px;
- median 3D error in millimetres in the reference camera.

Reported for all points and for the moving ones (the box), since static table points are
trivially right. Run: ``scripts/in-env python benchmarks/bench_forge_tracking.py``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from tracegen.forge.depth import drop_depth_jumps, track_depth_m
from tracegen.forge.episode import Window
from tracegen.forge.reference_frame import to_reference_uvz
from tracegen.forge.synthetic import BoxSceneSpec, render_box_episode
from tracegen.forge.tracking import GroundTruthTracker, LucasKanadeTracker, QuerySet
from tracegen.trace import query_grid_uv_px

RESULTS = Path(__file__).parent / "results" / "forge_tracking.json"
EPISODES = {
    "push": BoxSceneSpec(width_px=640, height_px=480, num_frames=48),
    "push_turn_lift": BoxSceneSpec(
        width_px=640, height_px=480, num_frames=48, turn_deg=70.0, lift_m=0.06, end_xy_m=(0.12, 0.1)
    ),
    "slow_long": BoxSceneSpec(
        width_px=640, height_px=480, num_frames=72, start_xy_m=(0.1, -0.12), end_xy_m=(-0.1, 0.1)
    ),
    "moving_camera": BoxSceneSpec(width_px=640, height_px=480, num_frames=48, camera_shift_m=0.12),
}


def xyz(uvz: np.ndarray, k) -> np.ndarray:
    z = uvz[..., 2]
    return np.stack(
        [(uvz[..., 0] - k.cx_px) * z / k.fx_px, (uvz[..., 1] - k.cy_px) * z / k.fy_px, z], axis=-1
    )


def evaluate(name: str, spec: BoxSceneSpec) -> dict:
    sim = render_box_episode(spec)
    window = Window(0, np.asarray(sim.rgb), np.asarray(sim.depth_m), np.arange(sim.num_frames))
    grid = query_grid_uv_px(spec.width_px, spec.height_px)
    queries = [QuerySet(start, sim.num_frames, grid) for start in range(0, sim.num_frames - 8, 8)]
    started = time.perf_counter()
    lk_sets = LucasKanadeTracker().track(window, queries)
    lk_seconds = time.perf_counter() - started
    gt_sets = GroundTruthTracker(sim).track(window, queries)
    px_all, px_moving, mm_all, mm_moving = [], [], [], []
    for query, lk, gt in zip(queries, lk_sets, gt_sets, strict=True):
        frames = np.arange(query.start, query.stop)
        poses = np.asarray(sim.camera_poses)[frames]
        z_lk = drop_depth_jumps(track_depth_m(window.depth_m, frames, lk.uv_px), 0.05)
        uvz_lk, ok_lk = to_reference_uvz(lk.uv_px, z_lk, sim.intrinsics, poses)
        uvz_gt, ok_gt = to_reference_uvz(gt.uv_px, gt.z_m, sim.intrinsics, poses)
        both = lk.visible & gt.visible
        moving = (np.linalg.norm(uvz_gt[:, -1, :2] - uvz_gt[:, 0, :2], axis=-1) > 3.0)[:, None]
        px = np.linalg.norm(lk.uv_px - gt.uv_px, axis=-1)
        px_all.append(px[both])
        px_moving.append(px[both & moving])
        ok3 = both & ok_lk & ok_gt
        mm = 1000 * np.linalg.norm(xyz(uvz_lk, sim.intrinsics) - xyz(uvz_gt, sim.intrinsics), axis=-1)
        mm_all.append(mm[ok3])
        mm_moving.append(mm[ok3 & moving])
    px_all, px_moving = np.concatenate(px_all), np.concatenate(px_moving)
    mm_all, mm_moving = np.concatenate(mm_all), np.concatenate(mm_moving)
    return {
        "episode": name,
        "size": f"{spec.width_px}x{spec.height_px}",
        "frames": sim.num_frames,
        "reference_frames": len(queries),
        "median_px_all": round(float(np.median(px_all)), 3),
        "within_5px_all_pct": round(100 * float((px_all < 5).mean()), 1),
        "median_mm_all": round(float(np.median(mm_all)), 2),
        "median_px_moving": round(float(np.median(px_moving)), 3),
        "within_5px_moving_pct": round(100 * float((px_moving < 5).mean()), 1),
        "median_mm_moving": round(float(np.median(mm_moving)), 2),
        "moving_entries": int(px_moving.size),
        "lk_seconds": round(lk_seconds, 2),
    }


def main() -> None:
    rows = [evaluate(name, spec) for name, spec in EPISODES.items()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2)
    )
    print("| episode | size | median px | % within 5 px | median mm |  (all / moving points)")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        px = f"{r['median_px_all']} / {r['median_px_moving']}"
        within = f"{r['within_5px_all_pct']} / {r['within_5px_moving_pct']}"
        mm = f"{r['median_mm_all']} / {r['median_mm_moving']}"
        print(f"| {r['episode']} | {r['size']} x {r['frames']} | {px} | {within} | {mm} |")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
