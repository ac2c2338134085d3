"""What ``tracegen reproduce`` runs: the rows of the paper's table and the sizes of every stage.

The paper (TraceGen, CVPR 2026, few-shot table): a model pre-trained on other embodiments'
videos, then warmed up on 5 demos of the target robot, against the same model trained from
scratch on those demos; 4 tasks x 10 trials on a real FR3; plus which pre-training source
matters (robot arms only, human hands only, both). Here the target robot is the FR3 in
franky-sim and the sources are rendered in MuJoCo (:mod:`tracegen.sim.corpus`).

Presets: ``paper`` (the paper's protocol and model size; a GPU job), ``small`` (the same table
on a CPU in hours: a small model, fewer corpus episodes, steps and trials) and ``smoke`` (every
stage for real at the smallest size, for tests). Any field can be overridden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from tracegen.errors import InputError

#: Pre-training sources: "scratch" is no pre-training (random initialisation).
SOURCES = ("scratch", "arms", "hand", "all")
SOURCE_LABELS = {
    "scratch": "from scratch",
    "arms": "pre-trained: arms only",
    "hand": "pre-trained: hand only",
    "all": "pre-trained: arms + hand",
}
#: Success rates the paper reports on the real FR3 (mean of 4 tasks, 10 trials each, 5 demos).
PAPER_REFERENCE_PERCENT = {"scratch": 25, "all": 80}
#: The shipped sim checkpoint's preset (byte-level text encoder: no weights to download).
SIM_MODEL_PRESET = "models:tracegen-sim-block/preset.yaml"


@dataclass(frozen=True)
class Row:
    """One row of the table: a pre-training source and the number of warm-up demos per task."""

    source: str
    demos: int

    @property
    def name(self) -> str:
        return f"{self.source}-{self.demos}"

    @property
    def label(self) -> str:
        return f"{SOURCE_LABELS[self.source]}, {self.demos} demo{'s' if self.demos != 1 else ''}"

    @classmethod
    def parse(cls, text: str) -> Row:
        """``"all-5"`` -> Row("all", 5)."""
        source, _, demos = text.strip().rpartition("-")
        if source not in SOURCES or not demos.isdigit() or int(demos) < 1:
            raise InputError(
                f"row {text!r} is not SOURCE-DEMOS with SOURCE one of {SOURCES} and DEMOS >= 1 (e.g. all-5)"
            )
        return cls(source, int(demos))


def _rows(*names: str) -> tuple[Row, ...]:
    return tuple(Row.parse(n) for n in names)


#: Plan fields that say how the work runs, not what it computes: a rerun may change them
#: (and the rows) and still resume the same experiment.
RESUMABLE_FIELDS = frozenset({"rows", "threads", "device", "forge_executor"})

#: The paper's table: scratch / pre-trained x 5, 15 demos, then the pre-training source ablation.
PAPER_ROWS = _rows("scratch-5", "scratch-15", "all-5", "all-15", "arms-5", "hand-5")


@dataclass(frozen=True)
class ReproducePlan:
    """Sizes of every stage (see the module docstring for the presets).

    Seeds: the corpus is rendered from ``corpus_seed``; expert demos start at ``demo_seed + 1``
    and evaluation trials at ``eval_seed``, so no evaluated scene was ever demonstrated.
    """

    preset: str
    tasks: tuple[str, ...] = ("block", "ball", "brush", "clothes")
    rows: tuple[Row, ...] = PAPER_ROWS
    # Pre-training corpus (rendered in MuJoCo, forged with LK tracking).
    corpus_arms: tuple[str, ...] = ("ur5e", "xarm7", "kinova3", "iiwa")
    corpus_episodes_per_arm: int = 24
    corpus_hand_episodes: int = 24
    corpus_seed: int = 0
    corpus_width_px: int = 320
    corpus_height_px: int = 240
    corpus_fps: float = 10.0
    #: "local" (one process) or "ray" (``tracegen forge``'s Ray executor, every CPU).
    forge_executor: str = "local"
    # Model and training.
    model_preset: str = SIM_MODEL_PRESET
    pretrain_steps: int = 1500
    pretrain_lr: float = 3e-4
    batch_size: int = 8
    adapt_steps: int = 300
    warmup_lr: float = 1e-4
    scratch_lr: float = 3e-4
    padding: str = "hold"
    threads: int = 0
    device: str = "auto"
    # Target-robot demos and closed-loop evaluation.
    demo_seed: int = 1000
    demo_fps: float = 5.0
    trials: int = 5
    eval_seed: int = 0
    max_steps: int = 30
    episode_timeout_s: float = 90.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from tracegen.sim.tasks import make_task

        if not self.tasks:
            raise InputError("no task to evaluate: give at least one of block, ball, brush, clothes")
        for task in self.tasks:
            make_task(task)  # InputError naming the known tasks
        if not self.rows:
            raise InputError("no row to run: give at least one, e.g. --rows scratch-5,all-5")
        for name in (
            "corpus_episodes_per_arm",
            "corpus_hand_episodes",
            "pretrain_steps",
            "adapt_steps",
            "batch_size",
            "trials",
            "max_steps",
        ):
            if getattr(self, name) < 1 and not (name.startswith("corpus") and not self.needs_corpus):
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.forge_executor not in ("local", "ray"):
            raise InputError(f"forge_executor must be local or ray, got {self.forge_executor!r}")
        if any(r.source in ("arms", "all") for r in self.rows) and not self.corpus_arms:
            raise InputError("rows pre-trained on arms need corpus arms (--arms ur5e,xarm7,...)")

    # --- what the rows need -----------------------------------------------------------------------

    @property
    def sources(self) -> tuple[str, ...]:
        """Pre-training sources the rows need, in table order (no "scratch")."""
        return tuple(s for s in SOURCES if s != "scratch" and any(r.source == s for r in self.rows))

    @property
    def needs_corpus(self) -> bool:
        return bool(self.sources)

    @property
    def demo_counts(self) -> tuple[int, ...]:
        return tuple(sorted({r.demos for r in self.rows}))

    def corpus_parts(self) -> dict[str, tuple[str, ...]]:
        """Corpus part -> embodiments rendered into it (the parts the sources need)."""
        parts: dict[str, tuple[str, ...]] = {}
        if any(s in ("arms", "all") for s in self.sources):
            parts["arms"] = self.corpus_arms
        if any(s in ("hand", "all") for s in self.sources):
            parts["hand"] = ("hand",)
        return parts

    @staticmethod
    def source_parts(source: str) -> tuple[str, ...]:
        return {"arms": ("arms",), "hand": ("hand",), "all": ("arms", "hand")}[source]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [r.name for r in self.rows]
        return data

    def with_overrides(self, **overrides: Any) -> ReproducePlan:
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise InputError(f"unknown plan fields {sorted(unknown)}; known: {sorted(known)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


PRESETS: dict[str, ReproducePlan] = {
    # The paper's protocol at its model size: a GPU job (see README: hours on 8 GPUs).
    "paper": ReproducePlan(
        preset="paper",
        model_preset="paper",
        corpus_episodes_per_arm=2000,
        corpus_hand_episodes=2000,
        pretrain_steps=100_000,
        pretrain_lr=1e-4,
        batch_size=64,
        adapt_steps=2000,
        warmup_lr=5e-5,
        scratch_lr=1e-4,
        trials=10,
        corpus_arms=("ur5e", "xarm7", "kinova3", "iiwa", "panda"),
        forge_executor="ray",
    ),
    # The same table on a 2-core CPU in hours.
    "small": ReproducePlan(preset="small"),
    # Every stage for real at the smallest size (tests; minutes).
    "smoke": ReproducePlan(
        preset="smoke",
        tasks=("block",),
        rows=_rows("scratch-1", "all-1"),
        corpus_arms=("ur5e",),
        corpus_episodes_per_arm=1,
        corpus_hand_episodes=1,
        corpus_width_px=160,
        corpus_height_px=120,
        pretrain_steps=2,
        batch_size=2,
        adapt_steps=2,
        trials=1,
        max_steps=2,
        episode_timeout_s=20.0,
    ),
}


def make_plan(preset: str, **overrides: Any) -> ReproducePlan:
    """The preset's plan with ``overrides`` (None values ignored)."""
    if preset not in PRESETS:
        raise InputError(f"unknown reproduce preset {preset!r}; known: {sorted(PRESETS)}")
    return PRESETS[preset].with_overrides(**overrides)
