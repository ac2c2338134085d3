"""Training: data order, schedule, metrics, encoder cache, overfitting, resume after kill -9, DDP."""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tracegen.data import write_shard
from tracegen.model.cache import EncoderCache
from tracegen.model.checkpoint import load_checkpoint, read_meta
from tracegen.model.config import load_preset
from tracegen.model.preprocess import to_model_inputs
from tracegen.trace import Trace
from tracegen.training.data import (
    ListSource,
    StepBatchSampler,
    TrainingDataset,
    collate,
    moving_points,
    split_by_episode,
)
from tracegen.training.evaluate import sample_prepared
from tracegen.training.metrics import trace_errors
from tracegen.training.schedule import warmup_cosine
from tracegen.training.synthetic import synthetic_triplet, synthetic_triplets
from tracegen.training.trainer import TrainConfig, Trainer, checkpoint_dirs

REPO = Path(__file__).resolve().parents[2]
OVERFIT_STEPS = 600
OVERFIT_LR = 3e-3


def _losses(run: Path) -> dict[int, float]:
    with open(run / "metrics.csv", newline="") as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def _cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "tracegen.cli.main", *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


# -- data order ------------------------------------------------------------------------------------------


def test_ranks_take_disjoint_slices_of_the_same_global_batch():
    one = list(StepBatchSampler(10, 4, seed=3, start_step=0, total_steps=5))
    halves = [
        list(StepBatchSampler(10, 4, seed=3, start_step=0, total_steps=5, rank=r, world=2)) for r in (0, 1)
    ]
    for step in range(5):
        assert halves[0][step] + halves[1][step] == one[step]


def test_resumed_sampler_continues_with_the_batches_of_an_uninterrupted_one():
    full = list(StepBatchSampler(7, 3, seed=1, start_step=0, total_steps=9))
    assert list(StepBatchSampler(7, 3, seed=1, start_step=5, total_steps=9)) == full[5:]


def test_every_triplet_is_seen_once_per_epoch():
    batches = list(StepBatchSampler(6, 3, seed=0, start_step=0, total_steps=2))
    assert sorted(i for batch in batches for i, _, _ in batch) == list(range(6))


def test_sample_randomness_depends_only_on_seed_step_and_position(tiny_config):
    dataset = TrainingDataset(ListSource(synthetic_triplets(3, size_px=64)), tiny_config, seed=5)
    a, b = dataset[(1, 4, 2)], dataset[(1, 4, 2)]
    assert torch.equal(a["noise"], b["noise"]) and a["t"] == b["t"] and a["text"] == b["text"]
    assert not torch.equal(dataset[(1, 5, 2)]["noise"], a["noise"])


def test_validation_split_holds_out_whole_episodes():
    triplets = synthetic_triplets(20, size_px=64)
    train, val = split_by_episode(ListSource(triplets), 0.2)
    assert len(train) + len(val) == 20 and len(val) > 0
    assert not set(train.episode_ids()) & set(val.episode_ids())


# -- schedule and metrics ----------------------------------------------------------------------------------


def test_learning_rate_warms_up_linearly_then_follows_a_cosine_to_the_floor():
    values = [warmup_cosine(s, warmup_steps=4, total_steps=12, min_ratio=0.1) for s in range(13)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[8] == pytest.approx(0.1 + 0.9 * 0.5)
    assert values[12] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(values[3:]))  # never rises after the warm-up


def test_metrics_measure_a_known_offset_in_normalised_pixels_and_metres():
    truth = synthetic_triplet(0, size_px=64, retargeted=False).trace  # every step valid
    pred = truth.uvz.copy()
    pred[:, 1:, 0] += 6.4  # 10 % of the width, every future step
    errors = trace_errors(pred, truth)
    assert errors["ade_norm"] == pytest.approx(0.1, rel=1e-5)
    assert errors["fde_norm"] == pytest.approx(0.1, rel=1e-5)
    expected_m = np.mean(6.4 * truth.uvz[:, 1:, 2] / truth.intrinsics.fx_px)
    assert errors["ade_m"] == pytest.approx(expected_m, rel=1e-4)


def test_2d_traces_have_no_metric_error_in_metres():
    truth = synthetic_triplet(0, size_px=64, is_3d=False).trace
    assert set(trace_errors(truth.uvz, truth)) == {"ade_norm", "fde_norm"}


# -- encoder cache -----------------------------------------------------------------------------------------


def _batch(config, triplets):
    dataset = TrainingDataset(ListSource(triplets), config, seed=0)
    return collate([dataset[(i, 0, i)] for i in range(len(triplets))])


