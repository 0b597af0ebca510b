"""`bench run --backend dask`: the same cells trained on a dask.distributed cluster (a
LocalCluster of 2 worker processes × 1 thread here) store the same rows as the local backend,
and every failure comes back as a one-line error or a stored row, as it does locally."""

from __future__ import annotations

import sqlite3
import sys
import time

import pytest

from conftest import one_line_error
from harness.execution import backends
from harness.execution.backends import DaskBackend
from harness.protocol.cell import Protocol
from harness.execution.registry import load_registry
from harness.execution.runner import Progress, execute, plan
from harness.storage.store import Store

# Row fields that say when, where and how long a cell trained, not what it found.
WHEN_AND_WHERE = {"created_at", "seconds", "host"}


@pytest.fixture(scope="module")
def cluster():
    """2 workers × 1 thread in this process: starts in about a second (worker processes each
    import torch and the plugins first, 30-40 s on the shared 2-core machine: the slow tests)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as lc:
        yield lc


@pytest.fixture(scope="module")
def process_cluster():
    """2 worker processes × 1 thread, as `bench run --backend dask` starts them."""
    import dask
    from distributed import LocalCluster

    # A cell whose worker dies is failed at once rather than retried on the next worker (so that
    # the test kills one worker, not four); the scheduler runs in this process.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        # OMP_NUM_THREADS=3: a thread count the cap must override (test_..._share_their_hosts_cores).
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          env={"OMP_NUM_THREADS": "3"}) as lc:
            yield lc


@pytest.fixture(scope="module")
def grid():
    reg = load_registry()
    learners = [
        reg.learners["kernel_ridge"].with_params(kernel=["rbf"], gamma_scale=[1.0, 3.0], alpha_per_n=[1e-6, 1e-3]),
        reg.learners["random_features"].with_params(width=[50], ridge_per_n=[1e-4, 1e-2]),
        # schedule=step: a fixed epoch count (early stopping on the 5-epoch cap would double it, 8 s)
        reg.learners["two_layer_sgd"].with_params(width=[16], lr=[0.03, 0.1], weight_decay=[0.0], epochs=[5],
                                                  schedule=["step"]),
    ]
    return plan([reg.tasks["sin3"]], learners, [40, 80], range(2), Protocol(n_test=200), reg)


def _rows(store: Store) -> dict[str, dict]:
    """Each stored row by cell id, without when, where and how long it (or a trial) trained."""
    return {r["cell_id"]: {**{k: v for k, v in r.items() if k not in WHEN_AND_WHERE},
                           "selection": [{k: v for k, v in t.items() if k != "seconds"} for t in r["selection"]]}
            for r in store.rows()}


def _same_rows_as_local(tmp_path, address: str, grid) -> None:
    local, remote = Store(tmp_path / "local.sqlite"), Store(tmp_path / "dask.sqlite")
    assert execute(grid, local, jobs=1).statuses == {"ok": 12}
    with DaskBackend(address) as backend:
        assert backend.slots == 2
        summary = execute(grid, remote, backend=backend)
    assert summary.statuses == {"ok": 12} and not summary.interrupted
    a, b = _rows(local), _rows(remote)
    assert sorted(a) == sorted(b) == sorted(c.cell_id for c in grid)  # same cell ids
    for cell_id, row in a.items():
        other = b[cell_id]
        # Bit-identical scores (== on floats), the same choice, and everything else alike:
        # every trial's validation score, the code fingerprints, the provenance.
        assert (row["test_score"], row["val_score"], row["train_score"]) == \
               (other["test_score"], other["val_score"], other["train_score"])
        assert row["chosen_params"] == other["chosen_params"]
        assert row == other
    assert sqlite3.connect(tmp_path / "dask.sqlite").execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)


def test_the_dask_backend_stores_the_local_backends_rows(tmp_path, cluster, grid):
    _same_rows_as_local(tmp_path, cluster.scheduler_address, grid)


@pytest.mark.slow
def test_dask_worker_processes_store_the_local_backends_rows(tmp_path, process_cluster, grid):
    _same_rows_as_local(tmp_path, process_cluster.scheduler_address, grid)


def test_bench_run_on_a_scheduler_trains_the_cells_a_local_run_would(tmp_path, cluster, grid, bench):
    args = ["run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0,3.0",
            "-p", "alpha_per_n=1e-6,1e-3", "--ns", "40,80", "--seeds", "2", "--n-test", "200", "--no-leaderboard"]
    code, out, err = bench(*args, "--backend", "dask", "--scheduler", cluster.scheduler_address,
                           "--store", str(tmp_path / "cli.sqlite"))
    assert code == 0, err
    assert "Ran 4 of 4 cells" in out
    local = Store(tmp_path / "local.sqlite")
    execute([c for c in grid if c.learner.name == "kernel_ridge"], local, jobs=1)
    assert _rows(Store(tmp_path / "cli.sqlite")) == _rows(local)


@pytest.mark.slow  # 1-4 s; the default run stays under 2 minutes (the path is covered by faster tests)
def test_a_cell_past_its_timeout_is_stored_as_timeout_and_the_worker_trains_on(tmp_path, cluster):
    reg = load_registry()
    slow = reg.learners["two_layer_sgd"].with_params(width=[256], lr=[0.01], weight_decay=[0.0], epochs=[5000],
                                                      patience=[5000])
    fast = reg.learners["kernel_ridge"].with_params(kernel=["rbf"], gamma_scale=[1.0], alpha_per_n=[1e-3])
    cells = plan([reg.tasks["sin3"]], [slow, fast], [400], range(1), Protocol(n_test=100), reg)
    store = Store(tmp_path / "s.sqlite")
    start = time.monotonic()
    with DaskBackend(cluster.scheduler_address) as backend:
        summary = execute(cells, store, backend=backend, cell_timeout=1.0)
    assert time.monotonic() - start < 30
    rows = {r["learner"]: r for r in store.rows()}
    assert summary.statuses == {"timeout": 1, "ok": 1}
    assert rows["two_layer_sgd"]["status"] == "timeout"
    assert rows["two_layer_sgd"]["error"] == "exceeded --cell-timeout of 1s"
    # Stopped soon after the limit (its own clock starts after the timer, so it may read < 1 s),
    # not after its 5000 epochs.
    assert rows["two_layer_sgd"]["seconds"] < 10 and time.monotonic() - start >= 1.0
    assert rows["kernel_ridge"]["status"] == "ok"
    # The timed-out worker thread was disarmed: a later cell on the same workers is not struck.
    again = plan([reg.tasks["sin3"]], [fast], [300], range(2), Protocol(n_test=100), reg)
    with DaskBackend(cluster.scheduler_address) as backend:
        assert execute(again, store, backend=backend, cell_timeout=30.0).statuses == {"ok": 2}


@pytest.mark.slow
def test_a_worker_that_dies_leaves_a_failed_row_and_the_run_goes_on(tmp_path, process_cluster):
    import cloudpickle

    from harness import Learner

    class Killer(Learner):
        name = "killer"
        parameters = {"a": [0.0]}

        def fit(self, X, y, params, rng, problem):  # dies as a segfault or the OOM killer would
            import os
            os._exit(3)

    # The workers cannot import this test module: send the class by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        reg = load_registry()
        fast = reg.learners["kernel_ridge"].with_params(kernel=["rbf"], gamma_scale=[1.0], alpha_per_n=[1e-3])
        cells = (plan([reg.tasks["sin3"]], [Killer()], [50], range(1), Protocol(n_test=100))
                 + plan([reg.tasks["sin3"]], [fast], [50], range(1), Protocol(n_test=100), reg))
        store = Store(tmp_path / "s.sqlite")
        with DaskBackend(process_cluster.scheduler_address) as backend:
            summary = execute(cells, store, backend=backend)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    rows = {r["learner"]: r for r in store.rows()}
    assert summary.statuses == {"failed": 1, "ok": 1}
    assert rows["killer"]["status"] == "failed" and "dask worker failed to run the cell" in rows["killer"]["error"]
    assert "KilledWorker" in rows["killer"]["error"]
    assert rows["kernel_ridge"]["status"] == "ok"
    process_cluster.wait_for_workers(2, timeout=60)  # the nanny restarts the dead worker for later tests


class Interrupting(Progress):
    """Ctrl-C right after the first cell is stored."""

    def update(self, spec, record):
        super().update(spec, record)
        raise KeyboardInterrupt


def test_ctrl_c_keeps_the_stored_cells_and_releases_every_claim(tmp_path, cluster, grid):
    store = Store(tmp_path / "s.sqlite")
    with DaskBackend(cluster.scheduler_address) as backend:
        summary = execute(grid, store, backend=backend, progress=Interrupting(len(grid), stream=sys.stderr))
        assert summary.interrupted and summary.ran == 1
        con = sqlite3.connect(tmp_path / "s.sqlite")
        assert con.execute("SELECT COUNT(*) FROM cells").fetchone() == (1,)
        assert con.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)
        rerun = execute(grid, store, backend=backend)  # resumes: the other 11, nothing twice
    assert (rerun.ran, rerun.skipped) == (11, 1)
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (12, 12)


def test_an_unreachable_scheduler_is_a_quick_one_line_error(bench, monkeypatch):
    monkeypatch.setattr(backends, "CONNECT_TIMEOUT", 0.3)
    for address in ("tcp://127.0.0.1:1", "no-such-host.invalid:8786"):
        start = time.monotonic()
        code, _, err = bench("run", "-t", "sin3", "-l", "kernel_ridge", "--n", "20", "--seeds", "1",
                             "--backend", "dask", "--scheduler", address)
        assert code != 0 and time.monotonic() - start < 15
        line = one_line_error(err)
        assert f"--scheduler {address}: no dask scheduler answered within 0.3s" in line
        assert "dask scheduler" in line and "drop --scheduler" in line


def test_without_dask_installed_the_error_names_the_extra(bench, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    code, _, err = bench("run", "-t", "sin3", "-l", "kernel_ridge", "--n", "20", "--seeds", "1", "--backend", "dask")
    assert code != 0
    assert "pip install -e '.[dask]'" in one_line_error(err)


@pytest.mark.parametrize("args, says", [
    (["--scheduler", "tcp://127.0.0.1:8786"], "add --backend dask"),
    (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"], "drop --jobs"),
    (["--backend", "spark"], "Invalid value for '--backend'"),
])
def test_backend_options_that_do_not_fit_together_are_refused_before_training(bench, args, says):
    code, _, err = bench("run", "-t", "sin3", "-l", "kernel_ridge", "--n", "20", "--seeds", "1", *args)
    assert code != 0 and says in err and "Traceback" not in err




@pytest.mark.slow
def test_a_dask_workers_cells_share_their_hosts_cores(tmp_path, process_cluster):
    import json
    import os

    import cloudpickle

    import test_runner

    # The workers start with OMP_NUM_THREADS=3 (process_cluster), so torch and every BLAS/OpenMP
    # pool would take 3 threads; the cap gives each of the host's 2 worker threads cores // 2.
    # (Worker processes, not this one: OpenBLAS ignores a thread count set from a thread other
    # than the main one once the main thread has set one, as this test process's did.)
    cap = max(1, (os.cpu_count() or 1) // 2)
    assert cap != 3
    probe = test_runner.ThreadProbe().with_params(width=[8], lr=[0.1], weight_decay=[0.0], epochs=[2],
                                                  schedule=["step"], probe_dir=[str(tmp_path)])
    cells = plan([load_registry().tasks["sin3"]], [probe], [40], range(2), Protocol(n_test=50))
    cloudpickle.register_pickle_by_value(test_runner)  # the workers cannot import the tests
    try:
        with DaskBackend(process_cluster.scheduler_address) as backend:
            assert execute(cells, Store(tmp_path / "s.sqlite"), backend=backend).statuses == {"ok": 2}
    finally:
        cloudpickle.unregister_pickle_by_value(test_runner)
    seen = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert seen and all(s["pid"] != os.getpid() for s in seen)
    for s in seen:
        assert s["torch"] == cap and len(s["pools"]) >= 2 and set(s["pools"].values()) == {cap}, s


def test_a_cut_cell_resumes_from_its_checkpoint_on_a_dask_worker(tmp_path, cluster, monkeypatch):
    from dataclasses import replace

    from test_checkpoints import EVERY_EPOCH, Cut, result, spec_of

    from harness.api import checkpoints
    from harness.execution.runner import checkpoint_root
    from harness.protocol.cell import checkpoint_folder, run_cell

    spec, store = spec_of("three_layer_sgd"), Store(tmp_path / "s.sqlite")
    reference = result(run_cell(spec))
    real_save, saves = checkpoints.TrainingCheckpoint.save, []

    def save(self, state, epoch, epochs, finished=False):
        real_save(self, state, epoch, epochs, finished)
        saves.append((self.index, epoch))
        if (self.index, epoch) == (1, 3) and len(saves) == 3:  # the first run: cut in its first program
            raise Cut

    monkeypatch.setattr(checkpoints.TrainingCheckpoint, "save", save)
    cut = replace(spec, checkpoints=(str(checkpoint_root(store).resolve()), EVERY_EPOCH))
    with pytest.raises(Cut):
        run_cell(cut)
    with DaskBackend(cluster.scheduler_address) as backend:
        summary = execute([spec], store, backend=backend, checkpoint_minutes=EVERY_EPOCH)
    (row,) = store.rows()
    assert summary.statuses == {"ok": 1} and result(row) == reference
    assert saves[3] == (1, 4)  # the worker went on from epoch 3 of the first program
    assert not checkpoint_folder(cut).exists()
