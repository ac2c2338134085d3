"""Rendering rate of the simulated RealSense (MuJoCo, ``MUJOCO_GL=osmesa`` on the CPU).

One frameset = colour + z-depth (two render passes) + the depth model + the 16UC1 conversion,
i.e. what ``sim_camera_node`` does per published frame. Measured for the block scene at
320x240 and 640x480: rendering in process with the physics thread idle (world not started) and
running (franky-sim's 1 kHz loop sharing the interpreter), and in a child process
(:mod:`tracegen.sim.render_process`, what the node does) with the physics running; "physics x
real time" shows how much simulated time the physics thread got meanwhile. Writes
benchmarks/results/sim_render.json and prints a markdown table.
Run: ``scripts/in-env python benchmarks/bench_sim_render.py``.
Figures depend heavily on the CPU's load (osmesa rasterises in software).
"""

from __future__ import annotations

import json
import os
import platform
import random
import threading
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "osmesa")

from tracegen.sim.camera import SimCameraSpec, depth_m_to_mm_u16
from tracegen.sim.tasks import make_task
from tracegen.sim.world import SimWorld

RESULTS = Path(__file__).parent / "results" / "sim_render.json"
FRAMES = 10
RESOLUTIONS = ((320, 240), (640, 480))


def loopback() -> str:
    return f"127.{random.randint(2, 254)}.{random.randint(0, 255)}.{random.randint(2, 254)}"


def measure(width: int, height: int, physics: bool, child: bool = False) -> dict:
    task = make_task("block")
    spec = SimCameraSpec(width_px=width, height_px=height, depth_noise_std_m=0.001, depth_hole_fraction=0.01)
    world = SimWorld(loopback(), spec, task.build_scene, render_process=child)
    try:
        task.setup_episode(world, seed=0)
        if physics:
            world.start()
        world.render()  # the first frame creates the GL context
        stalls, stop = [0.0], threading.Event()
        monitor = threading.Thread(target=watch_physics, args=(world, stalls, stop), daemon=True)
        if physics:
            monitor.start()
        sim_start = world.sim_time_s
        started = time.perf_counter()
        for _ in range(FRAMES):
            _rgb, depth_m = world.render()
            depth_m_to_mm_u16(depth_m)
        seconds = time.perf_counter() - started
        sim_s = world.sim_time_s - sim_start
        stop.set()
    finally:
        world.close()
    return {
        "resolution": f"{width}x{height}",
        "physics": "running" if physics else "idle",
        "renderer": "child process" if child else "in process",
        "frames": FRAMES,
        "seconds": round(seconds, 3),
        "fps": round(FRAMES / seconds, 2),
        "ms_per_frame": round(1000 * seconds / FRAMES, 1),
        "physics_realtime_factor": round(sim_s / seconds, 2) if physics else None,
        "longest_physics_stall_ms": round(1000 * stalls[0], 1) if physics else None,
    }


def watch_physics(world: SimWorld, longest: list[float], stop: threading.Event) -> None:
    """The longest wall-clock span in which the simulated time did not advance."""
    last_time, since = world.sim_time_s, time.perf_counter()
    while not stop.is_set():
        time.sleep(0.002)
        now, sim_time = time.perf_counter(), world.sim_time_s
        if sim_time != last_time:
            last_time, since = sim_time, now
        longest[0] = max(longest[0], now - since)


def main() -> None:
    modes = ((False, False), (True, False), (True, True))  # (physics running, child-process renderer)
    rows = [measure(w, h, physics, child) for w, h in RESOLUTIONS for physics, child in modes]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "load_average_1min": load,
                "renderer": os.environ["MUJOCO_GL"],
                "rows": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"sim camera render rate ({os.environ['MUJOCO_GL']}, {os.cpu_count()} CPUs, load {load})\n")
    print("| resolution | renderer | physics | fps | ms/frame | physics x real time | longest stall ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        factor = row["physics_realtime_factor"]
        print(
            f"| {row['resolution']} | {row['renderer']} | {row['physics']} | {row['fps']} | "
            f"{row['ms_per_frame']} | {'-' if factor is None else factor} | "
            f"{'-' if factor is None else row['longest_physics_stall_ms']} |"
        )


if __name__ == "__main__":
    main()
