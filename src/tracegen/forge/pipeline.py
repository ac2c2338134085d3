"""The TraceForge job: inputs -> per-input forge tasks (Ray Data, or in process) -> shards + manifest.

:func:`run_forge` discovers the inputs, skips those the manifest says are finished (resume),
and forges the rest:

- ``executor="ray"`` (default): a Ray Data pipeline, ``from_items(inputs)`` mapped over a pool
  of actors (one CPU each; an actor keeps its loaded models, e.g. a captioner, across inputs).
  Without an address Ray starts a local cluster of ``num_workers`` CPUs and stops it at the
  end; with ``ray_address`` ("auto" or "ray://host:port") it joins that cluster, whose nodes
  must have tracegen installed and share the output directory.
- ``executor="local"``: the same per-input function, one input after the other in this process
  (no Ray start-up: quick for a few inputs, and what tests use for most cases).

The driver records every finished input in the manifest (saved at most every
:data:`MANIFEST_SAVE_INTERVAL_S` and at the end) and shows a progress bar with throughput
(inputs, triplets and frames per second). Results do not depend on the executor, the number of
workers or the order in which inputs finish: each input's shards are a function of the input,
the config and the seed.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracegen.errors import InputError
from tracegen.forge.config import ForgeConfig
from tracegen.forge.engine import SHARDS_DIR, InputResult, forge_input, remove_input_shards
from tracegen.forge.manifest import MANIFEST_FILE, Manifest, input_fingerprint
from tracegen.forge.readers import InputSpec, discover_inputs

EXECUTORS = ("ray", "local")
#: The manifest is rewritten at most this often (and after the last input): a run over many
#: inputs would otherwise spend its time rewriting it. Inputs finished but not yet recorded are
#: simply forged again on resume.
MANIFEST_SAVE_INTERVAL_S = 2.0


@dataclass
class ForgeSummary:
    """What a run did: counts, throughput, and the reasons inputs were skipped or failed."""

    out_dir: Path
    total_inputs: int
    resumed: int
    processed: int
    done: int
    skipped: int
    failed: int
    triplets: int
    frames: int
    seconds: float
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    def table(self) -> str:
        """A short markdown summary for the terminal."""
        rate = self.triplets / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"| forge {self.out_dir} | |",
            "| --- | --- |",
            f"| inputs | {self.total_inputs} ({self.resumed} already finished, {self.processed} processed) |",
            f"| done / skipped / failed | {self.done} / {self.skipped} / {self.failed} |",
            f"| triplets written | {self.triplets} ({rate:.2f}/s over {self.seconds:.1f} s) |",
            f"| frames read | {self.frames} |",
        ]
        for key, status, reason in self.problems:
            lines.append(f"| {status}: {key} | {reason[:300]} |")
        return "\n".join(lines)


class _ForgeActor:
    """Ray Data actor: forges the inputs of the rows it is given."""

    def __init__(self, out_dir: str, config_json: str) -> None:
        self.out_dir = out_dir
        self.config = ForgeConfig.from_dict(json.loads(config_json))

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        spec = InputSpec.from_dict(json.loads(row["spec"]))
        result = forge_input(spec, self.out_dir, self.config)
        return {"result": json.dumps(result.to_dict())}


def _local_results(todo: Sequence[InputSpec], out_dir: Path, config: ForgeConfig) -> Iterator[InputResult]:
    for spec in todo:
        yield forge_input(spec, out_dir, config)


def _ray_results(
    todo: Sequence[InputSpec],
    out_dir: Path,
    config: ForgeConfig,
    ray_address: str | None,
    num_workers: int | None,
) -> Iterator[InputResult]:
    import ray

    # Ray Data warns about its own deprecated settings and announces progress-bar choices.
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.data\.")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=ray_address,
            num_cpus=None if ray_address else num_workers,  # None: every CPU of this machine
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        workers = num_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        workers = min(workers, len(todo))
        items = [{"spec": json.dumps(spec.to_dict())} for spec in todo]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map(
            _ForgeActor,
            fn_constructor_kwargs={"out_dir": str(out_dir), "config_json": json.dumps(config.to_dict())},
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
        )
        # Our progress bar replaces Ray Data's; silence its notes about that (it configures its
        # loggers when the dataset executes, so this comes last).
        for name in (
            "ray.data",
            "ray.data._internal.progress",
            "ray.data._internal.execution.streaming_executor",
        ):
            logging.getLogger(name).setLevel(logging.ERROR)
        for row in dataset.iter_rows():
            yield InputResult.from_dict(json.loads(row["result"]))
    finally:
        if started_here:
            ray.shutdown()


def check_model_paths(config: ForgeConfig) -> None:
    """Fail before any work when a configured model's local files are missing (each worker
    would otherwise skip every input with the same complaint)."""
    required = []
    if config.captioner_dir:
        required.append((Path(config.captioner_dir) / "config.json", "captioner model (config.json)"))
    if config.tracker == "cotracker":
        required.append((Path(str(config.cotracker_repo)) / "hubconf.py", "CoTracker clone (hubconf.py)"))
        required.append((Path(str(config.cotracker_checkpoint)), "CoTracker checkpoint"))
    if config.vggt_repo:
        required.append((Path(config.vggt_repo) / "vggt" / "__init__.py", "VGGT clone (vggt/__init__.py)"))
        required.append((Path(str(config.vggt_weights)), "VGGT weights directory"))
    for path, what in required:
        if not path.exists():
            raise InputError(f"{what} not found at {path}: models are loaded from local files only")


def run_forge(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    config: ForgeConfig | None = None,
    *,
    executor: str = "ray",
    ray_address: str | None = None,
    num_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ForgeSummary:
    """Forge ``inputs`` (files or directories) into ``out_dir`` (see the module docstring)."""
    config = config or ForgeConfig()
    if executor not in EXECUTORS:
        raise InputError(f"executor {executor!r} is not one of {EXECUTORS}")
    if num_workers is not None and num_workers < 1:
        raise InputError(f"num_workers must be at least 1, got {num_workers}")
    if ray_address and executor != "ray":
        raise InputError("a Ray address needs the ray executor")
    check_model_paths(config)
    out_dir = Path(out_dir).absolute()
    if overwrite:
        shutil.rmtree(out_dir / SHARDS_DIR, ignore_errors=True)
        (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    manifest = Manifest.open(out_dir, config, overwrite=overwrite)
    started = time.perf_counter()
    specs, rejected = discover_inputs(inputs)
    for path, reason in rejected:
        manifest.record_rejected(path, reason)
    fingerprints = {}
    todo: list[InputSpec] = []
    for spec in specs:
        if spec.path not in fingerprints:
            fingerprints[spec.path] = input_fingerprint(spec.path)
        if not manifest.is_finished(spec, fingerprints[spec.path]):
            remove_input_shards(out_dir, spec)
            todo.append(spec)
    manifest.save()
    resumed = len(specs) - len(todo)

    results = (
        _ray_results(todo, out_dir, config, ray_address, num_workers)
        if executor == "ray" and todo
        else _local_results(todo, out_dir, config)
    )
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="input", desc="forge", dynamic_ncols=True)
    triplets = frames = 0
    counts = {"done": 0, "skipped": 0, "failed": 0}
    problems = []
    last_save = -math.inf
    for result in results:
        manifest.record(result, fingerprints[result.spec["path"]])
        if time.monotonic() - last_save >= MANIFEST_SAVE_INTERVAL_S:
            manifest.save()
            last_save = time.monotonic()
        counts[result.status] += 1
        triplets += result.num_triplets
        frames += result.frames_read
        if result.status != "done":
            problems.append((result.key, result.status, result.reason))
        if bar is not None:
            elapsed = max(time.perf_counter() - started, 1e-9)
            bar.set_postfix(
                triplets=triplets, trip_per_s=f"{triplets / elapsed:.2f}", fps=f"{frames / elapsed:.1f}"
            )
            bar.update(1)
    manifest.save()
    if bar is not None:
        bar.close()
    problems += [(f"unknown:{path}", "skipped", reason) for path, reason in rejected]
    return ForgeSummary(
        out_dir=out_dir,
        total_inputs=len(specs),
        resumed=resumed,
        processed=len(todo),
        done=counts["done"],
        skipped=counts["skipped"] + len(rejected),
        failed=counts["failed"],
        triplets=triplets,
        frames=frames,
        seconds=round(time.perf_counter() - started, 3),
        problems=problems,
    )
