"""Accuracy vs steps: ADE of each solver / step count against 100-step Euler on held-out triplets.

The reference is the same checkpoint sampled with 100 Euler steps from the same noise (same
seed); the ADE between a cheaper solver's traces and the reference measures the integration
error alone (normalised image units over the ground truth's valid steps, 0.01 = 1 % of the
image side). The ADE against the ground truth is reported beside it.

Held-out triplets: ``--data`` (Parquet, e.g. a TraceForge output directory) with a trained
``--checkpoint``; without a checkpoint a ``--preset`` model (default ``sim``) is first trained
for ``--train-steps`` on synthetic scenes and evaluated on other, unseen synthetic scenes.

    python benchmarks/bench_model_accuracy.py --checkpoint runs/sim/final --data forge_out/
    python benchmarks/bench_model_accuracy.py --preset sim --train-steps 300

Writes ``benchmarks/results/model_accuracy.json`` and prints a markdown table. Target: a
configuration with <= 10 decoder evaluations within 5 % of the reference's ADE to the truth.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CONFIGS = (
    "euler:100,official:100,euler:10,euler:6,euler:4,midpoint:5,midpoint:3,heun:3,rk4:2,dopri5:0"
)


def trained_checkpoint(preset: str, steps: int, size_px: int, out: Path) -> tuple[Path, list]:
    """Train ``preset`` on synthetic scenes; returns the checkpoint and held-out scenes."""
    from tracegen.training.synthetic import synthetic_triplets
    from tracegen.training.trainer import TrainConfig, Trainer

    train = synthetic_triplets(64, seed=0, size_px=size_px)
    held_out = synthetic_triplets(16, seed=10_000, size_px=size_px)
    config = TrainConfig(
        output_dir=str(out),
        preset=preset,
        steps=steps,
        batch_size=8,
        lr=1e-3,
        warmup_steps=min(50, steps // 10),
        checkpoint_every=steps,
        log_every=25,
        tensorboard=False,
        progress=False,
        val_steps=4,
    )
    return Trainer(config).run(train), held_out


def decoded(model, samples, increments) -> list[np.ndarray]:
    from tracegen.trace import decode_model_space_uvz

    out = []
    for sample, pred in zip(samples, increments, strict=True):
        k = sample.trace.intrinsics
        out.append(decode_model_space_uvz(sample.start, pred, k.width_px, k.height_px, model.config.trace))
    return out


def ade_between(a: list[np.ndarray], b: list[np.ndarray], samples) -> float:
    """Mean over triplets of the ADE (normalised units) over the truth's valid steps 1..L."""
    values = []
    for x, y, sample in zip(a, b, samples, strict=True):
        k = sample.trace.intrinsics
        scale = np.array([k.width_px, k.height_px], np.float64)
        valid = sample.trace.point_valid[:, 1:]
        dist = np.linalg.norm((x[:, 1:, :2] - y[:, 1:, :2]) / scale, axis=-1)
        values.append(float((dist * valid).sum() / max(valid.sum(), 1)))
    return float(np.mean(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, help="trained checkpoint (else train one)")
    parser.add_argument("--data", type=Path, help="held-out Parquet triplets (with --checkpoint)")
    parser.add_argument("--preset", default="sim", help="preset trained when no checkpoint is given")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--size-px", type=int, default=160, help="synthetic scene size")
    parser.add_argument("--max-triplets", type=int, default=16)
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="solver:steps,... (dopri5:0 = adaptive)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "model_accuracy.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from tracegen.data import read_triplets
    from tracegen.model.checkpoint import load_checkpoint
    from tracegen.model.sampling import SolverSpec
    from tracegen.training.data import prepare
    from tracegen.training.evaluate import sample_prepared

    trained_here = args.checkpoint is None
    if trained_here:
        started = time.perf_counter()
        run = Path(tempfile.mkdtemp(prefix="tracegen-bench-accuracy-"))
        checkpoint, held_out = trained_checkpoint(args.preset, args.train_steps, args.size_px, run)
        train_s = time.perf_counter() - started
    else:
        if args.data is None:
            parser.error("--checkpoint needs --data (held-out triplets)")
        checkpoint, held_out, train_s = args.checkpoint, list(read_triplets(args.data)), None
    model = load_checkpoint(checkpoint).model.eval()
    samples = [prepare(t, model.config) for t in held_out[: args.max_triplets]]

    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]
    traces: dict[tuple[str, int], list[np.ndarray]] = {}
    rows = []
    for solver, steps in configs:
        spec = SolverSpec(solver, max(steps, 1))
        started = time.perf_counter()
        increments = sample_prepared(model, samples, spec, seed=args.seed)
        elapsed = time.perf_counter() - started
        traces[(solver, steps)] = decoded(model, samples, increments)
        truth = [s.trace.uvz for s in samples]
        rows.append(
            {
                "solver": solver,
                "steps": steps if solver != "dopri5" else None,
                "nfe": spec.planned_evaluations,
                "ade_to_truth": ade_between(traces[(solver, steps)], truth, samples),
                "seconds_per_triplet": elapsed / len(samples),
            }
        )
        print(f"  {solver}:{steps} ade_to_truth={rows[-1]['ade_to_truth']:.4f}", flush=True)
    reference = traces.get(("euler", 100))
    reference_row = next((r for r in rows if r["solver"] == "euler" and r["steps"] == 100), None)
    for row, key in zip(rows, traces, strict=True):
        if reference is not None:
            row["ade_to_euler100"] = ade_between(traces[key], reference, samples)
            row["ade_to_truth_vs_euler100"] = row["ade_to_truth"] / reference_row["ade_to_truth"] - 1.0
    report = {
        "benchmark": "model_accuracy",
        "checkpoint": str(checkpoint),
        "preset": model.config.name,
        "trained_here": trained_here,
        "train_steps": args.train_steps if trained_here else None,
        "train_s": train_s,
        "held_out_triplets": len(samples),
        "threads": args.threads,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(markdown(rows))
    return 0


def markdown(rows: list[dict]) -> str:
    lines = [
        "| solver | steps | decoder evals | ADE to 100-step Euler | ADE to truth | vs Euler-100 "
        "| s / triplet |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        steps = r["steps"] if r["steps"] is not None else "adaptive"
        nfe = r["nfe"] if r["nfe"] is not None else "adaptive"
        lines.append(
            f"| {r['solver']} | {steps} | {nfe} | {r.get('ade_to_euler100', float('nan')):.4f} | "
            f"{r['ade_to_truth']:.4f} | {100 * r.get('ade_to_truth_vs_euler100', float('nan')):+.1f} % | "
            f"{r['seconds_per_triplet']:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
