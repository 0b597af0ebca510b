"""Verdicts readable in a minute (issue 27, item 8): a headline that never contradicts a claim's own
checks, the paper's curve names with their legend, the three-line summary, the rule on the page,
and an index that lists the scale answering the paper first. The committed store and verdict.json
files are the reference for "nothing the claims compute changed"."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT
from harness import Beats, Ordering, Scale, Slope, Suite
from harness.api.errors import BenchError
from harness.reporting import leaderboard
from harness.suites.claims import headline, with_curve_names
from harness.suites.statistics import FAILS, HOLDS, NOT_SEPARABLE, RULE, UNDERPOWERED, Check
from harness.suites.suite import load_suite_toml, suite_to_toml, validate_suite

H, F, NS = HOLDS, FAILS, NOT_SEPARABLE


def checks(spec):
    """Checks from {(condition, N): [status, ...]} (N None: a check across N)."""
    return [Check(cond, n, f"pair {i}", 3, 0, 0.0, -1.0, 1.0, st)
            for (cond, n), statuses in spec.items() for i, st in enumerate(statuses)]


# --- the headline ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, by_n, expected", [
    ({("t", 250): [H, H], ("t", 500): [H, H]}, True, "HOLDS"),
    ({}, True, "NOT SEPARABLE"),
    # teacher-nets' claim 1 as committed: 5 pairs per N, two of them not separable at N = 250
    ({("teacher3", 250): [NS, NS, H, NS, H], ("teacher3", 500): [H] * 5, ("teacher3", 1000): [H] * 5}, True,
     "HOLDS at N ≥ 500; NOT SEPARABLE below"),
    ({("t", 250): [H], ("t", 500): [H], ("t", 1000): [NS]}, True, "HOLDS at N ≤ 500; NOT SEPARABLE above"),
    ({("t", 250): [H], ("t", 500): [NS], ("t", 1000): [H]}, True,
     "HOLDS at N ∈ {250, 1000}; NOT SEPARABLE at N = 500"),
    # a chain with one pair holding and the other never separating is NOT SEPARABLE at every N
    ({("t", 250): [H, NS], ("t", 500): [H, NS]}, True, "NOT SEPARABLE"),
    # the same pattern in every condition
    ({("a", 250): [NS], ("a", 500): [H], ("b", 250): [NS], ("b", 500): [H]}, True,
     "HOLDS at N = 500; NOT SEPARABLE below in every condition"),
    ({("a", 250): [NS], ("a", 500): [H], ("b", 250): [NS], ("b", 500): [NS]}, True,
     "HOLDS at 1 of 4 (condition, N); NOT SEPARABLE at 3"),
    # allen-zhu-fig1 as committed: 3 conditions × 3 N × 2 pairs, one failing
    ({**{(c, n): [H, NS] for c in ("sin3, σ = 0·std y", "sin3, σ = 0.1·std y", "sin3, σ = 0.5·std y")
         for n in (250, 500, 1000)}, ("sin3, σ = 0·std y", 500): [H, F]}, True,
     "FAILS at sin3, σ = 0·std y, N = 500: 1 of 18 checks"),
    ({("a", None): [H], ("b", None): [NS]}, False, "HOLDS on a; NOT SEPARABLE on b"),
    ({("a", None): [F], ("b", None): [H]}, False, "FAILS at a: 1 of 2 checks"),
])
def test_the_headline_says_where_each_status_was_found(spec, by_n, expected):
    assert headline(checks(spec), by_n) == expected


def test_curve_names_replace_whole_selectors_only():
    curves = {"3layer": "three_layer_sgd[train=hidden]", "3layer(NTK)": "three_layer_ntk", "NTK": "ntk"}
    text = "three_layer_sgd[train=hidden] − three_layer_ntk; ntk; three_layer_sgd[train=hidden] (width=256); " \
           "three_layer_sgd[train=last]"
    assert with_curve_names(text, curves) == "3layer − 3layer(NTK); NTK; 3layer (width=256); three_layer_sgd[train=last]"


def test_the_rule_on_the_page_is_the_rule_the_code_applies():
    # the page's example of a FAILS is what headline() writes for one failing check of 18
    spec = {("sin3", n): [H] * 6 for n in (250, 1000)}
    spec[("sin3", 500)] = [H] * 5 + [F]
    assert f'"{headline(checks(spec), True)}"' in RULE
    spec = {("sin3", 250): [UNDERPOWERED], ("sin3", 500): [H], ("sin3", 1000): [H]}
    assert headline(checks(spec), True) == "HOLDS at N ≥ 500; UNDERPOWERED below"
    assert '"HOLDS at N ≥ 500; UNDERPOWERED below"' in RULE


# --- curves and paper_scale on a Suite -------------------------------------------------------------


def toy(**kw):
    fields = dict(name="toy", description="d", tasks={"sin3": {}},
                  learners={"three_layer_sgd": [{"train": ["hidden"]}, {"train": ["last"]}], "ntk": {}},
                  ns=(100,), scales={"paper": Scale(ns=(1000,))})
    return Suite(**{**fields, **kw})


CURVES = {"3layer": "three_layer_sgd[train=hidden]", "3layer(last)": "three_layer_sgd[train=last]"}


def test_a_claim_may_name_a_curve_and_checks_its_selector():
    by_name = toy(curves=CURVES, claims=(Ordering(learners=("3layer", "ntk", "3layer(last)"), text="t", source="s"),))
    by_selector = toy(curves=CURVES, claims=(Ordering(learners=(CURVES["3layer"], "ntk", CURVES["3layer(last)"]),
                                                       text="t", source="s"),))
    validate_suite(by_name)
    assert by_name.claims == by_selector.claims
    assert by_name.claims[0].learners == ("three_layer_sgd[train=hidden]", "ntk", "three_layer_sgd[train=last]")
    beats = toy(curves=CURVES, claims=(Beats(learner="3layer", others=("ntk", "3layer(last)"), text="t", source="s"),
                                       Slope(learner="3layer", at_most=0.0, text="t", source="s")))
    assert beats.claims[0].others == ("ntk", "three_layer_sgd[train=last]") and beats.claims[1].learner == CURVES["3layer"]


@pytest.mark.parametrize("kw, words", [
    ({"curves": {"3layer": "two_layer_sgd"}}, "names no learner the suite runs at scale 'small'"),
    ({"curves": {"ntk": "three_layer_sgd[train=hidden]"}}, "is also a learner's name"),
    ({"curves": {"a": "ntk", "b": "ntk"}}, "more than once"),
    ({"curves": {"": "ntk"}}, "a curve is a non-empty name"),
    ({"curves": ["3layer"]}, "curves must be a dict"),
    ({"paper_scale": "big"}, "paper_scale 'big' is not one of its scales; write one of 'small', 'paper'"),
])
def test_bad_curves_or_paper_scale_are_one_line_errors(kw, words):
    with pytest.raises(ValueError) as exc:
        validate_suite(toy(**kw))
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_curves_and_paper_scale_round_trip_through_toml(tmp_path):
    suite = toy(curves=CURVES, paper_scale="paper",
                claims=(Ordering(learners=("3layer", "ntk"), text="t", source="s"),))
    path = tmp_path / "toy.toml"
    path.write_text(suite_to_toml(suite))
    assert '"3layer(last)" = "three_layer_sgd[train=last]"' in path.read_text()
    assert load_suite_toml(path) == suite
    text = suite_to_toml(suite)
    bad = re.sub(r'^("?)3layer\1 = "three_layer_sgd\[train=hidden\]"$', '"3layer" = 3', text, flags=re.M)
    assert bad != text
    path.write_text(bad)
    with pytest.raises(BenchError, match=r"curves\.3layer must be a string"):
        load_suite_toml(path)


def test_the_allen_zhu_suites_name_figure_1s_curves():
    from harness.execution.registry import load_registry

    reg = load_registry()
    for name in ("allen-zhu-fig1", "allen-zhu-fig1a", "allen-zhu-fig1b", "allen-zhu-fig2", "teacher-nets"):
        suite = reg.suites[name]
        # ../shared/PAPERS.md: 3layer, 2layer (hidden weights), 3layer(NTK), and the two '(last)' curves
        assert suite.curves == {"3layer": "three_layer_sgd[train=hidden]", "2layer": "two_layer_sgd[train=hidden]",
                                "3layer(NTK)": "three_layer_ntk", "3layer(last)": "three_layer_sgd[train=last]",
                                "2layer(last)": "two_layer_sgd[train=last]"}, name
    for name in ("allen-zhu-fig1", "teacher-nets", "li-liang-mixtures", "arora-random-labels", "zou-gu-deep"):
        assert reg.suites[name].paper_scale == "paper", name
    assert reg.suites["quick"].paper_scale is None


# --- the index -----------------------------------------------------------------------------------


def verdict_json(where, suite, scale, paper_scale):
    where.mkdir(parents=True)
    (where / "verdict.json").write_text(json.dumps({
        "suite": suite, "scale": scale, "description": f"{suite} described", "cells": {"ok": 1, "planned": 1},
        "paper_scale": paper_scale, "claims": [{"line": f"**HOLDS** — claim of {suite} at {scale}"}]}))


def test_the_index_lists_the_scale_that_answers_the_paper_first_and_says_so(tmp_path):
    out = tmp_path / "lb"
    verdict_json(out / "zeta", "zeta", "small", "paper")  # an alphabetically earlier path than zeta/paper
    verdict_json(out / "zeta" / "paper", "zeta", "paper", "paper")
    verdict_json(out / "alpha", "alpha", "small", "paper")  # its paper scale not run here
    verdict_json(out / "ours", "ours", "small", None)  # a suite with no paper scale
    text = leaderboard.suite_index(out)
    entries = [line for line in text.splitlines() if line.startswith("- [")]
    assert [e.split("]")[0][3:] + " " + e.split("scale `")[1].split("`")[0] for e in entries] == [
        "alpha small", "ours small", "zeta paper", "zeta small"]
    assert "(**answers the paper's question**)" in entries[2]
    assert "(a smaller trial: the paper's question is answered at scale `paper`)" in entries[3]
    assert "answered at scale `paper`, not run here)" in entries[0]
    assert "answers" not in entries[1] and "trial" not in entries[1]


# --- pages regenerated from the committed store ------------------------------------------------------


def regenerate(bench, tmp_path, suite):
    store = tmp_path / "store.sqlite"
    shutil.copy(ROOT / "leaderboards" / "store.sqlite", store)
    code, _, err = bench("leaderboard", "--suite", suite, "--store", str(store), "--out", str(tmp_path / "lb"))
    assert code == 0, err
    where = tmp_path / "lb" / suite
    return (where / "verdict.md").read_text(), json.loads((where / "verdict.json").read_text())


def opening(md):
    """The first bullet list of verdict.md, as markdown-it-py parses it: one text per item."""
    items, depth = [], 0
    for t in MarkdownIt("commonmark").parse(md):
        if t.type == "bullet_list_open":
            depth += 1
        elif t.type == "bullet_list_close":
            depth -= 1
            if depth == 0:
                return items
        elif t.type == "inline" and depth == 1:
            items.append(t.content)
    return items


def same_results(new, committed):
    """Every claim's statement, strict status, summary and checks as the committed verdict.json has them."""
    keys = ("statement", "status", "summary", "checks")
    assert [{k: c[k] for k in keys} for c in new["claims"]] == [{k: c[k] for k in keys} for c in committed["claims"]]


