"""The reproduction's table: results.json -> results.md (the paper's layout) and results.png.

Cells are ``successes/trials`` with the percentage; the mean column averages the tasks'
success rates (each task weighs the same, as in the paper). Rows not run yet show "-".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tracegen.reproduce.plan import PAPER_REFERENCE_PERCENT, SOURCE_LABELS, ReproducePlan, Row

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
RESULTS_PNG = "results.png"


def cell(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    return (
        f"{result['successes']}/{result['trials']} ({round(100 * result['successes'] / result['trials'])}%)"
    )


def row_mean_percent(plan: ReproducePlan, results: dict[str, dict[str, Any]], row: Row) -> float | None:
    """Mean over the tasks of the row's success rate, in percent (None until every task ran)."""
    by_task = results.get(row.name, {})
    if any(task not in by_task for task in plan.tasks):
        return None
    return 100 * sum(by_task[t]["successes"] / by_task[t]["trials"] for t in plan.tasks) / len(plan.tasks)


def markdown(plan: ReproducePlan, results: dict[str, dict[str, Any]], facts: dict[str, Any]) -> str:
    """The tables and how they were made."""
    head = ["method", *plan.tasks, "mean"]
    lines = [
        f"# TraceGen few-shot reproduction in simulation (preset `{plan.preset}`)",
        "",
        f"Closed-loop success on the simulated FR3 (franky-sim), {plan.trials} trial(s) per task from "
        f"seeds {plan.eval_seed}..{plan.eval_seed + plan.trials - 1}, through the full ROS graph.",
        "",
    ]

    def table(rows: list[Row]) -> list[str]:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in rows:
            mean = row_mean_percent(plan, results, row)
            cells = [cell(results.get(row.name, {}).get(t)) for t in plan.tasks]
            out.append(
                f"| {row.label} | " + " | ".join(cells) + f" | {'-' if mean is None else f'{mean:.0f}%'} |"
            )
        return out

    main = [r for r in plan.rows if r.source in ("scratch", "all")]
    ablation = [r for r in plan.rows if r.source in ("arms", "hand")]
    if main:
        lines += ["## From scratch vs pre-trained", "", *table(main), ""]
    if ablation:
        same_demos = sorted({r.demos for r in ablation})
        comparison = [r for r in plan.rows if r.source == "all" and r.demos in same_demos]
        lines += ["## Pre-training source", "", *table(ablation + comparison), ""]
    lines += [
        "Paper (real FR3, 4 tasks x 10 trials, 5 demos): "
        + ", ".join(f"{SOURCE_LABELS[s]} {p}%" for s, p in PAPER_REFERENCE_PERCENT.items())
        + ".",
        "",
        "## How it was made",
        "",
    ]
    for key, value in facts.items():
        lines.append(f"- {key}: {value}")
    lines += ["", "Plan:", "", "```json", json.dumps(plan.to_dict(), indent=1), "```", ""]
    return "\n".join(lines)


def write_plot(path: Path, plan: ReproducePlan, results: dict[str, dict[str, Any]]) -> Path:
    """Grouped bars: success rate per task (and the mean) for every row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [*plan.tasks, "mean"]
    x = np.arange(len(groups))
    width = 0.8 / max(len(plan.rows), 1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups), 4.2))
    for i, row in enumerate(plan.rows):
        by_task = results.get(row.name, {})
        values = [
            100 * by_task[t]["successes"] / by_task[t]["trials"] if t in by_task else np.nan
            for t in plan.tasks
        ]
        mean = row_mean_percent(plan, results, row)
        values.append(np.nan if mean is None else mean)
        bars = ax.bar(x + (i - (len(plan.rows) - 1) / 2) * width, values, width, label=row.label)
        for bar, value in zip(bars, values, strict=True):
            if not np.isnan(value):
                ax.annotate(
                    f"{value:.0f}",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(x, groups)
    ax.set_ylim(0, 105)
    ax.set_ylabel("success (%)")
    ax.set_title(f"TraceGen few-shot in simulation (preset {plan.preset}, {plan.trials} trials/task)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_report(
    out_dir: Path, plan: ReproducePlan, results: dict[str, dict[str, Any]], facts: dict[str, Any]
) -> tuple[Path, Path, Path]:
    """Write results.md, results.json and results.png into ``out_dir`` (atomic), returned in that order."""
    data = {
        "plan": plan.to_dict(),
        "results": results,
        "facts": facts,
        "mean_percent": {r.name: row_mean_percent(plan, results, r) for r in plan.rows},
    }
    paths = []
    for name, text in (
        (RESULTS_MD, markdown(plan, results, facts)),
        (RESULTS_JSON, json.dumps(data, indent=2) + "\n"),
    ):
        path = out_dir / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        paths.append(path)
    paths.append(write_plot(out_dir / RESULTS_PNG, plan, results))
    return tuple(paths)
