"""Sampling latency of TraceGen per preset x solver x steps (random weights; sim: packaged text encoder).

What is timed is :meth:`TraceGenPredictor.predict` on a 640x480 RGB-D observation: resizing,
encoders once, the ODE solver's decoder evaluations, decoding to absolute traces. For the
``paper`` preset a 100-step prediction takes minutes on a 2-core CPU, so configurations with
more than ``--paper-max-evaluations`` decoder evaluations are estimated as ``encoders + NFE x
(one decoder evaluation)`` from measured parts and marked ``estimated``.

    python benchmarks/bench_model_latency.py --presets tiny,sim,paper --threads 2

Writes ``benchmarks/results/model_latency.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from tracegen.model.config import load_preset
from tracegen.model.model import build_model
from tracegen.model.predictor import TraceGenPredictor
from tracegen.model.sampling import SolverSpec
from tracegen.observation import Observation
from tracegen.trace import CameraIntrinsics

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CONFIGS = "euler:100,official:100,euler:10,euler:6,midpoint:5,midpoint:3,heun:3,rk4:2,dopri5:0"
#: The official code on this CPU class (DESIGN.md): 6.7 s encoders + 100 x 4.2 s (CFG) per prediction.
OFFICIAL_PAPER_LATENCY_S = 424.0


def observation() -> Observation:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 1.5, (480, 640)).astype(np.float32)
    return Observation(
        rgb, depth, CameraIntrinsics(640, 480, 615.0, 615.0, 320.0, 240.0), "put the block in the bowl"
    )


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_preset(name: str, configs: list[tuple[str, int]], repeats: int, paper_max_nfe: int) -> list[dict]:
    torch.manual_seed(0)
    config = load_preset(name)
    model = build_model(config, load_weights=name == "sim").eval()
    obs = observation()
    predictor = TraceGenPredictor(model, model_id=name, solver=SolverSpec("euler", 1))
    inputs = predictor.prepare([obs])
    with torch.inference_mode():
        condition = model.encode(inputs)
        encode_s = timed(lambda: model.encode(inputs), 1 if name in ("paper", "large") else repeats)
        x = torch.randn(model.trace_shape(1))
        eval_s = timed(
            lambda: model.velocity(x, torch.tensor(0.5), condition),
            3 if name in ("paper", "large") else repeats,
        )
    rows = []
    for solver, steps in configs:
        spec = SolverSpec(solver, max(steps, 1))
        planned = spec.planned_evaluations
        row = {
            "preset": name,
            "solver": solver,
            "steps": steps if solver != "dopri5" else None,
            "encode_s": encode_s,
            "decoder_eval_s": eval_s,
        }
        if name in ("paper", "large") and (planned is None or planned > paper_max_nfe):
            if planned is None:
                continue
            row.update(nfe=planned, latency_s=encode_s + planned * eval_s, estimated=True)
        else:
            predictor.solver = spec
            row["latency_s"] = timed(
                lambda p=predictor: p.predict(obs, seed=0), 1 if name in ("paper", "large") else repeats
            )
            row.update(nfe=predictor.last_evaluations, estimated=False)
        if name == "paper":
            row["speedup_vs_official"] = OFFICIAL_PAPER_LATENCY_S / row["latency_s"]
        rows.append(row)
        print(f"  {name} {solver}:{steps} nfe={row['nfe']} {row['latency_s']:.3f} s", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| preset | solver | steps | decoder evals | latency (s) | encoders (s) | 1 decoder eval (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        latency = f"{r['latency_s']:.2f}" + (" (est.)" if r["estimated"] else "")
        if "speedup_vs_official" in r:
            latency += f", {r['speedup_vs_official']:.0f}x official"
        lines.append(
            f"| {r['preset']} | {r['solver']} | {r['steps'] if r['steps'] is not None else 'adaptive'} | "
            f"{r['nfe']} | {latency} | {r['encode_s']:.3f} | {r['decoder_eval_s']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,sim")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="solver:steps,... (dopri5:0 = adaptive)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paper-max-evaluations", type=int, default=12)
    parser.add_argument("--out", type=Path, default=RESULTS / "model_latency.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
    rows = []
    for name in args.presets.split(","):
        print(f"preset {name}", flush=True)
        rows += bench_preset(name, configs, args.repeats, args.paper_max_evaluations)
    report = {
        "benchmark": "model_latency",
        "machine": {
            "cpu_threads": args.threads,
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "device": "cpu",
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
