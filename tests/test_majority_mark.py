"""Classification cells no better than the majority class are marked § (issue 27, item 7).

The reference majority-class error is computed here from the drawn test labels with np.bincount;
the store rows are written directly (nothing trains), so each test takes well under a second."""

import markdown_it
import numpy as np
import pytest

from harness.execution.registry import load_registry
from harness.protocol.data import corrupt_labels, fixed_test_set
from harness.reporting import curves, leaderboard, terminal
from harness.storage.store import Store

N_TEST = 300
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def tasks():
    return load_registry().tasks


@pytest.fixture(scope="module")
def mixtures(tasks):
    return tasks["mixtures"].with_params(k=2, l=2, delta=1.0)


def reference(task, seed, n_test=N_TEST, noise=0.0):
    """The error of always predicting the most frequent class of the seed's test labels."""
    y = fixed_test_set(task, seed, n_test)[1]
    if noise:
        y = corrupt_labels(task, seed, y, noise, stream="test-noise")
    counts = np.bincount(y)
    return 1.0 - counts.max() / len(y)


def put(store, task, learner, n, seed, score, metric="error", version=None, **protocol):
    store.put({"cell_id": f"{task.name}-{learner}-{n}-{seed}-{sorted(protocol.items())}", "task": task.name,
               "task_params": task.params, "task_version": version or task.version, "learner": learner,
               "learner_params": {}, "learner_version": "1", "n": n, "seed": seed, "n_test": N_TEST,
               "val_fraction": 0.2, "status": "ok", "metric": metric, "test_score": score,
               "chosen_params": {}, "seconds": 1.0, **protocol})


def cells(md):
    """learner → {header: cell} of the first table of ``md`` (parsed by markdown-it)."""
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(md)
    rows, row = [], None
    for t in tokens:
        if t.type == "tr_open":
            row = []
        elif t.type == "inline" and row is not None:
            row.append(t.content)
        elif t.type == "tr_close":
            rows.append(row)
            row = None
        elif t.type == "table_close":
            break
    header, body = rows[0], rows[1:]
    return {r[0]: dict(zip(header, r)) for r in body}


@pytest.fixture
def rows(tmp_path, mixtures):
    """At N=100: 'at' scores exactly each seed's majority error, 'below' one test point better
    in every seed, 'above' 0.9; at N=400 'at' is one point better too."""
    store = Store(tmp_path / "s.sqlite")
    for seed in SEEDS:
        ref = reference(mixtures, seed)
        put(store, mixtures, "at", 100, seed, ref)
        put(store, mixtures, "at", 400, seed, ref - 1 / N_TEST)
        put(store, mixtures, "below", 100, seed, ref - 1 / N_TEST)
        put(store, mixtures, "above", 100, seed, 0.9)
    return store.rows()


def test_reference_is_not_trivial(mixtures):
    # the test labels are not balanced exactly, and the seeds' test sets differ
    errors = [reference(mixtures, s) for s in SEEDS]
    assert all(0.4 < e < 0.5 for e in errors) and len(set(errors)) > 1


def test_mark_exactly_where_the_mean_is_at_or_above_the_majority_error(rows, tasks, mixtures):
    md, _ = leaderboard.page("mixtures", curves.collect(rows)["mixtures"], tasks=tasks)
    table = cells(md)
    assert "§" in table["at"]["N=100"]  # equal to it: at, so marked
    assert "§" not in table["at"]["N=400"]  # one test point better in each seed
    assert "§" not in table["below"]["N=100"]
    assert "§" in table["above"]["N=100"]
    assert "†" not in md  # the regression mark stays regression's
    mean = float(np.mean([reference(mixtures, s) for s in SEEDS]))
    assert (f"§ Mean test 0-1 error at or worse than predicting the majority class of the test labels "
            f"(error {mean:.3g}, the mean over the 3 seeds' test sets).") in md


def test_a_cell_over_fewer_seeds_compares_with_its_own_seeds(tmp_path, tasks, mixtures):
    errors = {s: reference(mixtures, s) for s in SEEDS}
    low, high = sorted(SEEDS, key=errors.get)[0], sorted(SEEDS, key=errors.get)[-1]
    store = Store(tmp_path / "s.sqlite")
    for seed in SEEDS:
        put(store, mixtures, "full", 100, seed, 0.0)
    # over the easiest seed alone, the low seed's error is at its baseline, below the 3-seed mean
    put(store, mixtures, "one", 100, low, errors[low])
    assert errors[low] < np.mean(list(errors.values())) < errors[high]
    md, _ = leaderboard.page("mixtures", curves.collect(store.rows())["mixtures"], tasks=tasks)
    assert "§" in cells(md)["one"]["N=100"] and "(1/3 seeds)" in cells(md)["one"]["N=100"]
    assert f"(error {errors[low]:.3g})." in md


