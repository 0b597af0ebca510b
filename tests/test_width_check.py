"""A scale's width check (issue #25, item 2): its verdict page sets each curve at its width beside
another scale's width, seed 0, and says whether the order of the curves moves."""

from __future__ import annotations

import sqlite3

import pytest

from suite_plugin import SOURCE

from harness import Scale, Suite
from harness.suites.suite import validate_suite

CHECKED = '''
from harness import Ordering, Scale, Suite, hookimpl

WC = Suite(name="wc", description="ridge at two widths beside the mean", tasks={"line": {}},
           learners={"ridge": {"width": [1]}, "mean": {}}, ns=(20, 40), seeds=2, n_test=100,
           curves={"R": "ridge", "M": "mean"},
           caveats=("the suite's own caveat",),
           scales={"main": Scale(width_check="check", caveats=("only the main scale's caveat",)),
                   "check": Scale(ns=(40,), seeds=1, learners={"ridge": {"width": [2]}, "mean": {"width": [2]}})},
           claims=(Ordering(learners=("R", "M"), text="ridge beats the mean", source="test"),))


@hookimpl
def register_suites(register):
    register(WC)
'''


def test_the_page_sets_both_widths_side_by_side_and_says_whether_the_order_moves(fake_plugin, monkeypatch, bench,
                                                                                   tmp_path):
    fake_plugin("toysuites", SOURCE)
    fake_plugin("wcsuite", CHECKED)
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,toysuites,wcsuite")
    lb = str(tmp_path / "lb")
    assert bench("run", "--suite", "wc", "--scale", "check", "--jobs", "1", "--out", lb)[0] == 0
    # one curve at width 1 so far: its order is no evidence that width moves (or keeps) the order
    assert bench("run", "--suite", "wc", "--scale", "main", "--jobs", "1", "--out", lb, "-l", "ridge")[0] == 0
    page = (tmp_path / "lb" / "wc" / "main" / "verdict.md").read_text()
    assert "- N = 40: width 1: R; width 2: R < M — not every curve has run at every width yet." in page
    assert bench("run", "--suite", "wc", "--scale", "main", "--jobs", "1", "--out", lb)[0] == 0
    page = (tmp_path / "lb" / "wc" / "main" / "verdict.md").read_text()
    section = page[page.index("## Width check: width 1 beside 2"):]
    con = sqlite3.connect(tmp_path / "store.sqlite")
    score = {(learner, width): s for learner, width, s in con.execute(
        "SELECT learner, json_extract(learner_grid, '$.width[0]'), test_score FROM cells WHERE n = 40 AND seed = 0")}
    row = next(line for line in section.splitlines() if line.startswith("| R "))
    assert [c.strip() for c in row.strip("|").split("|")] == ["R", f"{score[('ridge', 1)]:.3g}",
                                                              f"{score[('ridge', 2)]:.3g}"]
    assert "- N = 40: width 1: R < M; width 2: R < M — the same order." in section
    # a scale's own caveats follow the suite's on its pages, and on no other scale's
    caveats = page[page.index("## Caveats"):].splitlines()
    assert caveats.index("- the suite's own caveat") < caveats.index("- only the main scale's caveat")
    other = (tmp_path / "lb" / "wc" / "check" / "verdict.md").read_text()
    assert "- the suite's own caveat" in other and "only the main scale's caveat" not in other


def test_a_width_check_must_name_a_scale_of_the_suite():
    suite = Suite(name="x", description="d", tasks={"sin3": {}}, learners={"ntk": {}}, ns=(10,),
                  scales={"paper": Scale(width_check="nope")})
    with pytest.raises(ValueError, match="width_check 'nope', which is not one of its scales"):
        validate_suite(suite)