@pytest.mark.slow
def test_teacher_nets_reads_holds_at_n_500_and_not_separable_below(bench, tmp_path):
    md, new = regenerate(bench, tmp_path, "teacher-nets")
    committed = json.loads((ROOT / "leaderboards" / "teacher-nets" / "verdict.json").read_text())
    same_results(new, committed)
    one = committed["claims"][0]
    assert one["summary"] == "HOLDS at N ≥ 500; NOT SEPARABLE at N = 250"  # what the claim's own line said
    assert new["claims"][0]["verdict"] == "HOLDS at N ≥ 500; NOT SEPARABLE below"
    summary = opening(md)
    assert len(summary) == 3 and [s.split(":**")[0] for s in summary] == ["**Asked", "**Answer", "**Numbers"]
    assert ("claim 1, 3layer < each of 3layer(NTK), ntk, kernel_ridge, 3layer(last), 2layer(last) on teacher3: "
            "**HOLDS at N ≥ 500; NOT SEPARABLE below**") in summary[1]
    assert "[teacher2](teacher2.md)" in summary[2] and "126 of 126 planned cells ok" in summary[2]
    assert "answered at scale `paper`" in summary[0]
    assert "1. **HOLDS at N ≥ 500; NOT SEPARABLE below** — 3layer < each of 3layer(NTK)" in md
    assert f"How a verdict is read: {RULE}" in md
    assert "- **3layer(NTK)**: `three_layer_ntk` (`three_layer_ntk (" in md  # the legend
    assert "3layer − 3layer(NTK)" in md.split("## Claim 1")[1]
    assert "three_layer_sgd[train=hidden] −" not in md  # checks are written in the paper's names only


