"""`bench run --suite NAME --until-decided` (issue #25, item 3a): one more seed at a time for the
cells of each UNDERPOWERED paired check, until every check is decided or has --max-seeds seeds;
the verdict page counts every stored seed."""

from __future__ import annotations

import io
import json
import sqlite3
import time

import pytest

from conftest import one_line_error
from suite_plugin import SOURCE

# Beside the toy suites: a noisy line at tiny N, where ridge and the mean are hard to tell apart,
# and a chain whose second pair (mean vs a far worse constant) is decided at once.
UNDECIDED = '''
from harness import Ordering, Suite, hookimpl
from toysuites import Mean


class Worse(Mean):
    name = "worse"

    def fit(self, X, y, params, rng, problem):
        model = super().fit(X, y, params, rng, problem)
        model.b += 10.0
        return model


NOISY = Suite(name="noisy", description="ridge vs the mean, noise twice the signal", tasks={"line": {"noise": 2.0}},
              learners={"ridge": {"alpha": [1e-3]}, "mean": {}, "worse": {}}, ns=(8, 12), seeds=2, n_test=100,
              claims=(Ordering(learners=("ridge", "mean", "worse"), text="ridge < mean < worse", source="test"),))


@hookimpl
def register_learners(register):
    register(Worse())


@hookimpl
def register_suites(register):
    register(NOISY)
'''


@pytest.fixture
def noisy(fake_plugin, monkeypatch):
    fake_plugin("toysuites", SOURCE)
    fake_plugin("noisysuite", UNDECIDED)
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,toysuites,noisysuite")


def seeds(db, learner, n):
    return sorted(s for (s,) in sqlite3.connect(db).execute(
        "SELECT seed FROM cells WHERE learner = ? AND n = ?", (learner, n)))


def test_seeds_are_added_to_undecided_checks_only_until_decided_or_the_cap(noisy, bench, tmp_path):
    lb = str(tmp_path / "lb")
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "6", "--jobs", "1",
                           "--out", lb)
    assert code == 0, err
    db = tmp_path / "store.sqlite"
    verdict = json.loads((tmp_path / "lb" / "noisy" / "verdict.json").read_text())
    checks = verdict["claims"][0]["checks"]
    for c in checks:
        a, b = c["pair"]
        # every check ends decided, or UNDERPOWERED at the cap; its seed count is what the store holds
        assert c["status"] != "UNDERPOWERED" or c["count"] == 6, c
        assert c["count"] == len(set(seeds(db, a, c["n"])) & set(seeds(db, b, c["n"])))
    for n in (8, 12):  # seeds are added in order, and only where a check needed them
        for learner in ("ridge", "mean", "worse"):
            assert seeds(db, learner, n) == list(range(len(seeds(db, learner, n))))
        mean_worse = next(c for c in checks if c["n"] == n and c["pair"] == ["mean", "worse"])
        assert mean_worse["status"] == "HOLDS"
        ridge_mean = next(c for c in checks if c["n"] == n and c["pair"] == ["ridge", "mean"])
        assert len(seeds(db, "worse", n)) == 2 or ridge_mean["count"] > 2  # worse gets seeds only with mean's
    assert len(seeds(db, "worse", 8)) <= max(len(seeds(db, "ridge", 8)), 2)
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    assert rounds and all("check(s) undecided, training" in line for line in rounds)
    assert "until decided: 2 check(s) still UNDERPOWERED at --max-seeds 6" in out or "every paired check is decided" in out
    page = (tmp_path / "lb" / "noisy" / "verdict.md").read_text()
    assert "Holm" in page and "UNDERPOWERED" in page or all(c["status"] != "UNDERPOWERED" for c in checks)
    # the page says which seeds past the scale's the claims used, and how many cells
    extra = sum(len([s for s in seeds(db, x, n) if s >= 2]) for x in ("ridge", "mean", "worse") for n in (8, 12))
    assert extra and verdict["extra_seeds"]["cells"] == extra
    assert f"Extra seeds: the claims also use {extra} cell(s) at seeds 2–" in page
    # the run's record lists the rounds' cells beside its own, and its span holds them all: every
    # cell of the page is credited to it
    (run,) = json.loads((tmp_path / "lb" / "noisy" / "runs.json").read_text())["runs"]
    ids = [r[0][:12] for r in sqlite3.connect(db).execute("SELECT cell_id FROM cells")]
    assert run["trained"] == len(ids) and sorted(run["cells"]) == sorted(ids)
    assert "were trained by runs that did not write this directory" not in page
    # a second run trains nothing more: every check is decided or at the cap
    code, out, _ = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "6", "--jobs", "1", "--out", lb)
    assert code == 0 and "round " not in out and "until decided:" in out