def test_cached_features_equal_freshly_computed_ones(tiny_model, tiny_config, tmp_path):
    batch = _batch(tiny_config, synthetic_triplets(3, size_px=64))
    cache = EncoderCache(tmp_path)
    cache.attach(tiny_model)
    first = cache.features(tiny_model, batch)
    second = cache.features(tiny_model, batch)
    assert (cache.misses, cache.hits) == (3 + 3 + 2 + 3, 3 + 3 + 2 + 3)  # depth: one scene is 2D
    inputs = to_model_inputs(list(batch["rgb"]), batch["depth"], batch["texts"], tiny_config.image_size_px)
    with torch.no_grad():
        fresh = tiny_model.encode_features(inputs)
    for part in ("dino", "siglip", "depth", "text"):
        assert torch.allclose(getattr(second, part), getattr(fresh, part), atol=2e-3), part
        assert torch.equal(getattr(first, part), getattr(second, part)), part
    assert torch.equal(second.text_mask, fresh.text_mask)


def test_cache_freezes_the_depth_stem_and_keys_on_the_encoder_weights(tiny_model, tmp_path):
    cache = EncoderCache(tmp_path)
    cache.attach(tiny_model)
    assert not tiny_model.depth_encoder.stem_adapter.weight.requires_grad
    before = dict(cache.versions)
    with torch.no_grad():
        tiny_model.depth_encoder.stem_adapter.bias.add_(0.1)
    cache.attach(tiny_model)
    assert cache.versions["depth"] != before["depth"] and cache.versions["dino"] == before["dino"]


# -- training runs -----------------------------------------------------------------------------------------

OVERFIT_DIRECTIONS = ("left", "right", "up", "down")


def _overfit_scenes():
    """Four scenes, speed-retargeted like TraceForge output, that differ only in colour and
    instruction: the block (a quarter of the grid's points) must move the named way."""
    return [
        synthetic_triplet(
            i, size_px=64, direction=d, centred=True, block_fraction=0.5, travel_fraction=0.2, is_3d=i != 2
        )
        for i, d in enumerate(OVERFIT_DIRECTIONS)
    ]


def _fast_tiny_preset(path: Path) -> Path:
    """The tiny preset with 8 trace steps per decoder frame (400 trace tokens instead of 1600, so
    a step costs a fraction) and uniform training times (more high-noise samples, where only the
    condition tells the directions apart)."""
    data = load_preset("tiny").to_dict()
    data["name"] = "tiny-fast"
    data["decoder"]["steps_per_frame"] = 8
    data["flow"]["time_sampling"] = "uniform"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.slow
def test_tiny_model_overfits_a_handful_of_triplets(tmp_path):
    """Loss falls >= 10x and traces sampled from noise move each block the named way by about the
    right amount. Tolerance, at the last valid step of each trace: the mean travel of the block's
    points within 35 % of the true travel (a model that ignores the condition is ~100 % off), and
    the mean error of all 400 points below 4.5 % of the image side (ignoring the condition misses
    the 12.8 px travel on a quarter of the points: >= 5 %).
    Measured after 600 steps: travel 15-24 % off, point error 2.5-2.9 %."""
    torch.manual_seed(0)
    scenes = _overfit_scenes()
    config = TrainConfig(
        output_dir=str(tmp_path / "run"),
        preset=str(_fast_tiny_preset(tmp_path / "tiny-fast.yaml")),
        steps=OVERFIT_STEPS,
        batch_size=4,
        lr=OVERFIT_LR,
        warmup_steps=10,
        cond_dropout=0.0,
        checkpoint_every=1000,
        log_every=10,
        tensorboard=False,
        progress=False,
        val_solver="euler",
        val_steps=4,
        cache_dir=str(tmp_path / "cache"),  # frozen tiny encoders run once per scene
        threads=1,  # small matrices: a second thread mostly waits, and thrashes on a busy machine
    )
    final = Trainer(config).run(scenes, val_data=scenes)
    losses = _losses(tmp_path / "run")
    first, last = losses[1], np.mean([losses[s] for s in range(OVERFIT_STEPS - 20, OVERFIT_STEPS + 1, 10)])
    assert first / last >= 10.0, (first, last)

    model = load_checkpoint(final).model
    from tracegen.model.sampling import SolverSpec
    from tracegen.trace import decode_model_space_uvz
    from tracegen.training.data import prepare

    samples = [prepare(t, model.config) for t in scenes]
    increments = sample_prepared(model, samples, SolverSpec("euler", 20), seed=0)
    for scene, sample, pred in zip(scenes, samples, increments, strict=True):
        uvz = decode_model_space_uvz(sample.start, pred, 64, 64, model.config.trace)
        truth, end = scene.trace.uvz, scene.trace.num_valid_steps - 1
        assert end >= 4, "the block must move for several retargeted steps"
        moving = np.linalg.norm(truth[:, end, :2] - truth[:, 0, :2], axis=-1) > 1.0
        travel = (truth[moving, end, :2] - truth[moving, 0, :2]).mean(0)
        predicted = (uvz[moving, end, :2] - uvz[moving, 0, :2]).mean(0)
        assert np.linalg.norm(predicted - travel) <= 0.35 * np.linalg.norm(travel), (
            scene.provenance,
            travel,
            predicted,
        )
        end_error = np.linalg.norm(uvz[:, end, :2] - truth[:, end, :2], axis=-1).mean() / 64
        assert end_error < 0.045, (scene.provenance, end_error)
    with open(tmp_path / "run" / "val_metrics.csv", newline="") as f:
        row = list(csv.DictReader(f))[-1]
    assert {"ade_norm", "fde_norm", "ade_m", "fde_m", "increment_mse"} <= set(row)


