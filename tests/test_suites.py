"""Suites: scales, a directory of pages and a verdict per suite, and the commands around them."""

import json
import re
import sqlite3

import numpy as np
import pytest
from scipy import stats

from conftest import one_line_error
from harness.reporting import suite_pages
from harness.execution.registry import load_registry
from suite_plugin import install, section, table


@pytest.fixture
def toy(fake_plugin, monkeypatch):
    install(fake_plugin, monkeypatch)


def snapshot(directory):
    return {p.relative_to(directory).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_scale_overrides_the_suites_grid(toy):
    suite = load_registry().suites["toy-a"]
    assert suite.scale_names == ["small", "paper"]
    small, paper = suite.at("small"), suite.at()
    assert small == paper.__class__(**{**paper.__dict__, "scale": "small"}) and paper.scale == "small"
    paper = suite.at("paper")
    assert (paper.ns, paper.seeds, paper.n_test) == ((20, 40, 80), 4, 200)  # n_test kept from the suite
    assert dict(paper.learners) == {"ridge": {"alpha": [1e-3]}, "mean": {}}
    with pytest.raises(KeyError):
        suite.at("huge")


def test_quick_keeps_its_grid_as_its_only_scale():
    quick = load_registry().suites["quick"]
    grid = quick.at()
    assert quick.scale_names == ["small"]
    assert (grid.ns, grid.seeds, grid.n_test) == (quick.ns, quick.seeds, quick.n_test)
    assert dict(grid.learners) == quick.learners and dict(grid.tasks) == quick.tasks


@pytest.mark.parametrize("args, words", [
    (["run", "--suite", "quick", "--scale", "paper"], "suite 'quick' has no scale 'paper'; its scales: small"),
    (["run", "--suite", "allen-zhu-fig1", "--scale", "huge"],
     "suite 'allen-zhu-fig1' has no scale 'huge'; its scales: small, paper"),
    (["leaderboard", "--suite", "allen-zhu-fig1", "--scale", "big"], "has no scale 'big'; its scales: small, paper"),
    (["run", "-t", "sin3", "-l", "ntk", "--scale", "paper"], "--scale chooses a suite's scale; give it with --suite"),
    (["run", "--suite", "quick", "--seeds", "5"], "--seeds would change the grid of suite 'quick'"),
    (["run", "--suite", "quick", "--ns", "150"], "--n 150: suite 'quick' has no N = 150 at scale small"),
    (["run", "--suite", "quick", "-p", "width=64"], "--param would change the grid of suite 'quick'"),
    (["suite", "list", "--width", "10"], "--width must be at least 40"),
])
def test_bad_suite_input_is_one_line(bench, tmp_path, args, words):
    code, _, err = bench(*args)
    assert code != 0 and words in one_line_error(err)
    assert "[1/" not in err  # nothing trained


def test_ns_with_a_suite_train_only_those_of_its_ns_and_the_pages_count_all(toy, bench, tmp_path):
    lb = str(tmp_path / "lb")
    code, out, err = bench("run", "--suite", "toy-a", "--scale", "paper", "--n", "20", "--jobs", "1", "--out", lb)
    assert code == 0, err
    rows = sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT DISTINCT n FROM cells").fetchall()
    assert rows == [(20,)]
    code, out, err = bench("run", "--suite", "toy-a", "--scale", "paper", "--ns", "40,80", "--jobs", "1", "--out", lb)
    assert code == 0 and "Plan: 16 cell(s) to train" in out + err, out + err
    assert "Nothing to train" in "".join(bench("run", "--suite", "toy-a", "--scale", "paper", "--jobs", "1",
                                               "--out", lb)[1:])


def test_a_suite_run_writes_its_directory_with_the_stores_numbers(toy, bench, tmp_path):
    lb = tmp_path / "lb"
    code, out, err = bench("run", "--suite", "toy-a", "--jobs", "1", "--out", str(lb))
    assert code == 0, err
    where = lb / "toy-a"
    assert {p.name for p in where.iterdir()} == {"line.md", "line.png", "verdict.md", "verdict.json", "runs.json"}
    assert not (lb / "line.md").exists()  # a suite's pages stay in its directory
    md = (where / "verdict.md").read_text()
    con = sqlite3.connect(tmp_path / "store.sqlite")
    for row in table(section(md, "Claim 1:")):  # ridge − mean at each N, against scipy on the store's rows
        diffs = [a - b for a, b in con.execute(
            "SELECT r.test_score, m.test_score FROM cells r JOIN cells m ON r.n = m.n AND r.seed = m.seed "
            "WHERE r.learner = 'ridge' AND m.learner = 'mean' AND r.n = ?", (int(row["N"]),))]
        lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=np.mean(diffs), scale=stats.sem(diffs))
        shown = [float(x) for x in re.findall(r"[-+][\d.e+-]+", row["95% interval"])]
        assert row["seeds / points"] == "3" and row["verdict"] == "HOLDS"
        assert float(row["estimate"]) == pytest.approx(np.mean(diffs), rel=6e-3)
        assert shown == pytest.approx([lo, hi], rel=6e-3)
    assert section(md, "Verdicts").lstrip().startswith("1. **HOLDS** — ridge < mean on line: HOLDS at every N.")
    (compute,) = con.execute("SELECT SUM(seconds) FROM cells").fetchone()
    runs = json.loads((where / "runs.json").read_text())["runs"]
    assert len(runs) == 1 and runs[0]["trained"] == 12
    assert f"- Command: `bench run --suite toy-a --jobs 1 --out {lb}`" in md
    assert f"- Wall time: **{runs[0]['wall_seconds']:.0f} s measured** (training only; 1 run(s): " in md
    assert f"Compute: {compute:.0f} s, the sum of the cells' own timings" in md
    assert "- toy learners" in section(md, "Caveats")
    # resumable like any run: the same command trains nothing and keeps the measured run
    code, out, _ = bench("run", "--suite", "toy-a", "--jobs", "1", "--out", str(lb))
    assert code == 0 and "Nothing to train: all 12 cells" in out
    assert json.loads((where / "runs.json").read_text())["runs"] == runs