def test_a_decided_suite_adds_no_seed(noisy, bench, tmp_path):
    code, out, err = bench("run", "--suite", "toy-a", "--until-decided", "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert code == 0, err
    assert "until decided: every paired check is decided" in out and "round " not in out
    assert max(seeds(tmp_path / "store.sqlite", "ridge", 40)) == 2


@pytest.mark.parametrize("args, says", [
    (["-t", "line", "-l", "ridge", "--until-decided"], "--until-decided adds seeds to a suite's undecided checks"),
    (["--suite", "toy-a", "--max-seeds", "5"], "--max-seeds caps the seeds --until-decided adds"),
    (["--suite", "toy-a", "--until-decided", "--max-seeds", "2"], "--max-seeds 2 is below the 3 seeds"),
])
def test_bad_until_decided_input_is_one_line_before_training(noisy, bench, args, says):
    code, _, err = bench("run", *args)
    assert code == 2 and says in one_line_error(err) and "[1/" not in err


def test_a_check_whose_one_side_has_more_seeds_gets_the_missing_ones(noisy, bench, tmp_path):
    """A side can hold seeds past the pair's (added for another check of the claim): the check's
    next seed is the smallest not stored on both sides, and only the side without it trains."""
    lb = str(tmp_path / "lb")
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "5", "--jobs", "1", "--out", lb)
    assert code == 0, err
    db = tmp_path / "store.sqlite"
    assert seeds(db, "ridge", 8) == seeds(db, "mean", 8) == [0, 1, 2, 3, 4]  # UNDERPOWERED at the cap
    with sqlite3.connect(db) as con:  # ridge loses seeds 2-4 at N = 8: mean keeps them
        con.execute("DELETE FROM cells WHERE learner = 'ridge' AND n = 8 AND seed >= 2")
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "5", "--jobs", "1", "--out", lb)
    assert code == 0, err
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    assert rounds[0] == "round 1: 1 check(s) undecided, training 1 cell(s) (seed 2)", out
    assert seeds(db, "ridge", 8) == [0, 1, 2, 3, 4] or "every paired check is decided" in out
    assert seeds(db, "mean", 8) == [0, 1, 2, 3, 4] and "cell(s) trained in" in out


def test_ns_task_and_learner_limit_the_checks_that_get_seeds(noisy, bench, tmp_path):
    """`--ns 12 --until-decided` adds seeds at N = 12 only: the run trains what it selects, and
    the checks at other N are left as they are (they stay on the page, Holm-corrected with the rest)."""
    lb = str(tmp_path / "lb")
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "5", "--jobs", "1",
                           "--ns", "12", "--out", lb)
    assert code == 0, err
    db = tmp_path / "store.sqlite"
    for learner in ("ridge", "mean", "worse"):
        assert seeds(db, learner, 8) == []  # --ns 12: nothing at N = 8, not even the scale's seeds
    code, out, err = bench("run", "--suite", "noisy", "--jobs", "1", "--ns", "8", "--out", lb)
    assert code == 0, err
    at_8 = {learner: seeds(db, learner, 8) for learner in ("ridge", "mean", "worse")}
    assert at_8 == {"ridge": [0, 1], "mean": [0, 1], "worse": [0, 1]}
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "5", "--jobs", "1",
                           "--ns", "12", "--out", lb)
    assert code == 0, err
    assert {learner: seeds(db, learner, 8) for learner in at_8} == at_8, out  # N = 8 is UNDERPOWERED, not selected
    # -l worse alone selects no whole pair: no check is its to decide, so no round starts
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "5", "--jobs", "1",
                           "-l", "worse", "--out", lb)
    assert code == 0, err
    assert "round " not in out and "until decided: every paired check is decided" in out
    assert {learner: seeds(db, learner, 8) for learner in at_8} == at_8


