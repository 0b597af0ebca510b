"""Reliability: SIGKILL and concurrent writers lose nothing, timeouts and full disks are reported,
old stores are migrated with a backup, bad plugin data is refused up front."""

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from conftest import one_line_error
from harness.api.errors import StoreError
from harness.storage.store import SCHEMA_VERSION, Store

SLOW = """
import time
import numpy as np
from harness import BenchError, Learner, Task, hookimpl

class Slow(Learner):
    name = "slow"
    parameters = {"sleep": [0.0]}
    def fit(self, X, y, params, rng, problem):
        time.sleep(params["sleep"])
        return Const(float(np.mean(y)))

class Const:
    def __init__(self, v): self.v = v
    def predict(self, X): return np.full(len(X), self.v)

class Ranged(Task):
    name, kind, description = "ranged", "regression", "needs 0 < mu < 1"
    def __init__(self, mu=0.5, bad=False):
        super().__init__(mu=mu, bad=bad)
    def check_params(self):
        if not 0 < self.params["mu"] < 1:
            raise BenchError(f"ranged: mu must lie in (0, 1), got {self.params['mu']}")
    def sample(self, n, rng):
        X = rng.standard_normal((n, 2))
        y = X[:, 0] * self.params["mu"]
        if self.params["bad"]:
            y[0] = np.nan
        return X, y

@hookimpl
def register_learners(register):
    register(Slow())

@hookimpl
def register_tasks(register):
    register(Ranged())
"""

KR = ["-l", "kernel_ridge", "-p", "kernel=rbf", "--seeds", "2", "--jobs", "1", "--n-test", "300"]
NS = ["--ns", "300,310,320,330,340,350"]


@pytest.mark.slow  # 7 s; timeouts also tested on the dask backend
def test_timeout_is_recorded_the_run_goes_on_and_retry_reruns_only_those(fake_plugin, bench, tmp_path):
    fake_plugin("cb_slow", SLOW)
    out_dir = ["--out", str(tmp_path / "lb")]
    code, out, err = bench("run", "-t", "ranged", "-l", "slow", "-p", "sleep=0.0,2.0", "--ns", "20,30",
                           "--seeds", "1", "--jobs", "1", "--cell-timeout", "1", *out_dir)
    assert code == 1 and "2 timeout" in out and "timed out" in err
    rows = Store(tmp_path / "store.sqlite").rows()
    assert {r["status"] for r in rows} == {"timeout"} and "cell-timeout of 1s" in rows[0]["error"]
    code, out, _ = bench("run", "-t", "ranged", "-l", "slow", "-p", "sleep=0.0,2.0", "--ns", "20,30",
                         "--seeds", "1", "--jobs", "1", *out_dir)
    assert "Nothing to train" in out  # without --retry-failed, stored timeouts are kept
    code, out, _ = bench("run", "-t", "ranged", "-l", "slow", "-p", "sleep=0.0,2.0", "--ns", "20,30",
                         "--seeds", "1", "--jobs", "1", "--retry-failed", *out_dir)
    assert code == 0 and "Ran 2 of 2 cells" in out
    assert {r["status"] for r in Store(tmp_path / "store.sqlite").rows()} == {"ok"}


@pytest.mark.parametrize("args, words", [
    (["-p", "mu=1.5"], "ranged: mu must lie in (0, 1), got 1.5"),
    (["-p", "bad=True"], "task 'ranged' sample(8) returned y that is not finite"),
    (["--cell-timeout", "0"], "--cell-timeout must be a positive"),
])
def test_bad_task_data_and_parameters_are_refused_before_training(fake_plugin, bench, tmp_path, args, words):
    fake_plugin("cb_slow", SLOW)
    code, _, err = bench("run", "-t", "ranged", "-l", "slow", "--n", "10", *args, "--out", str(tmp_path / "lb"))
    assert code != 0 and words in one_line_error(err) and "[1/" not in err


