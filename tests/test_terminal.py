"""Terminal-sized output and honest exports (issue 27, items 4 and 6): every command's default
output fits 100 terminal columns (measured in characters as a terminal draws them, not bytes) on
the real registry and a copy of the committed store; suites are told apart in `bench list`;
`bench show` names unknown tasks and learners with a did-you-mean; the exports' val_score is the
same kind as test_score, checked against a validation MSE recomputed here by refitting."""

from __future__ import annotations

import csv
import json
import shutil
import tomllib
import unicodedata

import numpy as np
import pytest

from conftest import ROOT, one_line_error
from harness.execution.registry import load_registry
from harness.storage.store import Store

WIDTH = 100
COMMITTED = ROOT / "leaderboards" / "store.sqlite"


def columns(line: str) -> int:
    """Terminal columns of ``line``: East Asian wide and full-width characters take two, combining
    marks none, every other character one (so "‖W−W0‖" is 6 columns, though 12 bytes)."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
               for c in line)


def widest(text: str) -> int:
    return max((columns(line) for line in text.splitlines()), default=0)


@pytest.fixture
def committed(tmp_path):
    """A copy of the committed store (never the store itself: `bench` may migrate what it opens)."""
    if not COMMITTED.exists():
        pytest.skip("no committed store in this checkout")
    copy = tmp_path / "committed.sqlite"
    shutil.copy(COMMITTED, copy)
    return str(copy)


def test_the_width_measure_counts_characters_not_bytes():
    assert columns("‖W−W0‖") == 6 and len("‖W−W0‖".encode()) == 12
    assert columns("日本") == 4 and columns("é") == 1 and columns("e\u0301") == 1


# --- bench show --------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("-t", "sin3"), ("-t", "mixtures"), ("-l", "three_layer_sgd"),
                                  ("-t", "tanh3", "--verbose"), ("-t", "digits2", "--wide")])
def test_bench_show_fits_100_columns_on_the_committed_store(bench, committed, args):
    code, out, err = bench("show", "--store", committed, *args)
    assert code == 0, err
    assert widest(out) <= WIDTH, max(out.splitlines(), key=columns)
    rows = Store(committed).rows(*(dict(zip(args[::2], args[1::2])).get(k) for k in ("-t", "-l")))
    header = out.splitlines()[0].split()
    assert header[:4] == ["task", "learner", "N", "seed"] and "s" in header
    table = out.splitlines()[2:2 + len(rows)] if "--verbose" not in args and "--wide" not in args else None
    if table is not None:  # one line per stored cell, in the store's order
        assert [line.split()[0] for line in table] == [r["task"] for r in rows]
        assert [int(line.split()[2]) for line in table] == [r["n"] for r in rows]


def test_bench_show_names_each_learner_variant_once_and_spells_out_every_short_name(bench, committed):
    from harness.api.learners import label

    code, out, _ = bench("show", "--store", committed, "-t", "sin3")
    rows = Store(committed).rows("sin3")
    table, _, legend = out.partition("learners by short name, with their full grids:\n")
    shown = {}  # full label -> the name its lines show
    for line, r in zip(table.splitlines()[2:], rows):
        shown.setdefault(label(r["learner"], r["learner_params"] or {}), set()).add(line.split()[1])
    assert all(len(names) == 1 for names in shown.values())  # one name per variant
    names = {next(iter(v)): k for k, v in shown.items()}
    assert len(names) == len(shown)  # and no two variants share a name
    spelled = " ".join(legend.split())
    for name, full in names.items():
        if name != full:  # a short name is followed, in the legend, by its full grid
            assert f"{name}" in spelled and full in spelled, (name, full)
    assert widest(legend) <= WIDTH


def test_bench_show_verbose_has_every_cells_details_wrapped(bench, committed):
    code, out, _ = bench("show", "--store", committed, "-t", "sin3", "-l", "ntk", "--verbose")
    rows = Store(committed).rows("sin3", "ntk")
    assert code == 0 and widest(out) <= WIDTH
    assert out.count("      chosen: ") == len(rows) and out.count("      rel_mse: test ") == len(rows)
    joined = " ".join(out.split())
    for r in rows:
        assert "chosen: " + ", ".join(f"{k}={v}" for k, v in r["chosen_params"].items()) in joined


@pytest.mark.parametrize("args, words", [
    (("-t", "nosuch"), "unknown task 'nosuch'."),
    (("-t", "sin4"), "unknown task 'sin4' — did you mean 'sin3'?"),
    (("-l", "kernel_rige"), "unknown learner 'kernel_rige' — did you mean 'kernel_ridge'?"),
    (("-t", "sin3", "-l", "nosuch"), "unknown learner 'nosuch'."),
])
def test_bench_show_unknown_names_get_a_did_you_mean_and_exit_2(bench, committed, args, words):
    code, out, err = bench("show", "--store", committed, *args)
    assert code == 2 and out == ""
    line = one_line_error(err)
    assert words in line and "Known" in line and committed in line


def test_bench_show_a_known_name_without_rows_says_which_store(bench, committed, tmp_path):
    code, out, err = bench("show", "--store", committed, "-t", "cos")  # installed, never run there
    assert code == 0 and err == ""
    assert out.strip().startswith(f"no stored results for task 'cos' in {committed}")
    empty = str(tmp_path / "empty.sqlite")
    Store(empty).close()
    code, out, _ = bench("show", "--store", empty)
    assert code == 0 and f"no stored results in {empty}" in out


def test_a_learner_only_in_the_store_is_known(bench, committed, tmp_path, monkeypatch):
    """A learner whose plugin was uninstalled since still has its rows shown, not an error."""
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin")  # no plugin installed at all
    code, out, err = bench("show", "--store", committed, "-l", "ntk")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["task", "learner"], err


# --- bench list, suite list, suite show, merge ---------------------------------------------------

def test_bench_list_and_its_verbose_form_fit_100_columns(bench):
    code, out, _ = bench("list")
    assert code == 0 and widest(out) <= WIDTH
    code, out, _ = bench("list", "--verbose")
    assert code == 0 and widest(out) <= WIDTH
    reg = load_registry()
    joined = " ".join(out.split())
    for suite in reg.suites.values():  # --verbose wraps, it does not cut
        assert " ".join(suite.description.split()) in joined
    code, out, _ = bench("suite", "list")
    assert code == 0 and widest(out) <= WIDTH


def test_bench_list_tells_the_suites_apart(bench):
    """The suites' descriptions open alike ("Allen-Zhu, Li, Liang 2019 (NeurIPS, arXiv 1811.04918
    v6) ..." for four of them): each suite's first description line in `bench list` differs."""
    reg = load_registry()
    code, out, _ = bench("list")
    section = out[out.index("\nSuites"):].splitlines()
    start = next(i for i, line in enumerate(section) if line.startswith("---"))
    firsts = {}
    for line in section[start + 1:]:
        if line and not line.startswith(" ") and line.split()[0] in reg.suites:
            words = line.split()
            firsts[words[0]] = " ".join(words[3:])  # after name, claims, plugin
    assert set(firsts) == set(reg.suites)
    assert len(set(firsts.values())) == len(firsts), firsts
    assert "Fig. 1(a)" in firsts["allen-zhu-fig1a"] and "Fig. 2" in firsts["allen-zhu-fig2"]
    assert firsts["allen-zhu-fig1a"].startswith("Allen-Zhu …")  # the shared citation is cut, not the paper


