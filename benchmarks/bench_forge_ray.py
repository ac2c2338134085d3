"""TraceForge on Ray: wall time for the same inputs with 1 and 2 workers (and the in-process run).

Eight rendered simulation episodes (320x240, 64 frames, LK tracker) are forged into fresh
output directories by the Ray Data pipeline with a local cluster of 1, then 2, CPUs (cluster
start-up included: it is what a user waits for), and in process without Ray for reference.
Run: ``scripts/in-env python benchmarks/bench_forge_ray.py``.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from pathlib import Path

from tracegen.forge.config import ForgeConfig
from tracegen.forge.pipeline import run_forge
from tracegen.forge.synthetic import BoxSceneSpec, render_box_episode

RESULTS = Path(__file__).parent / "results" / "forge_ray.json"
NUM_INPUTS = 8


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    config = ForgeConfig(tracker="lk", reference_stride_frames=4)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = []
        for i in range(NUM_INPUTS):
            spec = BoxSceneSpec(num_frames=64, still_frames=6, turn_deg=10.0 * i)
            inputs.append(render_box_episode(spec).save(Path(tmp) / "in" / f"ep{i}"))
        rows = []
        for label, executor, workers in (
            ("in process", "local", 1),
            ("ray, 1 worker", "ray", 1),
            ("ray, 2 workers", "ray", 2),
        ):
            summary = run_forge(
                inputs,
                Path(tmp) / label.replace(" ", "_"),
                config,
                executor=executor,
                num_workers=workers,
                progress=False,
            )
            assert summary.done == NUM_INPUTS, summary.table()
            rows.append(
                {
                    "run": label,
                    "inputs": NUM_INPUTS,
                    "triplets": summary.triplets,
                    "seconds": summary.seconds,
                    "inputs_per_s": round(NUM_INPUTS / summary.seconds, 3),
                }
            )
    base = next(r for r in rows if r["run"] == "ray, 1 worker")["seconds"]
    for row in rows:
        row["speedup_vs_ray_1"] = round(base / row["seconds"], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "rows": rows},
            indent=2,
        )
    )
    print("| run | inputs | triplets | seconds | inputs/s | speed-up vs 1 Ray worker |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['run']} | {r['inputs']} | {r['triplets']} | {r['seconds']} | {r['inputs_per_s']} | "
            f"{r['speedup_vs_ray_1']} |"
        )
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
