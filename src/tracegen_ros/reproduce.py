"""``tracegen reproduce``: the paper's few-shot table in simulation, every stage for real.

Stages, each resumable (a rerun skips what is finished and continues what was interrupted):

1. corpus: other embodiments rendered in MuJoCo (:mod:`tracegen.sim.corpus`): robot arms as
   RGB-D episodes, a free-floating hand as RGB-only videos -> ``OUT/corpus/{arms,hand}``;
2. forge the corpus with LK tracking (not the renderer's ground truth; the hand's traces are
   2D-only) -> ``OUT/triplets/{arms,hand}``;
3. pre-train one model per source the rows need (arms, hand, all) -> ``OUT/runs/pretrain-*``;
4. expert demos of each task on the simulated FR3 through the IK controller, recorded as bags
   (``tracegen sim-demos``) -> ``DEMOS/<task>/`` (``--demos`` reuses recordings);
5. forge the first N demos of every task -> ``OUT/triplets/demos-<task>-<N>``;
6. per row: warm-up of the pre-trained model, or training from scratch, on N demos of every
   task (one model per row, as the paper adapts once per robot) -> ``OUT/runs/<row>``;
7. closed-loop evaluation through the full ROS graph (``tracegen eval``) ->
   ``OUT/eval/<row>/<task>/summary.json``;
8. the report: ``OUT/results.{md,json,png}`` (also rewritten after every evaluation, so a long
   run shows its partial table).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracegen.errors import InputError, TracegenError
from tracegen.reproduce.plan import RESUMABLE_FIELDS, ReproducePlan
from tracegen.reproduce.report import write_report

STAGES_JSON = "stages.json"
#: Demo recordings give up after this many batches that did not bring enough finished episodes.
MAX_DEMO_BATCHES = 3


def resolve_model_preset(preset: str) -> str:
    """``models:<path>`` is a file under the installed models/ (the shipped checkpoint's preset)."""
    if preset.startswith("models:"):
        from tracegen.resources import models_dir

        return str(models_dir() / preset.removeprefix("models:"))
    return preset


def count_triplets(dataset: Path) -> int:
    """Triplets in a forge output (Parquet footers only)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in sorted(dataset.glob("shards/*.parquet")))


def _finished_checkpoint(run_dir: Path) -> Path | None:
    final = run_dir / "final"
    return final if (final / "tracegen.json").is_file() else None


class Reproduction:
    """Runs a :class:`ReproducePlan` into ``out_dir``; :meth:`run` returns the report's paths.

    Args:
        demos_dir: where the expert demos are (and are recorded to): ``<demos_dir>/<task>/``;
            default ``out_dir/demos``.
        say: one line of progress for the user.
        stop: set it to end the closed-loop evaluation early (Ctrl-C); the run then raises
            KeyboardInterrupt after stopping every node. Training stops on KeyboardInterrupt
            and resumes from its last checkpoint on the next run.
    """

    def __init__(
        self,
        plan: ReproducePlan,
        out_dir: Path,
        *,
        demos_dir: Path | None = None,
        say: Callable[[str], None] = print,
        stop: threading.Event | None = None,
        verbose: bool = False,
        progress: bool = True,
    ) -> None:
        self.plan = plan
        self.out = Path(out_dir).expanduser().absolute()
        self.demos_dir = Path(demos_dir).expanduser().absolute() if demos_dir else self.out / "demos"
        self.say = say
        self.stop = stop or threading.Event()
        self.verbose = verbose
        self.progress = progress
        self.model_preset = resolve_model_preset(plan.model_preset)
        self._stages: dict[str, Any] = {}
        self._results: dict[str, dict[str, Any]] = {}

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> tuple[Path, Path, Path]:
        self.out.mkdir(parents=True, exist_ok=True)
        self._check_plan_unchanged()
        self._stages = self._read_json(self.out / STAGES_JSON) or {}
        pretrained: dict[str, Path] = {}
        if self.plan.needs_corpus:
            corpus = self._timed("corpus", self.render_corpus)
            triplets = self._timed("forge_corpus", lambda: self.forge_corpus(corpus))
            pretrained = self._timed("pretrain", lambda: self.pretrain(triplets))
        demo_bags = self._timed("demos", self.record_demos)
        demo_triplets = self._timed("forge_demos", lambda: self.forge_demos(demo_bags))
        models = self._timed("adapt", lambda: self.adapt(pretrained, demo_triplets))
        self._timed("eval", lambda: self.evaluate(models))
        return self.write_report()

    # --- 1-3: corpus and pre-training ---------------------------------------------------------------

    def render_corpus(self) -> dict[str, Path]:
        from tracegen.sim.corpus import render_corpus

        plan = self.plan
        parts: dict[str, Path] = {}
        for part, embodiments in plan.corpus_parts().items():
            episodes = plan.corpus_hand_episodes if part == "hand" else plan.corpus_episodes_per_arm
            folder = self.out / "corpus" / part
            self.say(f"corpus {part}: {episodes} episode(s) each of {', '.join(embodiments)} -> {folder}")
            entries = render_corpus(
                folder,
                list(embodiments),
                episodes,
                seed=plan.corpus_seed + (1_000_000 if part == "hand" else 0),
                width_px=plan.corpus_width_px,
                height_px=plan.corpus_height_px,
                fps=plan.corpus_fps,
            )
            self._note(f"corpus_{part}_episodes", len(entries))
            parts[part] = folder
        return parts

    def forge_corpus(self, corpus: dict[str, Path]) -> dict[str, Path]:
        from tracegen.forge.config import ForgeConfig
        from tracegen.forge.pipeline import run_forge

        triplets: dict[str, Path] = {}
        for part, folder in corpus.items():
            target = self.out / "triplets" / part
            self.say(f"forging corpus {part} with LK tracking -> {target}")
            summary = run_forge(
                [str(folder)],
                target,
                ForgeConfig(tracker="lk"),
                executor=self.plan.forge_executor,
                progress=self.progress,
            )
            count = count_triplets(target)
            if count == 0:
                raise TracegenError(f"the {part} corpus yielded no triplet:\n{summary.table()}")
            self._note(f"corpus_{part}_triplets", count)
            triplets[part] = target
        return triplets

    def pretrain(self, triplets: dict[str, Path]) -> dict[str, Path]:
        from tracegen.training.trainer import TrainConfig, Trainer

        plan = self.plan
        finals: dict[str, Path] = {}
        for source in plan.sources:
            run_dir = self.out / "runs" / f"pretrain-{source}"
            final = _finished_checkpoint(run_dir)
            if final is None:
                data = [str(triplets[part]) for part in plan.source_parts(source)]
                self.say(f"pre-training on {source} ({plan.pretrain_steps} steps) -> {run_dir}")
                config = TrainConfig(
                    output_dir=str(run_dir),
                    preset=self.model_preset,
                    steps=plan.pretrain_steps,
                    batch_size=plan.batch_size,
                    lr=plan.pretrain_lr,
                    lr_encoders=plan.pretrain_lr,
                    warmup_steps=min(50, max(plan.pretrain_steps // 10, 1)),
                    cond_dropout=0.1,
                    padding=plan.padding,
                    checkpoint_every=100,
                    threads=plan.threads,
                    device=plan.device,
                    tensorboard=False,
                    progress=self.progress,
                )
                final = Trainer(config, log=self.say).run(data)
            finals[source] = final
        return finals

    # --- 4-5: target-robot demos --------------------------------------------------------------------

    def record_demos(self) -> dict[str, list[Path]]:
        """Each task's finished demo bags (at least the largest row's count), recording what is missing."""
        from tracegen.demo_bags import finished_episode_bags

        wanted = max(self.plan.demo_counts)
        bags: dict[str, list[Path]] = {}
        for task in self.plan.tasks:
            folder = self.demos_dir / task
            for _ in range(MAX_DEMO_BATCHES):
                have = finished_episode_bags(folder) if folder.exists() else []
                if len(have) >= wanted:
                    break
                self._record_batch(task, folder, wanted - len(have))
            have = finished_episode_bags(folder) if folder.exists() else []
            if len(have) < wanted:
                raise TracegenError(
                    f"only {len(have)} of {wanted} {task} demos succeeded after {MAX_DEMO_BATCHES} batches; "
                    f"see the logs under {self.out / 'logs'}"
                )
            bags[task] = have
        return bags

    def _record_batch(self, task: str, folder: Path, episodes: int) -> None:
        from tracegen_ros.sim_demos import SimDemoConfig, run_sim_demos

        attempted = sum(1 for _ in folder.rglob("metadata.yaml")) if folder.exists() else 0
        seed = self.plan.demo_seed + attempted  # never re-record a seed: episode i has seed + i
        batch = folder / f"seeds-{seed + 1}-{seed + episodes}"
        self.say(
            f"recording {episodes} expert demo(s) of {task} (seeds {seed + 1}..{seed + episodes}) -> {batch}"
        )
        config = SimDemoConfig(
            task=task,
            episodes=episodes,
            out_dir=batch,
            seed=seed,
            fps=self.plan.demo_fps,
            log_dir=self.out / "logs" / f"demos-{task}-{seed}",
        )
        run_sim_demos(config, echo=self.say)

    def forge_demos(self, bags: dict[str, list[Path]]) -> dict[tuple[str, int], Path]:
        from tracegen.training.warmup import forge_demo_bags

        out: dict[tuple[str, int], Path] = {}
        for task, task_bags in bags.items():
            for count in self.plan.demo_counts:
                target = self.out / "triplets" / f"demos-{task}-{count}"
                out[(task, count)] = forge_demo_bags(task_bags[:count], target, progress=self.progress)
                self._note(f"demos_{task}_{count}_triplets", count_triplets(target))
        return out

    # --- 6: warm-up or training from scratch --------------------------------------------------------

    def adapt(self, pretrained: dict[str, Path], demos: dict[tuple[str, int], Path]) -> dict[str, Path]:
        from tracegen.training.trainer import TrainConfig, Trainer
        from tracegen.training.warmup import warmup_config

        plan = self.plan
        models: dict[str, Path] = {}
        for row in plan.rows:
            run_dir = self.out / "runs" / row.name
            final = _finished_checkpoint(run_dir)
            if final is None:
                data = [str(demos[(task, row.demos)]) for task in plan.tasks]
                common = dict(
                    steps=plan.adapt_steps,
                    batch_size=plan.batch_size,
                    checkpoint_every=100,
                    threads=plan.threads,
                    device=plan.device,
                    tensorboard=False,
                    progress=self.progress,
                )
                if row.source == "scratch":
                    self.say(f"{row.label}: training from scratch ({plan.adapt_steps} steps) -> {run_dir}")
                    config = TrainConfig(
                        output_dir=str(run_dir),
                        preset=self.model_preset,
                        lr=plan.scratch_lr,
                        lr_encoders=plan.scratch_lr,
                        warmup_steps=min(50, max(plan.adapt_steps // 10, 1)),
                        cond_dropout=0.1,
                        padding=plan.padding,
                        **common,
                    )
                else:
                    what = f"warm-up of pretrain-{row.source} ({plan.adapt_steps} steps)"
                    self.say(f"{row.label}: {what} -> {run_dir}")
                    config = warmup_config(
                        str(pretrained[row.source]),
                        str(run_dir),
                        lr=plan.warmup_lr,
                        lr_encoders=plan.warmup_lr / 10,
                        warmup_steps=min(20, max(plan.adapt_steps // 10, 1)),
                        **common,
                    )
                final = Trainer(config, log=self.say).run(data)
            models[row.name] = final
        return models

    # --- 7-8: closed-loop evaluation and the report -------------------------------------------------

    def evaluate(self, models: dict[str, Path]) -> None:
        from tracegen_ros.demo_runner import DemoOptions, DemoRunner

        plan = self.plan
        for row in plan.rows:
            for task in plan.tasks:
                out_dir = self.out / "eval" / row.name / task
                summary = self._complete_summary(out_dir)
                if summary is None:
                    self.say(f"evaluating {row.label} on {task}: {plan.trials} trial(s) -> {out_dir}")
                    options = DemoOptions(
                        checkpoint=models[row.name],
                        out_dir=out_dir,
                        task=task,
                        episodes=plan.trials,
                        max_steps=plan.max_steps,
                        episode_timeout_s=plan.episode_timeout_s,
                        seed=plan.eval_seed,
                        record_video=False,
                    )

                    def episode_done(result, row=row, task=task) -> None:
                        verdict = "success" if result.success else f"failed ({result.end_reason})"
                        self.say(
                            f"  {row.name} {task} trial {result.episode} (seed {result.seed}): {verdict}"
                        )

                    report = DemoRunner(
                        options, stop=self.stop, episode_done=episode_done, say=self.say, verbose=self.verbose
                    ).run()
                    if report.interrupted:
                        raise KeyboardInterrupt
                    summary = report.summary
                self._results.setdefault(row.name, {})[task] = {
                    "successes": int(summary["successes"]),
                    "trials": len(summary["episodes"]),
                    "ci95": summary["success_ci95"],
                    "seeds": [e["seed"] for e in summary["episodes"]],
                    "summary": str(out_dir / "summary.json"),
                }
                self.write_report()

    def _complete_summary(self, out_dir: Path) -> dict[str, Any] | None:
        summary = self._read_json(out_dir / "summary.json")
        if not summary or summary.get("interrupted") or len(summary.get("episodes", [])) != self.plan.trials:
            return None
        return summary

    def write_report(self) -> tuple[Path, Path, Path]:
        facts = {
            "stages (s, this machine)": ", ".join(
                f"{k} {v['seconds']:.0f}"
                for k, v in self._stages.items()
                if isinstance(v, dict) and "seconds" in v
            ),
            **{k: v for k, v in self._stages.items() if not isinstance(v, dict)},
            "demos": str(self.demos_dir),
            "command": f"tracegen reproduce --preset {self.plan.preset} --out {self.out}",
        }
        return write_report(self.out, self.plan, self._results, facts)

    # --- bookkeeping --------------------------------------------------------------------------------

    def _timed(self, name: str, work: Callable[[], Any]) -> Any:
        started = time.monotonic()
        result = work()
        previous = self._stages.get(name)
        seconds = time.monotonic() - started
        # Keep the first full run's time: a resumed run that skipped the work measures nothing.
        if not isinstance(previous, dict) or seconds > previous.get("seconds", 0.0):
            self._stages[name] = {"seconds": seconds}
        self._save_stages()
        return result

    def _note(self, key: str, value: Any) -> None:
        self._stages[key] = value
        self._save_stages()

    def _save_stages(self) -> None:
        path = self.out / STAGES_JSON
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self._stages, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def _check_plan_unchanged(self) -> None:
        """A rerun must continue the same experiment: refuse a different plan in the same folder.

        Only the rows may change (each row's model and evaluations are its own): adding a row
        later reuses the corpus, pre-training and demos already there. How the work runs
        (threads, device, forge executor) may change too: it does not change what is computed.
        """
        path = self.out / "plan.json"
        current = json.loads(json.dumps(self.plan.to_dict()))  # tuples as JSON lists, like the file
        previous = self._read_json(path)
        changed = sorted(
            k for k in current if k not in RESUMABLE_FIELDS and previous and previous.get(k) != current[k]
        )
        if changed:
            raise InputError(
                f"{self.out} holds a reproduction with a different plan (changed: {', '.join(changed)}): "
                "use another --out, or the same options as before to resume it"
            )
        tmp = path.with_name(".plan.json.tmp")
        tmp.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} is not valid JSON ({exc}): delete it to redo that part") from None
