"""Leaderboards: numbers equal the store's means, best in bold, exponent of a known power law."""

import os
import re
import stat
import sqlite3

import numpy as np
import pytest

from harness.reporting import curves, leaderboard
from harness.storage.store import Store


def put(store, learner, n, seed, score, status="ok", params=None):
    store.put({"cell_id": f"{learner}-{n}-{seed}-{params}", "task": "toy", "task_params": {}, "task_version": "1",
               "learner": learner, "learner_params": params or {}, "learner_version": "1", "n": n, "seed": seed,
               "n_test": 100, "val_fraction": 0.2, "status": status, "metric": "rel_mse" if status == "ok" else None,
               "test_score": score if status == "ok" else None, "chosen_params": {"k": 1}, "seconds": 2.0})


def parse_table(md):
    all_lines = md.splitlines()
    start = next(i for i, l in enumerate(all_lines) if l.startswith("|"))
    lines = []
    for l in all_lines[start:]:  # the first table only
        if not l.startswith("|"):
            break
        lines.append(l)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    body = [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]
    return header, body


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    rng = np.random.default_rng(0)
    for n in (100, 400, 1600):
        for seed in range(3):
            put(store, "powerlaw", n, seed, 3.0 * n ** -0.5)  # exact power law, exponent -0.5
            put(store, "noisy", n, seed, float(rng.uniform(0.01, 1.0)))
    put(store, "noisy", 1600, 3, None, status="failed")
    return store


def test_table_numbers_equal_the_stores_means(tmp_path, store):
    leaderboard.build(store.rows(), tmp_path / "lb")
    header, body = parse_table((tmp_path / "lb" / "toy.md").read_text())
    assert header[1:4] == ["N=100", "N=400", "N=1600"]
    con = sqlite3.connect(tmp_path / "s.sqlite")
    for row in body:
        for col, n in zip(row[1:4], (100, 400, 1600)):
            (mean,) = con.execute("SELECT AVG(test_score) FROM cells WHERE learner=? AND n=? AND status='ok'",
                                  (row[0], n)).fetchone()
            shown = float(re.match(r"\**([0-9.e+-]+) ±", col).group(1))
            assert shown == pytest.approx(mean, rel=5e-3)


def test_best_mean_per_column_is_bold_and_failures_are_counted(tmp_path, store):
    leaderboard.build(store.rows(), tmp_path / "lb")
    _, body = parse_table((tmp_path / "lb" / "toy.md").read_text())
    by = {r[0]: r for r in body}
    for i in (1, 2, 3):
        means = {k: float(re.match(r"\**([0-9.e+-]+)", v[i]).group(1)) for k, v in by.items()}
        winner = min(means, key=means.get)
        assert by[winner][i].startswith("**") and not any(by[k][i].startswith("**") for k in by if k != winner)
    assert by["noisy"][3].endswith("(3/4 seeds)")


def test_scaling_exponent_of_an_exact_power_law(tmp_path, store):
    leaderboard.build(store.rows(), tmp_path / "lb")
    _, body = parse_table((tmp_path / "lb" / "toy.md").read_text())
    assert {r[0]: r[4] for r in body}["powerlaw"] == "-0.50"


def test_plot_and_index_are_written(tmp_path, store):
    paths = leaderboard.build(store.rows(), tmp_path / "lb", descriptions={"toy": "a toy task"})
    png = tmp_path / "lb" / "toy.png"
    assert png in paths and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    index = (tmp_path / "lb" / "README.md").read_text()
    assert "[toy](toy.md)" in index and "a toy task" in index and "powerlaw" in index