def test_shared_openings_are_cut_at_a_clause_and_distinct_ones_stay():
    from harness.cli.browse import distinct_descriptions

    out = distinct_descriptions({"a": "Smith, Jones 2020 (venue, arXiv 1) Fig. 1 on sin3",
                                 "b": "Smith, Jones 2020 (venue, arXiv 1) Fig. 2 on tanh3",
                                 "c": "Smith, Jones 2020, theory", "d": "our own curves"})
    assert out == {"a": "Smith … Fig. 1 on sin3", "b": "Smith … Fig. 2 on tanh3",
                   "c": "Smith, Jones 2020, theory", "d": "our own curves"}  # c shares only 2 words


@pytest.mark.parametrize("name", sorted(load_registry().suites))
def test_bench_suite_show_fits_100_columns_and_is_the_same_toml(bench, name):
    from harness.suites.suite import suite_to_toml

    code, out, _ = bench("suite", "show", name)
    assert code == 0 and widest(out) <= WIDTH
    assert tomllib.loads(out) == tomllib.loads(suite_to_toml(load_registry().suites[name]))


def test_wrap_toml_keeps_a_string_with_escapes_and_leaves_what_it_cannot_break():
    from harness.cli.browse import wrap_toml

    text = 'a = "' + 'word \\"quoted\\" ' * 12 + 'end"\nb = "' + "x" * 120 + '"\nc = [1, 2]\n'
    out = wrap_toml(text, 40)
    assert tomllib.loads(out) == tomllib.loads(text)
    assert all(columns(l) <= 40 for l in out.splitlines() if not l.startswith("b = "))
    assert 'b = "' + "x" * 120 + '"' in out.splitlines()  # no space to break at: kept whole


