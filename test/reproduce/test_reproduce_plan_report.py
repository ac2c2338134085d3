"""The reproduction's plan (rows, presets, overrides) and its report (table, plot), without running it."""

from __future__ import annotations

import json

import pytest

from tracegen.errors import InputError
from tracegen.reproduce.plan import PAPER_ROWS, PRESETS, Row, make_plan
from tracegen.reproduce.report import RESULTS_JSON, RESULTS_MD, RESULTS_PNG, markdown, write_report
from tracegen_ros.demo_outputs import wilson_interval


def test_rows_parse_and_name_the_paper_table():
    assert Row.parse("all-5") == Row("all", 5)
    assert Row.parse("scratch-15").label == "from scratch, 15 demos"
    assert [r.name for r in PAPER_ROWS] == ["scratch-5", "scratch-15", "all-5", "all-15", "arms-5", "hand-5"]
    for bad in ("all", "robots-5", "all-0", "all-x"):
        with pytest.raises(InputError, match="SOURCE-DEMOS"):
            Row.parse(bad)


def test_a_plan_needs_only_the_corpus_and_pretraining_its_rows_use():
    plan = make_plan("small", rows=(Row("scratch", 5), Row("hand", 5)))
    assert plan.sources == ("hand",)
    assert plan.corpus_parts() == {"hand": ("hand",)}
    assert plan.demo_counts == (5,)
    scratch_only = make_plan("small", rows=(Row("scratch", 5),))
    assert not scratch_only.needs_corpus
    full = make_plan("small")
    assert full.sources == ("arms", "hand", "all")
    assert set(full.corpus_parts()) == {"arms", "hand"}
    assert full.demo_counts == (5, 15)
    assert full.source_parts("all") == ("arms", "hand")


def test_presets_are_valid_and_overrides_are_checked():
    assert set(PRESETS) == {"paper", "small", "smoke"}
    assert make_plan("small", trials=3, tasks=None).trials == 3  # None keeps the preset's
    with pytest.raises(InputError, match="unknown reproduce preset"):
        make_plan("huge")
    with pytest.raises(InputError, match=r"unknown simulated task .laundry."):
        make_plan("small", tasks=("laundry",))
    with pytest.raises(InputError, match="trials must be at least 1"):
        make_plan("small", trials=0)
    with pytest.raises(InputError, match="unknown plan fields"):
        PRESETS["small"].with_overrides(gpus=8)


def test_wilson_interval_stays_inside_zero_one_and_brackets_the_rate():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and 0.4 < high < 0.5  # 0/5 still allows ~43 %
    low, high = wilson_interval(8, 10)
    assert low < 0.8 < high and low > 0.4 and high < 1.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def _result(successes: int, trials: int) -> dict:
    return {"successes": successes, "trials": trials, "ci95": list(wilson_interval(successes, trials))}


def test_the_report_tables_partial_and_complete_results(tmp_path):
    plan = make_plan("small", tasks=("block", "ball"), trials=2)
    results = {
        "scratch-5": {"block": _result(0, 2), "ball": _result(1, 2)},
        "all-5": {"block": _result(2, 2)},  # ball not evaluated yet
        "hand-5": {"block": _result(1, 2), "ball": _result(1, 2)},
    }
    text = markdown(plan, results, {"note": "test"})
    lines = text.splitlines()
    scratch = next(line for line in lines if line.startswith("| from scratch, 5 demos"))
    assert scratch == "| from scratch, 5 demos | 0/2 (0%) | 1/2 (50%) | 25% |"
    pretrained = next(line for line in lines if line.startswith("| pre-trained: arms + hand, 5 demos"))
    assert pretrained == "| pre-trained: arms + hand, 5 demos | 2/2 (100%) | - | - |"
    assert "| pre-trained: hand only, 5 demos | 1/2 (50%) | 1/2 (50%) | 50% |" in lines
    assert "## Pre-training source" in text and "from scratch 25%" in text  # the paper's reference

    md, js, png = write_report(tmp_path, plan, results, {"note": "test"})
    assert (md.name, js.name, png.name) == (RESULTS_MD, RESULTS_JSON, RESULTS_PNG)
    data = json.loads(js.read_text())
    assert data["mean_percent"]["scratch-5"] == 25.0 and data["mean_percent"]["all-5"] is None
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave nothing behind
