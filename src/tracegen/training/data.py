"""Training data: triplets -> model-ready samples, in a deterministic, resumable order.

Sources are Parquet triplet directories (:func:`tracegen.data.read_triplets` format; the rows
stay PNG-compressed in memory and decode on access) or any iterable of :class:`Triplet`
(tests, warm-up demos).

Determinism (exact resume, and DDP equal to one process): the order of epoch ``e`` is a
permutation seeded by ``(seed, e)``; global step ``s`` takes positions ``s*G .. s*G+G-1`` of
that order (G = global batch), rank ``r`` of ``W`` takes its contiguous ``G/W`` slice; every
random choice of a sample (instruction variant, noise, time, condition dropout) comes from a
generator seeded by ``(seed, s, position in the global batch)``. So a run resumed at step s, or
split over any number of ranks, sees exactly the same samples and noise.

Shapes of a collated batch (B = local batch, N points, L horizon, S image side):
``rgb`` uint8 ``[B, S, S, 3]``, ``depth`` list of ``[S, S]`` float32 or None, ``texts`` B strings,
``x0`` ``[B, N, L, 3]`` normalised increments, ``mask`` ``[B, N, L, 3]`` bool, ``noise`` like x0,
``t`` ``[B]``, ``drop`` ``[B]`` bool, keys for the encoder cache.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from tracegen.data import Triplet
from tracegen.data.parquet import check_schema_version, row_to_triplet, shard_paths
from tracegen.errors import InputError
from tracegen.model.config import TraceGenConfig
from tracegen.model.flow import sample_time
from tracegen.model.preprocess import content_key, resize_depth, resize_rgb, text_key
from tracegen.trace import Trace, encode_model_space

#: Default number of prepared samples kept in memory (one epoch of a small dataset).
DEFAULT_MEMO_SIZE = 2048


class TripletSource:
    """Random access to triplets (``len``, ``[i]``) and their episode ids (for splits)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Triplet:
        raise NotImplementedError

    def episode_ids(self) -> list[str]:
        raise NotImplementedError


class ListSource(TripletSource):
    def __init__(self, triplets: Iterable[Triplet]) -> None:
        self.triplets = list(triplets)
        for i, t in enumerate(self.triplets):
            if not isinstance(t, Triplet):
                raise InputError(f"training item {i} is a {type(t).__name__}, not a Triplet")

    def __len__(self) -> int:
        return len(self.triplets)

    def __getitem__(self, index: int) -> Triplet:
        return self.triplets[index]

    def episode_ids(self) -> list[str]:
        return [f"{t.source}\0{t.episode_id}" for t in self.triplets]


class ParquetSource(TripletSource):
    """Every row of a Parquet dataset, kept as Arrow (PNG bytes), decoded per access."""

    def __init__(self, dataset: str | os.PathLike | Sequence[str | os.PathLike]) -> None:
        tables = []
        for path in shard_paths(dataset):
            parquet = pq.ParquetFile(path)
            check_schema_version(parquet.schema_arrow, path)
            tables.append(parquet.read())
        self.table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if self.table.num_rows == 0:
            raise InputError(f"dataset {dataset} has no triplets")

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index: int) -> Triplet:
        return row_to_triplet(self.table.slice(index, 1).to_pylist()[0])

    def episode_ids(self) -> list[str]:
        sources = self.table.column("source").to_pylist()
        episodes = self.table.column("episode_id").to_pylist()
        return [f"{s}\0{e}" for s, e in zip(sources, episodes, strict=True)]