def test_a_round_cut_short_is_reported_as_a_stop(noisy, bench, tmp_path, monkeypatch):
    """Ctrl-C in a round of --until-decided: the run says it stopped and exits 130 (not "Nothing to
    train" with 0), and the page counts the cell the round stored before the stop."""
    import harness.cli.run as run_module
    from harness.execution.progress import Progress

    lb = str(tmp_path / "lb")
    code, _, err = bench("run", "--suite", "noisy", "--jobs", "1", "--out", lb)  # the scale's 2 seeds, no rounds
    assert code == 0, err
    real_execute, calls = run_module.execute, []

    class StopAfterFirstCell(Progress):
        def update(self, spec, record):
            super().update(spec, record)
            raise KeyboardInterrupt

    def execute(cells, store, progress=None, **options):
        calls.append(len(cells))
        if len(calls) == 2:  # round 1: Ctrl-C as its first cell is reported
            progress = StopAfterFirstCell(len(cells), stream=io.StringIO(), live=False)
        return real_execute(cells, store, progress=progress, **options)

    monkeypatch.setattr(run_module, "execute", execute)
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "6", "--jobs", "1",
                           "--out", lb)
    assert code == 130 and len(calls) == 2 and "round 1:" in out
    assert "Nothing to train" not in out and "until decided: stopped in round 1 (1 cell(s) trained in" in err
    assert "Ran 1 of " in out and "Interrupted: 1 finished cell(s) are saved" in err
    added = list(sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT cell_id FROM cells WHERE seed >= 2"))
    assert len(added) == 1
    page = (tmp_path / "lb" / "noisy" / "verdict.md").read_text()
    assert "Extra seeds: the claims also use 1 cell(s) at seed 2" in page


def test_a_rounds_summary_adds_its_cells_time_and_stop_to_the_runs():
    from collections import Counter

    from harness.execution.summary import RunSummary

    run = RunSummary(planned=4, skipped=4, seconds=1.0, stored=[], busy=Counter({"a": 1}))
    run.absorb(RunSummary(planned=2, statuses=Counter({"ok": 1}), interrupted=True, seconds=30.0, stored=["x"],
                          cut=["y"], busy=Counter({"a": 2})))
    assert (run.planned, run.skipped, run.ran, run.interrupted, run.seconds) == (6, 4, 1, True, 31.0)
    assert (run.stored, run.cut, run.busy["a"]) == (["x"], ["y"], 3)


def test_a_round_says_it_is_still_training(noisy, bench, tmp_path, monkeypatch):
    """A round of --until-decided is long work like the run's own cells: it prints heartbeat
    lines ("[0/k] still training…") while its cells train, counted against the round's cells."""
    import harness.cli.run as run_module
    from harness.execution.progress import Progress

    lb = str(tmp_path / "lb")
    code, _, err = bench("run", "--suite", "noisy", "--jobs", "1", "--out", lb)
    assert code == 0, err
    real_execute, calls, rounds = run_module.execute, [], []

    class Often(Progress):  # a heartbeat every 0.1 s instead of every minute
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "interval": 0.1, "live": False})

    def execute(cells, store, progress=None, **options):
        calls.append(len(cells))
        if len(calls) > 1:  # a round (the first call is the run's own cells, all stored already)
            rounds.append(len(cells))
            time.sleep(0.5)  # a slow cell
        return real_execute(cells, store, progress=progress, **options)

    monkeypatch.setattr(run_module, "Progress", Often)
    monkeypatch.setattr(run_module, "execute", execute)
    code, out, err = bench("run", "--suite", "noisy", "--until-decided", "--max-seeds", "3", "--jobs", "1",
                           "--out", lb)
    assert code == 0, err
    assert rounds and f"[0/{rounds[0]}] still training" in err, err
    # the run's own cells were all stored: what it trained is the rounds' cells, not "Nothing to train"
    assert f"Ran {sum(rounds)} of " in out and "Nothing to train" not in out, out
