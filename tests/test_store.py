"""SQLite store: rows round-trip, finished cells are skipped, bad files are refused clearly."""

import sqlite3

import pytest

from harness.protocol.cell import Protocol
from harness.api.errors import StoreError
from harness.execution.registry import load_registry
from harness.execution.runner import execute, plan
from harness.storage.store import SCHEMA_VERSION, Store


def record(cell_id, status="ok", **extra):
    return {"cell_id": cell_id, "task": "t", "task_params": {"a": 1}, "task_version": "1", "learner": "l",
            "learner_params": {}, "learner_version": "1", "n": 10, "seed": 0, "n_test": 5, "val_fraction": 0.2,
            "status": status, "metric": "rel_mse", "test_score": 0.5, "chosen_params": {"lr": 0.1},
            "selection": [{"params": {"lr": 0.1}, "val_score": 0.4}], "seconds": 1.0, **extra}


def test_rows_round_trip_with_json_columns(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put(record("a"))
    (row,) = store.rows()
    assert row["task_params"] == {"a": 1} and row["chosen_params"] == {"lr": 0.1}
    assert row["selection"][0]["val_score"] == 0.4 and row["created_at"]
    assert sqlite3.connect(tmp_path / "s.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_failed_cells_rerun_only_with_retry_failed(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for cid, status in [("ok", "ok"), ("div", "diverged"), ("bad", "failed"), ("slow", "timeout")]:
        store.put(record(cid, status))
    ids = ["ok", "div", "bad", "slow", "new"]
    assert store.finished(ids) == {"ok", "div", "bad", "slow"}
    assert store.finished(ids, retry_failed=True) == {"ok", "div"}
    store.put(record("bad", "ok"))  # a retry replaces the failed row, no duplicate
    assert [r["status"] for r in store.rows() if r["cell_id"] == "bad"] == ["ok"]


def test_a_corrupted_file_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a readable conceptbench database.*--store"):
        Store(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_a_foreign_or_newer_sqlite_file_is_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(StoreError, match="not a conceptbench store"):
        Store(other)
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store(newer)


@pytest.fixture(scope="module")
def small_cells():
    reg = load_registry()
    learner = reg.learners["kernel_ridge"].with_params(kernel=["rbf"], gamma_scale=[1.0, 3.0],
                                                      alpha_per_n=[1e-6, 1e-3])
    return plan([reg.tasks["sin3"]], [learner], [40, 80], range(2), Protocol(n_test=300), reg)


def test_rerun_skips_finished_cells_and_writes_no_duplicates(tmp_path, small_cells):
    store = Store(tmp_path / "s.sqlite")
    first = execute(small_cells, store)
    assert (first.ran, first.skipped) == (4, 0)
    second = execute(small_cells, store)
    assert (second.ran, second.skipped) == (0, 4)
    n_rows = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells")
    assert n_rows.fetchone() == (4, 4)


@pytest.mark.slow  # 3 s; the dask test compares worker processes with in-process rows
def test_two_worker_processes_give_the_same_results_as_one(tmp_path, small_cells):
    one = Store(tmp_path / "one.sqlite")
    two = Store(tmp_path / "two.sqlite")
    execute(small_cells, one, jobs=1)
    execute(small_cells, two, jobs=2)
    key = lambda r: r["cell_id"]
    a, b = sorted(one.rows(), key=key), sorted(two.rows(), key=key)
    assert [r["test_score"] for r in a] == [r["test_score"] for r in b]
    assert all(r["versions"]["numpy"] and r["learner_plugin"].startswith("kernel_ridge") for r in a)


# A schema-5 store as conceptbench wrote it before --label-sigma (its DDL, verbatim), with one row
# in cells and one in history.
V5_SCHEMA = """
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY,
    task TEXT NOT NULL, task_params TEXT NOT NULL, task_version TEXT NOT NULL,
    learner TEXT NOT NULL, learner_params TEXT NOT NULL, learner_version TEXT NOT NULL,
    n INTEGER NOT NULL, seed INTEGER NOT NULL, n_test INTEGER NOT NULL, val_fraction REAL NOT NULL,
    label_noise REAL NOT NULL DEFAULT 0, input_transform TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed', 'timeout')),
    metric TEXT, test_score REAL, train_score REAL, val_score REAL,
    metrics TEXT, chosen_params TEXT, selection TEXT, seconds REAL, error TEXT,
    versions TEXT, git_rev TEXT, task_plugin TEXT, learner_plugin TEXT, host TEXT, device TEXT,
    created_at TEXT NOT NULL,
    learner_grid TEXT, learner_code TEXT, task_code TEXT, harness_code TEXT, refit_failures TEXT,
    select_on TEXT NOT NULL DEFAULT 'validation', edges TEXT
);
CREATE INDEX cells_task ON cells (task, learner, n);
CREATE TABLE claims (cell_id TEXT PRIMARY KEY, owner TEXT NOT NULL, heartbeat REAL NOT NULL,
                     expires REAL NOT NULL);
CREATE TABLE history AS SELECT * FROM cells WHERE 0;
ALTER TABLE history ADD COLUMN superseded_at TEXT;
INSERT INTO cells (cell_id, task, task_params, task_version, learner, learner_params, learner_version, n, seed,
                   n_test, val_fraction, status, metric, test_score, created_at)
    VALUES ('c1', 'sin3', '{}', '1', 'kr', '{}', '1', 100, 0, 50, 0.2, 'ok', 'rel_mse', 0.25, '2026-01-01');
INSERT INTO history (cell_id, task, task_params, task_version, learner, learner_params, learner_version, n, seed,
                     n_test, val_fraction, status, created_at, superseded_at)
    VALUES ('c1', 'sin3', '{}', '1', 'kr', '{}', '1', 100, 0, 50, 0.2, 'failed', '2025-12-31', '2026-01-01');
PRAGMA user_version = 5;
"""


def test_a_version_5_store_gains_label_sigma_in_cells_and_history(tmp_path, capsys):
    path = tmp_path / "v5.sqlite"
    sqlite3.connect(path).executescript(V5_SCHEMA)
    store = Store(path)
    assert "migrated store" in capsys.readouterr().err and SCHEMA_VERSION >= 6
    assert sqlite3.connect(tmp_path / "v5.sqlite.v5.bak").execute("PRAGMA user_version").fetchone()[0] == 5
    (row,) = store.rows()
    assert (row["cell_id"], row["test_score"], row["label_sigma"]) == ("c1", 0.25, 0.0)  # old rows: no noise
    # a re-run replaces the row: the old one moves to history column by column, although a migrated
    # history has superseded_at before label_sigma
    store.put(record("c1", test_score=0.5, label_sigma=0.1))
    (row,) = store.rows()
    assert (row["test_score"], row["label_sigma"]) == (0.5, 0.1)
    con = sqlite3.connect(path)
    hist = con.execute("SELECT status, test_score, label_sigma, superseded_at FROM history ORDER BY created_at")
    old, moved = hist.fetchall()
    assert old == ("failed", None, 0.0, "2026-01-01")
    assert moved[:3] == ("ok", 0.25, 0.0) and moved[3].startswith("20") and "T" in moved[3]
    # a fresh store's history takes the same rows
    fresh = Store(tmp_path / "new.sqlite")
    fresh.put(record("c2", label_sigma=0.5))
    fresh.put(record("c2", test_score=0.7))
    assert sqlite3.connect(tmp_path / "new.sqlite").execute(
        "SELECT label_sigma, test_score FROM history").fetchall() == [(0.5, 0.5)]


def _no_stale(row):
    return []


def test_merge_copies_missing_cells_as_written_and_keeps_ours(tmp_path):
    ours, theirs = Store(tmp_path / "ours.sqlite"), Store(tmp_path / "theirs.sqlite")
    ours.put(record("both", test_score=0.1))
    theirs.put(record("both", test_score=0.9))
    theirs.put(record("gpu", device="cuda", host="gpu-box", versions={"torch": "2.11.0"}))
    written = {r["cell_id"]: r for r in theirs.rows()}
    assert ours.merge_from(theirs, _no_stale) == {"copied": 1, "replaced": 0, "kept": 1}
    rows = {r["cell_id"]: r for r in ours.rows()}
    assert rows["both"]["test_score"] == 0.1  # a current finished row here is never overwritten
    assert rows["gpu"] == written["gpu"]  # every column as written there: created_at, device, host …
    assert ours.merge_from(theirs, _no_stale) == {"copied": 0, "replaced": 0, "kept": 2}  # idempotent
    assert sqlite3.connect(tmp_path / "ours.sqlite").execute("SELECT COUNT(*) FROM history").fetchone() == (0,)


def test_merge_replaces_a_failed_or_stale_row_and_keeps_it_in_history(tmp_path):
    ours, theirs = Store(tmp_path / "ours.sqlite"), Store(tmp_path / "theirs.sqlite")
    ours.put(record("failed_here", "failed", test_score=None))
    ours.put(record("stale_here", learner_code="old"))
    ours.put(record("failed_there"))
    theirs.put(record("failed_here", test_score=0.2))
    theirs.put(record("stale_here", learner_code="new", test_score=0.3))
    theirs.put(record("failed_there", "failed", test_score=None))
    stale = lambda row: ["learner code changed"] if row["learner_code"] == "old" else []  # noqa: E731
    assert ours.merge_from(theirs, stale) == {"copied": 0, "replaced": 2, "kept": 1}
    rows = {r["cell_id"]: r for r in ours.rows()}
    assert (rows["failed_here"]["test_score"], rows["stale_here"]["test_score"]) == (0.2, 0.3)
    assert rows["failed_there"]["status"] == "ok"
    history = sqlite3.connect(tmp_path / "ours.sqlite").execute("SELECT cell_id, status FROM history").fetchall()
    assert sorted(history) == [("failed_here", "failed"), ("stale_here", "ok")]


def test_bench_merge_joins_two_runs_of_one_grid(bench, tmp_path):
    """Half a grid trained into another store (as on a GPU machine), the rest here: after
    `bench merge`, the grid is complete and nothing is left to train."""
    grid = ["run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "--seeds", "1",
            "--n-test", "200", "--jobs", "1", "--quiet",
            "--no-leaderboard"]
    other = str(tmp_path / "gpu.sqlite")
    assert bench(*grid, "--ns", "40", "--store", other)[0] == 0
    assert bench(*grid, "--ns", "80")[0] == 0
    code, out, _ = bench("merge", other)
    assert code == 0 and "1 cell(s) copied, 0 replaced" in out
    code, out, _ = bench(*grid, "--ns", "40,80")
    assert code == 0 and "Nothing to train" in out
    code, out, _ = bench("show", "--format", "csv")
    assert code == 0 and len(out.strip().splitlines()) == 3  # header + two cells


def test_bench_merge_refuses_a_missing_source_or_the_target_itself(bench, tmp_path):
    code, _, err = bench("merge", str(tmp_path / "absent.sqlite"))
    assert code != 0 and "no store to merge at" in err and "Traceback" not in err
    target = tmp_path / "store.sqlite"
    Store(target).close()
    code, _, err = bench("merge", str(target))
    assert code != 0 and "is the store being merged into" in err
    (tmp_path / "notes.txt").write_text("not a database " * 50)
    code, _, err = bench("merge", str(tmp_path / "notes.txt"))
    assert code != 0 and "not a readable conceptbench database" in err
