"""Runner: progress, `all`, and a real Ctrl-C mid-run that loses no finished cell."""

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.execution.runner import Progress
from test_registry import GOOD

DUPLICATE = GOOD.format(name="twin")



def test_heartbeat_speaks_while_a_long_cell_runs():
    stream = io.StringIO()
    progress = Progress(total=3, stream=stream, interval=0.2)
    with progress.heartbeat():
        time.sleep(0.6)
    assert "[0/3] still training" in stream.getvalue()


def test_all_selects_every_learner_that_supports_the_task(bench, tmp_path):
    # --jobs 1: starting two loky workers that import torch took 13-28 s of this test on a shared
    # 2-core machine; the parallel path has its own test (test_store.py, jobs=2).
    code, out, err = bench("run", "-t", "sin3", "-l", "all", "--n", "20", "--seeds", "1", "--n-test", "50", "--jobs", "1",
                           "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p", "alpha_per_n=1e-3",
                           "-p", "width=8", "-p", "epochs=2", "-p", "lr=0.01", "-p", "weight_decay=0.0",
                           "-p", "ridge_per_n=1e-6", "-p", "ntk.depth=2", "--out", str(tmp_path / "lb"))
    assert code == 0, err
    names = ("arora_gd", "deep_sgd", "kernel_ridge", "ntk", "random_features", "three_layer_alg1", "three_layer_ntk",
             "three_layer_sgd", "two_layer_ntk", "two_layer_sgd")
    assert all(name in err for name in names) and f"Ran {len(names)} of {len(names)} cells" in out


def test_running_a_name_two_plugins_register_is_one_line_error(fake_plugin, bench):
    fake_plugin("cb_one", DUPLICATE)
    fake_plugin("cb_two", DUPLICATE)
    code, _, err = bench("run", "-t", "twin", "-l", "kernel_ridge")
    assert code != 0 and "registered by both" in err.splitlines()[-1] and "Traceback" not in err


NAPPER = """
import os
import time

import numpy as np
from harness import Learner, hookimpl

class Napper(Learner):
    name = "napper"
    parameters = {"offset": [0.0]}
    def fit(self, X, y, params, rng, problem):
        # With CB_NAP=1 every cell with N < 100 sleeps until it is interrupted; the runner takes
        # the largest N first, so the N=400 cells finish and all later ones wait for the signal.
        if os.environ.get("CB_NAP") == "1" and len(X) < 100:
            time.sleep(60)
        return Mean(float(np.mean(y)) + params["offset"])

class Mean:
    def __init__(self, v): self.v = v
    def predict(self, X): return np.full(len(X), self.v)

@hookimpl
def register_learners(register):
    register(Napper())
"""


def after_two_cells(proc: subprocess.Popen, send) -> str:
    """Wait until ``proc`` (a ``bench run``) reports two finished cells, ``send()`` it a signal,
    and return the rest of its stderr."""
    printed = 0
    for line in proc.stderr:
        printed += "rel_mse=" in line
        if printed == 2:
            send()
            break
    return proc.stderr.read()