class SubsetSource(TripletSource):
    def __init__(self, base: TripletSource, indices: Sequence[int]) -> None:
        self.base, self.indices = base, list(indices)
        self._episodes = [base.episode_ids()[i] for i in self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Triplet:
        return self.base[self.indices[index]]

    def episode_ids(self) -> list[str]:
        return list(self._episodes)


def open_source(data: str | os.PathLike | Sequence[Any] | Iterable[Triplet] | TripletSource) -> TripletSource:
    """A Parquet directory / file / list of files, or any iterable of triplets."""
    if isinstance(data, TripletSource):
        return data
    if isinstance(data, (str, os.PathLike)):
        return ParquetSource(data)
    items = list(data)
    if items and all(isinstance(i, (str, os.PathLike)) for i in items):
        return ParquetSource(items)
    return ListSource(items)


def split_by_episode(
    source: TripletSource, val_fraction: float, seed: int = 0
) -> tuple[TripletSource, TripletSource | None]:
    """Hold out whole episodes (hash of source + episode id) as validation."""
    if val_fraction <= 0:
        return source, None
    if not val_fraction < 1:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    episodes = source.episode_ids()

    def score(episode: str) -> float:
        digest = hashlib.blake2b(f"{seed}\0{episode}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") / 2**64

    held = {e for e in set(episodes) if score(e) < val_fraction}
    if not held or len(held) == len(set(episodes)):
        ranked = sorted(set(episodes), key=score)
        count = min(max(1, round(val_fraction * len(ranked))), len(ranked) - 1)
        if count < 1:
            raise InputError("cannot hold out validation episodes from a dataset with one episode")
        held = set(ranked[:count])
    train = [i for i, e in enumerate(episodes) if e not in held]
    val = [i for i, e in enumerate(episodes) if e in held]
    return SubsetSource(source, train), SubsetSource(source, val)


@dataclass
class PreparedSample:
    """A triplet at model resolution with its model-space target (built once, reused)."""

    rgb: np.ndarray
    depth: np.ndarray | None
    rgb_key: str
    depth_key: str | None
    x0: np.ndarray
    mask: np.ndarray
    start: np.ndarray
    instructions: tuple[str, ...]
    trace: Trace
    #: ``[N]`` the points whose trace moves (see :func:`moving_points`), for loss weighting.
    moving: np.ndarray


#: A point "moves" in a trace when it gets this far from its start (fraction of the image width).
MOVING_POINT_MIN_TRAVEL = 0.01


def moving_points(trace: Trace, min_travel: float = MOVING_POINT_MIN_TRAVEL) -> np.ndarray:
    """``[N]`` bool: the point's valid positions get ``min_travel`` x image width from its start."""
    uv_px = trace.uvz[..., :2]
    travel_px = np.linalg.norm(uv_px - uv_px[:, :1], axis=-1)
    travel_px = np.where(trace.point_valid, np.nan_to_num(travel_px), 0.0)
    return travel_px.max(axis=1) >= min_travel * trace.intrinsics.width_px


def loss_weights(mask: np.ndarray, moving: np.ndarray, moving_point_weight: float) -> np.ndarray:
    """``[N, L, 3]`` float32 loss weights: the mask, times ``moving_point_weight`` on moving points.

    In a tabletop scene a few dozen of the 400 grid points move (the gripper, the object): with
    equal weights the static majority dominates the loss and a small model learns "nothing
    moves". The flow loss is a weighted mean, so this re-balances without changing its scale.
    """
    scale = np.where(moving, np.float32(moving_point_weight), np.float32(1.0))
    return mask.astype(np.float32) * scale[:, None, None]


def prepare(triplet: Triplet, config: TraceGenConfig, padding: str = "ignore") -> PreparedSample:
    """``padding``: target of the steps after the trace's end (see PADDING_TARGETS)."""
    spec, size = config.trace, config.image_size_px
    target = encode_model_space(triplet.trace, spec, padding=padding)
    trace = triplet.trace.with_num_steps(spec.num_steps)
    rgb = resize_rgb(triplet.rgb, size)
    depth = resize_depth(triplet.depth_m, size)
    return PreparedSample(
        rgb=rgb,
        depth=depth,
        rgb_key=content_key(rgb),
        depth_key=None if depth is None else content_key(depth),
        x0=target.increments,
        mask=target.mask,
        start=target.start,
        instructions=triplet.instructions,
        trace=trace,
        moving=moving_points(trace),
    )


def sample_generator(seed: int, step: int, position: int) -> torch.Generator:
    """The generator of every random choice for one sample of one step."""
    digest = hashlib.blake2b(f"{seed}:{step}:{position}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & ((1 << 63) - 1))


class TrainingDataset(torch.utils.data.Dataset):
    """Items are ``(index, step, position)`` tuples from :class:`StepBatchSampler`."""

    def __init__(
        self,
        source: TripletSource,
        config: TraceGenConfig,
        seed: int,
        memo_size: int = DEFAULT_MEMO_SIZE,
        *,
        padding: str = "ignore",
        moving_point_weight: float = 1.0,
    ):
        self.source, self.config, self.seed, self.padding = source, config, seed, padding
        self.moving_point_weight = moving_point_weight
        self.memo_size = memo_size
        self._memo: OrderedDict[int, PreparedSample] = OrderedDict()

    def __len__(self) -> int:
        return len(self.source)

    def prepared(self, index: int) -> PreparedSample:
        sample = self._memo.get(index)
        if sample is None:
            sample = prepare(self.source[index], self.config, self.padding)
            if self.memo_size:
                self._memo[index] = sample
                while len(self._memo) > self.memo_size:
                    self._memo.popitem(last=False)
        return sample

    def _weights(self, sample: PreparedSample) -> np.ndarray:
        """The loss mask, or its moving-point weighting (see :func:`loss_weights`)."""
        if self.moving_point_weight == 1.0:
            return sample.mask
        return loss_weights(sample.mask, sample.moving, self.moving_point_weight)

    def __getitem__(self, item: tuple[int, int, int]) -> dict[str, Any]:
        index, step, position = item
        sample = self.prepared(index)
        g = sample_generator(self.seed, step, position)
        choice = int(torch.randint(len(sample.instructions), (), generator=g))
        noise = torch.randn(sample.x0.shape, generator=g)
        t = sample_time(1, self.config.flow, [g])[0]
        drop = bool(torch.rand((), generator=g) < self.config.flow.cond_dropout)
        text = sample.instructions[choice]
        return {
            "rgb": sample.rgb,
            "depth": sample.depth,
            "rgb_key": sample.rgb_key,
            "depth_key": sample.depth_key,
            "text": text,
            "text_key": text_key(text),
            "x0": torch.from_numpy(sample.x0),
            "mask": torch.from_numpy(self._weights(sample)),
            "noise": noise,
            "t": t,
            "drop": drop,
        }


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rgb": np.stack([i["rgb"] for i in items]),
        "depth": [i["depth"] for i in items],
        "rgb_keys": [i["rgb_key"] for i in items],
        "depth_keys": [i["depth_key"] for i in items],
        "texts": [i["text"] for i in items],
        "text_keys": [i["text_key"] for i in items],
        "x0": torch.stack([i["x0"] for i in items]),
        "mask": torch.stack([i["mask"] for i in items]),
        "noise": torch.stack([i["noise"] for i in items]),
        "t": torch.stack([i["t"] for i in items]),
        "drop": torch.tensor([i["drop"] for i in items], dtype=torch.bool),
    }


class StepBatchSampler(torch.utils.data.Sampler):
    """Yields this rank's ``(index, step, position)`` lists for steps ``start_step .. total_steps-1``."""

    def __init__(
        self,
        num_items: int,
        global_batch: int,
        *,
        seed: int,
        start_step: int,
        total_steps: int,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if global_batch % world:
            raise InputError(f"global batch {global_batch} must be divisible by the {world} processes")
        if num_items < 1:
            raise InputError("the training set is empty")
        self.num_items, self.global_batch = num_items, global_batch
        self.seed, self.start_step, self.total_steps = seed, start_step, total_steps
        self.rank, self.world = rank, world

    def order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_items, generator=g).tolist()

    def positions(self, step: int) -> list[tuple[int, int, int]]:
        """The whole global batch of ``step`` (items cycle through epochs without dropping)."""
        out = []
        for position in range(self.global_batch):
            flat = step * self.global_batch + position
            epoch, offset = divmod(flat, self.num_items)
            out.append((self.order(epoch)[offset], step, position))
        return out

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        local = self.global_batch // self.world
        cached_epoch, cached_order = -1, []
        for step in range(self.start_step, self.total_steps):
            batch = []
            for position in range(self.rank * local, (self.rank + 1) * local):
                flat = step * self.global_batch + position
                epoch, offset = divmod(flat, self.num_items)
                if epoch != cached_epoch:
                    cached_epoch, cached_order = epoch, self.order(epoch)
                batch.append((cached_order[offset], step, position))
            yield batch

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


def load_triplets_for_eval(source: TripletSource, limit: int | None = None) -> list[Triplet]:
    count = len(source) if limit is None else min(limit, len(source))
    return [source[i] for i in range(count)]


def describe(data: Any) -> str:
    if isinstance(data, (str, os.PathLike)):
        return str(Path(data))
    return type(data).__name__