def test_wall_time_is_credited_to_the_runs_that_wrote_the_cells(toy, bench, tmp_path):
    lb = tmp_path / "lb"
    assert bench("run", "--suite", "toy-b", "--jobs", "1", "--no-leaderboard")[0] == 0
    assert bench("leaderboard", "--suite", "toy-b", "--out", str(lb))[0] == 0
    md = (lb / "toy-b" / "verdict.md").read_text()
    assert "- Command: `bench run --suite toy-b`\n- Wall time: not measured." in md
    assert "- 4 cell(s) were trained by runs that did not write this directory" in md
    runs = [{"command": "a", "began": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T10:05:00+00:00"},
            {"command": "b", "began": "2026-01-01T11:00:00+00:00", "ended": "2026-01-01T11:01:00+00:00"},
            {"command": "c", "began": "2026-01-01T12:00:00+00:00", "ended": "2026-01-01T12:01:00+00:00"}]
    rows = [{"created_at": t} for t in ("2026-01-01T10:01:00+00:00", "2026-01-01T11:00:30+00:00",
                                        "2026-01-01T11:01:00+00:00", "2026-01-01T13:00:00+00:00")]
    kept, unknown = suite_pages.credit(runs, rows)
    assert [(r["command"], r["credited"]) for r in kept] == [("a", 1), ("b", 2)] and unknown == 1


def test_runs_side_by_side_are_each_credited_with_the_cells_they_wrote(toy, bench, tmp_path):
    # two processes sharing a store, their spans overlapping: each row goes to the run that lists its
    # cell, not to whichever started later (a run recorded without its list is matched by its span)
    runs = [{"command": "a", "began": "2026-01-01T10:00:00+00:00", "ended": "2026-01-01T12:00:00+00:00",
             "cells": ["aaaaaaaaaaaa", "cccccccccccc"]},
            {"command": "b", "began": "2026-01-01T10:00:08+00:00", "ended": "2026-01-01T11:30:00+00:00",
             "cells": ["bbbbbbbbbbbb"]},
            {"command": "old", "began": "2026-01-01T10:30:00+00:00", "ended": "2026-01-01T10:40:00+00:00"}]
    rows = [{"cell_id": c * 32, "created_at": t} for c, t in
            (("a", "2026-01-01T10:20:00+00:00"), ("b", "2026-01-01T10:50:00+00:00"),
             ("c", "2026-01-01T11:10:00+00:00"), ("d", "2026-01-01T10:35:00+00:00"),
             ("e", "2026-01-01T11:10:00+00:00"))]
    kept, unknown = suite_pages.credit(runs, rows)
    assert [(r["command"], r["credited"]) for r in kept] == [("a", 2), ("b", 1), ("old", 1)] and unknown == 1
    # a run stopped before it stored anything, its cell checkpointed and resumed by a later run: its
    # time is the page's too while the cell is one of the page's, stored or not yet
    cut = {"command": "cut", "began": "2026-01-01T09:00:00+00:00", "ended": "2026-01-01T09:08:00+00:00", "wall_seconds": 480.0,
           "cells": [], "cut": ["aaaaaaaaaaaa"]}
    kept, _ = suite_pages.credit([cut, *runs], rows, planned=["a" * 32, "f" * 32])
    assert [(r["command"], r["credited"]) for r in kept][:2] == [("cut", 0), ("a", 2)]
    assert "cut" not in [r["command"] for r in suite_pages.credit([cut, *runs], rows, planned=["f" * 32])[0]]
    assert suite_pages.wall_time([cut])[0] == 480
    # recorded so: a stopped run that stored nothing but left a cell checkpointed; one that did
    # neither is not recorded
    suite_pages.record_run(tmp_path, ["run"], 480.0, [], 1, cut=["a" * 32])
    suite_pages.record_run(tmp_path, ["run"], 5.0, [], 1)
    (recorded,) = suite_pages.recorded_runs(tmp_path)
    assert recorded["cells"] == [] and recorded["cut"] == ["a" * 12] and recorded["wall_seconds"] == 480.0
    # and a real run lists the ids of the cells it stored
    lb = tmp_path / "lb"
    assert bench("run", "--suite", "toy-b", "--jobs", "1", "--out", str(lb))[0] == 0
    (run,) = json.loads((lb / "toy-b" / "runs.json").read_text())["runs"]
    ids = [r[0] for r in sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT cell_id FROM cells")]
    assert run["trained"] == 4 and run["cells"] == sorted(i[:suite_pages.CREDIT_ID] for i in ids)


def test_learner_with_a_suite_trains_only_its_cells_and_the_rest_resumes(toy, bench, tmp_path):
    """As on a GPU machine: one learner's cells of a suite in one run, the rest in another; the
    pages of the first count the missing cells as missing, the second completes them."""
    lb = str(tmp_path / "lb")
    code, out, err = bench("run", "--suite", "toy-b", "-l", "ridge", "--jobs", "1", "--out", lb)
    assert code == 0, err
    con = sqlite3.connect(tmp_path / "store.sqlite")
    assert con.execute("SELECT DISTINCT learner FROM cells").fetchall() == [("ridge",)]
    assert "- Cells: 2 of 4 planned cells stored" in (tmp_path / "lb" / "toy-b" / "verdict.md").read_text()
    code, out, err = bench("run", "--suite", "toy-b", "-l", "all", "--jobs", "1", "--out", lb)  # all: no filter
    assert code == 0 and "Plan: 2 cell(s) to train, 2 already in the store" in out + err
    assert "- Cells: 4 of 4 planned cells stored" in (tmp_path / "lb" / "toy-b" / "verdict.md").read_text()


@pytest.mark.parametrize("option, name, words", [
    ("-l", "ntk", "--learner ntk: suite 'toy-b' has no such learner (its learners: mean, ridge)"),
    ("-t", "sin3", "--task sin3: suite 'toy-b' has no such task (its tasks: line)"),
])
def test_a_learner_or_task_outside_the_suite_is_one_line(toy, bench, option, name, words):
    code, _, err = bench("run", "--suite", "toy-b", option, name)
    assert code != 0 and words in one_line_error(err) and "[1/" not in err


def test_suites_and_scales_never_touch_each_others_pages(toy, bench, tmp_path):
    lb = tmp_path / "lb"
    assert bench("run", "--suite", "toy-a", "--jobs", "1", "--out", str(lb))[0] == 0
    first = snapshot(lb / "toy-a")
    assert bench("run", "--suite", "toy-b", "--jobs", "1", "--out", str(lb))[0] == 0
    assert bench("run", "--suite", "toy-a", "--scale", "paper", "--jobs", "1", "--out", str(lb))[0] == 0
    assert bench("leaderboard", "--suite", "toy-b", "--out", str(lb))[0] == 0
    now = snapshot(lb / "toy-a")
    assert {k: v for k, v in now.items() if not k.startswith("paper/")} == first  # bytes and mtimes unchanged
    assert {k for k in now if k.startswith("paper/")} == {f"paper/{k}" for k in first}  # the paper scale's own
    b = (lb / "toy-b" / "verdict.md").read_text()
    assert "**FAILS** — mean < ridge: FAILS at N = 30" in b  # toy-b's own claim, on toy-b's own cells
    assert "N = 30; seeds 0–1; test set 100 points" in b
    paper = (lb / "toy-a" / "paper" / "verdict.md").read_text()
    assert "verdict at scale `paper`" in paper and "N = 20, 40, 80; seeds 0–3" in paper
    index = (lb / "README.md").read_text()
    for link, line in (("toy-a/verdict.md", "**HOLDS** — ridge < mean on line"),
                       ("toy-a/paper/verdict.md", "scale `paper`"), ("toy-b/verdict.md", "**FAILS** — mean < ridge")):
        assert link in index and line in index


def test_task_pages_and_suites_share_the_index(toy, bench, tmp_path):
    lb = tmp_path / "lb"
    assert bench("run", "-t", "line", "-l", "mean", "--n", "20", "--seeds", "2", "--n-test", "50", "--jobs", "1",
                 "--out", str(lb))[0] == 0
    assert (lb / "line.md").exists()  # a plain run writes <task>.md as before
    assert bench("run", "--suite", "toy-b", "--jobs", "1", "--out", str(lb))[0] == 0
    index = (lb / "README.md").read_text()
    assert "[line](line.md)" in index and "[toy-b](toy-b/verdict.md)" in index  # the task row is kept
    assert bench("leaderboard", "--out", str(lb))[0] == 0
    index = (lb / "README.md").read_text()
    assert "[line](line.md)" in index and "[toy-b](toy-b/verdict.md)" in index  # the suite is kept


def test_leaderboard_of_a_suite_whose_cells_are_not_stored(toy, bench, tmp_path):
    assert bench("run", "--suite", "toy-b", "--jobs", "1", "--out", str(tmp_path / "lb"))[0] == 0
    code, _, err = bench("leaderboard", "--suite", "toy-a", "--out", str(tmp_path / "lb"))
    assert code != 0 and "the store holds none of the 12 cells of suite 'toy-a' at scale 'small'; run `bench run " \
                          "--suite toy-a` first" in one_line_error(err)


def test_suite_list_shows_scales_and_claims_within_100_columns(bench):
    code, out, _ = bench("suite", "list")
    assert code == 0 and max(map(len, out.splitlines())) <= 100
    fig1 = out[out.index("allen-zhu-fig1"):]
    for words in ("scale small (default): N = 250, 500, 1000; 3 seeds",
                  "scale paper (answers the paper): N = 1000, 2000, 5000, 10000",
                  "claim 1: 3layer < 2layer < 3layer(NTK) on sin3",  # the paper's curve names
                  "caveat: Networks as in Fig. 1"):
        assert words in " ".join(fig1.split())
    code, out, _ = bench("list")
    assert code == 0 and "small: N 250–1000 × 3 seeds; paper: N 1000–10000 × 3 seeds" in out


def test_a_suite_compares_validation_and_test_selection_side_by_side(toy, bench, tmp_path):
    code, out, err = bench("run", "--suite", "toy-c", "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert code == 0 and "Ran 24 of 24 cells" in out, err  # 2 learners × 2 N × 3 seeds × 2 selections
    md = (tmp_path / "lb" / "toy-c" / "verdict.md").read_text()
    assert all(row["seeds / points"] == "3" for row in table(section(md, "Claim 1:")))  # validation cells only
    con = sqlite3.connect(tmp_path / "store.sqlite")
    rows = table(section(md, "Selection on the test set"))
    assert {(r["learner"], r["N"]) for r in rows} == {(lr, n) for lr in ("ridge", "mean") for n in ("20", "40")}
    for r in rows:
        pairs = con.execute(
            "SELECT v.test_score, t.test_score FROM cells v JOIN cells t ON v.learner = t.learner AND v.n = t.n "
            "AND v.seed = t.seed WHERE v.select_on = 'validation' AND t.select_on = 'test' AND v.learner = ? "
            "AND v.n = ?", (r["learner"], int(r["N"]))).fetchall()
        diffs = [t - v for v, t in pairs]
        if np.std(diffs) == 0:  # the mean predictor: both selections fit the same model (scipy gives NaN)
            lo = hi = np.mean(diffs)
        else:
            lo, hi = stats.t.interval(0.95, len(diffs) - 1, loc=np.mean(diffs), scale=stats.sem(diffs))
        shown = [float(x) for x in re.findall(r"[-+][\d.e+-]+", r["difference [95%]"])]
        assert r["seeds"] == "3" and shown == pytest.approx([np.mean(diffs), lo, hi], rel=6e-3, abs=1e-12)
        assert float(r["selected on validation"]) == pytest.approx(np.mean([v for v, _ in pairs]), rel=6e-3)


@pytest.mark.slow  # 1-4 s; the default run stays under 2 minutes (the path is covered by faster tests)
def test_a_suite_with_conditions_runs_each_and_lists_them(fake_plugin, monkeypatch, bench, tmp_path):
    from suite_plugin import install_conditions

    install_conditions(fake_plugin, monkeypatch)
    code, out, _ = bench("suite", "list")
    assert code == 0 and "conditions label_sigma ∈ {0.0, 0.1, 0.5}; tasks line" in " ".join(out.split())
    assert "conditions label_noise ∈ {0.0, 0.5}" in " ".join(out.split())  # the paper scale's own
    code, out, _ = bench("list", "--verbose")  # the default listing cuts lines at 100 columns; this one wraps
    assert ("small: N 100–200 × 4 seeds × 3 label_sigma; paper: N 100–100 × 4 seeds × 2 label_noise"
            in " ".join(out.split()))
    code, out, err = bench("run", "--suite", "cond", "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert code == 0 and "Ran 144 of 144 cells" in out, err
    con = sqlite3.connect(tmp_path / "store.sqlite")
    assert con.execute("SELECT label_sigma, COUNT(*) FROM cells GROUP BY label_sigma").fetchall() == [
        (0.0, 48), (0.1, 48), (0.5, 48)]
    # the noise reaches the training labels: the same ridge fits them worse as σ grows
    train = dict(con.execute("SELECT label_sigma, AVG(train_score) FROM cells WHERE learner = 'a' "
                             "GROUP BY label_sigma").fetchall())
    assert train[0.0] < train[0.1] < train[0.5]
    md = (tmp_path / "lb" / "cond" / "verdict.md").read_text()
    assert "- Cells: 144 of 144 planned cells stored, 144 ok." in md
    assert bench("run", "--suite", "cond", "--jobs", "1", "--out", str(tmp_path / "lb"))[1].startswith(
        "Nothing to train: all 144 cells")


def test_the_condition_and_paper_suites_plan_their_cells_without_training(bench):
    reg = load_registry()
    fig1 = suite_pages.cells(reg, reg.suites["allen-zhu-fig1"].at())
    # 7 learner variants × 3 N × 3 seeds, once per σ ∈ {0, 0.1, 0.5}; the paper scale likewise
    assert len(fig1) == 7 * 3 * 3 * 3
    assert sorted({c.protocol.label_sigma for c in fig1}) == [0.0, 0.1, 0.5]
    assert len(suite_pages.cells(reg, reg.suites["allen-zhu-fig1"].at("paper"))) == 7 * 4 * 3 * 3
    teacher = suite_pages.cells(reg, reg.suites["teacher-nets"].at())
    assert len(teacher) == 2 * 7 * 3 * 3 and {c.task.name for c in teacher} == {"teacher2", "teacher3"}
    ll = suite_pages.cells(reg, reg.suites["li-liang-mixtures"].at())
    assert len(ll) == 4 * 6 * 3 * 3  # 3 mixtures + digits × (3 widths + 3 kernels) × N × seeds
    widths = sorted({c.learner.grid_spec["width"][0] for c in ll if c.learner.name == "two_layer_sgd"})
    assert widths == [64, 256, 1024]
    mixtures = {(c.task.params["k"], c.task.params["l"], c.task.params["delta"]) for c in ll
                if c.task.name == "mixtures"}
    assert mixtures == {(2, 2, 1.0), (5, 4, 0.5), (10, 8, 0.25)}
    paper = suite_pages.cells(reg, reg.suites["li-liang-mixtures"].at("paper"))
    assert sorted({c.learner.grid_spec["width"][0] for c in paper if c.learner.name == "two_layer_sgd"}) == [
        500, 2000, 8000, 32000]
    code, out, _ = bench("suite", "list")
    text = " ".join(out.split())
    assert code == 0 and max(map(len, out.splitlines())) <= 100
    for words in ("teacher-nets — ", "li-liang-mixtures — ",
                  "scale small (default): N = 250, 500, 1000; 3 seeds; test set 2000; conditions label_sigma ∈ "
                  "{0.0, 0.1, 0.5}; tasks sin3",
                  "claim 1: 3layer < each of 3layer(NTK), ntk, kernel_ridge, 3layer(last), 2layer(last) on teacher3",
                  "claim 3: slope of two_layer_sgd[train=hidden] error vs log width ≤ 0",
                  "claim 1: mean two_layer_sgd[train=hidden] error at the largest N < 0.05 on mixtures"):
        assert words in text, words


def test_selection_on_the_test_set_is_paired_within_each_condition(fake_plugin, monkeypatch, bench, tmp_path):
    from suite_plugin import install_conditions

    install_conditions(fake_plugin, monkeypatch)
    code, out, err = bench("run", "--suite", "cond-c", "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert code == 0 and "Ran 24 of 24 cells" in out, err  # 2 learners × 3 seeds × 2 σ × 2 selections
    md = (tmp_path / "lb" / "cond-c" / "verdict.md").read_text()
    rows = table(section(md, "Selection on the test set"))
    assert {r["learner"] for r in rows} == {f"{lr} (σ = {s}·std y)" for lr in ("ridge", "mean") for s in ("0", "0.5")}
    con = sqlite3.connect(tmp_path / "store.sqlite")
    for r in rows:
        learner, sigma = r["learner"].split(" (σ = ")[0], float(r["learner"].split("= ")[1].split("·")[0])
        pairs = con.execute(
            "SELECT v.test_score, t.test_score FROM cells v JOIN cells t ON v.learner = t.learner AND v.n = t.n "
            "AND v.seed = t.seed AND v.label_sigma = t.label_sigma WHERE v.select_on = 'validation' AND "
            "t.select_on = 'test' AND v.learner = ? AND v.label_sigma = ?", (learner, sigma)).fetchall()
        assert len(pairs) == 3 and r["seeds"] == "3"
        assert float(r["selected on validation"]) == pytest.approx(np.mean([v for v, _ in pairs]), rel=6e-3)
        assert float(r["selected on test"]) == pytest.approx(np.mean([t for _, t in pairs]), rel=6e-3)


def test_runs_side_by_side_count_their_wall_time_once():
    from harness.reporting.suite_pages import wall_time

    def run(began, ended, seconds):
        return {"began": f"2026-01-01T{began}:00+00:00", "ended": f"2026-01-01T{ended}:00+00:00",
                "wall_seconds": seconds}

    alone = [run("10:00", "10:05", 300.0), run("11:00", "11:10", 600.0)]
    assert wall_time(alone) == (900.0, 0)
    # two processes sharing a store from 12:00 to 12:20 and 12:10 to 12:30, one more alone later
    shared = alone + [run("12:00", "12:20", 1200.0), run("12:10", "12:30", 1200.0), run("13:00", "13:01", 60.0)]
    assert wall_time(shared) == (900.0 + 1800.0 + 60.0, 2)
    assert wall_time([{"wall_seconds": 5.0}, run("10:00", "10:01", 60.0)]) == (65.0, 0)  # no span: its own
