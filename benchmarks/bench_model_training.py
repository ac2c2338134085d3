"""Training step time (with / without the encoder cache) and peak memory of training and inference.

Each measurement runs in its own process (peak RSS is per process). Training: random weights
(sim: the packaged text encoder), synthetic 256 px scenes, AdamW, the same step as the trainer
(:class:`tracegen.training.trainer.FlowLoss`). With the cache, the cache is filled by one
untimed pass first, as after the first epoch of a real run.

    python benchmarks/bench_model_training.py --presets tiny,sim,paper --threads 2

Writes ``benchmarks/results/model_training.json`` and prints a markdown table. The official
code's measured baseline on this CPU class: 35 s per batch-2 step of the paper config.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
OFFICIAL_PAPER_STEP_S = 35.0
DEFAULT_BATCH = {"tiny": 8, "sim": 8, "paper": 2, "large": 2}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_train(preset: str, batch: int, steps: int, cached: bool, threads: int) -> dict:
    import torch

    from tracegen.model.cache import EncoderCache
    from tracegen.model.config import load_preset
    from tracegen.model.model import build_model
    from tracegen.training.data import ListSource, StepBatchSampler, TrainingDataset, collate
    from tracegen.training.synthetic import synthetic_triplets
    from tracegen.training.trainer import FlowLoss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = load_preset(preset)
    model = build_model(config, load_weights=preset == "sim")
    dataset = TrainingDataset(
        ListSource(synthetic_triplets(batch * (steps + 1), size_px=256)), config, seed=0
    )
    cache = None
    if cached:
        cache = EncoderCache(tempfile.mkdtemp(prefix="tracegen-bench-cache-"))
        cache.attach(model)
    loss_module = FlowLoss(model, cache)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    batches = [
        collate([dataset[i] for i in idx])
        for idx in StepBatchSampler(len(dataset), batch, seed=0, start_step=0, total_steps=steps + 1)
    ]
    if cache is not None:  # fill the cache (what the first epoch of a real run does)
        for b in batches:
            cache.features(model, b)
    times = []
    for b in batches:
        start = time.perf_counter()
        loss = loss_module(b).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
    return {
        "step_s": statistics.median(times[1:]),
        "steps_timed": len(times) - 1,
        "peak_rss_mb": peak_rss_mb(),
        "trainable": sum(p.numel() for p in params),
    }


def child_infer(preset: str, threads: int) -> dict:
    import numpy as np
    import torch

    from tracegen.model.config import load_preset
    from tracegen.model.model import build_model
    from tracegen.model.predictor import TraceGenPredictor
    from tracegen.model.sampling import SolverSpec
    from tracegen.observation import Observation
    from tracegen.trace import CameraIntrinsics

    torch.set_num_threads(threads)
    model = build_model(load_preset(preset), load_weights=preset == "sim").eval()
    rng = np.random.default_rng(0)
    obs = Observation(
        rng.integers(0, 255, (480, 640, 3), dtype=np.uint8),
        np.full((480, 640), 1.0, np.float32),
        CameraIntrinsics(640, 480, 615.0, 615.0, 320.0, 240.0),
        "push the block",
    )
    start = time.perf_counter()
    TraceGenPredictor(model, model_id=preset, solver=SolverSpec("midpoint", 3)).predict(obs, seed=0)
    return {"latency_s": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}


def run_child(args: list[str]) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise RuntimeError(f"benchmark child {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def markdown(rows: list[dict]) -> str:
    lines = [
        "| preset | what | batch | encoder cache | step / prediction (s) | peak RSS (GB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r["mode"] == "train":
            time_s = f"{r['step_s']:.2f}"
            if r["preset"] == "paper":
                time_s += f" ({OFFICIAL_PAPER_STEP_S / r['step_s']:.1f}x faster than official 35 s)"
            lines.append(
                f"| {r['preset']} | training step | {r['batch']} | {'yes' if r['cached'] else 'no'} | "
                f"{time_s} | {r['peak_rss_mb'] / 1024:.2f} |"
            )
        else:
            lines.append(
                f"| {r['preset']} | inference (midpoint x 3) | 1 | - | {r['latency_s']:.2f} | "
                f"{r['peak_rss_mb'] / 1024:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,sim")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration (paper: 2)")
    parser.add_argument("--out", type=Path, default=RESULTS / "model_training.json")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        kind, preset, *rest = args.child
        if kind == "train":
            batch, steps, cached = int(rest[0]), int(rest[1]), rest[2] == "1"
            print(json.dumps(child_train(preset, batch, steps, cached, args.threads)))
        else:
            print(json.dumps(child_infer(preset, args.threads)))
        return 0
    rows = []
    for preset in args.presets.split(","):
        batch = DEFAULT_BATCH.get(preset, 2)
        steps = 2 if preset in ("paper", "large") else args.steps
        for cached in (False, True):
            print(f"{preset}: training, cache={cached}", flush=True)
            rows.append(
                {
                    "preset": preset,
                    "mode": "train",
                    "batch": batch,
                    "cached": cached,
                    **run_child(
                        [
                            "train",
                            preset,
                            str(batch),
                            str(steps),
                            "1" if cached else "0",
                            "--threads",
                            str(args.threads),
                        ]
                    ),
                }
            )
        print(f"{preset}: inference", flush=True)
        rows.append(
            {
                "preset": preset,
                "mode": "infer",
                **run_child(["infer", preset, "--threads", str(args.threads)]),
            }
        )
    report = {
        "benchmark": "model_training",
        "threads": args.threads,
        "rows": rows,
        "official_paper_step_s": OFFICIAL_PAPER_STEP_S,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
