"""Held-out trace error of every model of a `tracegen reproduce` run: does pre-training help the
warm-up predict where things go, even where the closed loop does not succeed yet?

Closed-loop success is the paper's measure, but a small CPU model can sit at 0 % in every row
and still differ in what it has learned. This benchmark samples each model (the rows' models
and the pre-trained ones) on triplets forged from demos that no model trained on, with the
checkpoint's own sampler (what the inference node runs), and reports:

- ``fde_norm``: final displacement error of all 400 grid points (normalised image units,
  0.01 = 1 % of the image side); dominated by the points that stay still;
- ``fde_norm_moving``: the same over the points that move in the truth (the gripper and the
  objects: what a policy needs);
- ``travel_ratio_moving``: summed predicted end-travel / summed true end-travel of the moving
  points (0: predicts no motion, 1: the right amount);
- ``direction_cos_moving``: mean cosine between predicted and true end-travel of the moving
  points (0: unrelated, 1: right direction).

A "stand still" baseline (every point stays at its start) is reported beside the models: a model
is only useful where it beats it on the moving points.

    tracegen sim-demos --task ball --episodes 3 --seed 5000 --out runs/held-out/ball
    tracegen forge runs/held-out/ball --out runs/held-out/ball-triplets --local
    python benchmarks/bench_reproduce_rows.py --run runs/repro --data runs/held-out/ball-triplets

Writes ``benchmarks/results/reproduce_rows.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def end_travel(uvz: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per point: (u, v) px at its last valid step minus at step 0, and that last step's index."""
    last = valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
    points = np.arange(uvz.shape[0])
    return uvz[points, last, :2] - uvz[:, 0, :2], last


def row_metrics(pred_uvz: np.ndarray, truth, moving: np.ndarray) -> dict[str, float]:
    """The metrics above for one triplet: predicted (u_px, v_px, z_m) ``[N, L+1, 3]`` against the
    ``truth`` Trace on the same grid; ``moving`` ``[N]`` marks the points that move in the truth."""
    from tracegen.training.metrics import trace_errors

    out = {"fde_norm": trace_errors(pred_uvz, truth).get("fde_norm", float("nan"))}
    moving = moving & truth.point_valid[:, 1:].any(axis=1)
    if not moving.any():
        return out
    true_travel, last = end_travel(truth.uvz, truth.point_valid)
    predicted_travel = pred_uvz[np.arange(len(last)), last, :2] - pred_uvz[:, 0, :2]
    true_travel, predicted_travel = true_travel[moving], predicted_travel[moving]
    true_len, predicted_len = np.linalg.norm(true_travel, axis=-1), np.linalg.norm(predicted_travel, axis=-1)
    error_px = np.linalg.norm(predicted_travel - true_travel, axis=-1)
    out["fde_norm_moving"] = float(error_px.mean() / truth.intrinsics.width_px)
    # a ratio of sums: a point that moves and comes back has ~0 end travel, and would blow up a mean of ratios
    out["travel_ratio_moving"] = float(predicted_len.sum() / max(true_len.sum(), 1e-9))
    cos = (predicted_travel * true_travel).sum(-1) / np.maximum(predicted_len * true_len, 1e-9)
    out["direction_cos_moving"] = float(cos.mean())
    return out


def model_dirs(run: Path) -> dict[str, Path]:
    """Pre-training or row name -> its final checkpoint, in the plan's order."""
    plan = json.loads((run / "plan.json").read_text())
    names = [f"pretrain-{s}" for s in ("arms", "hand", "all")] + list(plan["rows"])
    finals = {n: run / "runs" / n / "final" for n in names}
    return {n: f for n, f in finals.items() if (f / "tracegen.json").is_file()}


def stand_still(samples: list) -> dict[str, float]:
    """The baseline: every point stays where it starts."""
    from tracegen.training.metrics import mean_metrics

    rows = []
    for s in samples:
        still = np.repeat(s.trace.uvz[:, :1], s.trace.uvz.shape[1], axis=1)
        rows.append(row_metrics(still, s.trace, s.moving))
    return mean_metrics(rows)


def evaluate_model(checkpoint: Path, samples: list, seed: int) -> dict[str, float]:
    """Mean metrics of one checkpoint, sampled with its own sampler, over the prepared samples."""
    from tracegen.model.predictor import load_predictor
    from tracegen.trace import decode_model_space_uvz
    from tracegen.training.evaluate import sample_prepared
    from tracegen.training.metrics import mean_metrics

    predictor = load_predictor(checkpoint)
    model = predictor.model.eval()
    with torch.no_grad():
        # the checkpoint's sampler and guidance: what the inference node runs
        increments = sample_prepared(model, samples, predictor.solver, guidance=predictor.guidance, seed=seed)
    rows = []
    for sample, pred in zip(samples, increments, strict=True):
        k = sample.trace.intrinsics
        uvz = decode_model_space_uvz(sample.start, pred, k.width_px, k.height_px, model.config.trace)
        rows.append(row_metrics(uvz, sample.trace, sample.moving))
    return mean_metrics(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a `tracegen reproduce` output folder")
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="held-out forged demos (Parquet)")
    parser.add_argument("--max-triplets", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "reproduce_rows.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from tracegen.data import read_triplets

    triplets = list(read_triplets([str(d) for d in args.data]))[: args.max_triplets]
    if not triplets:
        parser.error(f"no triplet in {args.data}")
    models = model_dirs(args.run)
    if not models:
        parser.error(f"{args.run} has no finished model under runs/ (is it a `tracegen reproduce` output?)")
    from tracegen.model.checkpoint import read_meta
    from tracegen.training.data import prepare

    # Every model of a run has the run's preset: one preparation serves them all.
    config = read_meta(next(iter(models.values()))).config
    samples = [prepare(t, config) for t in triplets]
    rows = [{"model": "stand still (baseline)", **stand_still(samples)}]
    for name, checkpoint in models.items():
        started = time.perf_counter()
        rows.append({"model": name, **evaluate_model(checkpoint, samples, args.seed)})
        rows[-1]["seconds"] = time.perf_counter() - started
        print(f"  {name}: {rows[-1]}", flush=True)
    report = {
        "benchmark": "reproduce_rows",
        "run": str(args.run),
        "held_out": [str(d) for d in args.data],
        "held_out_triplets": len(triplets),
        "threads": args.threads,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(markdown(rows))
    return 0


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | FDE all points | FDE moving points | travel ratio (moving) | direction cos (moving) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = [r.get(k, float("nan")) for k in ("fde_norm", "fde_norm_moving", "travel_ratio_moving")]
        cells.append(r.get("direction_cos_moving", float("nan")))
        lines.append(f"| {r['model']} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