def test_a_mean_over_fewer_seeds_is_marked_and_never_bolded(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed in range(3):
        put(store, "steady", 100, seed, 0.5)
        put(store, "lucky", 100, seed, 0.01 if seed < 2 else None, status="ok" if seed < 2 else "diverged")
    put(store, "short", 100, 0, 0.001)  # ran on one seed only: lowest mean, but over 1 of 3 seeds
    leaderboard.build(store.rows(), tmp_path / "lb")
    _, body = parse_table((tmp_path / "lb" / "toy.md").read_text())
    by = {r[0]: r[1] for r in body}
    assert by["steady"] == "**0.5 ± 0**"
    assert by["lucky"] == "0.01 ± 0 (2/3 seeds)" and by["short"] == "0.001 ± 0 (1/3 seeds)"
    assert "steady: 0.5 at N=100" in (tmp_path / "lb" / "README.md").read_text()


def test_a_row_superseded_by_a_newer_run_of_the_same_label_is_not_averaged_in(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    put(store, "lr", 100, 0, 0.9)  # e.g. before the learner's default grid changed …
    store.put({**store.rows()[0], "cell_id": "new-identity", "test_score": 0.1,
               "created_at": None})  # … and the re-run under the new identity
    _, body = parse_table(leaderboard.page("toy", curves.collect(store.rows())["toy"])[0])
    assert body[0][1].startswith("**0.1 ± 0**")


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_pages_get_the_users_umask_like_any_other_file(tmp_path, store, umask, mask, mode):
    umask(mask)
    paths = leaderboard.build(store.rows(), tmp_path / "lb")
    reference = tmp_path / "plain.txt"
    reference.write_text("x")  # what open() makes under this umask
    assert stat.S_IMODE(reference.stat().st_mode) == mode
    pages = [p for p in paths if p.suffix in (".md", ".png")]
    assert {p.suffix for p in pages} == {".md", ".png"}
    for p in pages:
        assert stat.S_IMODE(p.stat().st_mode) == mode, f"{p.name}: {oct(p.stat().st_mode)}"


def test_the_index_drops_task_rows_whose_page_is_gone(tmp_path, store):
    leaderboard.build(store.rows(), tmp_path / "lb")
    assert "[toy](toy.md)" in (tmp_path / "lb" / "README.md").read_text()
    (tmp_path / "lb" / "toy.md").unlink()
    leaderboard.write_index(tmp_path / "lb")  # as a suite run rewrites it
    assert "toy.md" not in (tmp_path / "lb" / "README.md").read_text()


def gfm_tables(md):
    """Every table of ``md`` as markdown-it-py (GFM tables) parses it: a list of rows of cell texts."""
    from markdown_it import MarkdownIt

    tables, row = [], None
    for t in MarkdownIt("commonmark").enable("table").parse(md):
        if t.type == "table_open":
            tables.append([])
        elif t.type == "tr_open":
            row = []
            tables[-1].append(row)
        elif t.type == "inline" and row is not None:
            row.append(t.content.replace("\\|", "|").strip())
        elif t.type == "tr_close":
            row = None
    return tables


def assert_tables_render(md, where):
    """GFM silently drops the cells past the header's count, so count the raw separators too."""
    cols = None
    for i, line in enumerate(md.splitlines(), 1):
        if not line.startswith("|"):
            cols = None
            continue
        n = len(re.findall(r"(?<!\\)\|", line))
        cols = n if cols is None else cols
        assert n == cols, f"{where}:{i}: {n} cell separators where the header has {cols}"
    assert gfm_tables(md) or "\n|" not in md, f"{where}: pipe lines that parse as no table"


def test_every_generated_page_parses_as_gfm_tables_with_the_headers_column_count(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed in range(2):
        put(store, "piped", 100, seed, 0.3, params={"kernel": ["rbf|laplacian", "x"]})  # a '|' in a label
        put(store, "piped", 100, seed, 0.4, params={"kernel": ["y"]})  # a second variant: the kernel is shown
        put(store, "plain", 100, seed, 0.2)
    leaderboard.build(store.rows(), tmp_path / "lb")
    pages = sorted((tmp_path / "lb").glob("*.md"))
    assert len(pages) == 2
    for page in pages:
        assert_tables_render(page.read_text(), page)
    table = gfm_tables((tmp_path / "lb" / "toy.md").read_text())[0]
    assert [len(r) for r in table] == [4, 4, 4, 4]  # learner, N=100, exponent b, s / cell
    assert table[1][0] == "piped[kernel=rbf|laplacian/x]"  # the label is one cell, whole


def test_the_committed_leaderboards_render():
    from conftest import ROOT

    pages = sorted((ROOT / "leaderboards").rglob("*.md"))
    assert pages
    for page in pages:
        assert_tables_render(page.read_text(), page)


def test_a_wide_table_is_written_unaligned_with_the_same_cells():
    narrow = leaderboard.gfm([["a", "1"], ["bb", "22"]], ["x", "y"])
    assert narrow.splitlines()[1] == "|-----|-----|"  # aligned: tabulate's GitHub table
    long_cell = "lr=0.01, " * 20
    rows = [["short", "1"], ["long", long_cell]]
    wide = leaderboard.gfm(rows, ["learner", "chosen"])
    lines = wide.splitlines()
    assert lines[1] == "| --- | --- |" and lines[2] == "| short | 1 |"  # no padding to the long cell
    assert len(lines[2]) < 20 and len(lines[3]) > leaderboard.ALIGNED_WIDTH
    assert gfm_tables(wide)[0] == [["learner", "chosen"], ["short", "1"], ["long", long_cell.strip()]]


def test_no_committed_table_row_is_wider_than_160_columns_unless_a_cell_needs_it():
    """Rows past 160 characters hold one long cell (a verdict's note), or belong to a table of six
    N columns (Fig. 1(b)'s N, zou-gu-deep's paper scale): short cells, at most 200 characters."""
    from conftest import ROOT

    wide = []
    for page in sorted((ROOT / "leaderboards").rglob("*.md")):
        six = False
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("| learner"):
                six = line.count("N=") >= 6
            longest = max((len(c.strip()) for c in line.strip("|").split(" | ")), default=0)
            if line.startswith("|") and len(line) > (200 if six else 160) and longest < 75:
                wide.append((page.relative_to(ROOT).as_posix(), len(line)))
    assert not wide, wide


def test_the_chosen_column_shows_what_selection_decided(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed in range(2):
        store.put({"cell_id": f"c{seed}", "task": "toy", "task_params": {}, "task_version": "1", "learner": "net",
                   "learner_params": {}, "learner_version": "1", "n": 100, "seed": seed, "n_test": 100,
                   "val_fraction": 0.2, "status": "ok", "metric": "rel_mse", "test_score": 0.5, "seconds": 1.0,
                   "learner_grid": {"lr": [0.1, 0.3], "width": [64], "decay": [0.0]},
                   # the edge search took decay past its one-value grid
                   "chosen_params": {"lr": 0.3, "width": 64, "decay": 1e-4}})
    leaderboard.build(store.rows(), tmp_path / "lb")
    chosen = gfm_tables((tmp_path / "lb" / "toy.md").read_text())[1]
    assert chosen[0] == ["learner", "N", "chosen", "seeds"]
    assert chosen[1] == ["net", "100", "decay=0.0001, lr=0.3", "2/2"]  # width=64 was never a choice


# --- marks a reader would ask about (issue 27, item 7) -------------------------------------------


def put_row(store, learner, n, seed, score, metric="rel_mse", chosen=None, edges=None, grid=None):
    """A stored ok row with its metric, chosen parameters, edges and grid given."""
    store.put({"cell_id": f"{learner}-{n}-{seed}", "task": "toy", "task_params": {}, "task_version": "1",
               "learner": learner, "learner_params": {}, "learner_version": "1", "n": n, "seed": seed,
               "n_test": 100, "val_fraction": 0.2, "status": "ok", "metric": metric, "test_score": score,
               "chosen_params": chosen or {"k": 1}, "seconds": 1.0, "edges": edges or [],
               "learner_grid": grid or {}})


def test_a_mean_worse_than_predicting_the_mean_is_marked_and_explained(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed, (a, b) in enumerate([(1.2, 0.5), (1.6, 0.4), (1.36, 0.6)]):  # means 1.3867 and 0.5
        put_row(store, "bad", 100, seed, a)
        put_row(store, "bad", 400, seed, b)
        put_row(store, "fine", 100, seed, 0.99)  # just below 1: not marked
        put_row(store, "fine", 400, seed, 0.3)
    leaderboard.build(store.rows(), tmp_path / "lb")
    md = (tmp_path / "lb" / "toy.md").read_text()
    by = {r[0]: r for r in gfm_tables(md)[0][1:]}
    assert by["bad"][1] == "1.39 ± 0.164 †" and by["bad"][2] == "0.5 ± 0.0816"
    assert "†" not in by["fine"][1] + by["fine"][2]
    assert "† Mean relative MSE above 1: worse than predicting the mean" in md


def test_a_classification_error_above_one_half_is_not_marked(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed in range(2):
        put_row(store, "clf", 100, seed, 0.9, metric="error")  # no majority baseline to compare with
    leaderboard.build(store.rows(), tmp_path / "lb")
    md = (tmp_path / "lb" / "toy.md").read_text()
    assert "†" not in md


def test_the_exponent_leaves_out_means_below_the_floor_and_says_so(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed in range(2):
        # exact N^-1 above the floor (0.04 → 0.01), then a mean at the numerical floor
        for n, s in ((100, 0.04), (400, 0.01), (1600, 5e-6)):
            put_row(store, "converged", n, seed, s)
        for n, s in ((100, 4e-6), (400, 1e-5), (1600, 2e-5)):  # all below: a rising "+0.5" to ignore
            put_row(store, "floored", n, seed, s)
        for n, s in ((100, 0.2), (400, 0.1), (1600, 0.05)):  # N^-1/2, untouched
            put_row(store, "plain", n, seed, s)
    leaderboard.build(store.rows(), tmp_path / "lb")
    md = (tmp_path / "lb" / "toy.md").read_text()
    table = gfm_tables(md)[0]
    col = table[0].index("exponent b")
    b = {r[0]: r[col] for r in table[1:]}
    assert b == {"converged": "-1.00 ‡", "floored": "— ‡", "plain": "-0.50"}
    assert "at least 1e-4" in md
    assert "left out: converged at N = 1600; floored at N = 100, 400, 1600" in md


def test_an_edge_hit_in_any_seed_shows_on_the_row_that_aggregates_it(tmp_path):
    """Two seeds choose alpha 1e-12 inside the grid, one ends on its 1e-14 bound: the row shows the
    most common choice (1e-12, 2/3) and that 1 of 3 seeds hit the edge, at 1e-14."""
    store = Store(tmp_path / "s.sqlite")
    grid = {"alpha": [1e-14, 1e-12, 1e-10], "kernel": ["rbf"]}
    edge = [{"param": "alpha", "side": "low", "value": 1e-14, "why": "at its search bound 1e-14"}]
    put_row(store, "ridge", 800, 0, 0.1, chosen={"alpha": 1e-14, "kernel": "rbf"}, edges=edge, grid=grid)
    for seed in (1, 2):
        put_row(store, "ridge", 800, seed, 0.1, chosen={"alpha": 1e-12, "kernel": "rbf"}, grid=grid)
    # another learner: every seed on the edge, its shown value the edge value itself
    wide = [{"param": "width", "side": "high", "value": 1000, "why": "not extended"}]
    for seed in range(3):
        put_row(store, "rf", 800, seed, 0.2, chosen={"width": 1000}, edges=wide, grid={"width": [100, 1000]})
    leaderboard.build(store.rows(), tmp_path / "lb")
    md = (tmp_path / "lb" / "toy.md").read_text()
    chosen = {r[0]: r for r in gfm_tables(md)[1][1:]}
    assert chosen["ridge"][2:] == ["alpha=1e-12 (edge) in 1/3 seeds at 1e-14", "2/3"]
    assert chosen["rf"][2:] == ["width=1000 (edge) in 3/3 seeds", "3/3"]
    assert "ridge: alpha (at its search bound 1e-14)" in md and "rf: width (not extended)" in md


def test_a_classification_exponent_drops_only_zero_errors(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for seed in range(2):
        for n, s in ((100, 8e-4), (400, 2e-4), (1600, 5e-5)):  # real mistakes below 1e-4: kept, exact N^-1
            put_row(store, "tiny", n, seed, s, metric="error")
        for n, s in ((100, 0.02), (400, 0.005), (1600, 0.0)):  # a perfect score at 1600: no logarithm
            put_row(store, "perfect", n, seed, s, metric="error")
    leaderboard.build(store.rows(), tmp_path / "lb")
    md = (tmp_path / "lb" / "toy.md").read_text()
    table = gfm_tables(md)[0]
    col = table[0].index("exponent b")
    assert {r[0]: r[col] for r in table[1:]} == {"perfect": "-1.00 ‡", "tiny": "-1.00"}
    assert "mean error is not 0 (a perfect score has no logarithm); left out: perfect at N = 1600" in md
    assert "1e-4" not in md


def test_the_epochs_table_gives_each_ns_range_and_counts_seeds_that_early_stopping_did_not_end(tmp_path):
    """Worked by hand: grid epochs [100], patience 20; each row's selection records its trials.
    N = 100: best epochs 50 and 90 under cap 100 → "50–90", 90 > 100 − 20 so 1 of 2 at the cap.
    N = 400: 150 and 199 under the cap 200 the edge search re-ran the winner with (199 > 180 is at
    it, 150 is not), and 290 under a cap of 300 that a learner growing its epochs ×3 used: 290 > 280
    is at it (a cap inferred by doubling, 400, would call it converged)."""
    store = Store(tmp_path / "s.sqlite")
    params = {"epochs": [100], "patience": [20]}
    fixed = {"patience": 20, "schedule": "early_stop", "lr": 0.1}

    def trial(cap, best, lr=0.1):
        return {"params": {**fixed, "lr": lr, "epochs": cap}, "best_epoch": best, "status": "ok"}

    for n, seed, epochs, trials in (
            (100, 0, 50, [trial(100, 50), trial(100, 70, lr=0.2)]),
            (100, 1, 90, [trial(100, 90)]),
            (400, 0, 150, [trial(100, 100), trial(200, 150)]),
            (400, 1, 199, [trial(100, 100), trial(200, 199)]),
            (400, 2, 290, [trial(100, 100), trial(300, 290)])):
        store.put({"cell_id": f"net-{n}-{seed}", "task": "toy", "task_params": {}, "task_version": "1",
                   "learner": "net", "learner_params": params, "learner_version": "1", "n": n, "seed": seed,
                   "n_test": 100, "val_fraction": 0.2, "status": "ok", "metric": "rel_mse", "test_score": 0.5,
                   "chosen_params": {**fixed, "epochs": epochs}, "selection": trials,
                   "learner_grid": {"epochs": [100], "patience": [20]}, "seconds": 1.0})
    put(store, "kernel", 100, 0, 0.4)  # chooses no epochs: no row
    leaderboard.build(store.rows(), tmp_path / "lb")
    text = (tmp_path / "lb" / "toy.md").read_text()
    header, body = parse_table(text[text.index("Epochs the chosen configuration trained"):])
    assert header == ["learner", "cap", "N=100", "N=400"]
    assert body == [["net", "100, 200, 300", "50–90 (1/2 at cap)", "150–290 (2/3 at cap)"]]


def test_early_stopped_reads_the_cap_off_the_winning_trial():
    chosen = {"epochs": 800, "lr": 0.008, "patience": 100}
    grid_run = {"params": {"epochs": 800, "lr": 0.008, "patience": 100}, "best_epoch": 800}
    rerun = {"params": {"epochs": 1600, "lr": 0.008, "patience": 100}, "best_epoch": 800}  # retraced, then stopped
    assert curves.early_stopped(chosen, [grid_run]) == (800, 800, 100)
    assert curves.early_stopped(chosen, [grid_run, rerun]) == (800, 1600, 100)
    assert curves.early_stopped(chosen, [{**grid_run, "params": {**grid_run["params"], "lr": 0.004}}]) == (800, None, 100)
    assert curves.early_stopped({**chosen, "schedule": "step"}, [grid_run]) is None
    assert curves.early_stopped({"lr": 0.1}, []) is None