@pytest.mark.slow
def test_allen_zhu_fig1_says_its_fails_rests_on_one_check_of_eighteen(bench, tmp_path):
    md, new = regenerate(bench, tmp_path, "allen-zhu-fig1")
    committed = json.loads((ROOT / "leaderboards" / "allen-zhu-fig1" / "verdict.json").read_text())
    same_results(new, committed)
    checks_ = committed["claims"][0]["checks"]
    failed = [c for c in checks_ if c["status"] == "FAILS"]
    assert (len(failed), len(checks_)) == (1, 18)
    where = f"{failed[0]['condition']}, N = {failed[0]['n']}"
    headline_ = f"FAILS at {where}: 1 of 18 checks"
    assert new["claims"][0]["verdict"] == headline_ and new["claims"][0]["status"] == "FAILS"
    line = next(x for x in md.splitlines() if x.startswith("1. "))
    assert line.startswith(f"1. **{headline_}** — 3layer < 2layer < 3layer(NTK) on sin3: ")
    assert "At N = 1000" not in line and len(line) < 400  # the numbers live under the claim's heading
    assert "3layer − 2layer" in md.split("## Claim 1")[1]


def test_the_selection_on_test_table_names_curves_by_the_paper():
    from harness.reporting.suite_pages import flattery_section

    row = {"learner": "three_layer_sgd[train=hidden]", "full_label": "three_layer_sgd (train=hidden, width=200)",
           "_short": "three_layer_sgd[train=hidden]", "n": 200, "seeds": 3, "validation": 0.5, "test": 0.4,
           "difference": -0.1, "lo": -0.2, "hi": 0.0, "relative": -0.2}
    text = "\n".join(flattery_section([row], CURVES))
    assert "| 3layer " in text and "- `3layer`: `three_layer_sgd (train=hidden, width=200)`" in text
    assert "three_layer_sgd[train=hidden]" not in text