def test_ctrl_c_keeps_every_finished_cell_and_the_rerun_resumes(tmp_path, fake_plugin, bench):
    # A real learner's cells were so fast that the whole run could finish before the SIGINT
    # arrived (exit 0); here the cells after the first two cannot finish until interrupted.
    fake_plugin("cb_napper", NAPPER)
    paths = [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    args = ["run", "-t", "sin3", "-l", "napper", "--ns", "400,20,22,24,26,28", "--seeds", "2", "--jobs", "1",
            "--n-test", "300", "--store", str(tmp_path / "conceptbench.sqlite"), "--out", str(tmp_path / "lb")]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True, env={**env, "CB_NAP": "1"},
                            # a shell's background job inherits SIGINT ignored: undo that, or Ctrl-C is lost
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    rest = after_two_cells(proc, lambda: os.killpg(proc.pid, signal.SIGINT))  # Ctrl-C the process group
    assert proc.wait(timeout=60) == 130
    assert "Interrupted" in rest and "Traceback" not in rest
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    saved = con.execute("SELECT COUNT(*) FROM cells WHERE status = 'ok'").fetchone()[0]
    assert 2 <= saved < 12
    code, out, err = bench(*args)  # the rerun in-process (no naps): the same entry point, one start-up less
    assert code == 0, err
    assert f"Ran {12 - saved} of 12 cells" in out and f"{saved} already in" in out
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (12, 12)


def test_sigterm_stops_a_run_as_ctrl_c_does_even_with_sigint_ignored(tmp_path, fake_plugin):
    # started as a shell's background job (SIGINT ignored), stopped by `kill` (SIGTERM) sent to the
    # bench process alone: the finished cells are kept, the run ends as an interrupted one, and its
    # worker processes stop too (none trains on, holding a core, after the run has ended)
    fake_plugin("cb_napper", NAPPER)
    paths = [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "CB_NAP": "1"}
    args = ["run", "-t", "sin3", "-l", "napper", "--ns", "400,20,22,24", "--seeds", "2", "--jobs", "2",
            "--n-test", "300", "--store", str(tmp_path / "conceptbench.sqlite"), "--out", str(tmp_path / "lb")]
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=tmp_path, stderr=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, start_new_session=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    rest = after_two_cells(proc, lambda: os.kill(proc.pid, signal.SIGTERM))
    assert proc.wait(timeout=60) == 130, rest
    assert "Interrupted" in rest and "Traceback" not in rest and "cancelled" not in rest
    deadline = time.monotonic() + 10  # the workers get SIGKILL from joblib; give the kernel a moment
    while (left := _group(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"processes of the stopped run still alive: {left}"
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    assert 2 <= con.execute("SELECT COUNT(*) FROM cells WHERE status = 'ok'").fetchone()[0] < 8


def _loky_workers() -> list[str]:
    """This process's live joblib (loky) worker processes, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and b"popen_loky" in command:
            alive.append(stat.parent.name)
    return alive


def test_a_stop_in_the_runs_own_code_stops_the_workers_at_once_and_quietly(tmp_path, recwarn):
    # Ctrl-C landing in execute's loop (here: while it reports a finished cell), not inside joblib:
    # the worker still training the other cell is killed before execute returns, and joblib's
    # "tasks ... cancelled" warning does not reach the user
    from harness.execution.registry import load_registry
    from harness.execution.runner import checkpoint_root, execute, plan
    from harness.protocol.cell import Protocol
    from harness.storage.store import Store

    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc to look for the workers in")
    reg = load_registry()
    endless = reg.learners["two_layer_sgd"].with_params(width=[8], epochs=[10**6], patience=[10**6], lr=[0.01],
                                                        weight_decay=[0.0])
    cells = (plan([reg.tasks["sin3"]], [endless], [40], [0], Protocol(n_test=50))
             + plan([reg.tasks["sin3"]], [reg.learners["kernel_ridge"]], [20], [0], Protocol(n_test=50)))

    store = Store(tmp_path / "s.sqlite")
    saved = checkpoint_root(store) / cells[0].cell_id / "meta.json"

    class StopAtFirstCell(Progress):
        def update(self, spec, record):
            deadline = time.monotonic() + 60  # once the endless cell has saved a checkpoint
            while not saved.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            raise KeyboardInterrupt

    summary = execute(cells, store, jobs=2, checkpoint_minutes=1e-9,
                      progress=StopAtFirstCell(len(cells), stream=io.StringIO(), live=False))
    assert summary.interrupted and summary.stored  # the quick cell was stored, then the stop came
    assert summary.cut == [cells[0].cell_id]  # the endless one is left half-trained, checkpointed
    deadline = time.monotonic() + 10  # SIGKILLed by joblib; give the kernel a moment to reap them
    while (left := _loky_workers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"workers still alive after the run stopped: {left}"
    assert not [w for w in recwarn if "cancelled" in str(w.message)], [str(w.message) for w in recwarn]


def _group(pgid: int) -> list[str]:
    """The live (not zombie) processes of process group ``pgid``, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(stat.parent.name)
    return alive


def test_cells_never_take_more_torch_threads_than_omp_num_threads_allows(monkeypatch):
    from harness.execution.devices import cell_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert (cell_threads(1), cell_threads(2), cell_threads(16)) == (8, 4, 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the README's way to give a run a share of the cores
    assert (cell_threads(1), cell_threads(8)) == (2, 1)


from plugins.learners.nets.two_layer_sgd import TwoLayerSGD  # noqa: E402


class ThreadProbe(TwoLayerSGD):
    """``two_layer_sgd`` (on --device cpu) that writes, from inside each fit, the thread counts
    and CUDA state of the process it trained in (a JSON file per fit in ``probe_dir``)."""

    name = "thread_probe"
    parameters = {**TwoLayerSGD.parameters, "probe_dir": [""]}

    def fit(self, X, y, params, rng, problem):
        import json

        import torch
        from threadpoolctl import threadpool_info

        params = dict(params)
        out = params.pop("probe_dir")
        model = super().fit(X, y, params, rng, problem)
        seen = {"pid": os.getpid(), "torch": torch.get_num_threads(), "cuda": torch.cuda.is_initialized(),
                "pools": {i["filepath"]: i["num_threads"] for i in threadpool_info()}}
        with open(os.path.join(out, f"{os.getpid()}-{time.time_ns()}.json"), "w") as fh:
            json.dump(seen, fh)
        return model


@pytest.mark.slow  # ≥ 2 s; the default run stays under 2 minutes (the others in this file cover the path)
def test_each_loky_worker_caps_blas_and_torch_threads_and_opens_no_cuda_context(tmp_path, monkeypatch):
    import json

    from harness.execution import runner
    from harness.protocol.cell import Protocol
    from harness.execution.registry import load_registry

    # A cap the workers would not have by themselves: they inherit OMP_NUM_THREADS=1 (conftest),
    # which gives numpy's and scipy's OpenBLAS, torch's libgomp and torch 1 thread each.
    monkeypatch.setattr(runner, "cell_threads", lambda jobs: 3)
    probe = ThreadProbe().with_params(width=[8], lr=[0.1], weight_decay=[0.0], epochs=[2],
                                      probe_dir=[str(tmp_path)])
    cells = runner.plan([load_registry().tasks["sin3"]], [probe], [40], range(2), Protocol(n_test=50))
    records = [record for _, record in runner._execute(iter(cells), 2, None)]
    assert [r["status"] for r in records] == ["ok", "ok"], [r["error"] for r in records]
    seen = [json.loads(p.read_text()) for p in tmp_path.glob("*.json")]
    assert seen and all(s["pid"] != os.getpid() for s in seen)  # trained in worker processes
    for s in seen:
        assert s["torch"] == 3
        assert len(s["pools"]) >= 2 and set(s["pools"].values()) == {3}, s["pools"]  # numpy's, scipy's BLAS
        # --device cpu: no CUDA context in the worker. On a CPU-only torch build any CUDA
        # initialisation raises, which would have failed the cell above; on a GPU machine the
        # context would show here.
        assert s["cuda"] is False