def test_bench_merge_prints_within_100_columns(bench, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    grid = ["run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p",
            "alpha_per_n=1e-3", "--seeds", "1", "--n-test", "50", "--jobs", "1", "--quiet", "--no-leaderboard"]
    assert bench(*grid, "--ns", "20", "--store", "other.sqlite")[0] == 0
    code, out, _ = bench("merge", "other.sqlite", "--store", "here.sqlite")
    assert code == 0 and widest(out) <= WIDTH
    assert out.splitlines() == ["merging into here.sqlite:",
                                "  other.sqlite: 1 cell(s) copied, 0 replaced (failed or stale here), 0 kept as "
                                "they were"]


# --- exports: every score in its metric ---------------------------------------------------------

FAST = ["-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p",
        "alpha_per_n=1e-6,1e-3,1", "--n", "40", "--seeds", "2", "--n-test", "200", "--jobs", "1", "--no-leaderboard"]


def _recomputed_relative_val(row: dict) -> float:
    """The chosen configuration refitted on the cell's training split and scored on its
    validation split, here, by the learner's own fit: validation MSE / Var(y_val)."""
    from harness import Problem
    from harness.protocol.cell import split_indices
    from harness.protocol.data import gaussian_label_noise, task_rng, training_set

    reg = load_registry()
    task, learner = reg.tasks["sin3"], reg.learners["kernel_ridge"]
    X, y = training_set(task, row["seed"], row["n"])
    y = gaussian_label_noise(task, row["seed"], y, row["label_sigma"])
    tr, va = split_indices(row["n"], row["val_fraction"], task_rng(task, row["seed"], "split", row["n"]))
    model = learner.fit(X[tr], y[tr], row["chosen_params"], np.random.default_rng(0),
                        Problem("regression", X.shape[1]))
    mse = float(np.mean((model.predict(X[va]) - y[va]) ** 2))
    assert mse == pytest.approx(row["val_score"], rel=1e-6)  # the cell's own raw validation MSE
    return mse / float(np.mean((y[va] - y[va].mean()) ** 2))


def test_exported_val_score_is_relative_mse_like_the_test_score(bench, tmp_path):
    assert bench("run", *FAST)[0] == 0
    assert bench("run", *FAST, "--label-sigma", "0.5")[0] == 0  # noisy training and validation labels
    stored = {r["cell_id"]: r for r in Store(tmp_path / "store.sqlite").rows()}
    code, out, _ = bench("show", "--format", "json")
    records = json.loads(out)
    assert code == 0 and len(records) == 4
    for rec in records:
        row = stored[rec["cell_id"]]
        assert rec["metric"] == "rel_mse" and rec["val_note"] == ""
        assert rec["val_score"] == pytest.approx(_recomputed_relative_val(row), rel=1e-9)
        assert rec["val_mse"] == row["val_score"]  # the raw one, under its metric's name
        assert rec["val_score"] != pytest.approx(rec["val_mse"], rel=1e-3)  # a real change (Var y_val ≠ 1)
    code, out, _ = bench("show", "-f", "csv")  # -f: the issue's own spelling of --format
    header = out.splitlines()[0].split(",")
    assert {"metric", "test_score", "train_score", "val_score", "val_mse", "val_note"} <= set(header)
    by_id = {r["cell_id"]: r for r in csv.DictReader(out.splitlines())}
    assert all(float(by_id[r["cell_id"]]["val_score"]) == pytest.approx(r["val_score"]) for r in records)


def test_a_redraw_that_is_not_the_cells_gives_null_and_a_note(bench, tmp_path):
    from harness.reporting import export

    assert bench("run", *FAST)[0] == 0
    row = Store(tmp_path / "store.sqlite").rows()[0]
    draws = export.ValidationLabels(load_registry().tasks)
    value, note = export.relative_val(row, draws)
    assert value is not None and note == ""
    tampered = {**row, "metrics": {**row["metrics"], "train_mse": row["metrics"]["train_mse"] * 1.01}}
    value, note = export.relative_val(tampered, draws)  # as if its task's data code had changed since
    assert value is None and "not this cell's" in note
    value, note = export.relative_val({**row, "task": "gone"}, export.ValidationLabels({}))
    assert value is None and "task 'gone' is not installed" in note


def test_classification_and_test_selected_rows_keep_their_own_kind():
    from harness.reporting import export

    draws = export.ValidationLabels(load_registry().tasks)
    base = {"task": "digits2", "status": "ok", "select_on": "validation", "metrics": {}}
    assert export.relative_val({**base, "metric": "error", "val_score": 0.125}, draws) == (0.125, "")
    on_test = {**base, "task": "sin3", "metric": "rel_mse", "select_on": "test", "val_score": 0.3,
               "metrics": {"mse": 0.3, "rel_mse": 0.6}}
    value, note = export.relative_val(on_test, draws)
    assert value == pytest.approx(0.6) and "test set" in note
    value, note = export.relative_val({**base, "metric": "rel_mse", "val_score": None}, draws)
    assert value is None and "single configuration" in note


def test_every_committed_regression_row_redraws_exactly(committed):
    """Each committed row with a validation score gets its relative one: the redraw matches the
    cell's training labels (checked against its stored training scores) everywhere."""
    from harness.execution.runner import staleness
    from harness.reporting import export

    reg = load_registry()
    draws, stale = export.ValidationLabels(reg.tasks), staleness(reg)
    rows = [r for r in Store(committed).rows() if r["val_score"] is not None]
    notes = {export.relative_val(r, draws, stale(r))[1] for r in rows}
    assert notes <= {"", "selected on the test set: the validation set is it"}, notes


def test_a_failed_cell_is_one_line_with_its_error_below_the_table(bench, committed):
    """A cell that failed has no score: its line says so, and a note under the table (three lines at
    most) gives the error, which --verbose prints whole under the cell's line."""
    store = Store(committed)
    row = dict(store.rows("sin3", "ntk")[0])
    error = "ValueError: " + "a long error message " * 20
    row.update(status="failed", error=error, test_score=None, train_score=None, metric=None, metrics={},
               chosen_params=None)
    store.put(row)
    store.close()
    code, out, _ = bench("show", "--store", committed, "-t", "sin3", "-l", "ntk")
    assert code == 0 and widest(out) <= WIDTH
    line = next(l for l in out.splitlines() if l.split()[:5] == ["sin3", "ntk", str(row["n"]), str(row["seed"]),
                                                                  "failed"])
    assert len(line.split()) == 6  # task, learner, N, seed, status, seconds: no score
    note = out[out.index(f"failed: sin3 ntk N={row['n']} seed {row['seed']}: ValueError: a long error"):]
    assert len(note.splitlines()) == 3 and note.splitlines()[2].endswith("…")
    code, out, _ = bench("show", "--store", committed, "-t", "sin3", "-l", "ntk", "--status", "failed", "--verbose")
    assert code == 0 and widest(out) <= WIDTH and "error: " + " ".join(error.split()) in " ".join(out.split())


@pytest.mark.parametrize("command", [(), ("run",), ("list",), ("suite",), ("suite", "list"), ("suite", "show"),
                                     ("leaderboard",), ("merge",), ("show",)])
def test_every_help_fits_100_columns_on_a_wide_terminal(bench, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # click wraps help at the terminal's width, up to its own limit
    code, out, _ = bench(*command, "--help")
    assert code == 0 and widest(out) <= WIDTH