def _parquet(tmp_path: Path, count: int = 6) -> Path:
    data = tmp_path / "data"
    write_shard(data / "shard-000.parquet", synthetic_triplets(count, size_px=64))
    return data


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    """A 12-step `tracegen train` on ``data``; the fast tiny preset, as these tests check the
    plumbing (resume, DDP, warm-up) and a step of it costs half the tiny one's."""
    return _cli(
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--preset",
        str(_fast_tiny_preset(data.parent / "tiny-fast.yaml")),
        "--steps",
        "12",
        "--batch-size",
        "4",
        "--lr",
        "1e-3",
        "--warmup-steps",
        "3",
        "--checkpoint-every",
        "4",
        "--log-every",
        "1",
        "--ema-decay",
        "0.9",
        "--threads",
        "1",
        "--no-tensorboard",
        "--no-progress",
        *extra,
    )


@pytest.mark.slow
def test_training_resumed_after_kill_9_continues_the_same_loss_curve(tmp_path):
    data = _parquet(tmp_path)
    env = _env()
    subprocess.run(
        _train_args(data, tmp_path / "reference"), env=env, check=True, capture_output=True, timeout=300
    )

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        _train_args(data, interrupted), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 240
    while not any(step >= 4 for step, _ in checkpoint_dirs(interrupted)):
        assert process.poll() is None, "training ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = max(step for step, _ in checkpoint_dirs(interrupted))
    assert killed_at < 12, "the run finished before the kill: nothing was resumed"
    subprocess.run(_train_args(data, interrupted), env=env, check=True, capture_output=True, timeout=300)

    reference, resumed = _losses(tmp_path / "reference"), _losses(interrupted)
    assert sorted(resumed) == sorted(reference) == list(range(1, 13))
    for step in reference:
        assert resumed[step] == pytest.approx(reference[step], rel=1e-5, abs=1e-7), step
    a, b = load_checkpoint(tmp_path / "reference" / "final"), load_checkpoint(interrupted / "final")
    assert torch.allclose(a.model.vision_fusion.weight, b.model.vision_fusion.weight, atol=1e-6)
    assert read_meta(interrupted / "final").has_ema