def test_corrupted_test_labels_are_the_baseline_of_a_corrupt_test_cell(tmp_path, tasks, mixtures):
    # a seed whose corrupted test labels' majority error lies below its clean one: a cell scoring
    # the corrupted error is marked only if the baseline corrupts the labels as the cell did
    seed = next(s for s in range(20) if reference(mixtures, s, noise=0.5) < reference(mixtures, s))
    corrupted = reference(mixtures, seed, noise=0.5)
    store = Store(tmp_path / "s.sqlite")
    put(store, mixtures, "at", 100, seed, corrupted, label_noise=0.5, corrupt_test=1)
    put(store, mixtures, "clean_test", 100, seed, corrupted, label_noise=0.5)  # test labels not corrupted
    variants = curves.collect(store.rows())["mixtures"]
    assert len(variants) == 2
    for v in variants:
        md, _ = leaderboard.page("mixtures", [v], tasks=tasks)
        if v.protocol.get("corrupt_test"):
            assert "§" in cells(md)["at"]["N=100"] and f"(error {corrupted:.3g})" in md
        else:
            assert "§" not in md


def test_terminal_table_shows_the_mark_and_its_note(rows, tasks, mixtures):
    text = terminal.terminal_table(rows, tasks=tasks)
    lines = text.splitlines()
    at = next(line for line in lines if line.startswith("at "))
    below = next(line for line in lines if line.startswith("below "))
    assert at.split()[-1] != "§" and "§" in at  # its N=100 cell, not its N=400 one
    assert "§" not in below
    mean = float(np.mean([reference(mixtures, s) for s in SEEDS]))
    assert "§ at or worse than predicting the majority class of the test labels" in text
    assert f"error {mean:.3g}" in text
    assert all(len(line) <= terminal.WIDTH for line in lines)


def test_no_mark_where_the_test_labels_cannot_be_redrawn(tmp_path, tasks, mixtures):
    store = Store(tmp_path / "s.sqlite")
    put(store, mixtures, "worst", 100, 0, 1.0, version="1")  # a task version not installed now
    v = curves.collect(store.rows())["mixtures"][0]
    md, _ = leaderboard.page("mixtures", [v], tasks=tasks)
    assert "§" not in md and curves.majority_errors(v) == {}
    md, _ = leaderboard.page("mixtures", curves.collect(store.rows())["mixtures"], tasks={})  # not installed
    assert "§" not in md


class NoLookups(dict):
    def get(self, *a):
        raise AssertionError("a regression page looked up a task")

    __getitem__ = get


def test_regression_pages_are_unchanged(tmp_path, tasks):
    sin3 = tasks["sin3"]
    store = Store(tmp_path / "s.sqlite")
    for seed in SEEDS:
        put(store, sin3, "bad", 100, seed, 1.5, metric="rel_mse")
        put(store, sin3, "good", 100, seed, 0.1, metric="rel_mse")
    variants = curves.collect(store.rows())["sin3"]
    md, _ = leaderboard.page("sin3", variants, tasks=NoLookups())
    assert md == leaderboard.page("sin3", curves.collect(store.rows())["sin3"])[0]
    assert "§" not in md and "†" in cells(md)["bad"]["N=100"] and "†" not in cells(md)["good"]["N=100"]
    assert "§" not in terminal.terminal_table(store.rows(), tasks=NoLookups())


def test_each_test_set_is_redrawn_once_per_build(tmp_path, tasks, mixtures, monkeypatch):
    calls = []
    real = curves.fixed_test_set
    monkeypatch.setattr(curves, "fixed_test_set", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setattr(curves, "_MAJORITY", {})
    monkeypatch.setattr(leaderboard.plots, "plot", lambda v, path: None)  # the pages, not their PNGs
    store = Store(tmp_path / "s.sqlite")
    for learner in ("a", "b", "c"):
        for n in (50, 100, 200):
            for seed in SEEDS:
                put(store, mixtures, learner, n, seed, 0.5)
    paths = leaderboard.build(store.rows(), tmp_path / "lb", installed=tasks)
    assert "§" in (tmp_path / "lb" / "mixtures.md").read_text() and paths
    terminal.terminal_table(store.rows(), tasks=tasks)
    assert len(calls) == len(SEEDS)  # one per seed's test set, whatever the learners and N
