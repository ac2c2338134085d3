"""Rendering and forging rate of the cross-embodiment corpus (MuJoCo osmesa on the CPU).

For every embodiment: render EPISODES episodes at 320x240, 10 fps (scene compile + IK +
colour, and for arms depth + segmentation passes), then forge them with
``tracegen forge --local --tracker lk``. Reports rendered frames/s, seconds per episode,
forge seconds per episode and triplets per episode. Writes benchmarks/results/sim_corpus.json
and prints a markdown table. Run: ``scripts/in-env python benchmarks/bench_sim_corpus.py``.
Figures depend heavily on the CPU's load (osmesa rasterises in software).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")

from tracegen.data import read_triplets
from tracegen.forge.config import ForgeConfig
from tracegen.forge.pipeline import run_forge
from tracegen.sim.corpus import EMBODIMENTS, render_corpus

RESULTS = Path(__file__).parent / "results" / "sim_corpus.json"
EPISODES = int(os.environ.get("BENCH_CORPUS_EPISODES", "3"))
WIDTH, HEIGHT, FPS = 320, 240, 10.0


def measure(embodiment: str, root: Path) -> dict:
    out = root / "corpus"
    start = time.perf_counter()
    entries = render_corpus(out, [embodiment], EPISODES, seed=0, width_px=WIDTH, height_px=HEIGHT, fps=FPS)
    render_s = time.perf_counter() - start
    frames = sum(entry["frames"] for entry in entries)
    start = time.perf_counter()
    run_forge(
        [out / embodiment], root / "triplets", ForgeConfig(tracker="lk"), executor="local", progress=False
    )
    forge_s = time.perf_counter() - start
    triplets = sum(1 for t in read_triplets(root / "triplets") if t.embodiment == embodiment)
    return {
        "embodiment": embodiment,
        "episodes": EPISODES,
        "frames": frames,
        "render_fps": round(frames / render_s, 2),
        "render_s_per_episode": round(render_s / EPISODES, 2),
        "forge_s_per_episode": round(forge_s / EPISODES, 2),
        "triplets_per_episode": round(triplets / EPISODES, 2),
        "motions": [entry["motion"] for entry in entries],
    }


def main() -> None:
    rows = []
    for embodiment in EMBODIMENTS:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(measure(embodiment, Path(tmp)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "load_average_1min": load,
                "renderer": os.environ["MUJOCO_GL"],
                "resolution": f"{WIDTH}x{HEIGHT}",
                "fps": FPS,
                "rows": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"corpus render + LK forge at {WIDTH}x{HEIGHT} ({os.environ['MUJOCO_GL']}, load {load})\n")
    print("| embodiment | frames/s rendered | s/episode | forge s/episode | triplets/episode |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['embodiment']} | {row['render_fps']} | {row['render_s_per_episode']} | "
            f"{row['forge_s_per_episode']} | {row['triplets_per_episode']} |"
        )


if __name__ == "__main__":
    main()