@pytest.mark.slow
def test_two_process_ddp_on_cpu_matches_one_process_on_the_same_data(tmp_path):
    data = _parquet(tmp_path, count=8)
    env = _env()
    common = ("--steps", "6", "--checkpoint-every", "6")
    single = _train_args(data, tmp_path / "one", *common)
    subprocess.run(single, env=env, check=True, capture_output=True, timeout=300)
    double = _train_args(data, tmp_path / "two", *common, "--nproc", "2")
    result = subprocess.run(double, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert sorted(one) == sorted(two)
    for step in one:
        assert two[step] == pytest.approx(one[step], rel=1e-4), step
    a, b = (
        load_checkpoint(tmp_path / "one" / "final").model,
        load_checkpoint(tmp_path / "two" / "final").model,
    )
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        if name.endswith("norm_k.bias"):
            # A bias on every key shifts each query's logits by one constant: softmax ignores it, so
            # its true gradient is 0 and AdamW turns rounding noise into lr-sized random steps.
            continue
        assert torch.allclose(p, q, atol=1e-5), name


@pytest.mark.slow
def test_warmup_fine_tunes_a_checkpoint_on_demos_and_reuses_the_encoder_cache(tmp_path):
    data = _parquet(tmp_path, count=4)
    env = _env()
    cache = tmp_path / "cache"
    subprocess.run(
        _train_args(
            data,
            tmp_path / "pretrain",
            "--cache-dir",
            str(cache),
            "--padding",
            "hold",
            "--moving-point-weight",
            "3",
        ),
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    demos = tmp_path / "demos"
    write_shard(demos / "demos.parquet", synthetic_triplets(2, seed=100, size_px=64))
    result = subprocess.run(
        _cli(
            "warmup",
            "--checkpoint",
            str(tmp_path / "pretrain" / "final"),
            "--data",
            str(demos),
            "--out",
            str(tmp_path / "warm"),
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--cache-dir",
            str(cache),
            "--no-tensorboard",
            "--no-progress",
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    meta = read_meta(tmp_path / "warm" / "final")
    assert meta.training["init_checkpoint"].endswith("final") and meta.training["step"] == 3
    warm_config = json.loads((tmp_path / "warm" / "train_config.json").read_text())
    assert warm_config["lr"] == 5e-5
    assert warm_config["padding"] == "hold", "the warm-up keeps the loss pre-training used"
    assert warm_config["moving_point_weight"] == 3.0
    assert "encoder cache" in result.stderr and " 0 misses" not in result.stderr.split("encoder cache:")[-1]


def test_training_from_an_iterable_of_triplets_writes_checkpoints_metrics_and_validation(tmp_path):
    scenes = synthetic_triplets(4, size_px=64)
    config = TrainConfig(
        output_dir=str(tmp_path / "run"),
        preset="tiny",
        steps=4,
        batch_size=2,
        warmup_steps=2,
        checkpoint_every=2,
        keep_checkpoints=1,
        log_every=1,
        tensorboard=True,
        progress=False,
        val_fraction=0.25,
        val_steps=2,
    )
    final = Trainer(config).run(iter(scenes))
    assert [step for step, _ in checkpoint_dirs(tmp_path / "run")] == [4]
    losses = _losses(tmp_path / "run")
    assert sorted(losses) == [1, 2, 3, 4]
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        lrs = [float(r["lr"]) for r in csv.DictReader(f)]
    assert lrs[0] < lrs[1] and lrs[-1] < lrs[1]  # warm-up, then decay: the schedule is applied
    assert (tmp_path / "run" / "val_metrics.csv").read_text().count("\n") == 2
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    assert read_meta(final).null_condition_trained


def test_bad_training_options_are_rejected_naming_the_option(tmp_path):
    from tracegen.errors import InputError

    with pytest.raises(InputError, match="batch_size"):
        TrainConfig(output_dir=str(tmp_path), batch_size=0).validate()


def test_traces_of_triplets_are_cut_to_the_model_horizon(tiny_config):
    long = synthetic_triplet(0, size_px=64, num_steps=60)
    dataset = TrainingDataset(ListSource([long]), tiny_config, seed=0)
    sample = dataset.prepared(0)
    assert (
        sample.x0.shape == (400, 32, 3) and isinstance(sample.trace, Trace) and sample.trace.num_steps == 33
    )


def test_moving_point_weighting_scales_the_loss_of_the_points_that_move(tiny_config):
    triplet = synthetic_triplet(0, size_px=64)
    moving = moving_points(triplet.trace)
    assert 0 < moving.sum() < 400, "the block's grid points move, the table's do not"
    plain = TrainingDataset(ListSource([triplet]), tiny_config, seed=0)
    weighted = TrainingDataset(ListSource([triplet]), tiny_config, seed=0, moving_point_weight=5.0)
    mask, weights = plain[(0, 0, 0)]["mask"], weighted[(0, 0, 0)]["mask"]
    assert mask.dtype == torch.bool, "unweighted: the official boolean mask"
    assert torch.equal(
        weights[torch.from_numpy(moving)][mask[torch.from_numpy(moving)]].unique(), torch.tensor([5.0])
    )
    assert torch.equal(
        weights[torch.from_numpy(~moving)][mask[torch.from_numpy(~moving)]].unique(), torch.tensor([1.0])
    )
    assert torch.equal(weights > 0, mask), "nothing outside the mask is supervised"
    from tracegen.model.flow import masked_mse_per_sample

    error = torch.full((1, *mask.shape), 0.3)
    same = masked_mse_per_sample(error, torch.zeros_like(error), weights[None])
    assert same.item() == pytest.approx(0.09), "a weighted mean: a uniform error keeps its scale"
