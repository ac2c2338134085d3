"""TraceForge speed on one CPU core at 640x480: the LK tracker alone, and a whole forge of an input.

- ``lk one grid``: one 20x20 grid tracked through every frame (frames per second);
- ``lk forge workload``: what forging does, a grid starting every 8 frames and followed to the
  end of the clip, all grids in one sweep (source frames per second);
- ``forge_input``: read a rendered simulation episode, segment, track (LK), lift with depth,
  retarget, encode PNGs and write the Parquet shard (source frames per second).

OpenCV is limited to one thread, so the figures are per core. Run:
``scripts/in-env python benchmarks/bench_forge_lk.py``.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from tracegen.forge.config import ForgeConfig
from tracegen.forge.engine import forge_input
from tracegen.forge.episode import Window
from tracegen.forge.readers import discover_inputs
from tracegen.forge.synthetic import BoxSceneSpec, render_box_episode
from tracegen.forge.tracking import LucasKanadeTracker, QuerySet
from tracegen.trace import query_grid_uv_px

RESULTS = Path(__file__).parent / "results" / "forge_lk.json"
REPEATS = 3


def best_of(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    cv2.setNumThreads(1)
    spec = BoxSceneSpec(width_px=640, height_px=480, num_frames=96, still_frames=8)
    sim = render_box_episode(spec)
    window = Window(0, np.asarray(sim.rgb), None, np.arange(sim.num_frames))
    grid = query_grid_uv_px(640, 480)
    tracker = LucasKanadeTracker()
    frames = sim.num_frames
    one = best_of(lambda: tracker.track(window, [QuerySet(0, frames, grid)]))
    sets = [QuerySet(start, frames, grid) for start in range(0, frames - 8, 8)]
    many = best_of(lambda: tracker.track(window, sets))
    with tempfile.TemporaryDirectory() as tmp:
        path = sim.save(Path(tmp) / "episode")
        spec_in = discover_inputs([path])[0][0]
        config = ForgeConfig(tracker="lk")
        result = {}

        def forge_once() -> None:
            result["r"] = forge_input(spec_in, Path(tmp) / "out", config)

        whole = best_of(forge_once, repeats=2)
    rows = [
        {
            "what": "lk one grid (400 points)",
            "frames": frames,
            "seconds": round(one, 3),
            "fps": round(frames / one, 1),
        },
        {
            "what": f"lk forge workload ({len(sets)} grids, every 8 frames)",
            "frames": frames,
            "seconds": round(many, 3),
            "fps": round(frames / many, 1),
        },
        {
            "what": f"forge_input end to end ({result['r'].num_triplets} triplets)",
            "frames": frames,
            "seconds": round(whole, 3),
            "fps": round(frames / whole, 1),
        },
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": platform.processor() or platform.machine(), "threads": 1, "rows": rows}, indent=2
        )
    )
    print("| 640x480, 1 core | frames | seconds | frames/s |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['what']} | {r['frames']} | {r['seconds']} | {r['fps']} |")
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