def bench_proc(cwd, *args, env=None):
    return subprocess.Popen([sys.executable, "-m", "harness", "run", "-t", "sin3", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.slow  # covered by test_trust's kill -9 rerun test
def test_sigkill_mid_run_keeps_finished_cells_and_leaves_no_partial_row(tmp_path, bench):
    store = ["--store", str(tmp_path / "conceptbench.sqlite")]  # not the bench fixture's default
    proc = bench_proc(tmp_path, *KR, *NS, *store)
    printed = 0
    for line in proc.stderr:
        printed += "rel_mse=" in line
        if printed == 2:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    saved = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    assert 2 <= saved < 12
    assert con.execute("SELECT COUNT(*) FROM cells WHERE status != 'ok' OR test_score IS NULL").fetchone() == (0,)
    # The rerun in-process: the same entry point, one interpreter start-up (~3 s CPU) less.
    code, out, _ = bench("run", "-t", "sin3", *KR, *NS, *store, "--out", str(tmp_path / "leaderboards"))
    assert code == 0 and f"Ran {12 - saved} of 12 cells" in out
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (12, 12)


@pytest.mark.slow  # covered by test_trust's exactly-once claim test
def test_two_processes_on_one_store_both_finish_without_loss_or_duplicates(tmp_path):
    # one BLAS thread each: two processes × 2 spinning threads on 2 cores would only be slow
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    a = bench_proc(tmp_path, *KR, *NS, "--out", "lb_a", env=env)
    b = bench_proc(tmp_path, *KR, *NS, "--out", "lb_b", env=env)
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id), SUM(status = 'ok') FROM cells").fetchone() == (12, 12, 12)


def test_full_disk_on_write_is_one_clear_error(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers SQLITE_FULL, as on a full disk
    with pytest.raises(StoreError, match="database or disk is full.*kept.*re-run to resume"):
        store.put({"cell_id": "x", "task": "t", "task_params": {}, "task_version": "1", "learner": "l",
                   "learner_params": {}, "learner_version": "1", "n": 1, "seed": 0, "n_test": 1,
                   "val_fraction": 0.2, "status": "ok", "selection": ["pad" * 10000]})


V1_SCHEMA = """
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY, task TEXT NOT NULL, task_params TEXT NOT NULL, task_version TEXT NOT NULL,
    learner TEXT NOT NULL, learner_params TEXT NOT NULL, learner_version TEXT NOT NULL,
    n INTEGER NOT NULL, seed INTEGER NOT NULL, n_test INTEGER NOT NULL, val_fraction REAL NOT NULL,
    status TEXT NOT NULL, metric TEXT, test_score REAL, train_score REAL, val_score REAL,
    metrics TEXT, chosen_params TEXT, selection TEXT, seconds REAL, error TEXT,
    versions TEXT, git_rev TEXT, task_plugin TEXT, learner_plugin TEXT, created_at TEXT NOT NULL);
INSERT INTO cells VALUES ('c1', 'sin3', '{}', '1', 'kr', '{}', '1', 100, 0, 50, 0.2, 'ok', 'rel_mse', 0.25,
    0.1, 0.2, '{}', '{}', '[]', 1.5, NULL, '{}', 'abc', 'sin3', 'kr', '2026-01-01');
PRAGMA user_version = 1;
"""


def test_a_version_1_store_is_migrated_after_a_backup(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    sqlite3.connect(path).executescript(V1_SCHEMA)
    store = Store(path)
    assert "migrated store" in capsys.readouterr().err
    (row,) = store.rows()
    assert row["test_score"] == 0.25 and row["host"] is None
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    backup = tmp_path / "old.sqlite.v1.bak"
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == 1


def test_rows_carry_provenance(bench, tmp_path):
    bench("run", "-t", "sin3", *KR, "--n", "30", "--out", str(tmp_path / "lb"))
    row = Store(tmp_path / "store.sqlite").rows()[0]
    assert {"python", "numpy", "torch", "scikit-learn", "conceptbench"} <= set(row["versions"])
    assert row["task_plugin"].startswith("sin3 (conceptbench ") and row["learner_plugin"].startswith("kernel_ridge (")
    assert row["host"] and row["created_at"]
