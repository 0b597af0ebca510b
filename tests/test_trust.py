"""Results you can trust: a changed grid or changed code is never silently reused, a diverged
refit falls back to the next validated configuration, and two processes on one store train each
cell once."""

import importlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from harness import Diverged, Learner
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from harness.storage.store import Store, new_owner

PLUGIN = """
import numpy as np
from harness import Learner, hookimpl

class Const:
    def __init__(self, v): self.v = v
    def predict(self, X): return np.full(len(X), self.v)

class Shift(Learner):
    name = "shift"
    parameters = {{"k": {grid}}}
    def fit(self, X, y, params, rng, problem):
        return Const(float(np.mean(y)) + {offset} * params["k"])

@hookimpl
def register_learners(register):
    register(Shift())
"""
RUN = ("run", "-t", "sin3", "-l", "shift", "--ns", "20,40", "--seeds", "1", "--n-test", "50", "--jobs", "1")


def cells_trained(out: str) -> int:
    return int(re.search(r"Ran (\d+) of", out).group(1)) if "Ran " in out else 0


def test_a_changed_default_grid_is_a_new_cell_not_a_reused_one(fake_plugin, bench, tmp_path):
    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0]", offset="0.1"))
    code, out, err = bench(*RUN, "--out", str(tmp_path / "lb"))
    assert code == 0 and cells_trained(out) == 2, err
    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0, 2.0]", offset="0.1"))  # a candidate added
    code, out, err = bench(*RUN, "--out", str(tmp_path / "lb"))
    assert code == 0 and cells_trained(out) == 2, (out, err)
    grids = {tuple(r["learner_grid"]["k"]) for r in Store(tmp_path / "store.sqlite").rows()}
    assert grids == {(0.0, 1.0), (0.0, 1.0, 2.0)}


def test_candidate_order_and_spelled_out_defaults_do_not_change_a_cells_identity():
    reg = load_registry()
    sin3, sgd = reg.tasks["sin3"], reg.learners["three_layer_sgd"]
    spec = lambda learner: CellSpec(sin3, learner, 100, 0, Protocol())
    default = sgd.parameters["lr"]
    assert spec(sgd.with_params(lr=default[::-1])).cell_id == spec(sgd).cell_id
    assert spec(sgd.with_params(lr=[0.3, 0.1])).cell_id == spec(sgd.with_params(lr=[0.1, 0.3])).cell_id
    assert spec(sgd.with_params(lr=[0.1, 0.3])).cell_id != spec(sgd.with_params(lr=[0.1, 0.3, 1.0])).cell_id
    assert sgd.with_params(lr=[0.3, 0.1]).label == sgd.with_params(lr=[0.1, 0.3]).label


def test_edited_plugin_code_makes_stored_cells_stale_and_they_are_rerun(fake_plugin, bench, tmp_path):
    lb = str(tmp_path / "lb")
    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0]", offset="0.1"))
    assert cells_trained(bench(*RUN, "--out", lb)[1]) == 2
    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0]", offset="0.5"))  # a line fixed, same grid
    code, out, err = bench(*RUN, "--out", lb)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert code == 0 and cells_trained(out) == 2, (out, err)
    assert f"shift: 2 cell(s) stale, learner code changed since {today}; re-running them" in err
    store = Store(tmp_path / "store.sqlite")
    assert len(store.rows()) == 2  # replaced, not duplicated …
    assert store.db.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 2  # … and the old rows kept
    code, out, err = bench(*RUN, "--out", lb)  # now current: nothing to do
    assert code == 0 and "stale" not in err and "Nothing to train" in out


def test_reuse_stale_keeps_them_and_show_and_leaderboards_mark_them(fake_plugin, bench, tmp_path):
    lb = tmp_path / "lb"
    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0]", offset="0.1"))
    bench(*RUN, "--out", str(lb))
    fake_plugin("cb_shift", PLUGIN.format(grid="[0.0, 1.0]", offset="0.5"))
    code, out, err = bench(*RUN, "--reuse-stale", "--out", str(lb))
    assert code == 0 and "shift: 2 cell(s) stale" in err and "kept as they are (--reuse-stale)" in err
    assert "Nothing to train" in out
    code, out, _ = bench("show", "-l", "shift")
    assert out.count("ok (stale)") == 2 and "learner code changed" in out
    page = (lb / "sin3.md").read_text()
    assert page.count("(stale)") >= 2 and "learner code changed" in page


PACKAGE = {
    "__init__.py": """
        from harness import Learner, hookimpl
        from .helper import predictor

        class Helped(Learner):
            name = "helped"
            parameters = {"k": [1.0]}
            def fit(self, X, y, params, rng, problem):
                return predictor(y, params["k"])

        @hookimpl
        def register_learners(register):
            register(Helped())
    """,
    "helper.py": """
        import numpy as np

        class predictor:
            def __init__(self, y, k): self.v = float(np.mean(y)) * {scale}
            def predict(self, X): return np.full(len(X), self.v)
    """,
}


def test_a_fix_in_a_helper_module_of_the_plugin_makes_its_cells_stale(tmp_path, monkeypatch, bench):
    site = tmp_path / "site"
    (site / "cbpkg").mkdir(parents=True)
    info = site / "cbpkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cbpkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[conceptbench]\ncbpkg = cbpkg\n")
    monkeypatch.syspath_prepend(str(site))

    def write(scale):
        (site / "cbpkg" / "__init__.py").write_text(textwrap.dedent(PACKAGE["__init__.py"]))
        (site / "cbpkg" / "helper.py").write_text(textwrap.dedent(PACKAGE["helper.py"]).format(scale=scale))
        importlib.invalidate_caches()
        for name in ("cbpkg", "cbpkg.helper"):
            sys.modules.pop(name, None)

    args = ("run", "-t", "sin3", "-l", "helped", "--n", "20", "--seeds", "1", "--n-test", "50", "--jobs", "1",
            "--out", str(tmp_path / "lb"))
    write(1.0)
    assert cells_trained(bench(*args)[1]) == 1
    write(0.5)  # only the helper changes
    code, out, err = bench(*args)
    assert code == 0 and "helped: 1 cell(s) stale, learner code changed" in err and cells_trained(out) == 1


class Const:
    def __init__(self, v):
        self.v = v

    def predict(self, X):
        return np.full(len(X), self.v)


class RefitBlowsUp(Learner):
    """Validation prefers small shifts; the refit on all N diverges for the shifts in ``blow``."""

    name = "refit_blows_up"
    parameters = {"shift": [0.0, 0.5, 2.0]}
    blow: tuple = (0.0,)
    n_all = 0

    def fit(self, X, y, params, rng, problem):
        if len(X) == self.n_all and params["shift"] in self.blow:
            raise Diverged("loss became nan")
        return Const(float(np.mean(y)) + params["shift"])


def test_a_diverged_refit_falls_back_to_the_next_best_validated_configuration():
    sin3 = load_registry().tasks["sin3"]
    learner = RefitBlowsUp()
    learner.n_all = 80
    record = run_cell(CellSpec(sin3, learner, 80, 0, Protocol(n_test=200)))
    assert record["status"] == "ok", record["error"]
    assert record["chosen_params"] == {"shift": 0.5}
    assert [f["params"] for f in record["refit_failures"]] == [{"shift": 0.0}]

    learner.blow = (0.0, 0.5, 2.0)  # every refit diverges: only then is the cell diverged
    record = run_cell(CellSpec(sin3, learner, 80, 0, Protocol(n_test=200)))
    assert record["status"] == "diverged" and "every one of the 3" in record["error"]


# -- two processes on one store -----------------------------------------------------------------

COUNTED = """
import os, time
import numpy as np
from harness import Learner, hookimpl

class Const:
    def __init__(self, v): self.v = v
    def predict(self, X): return np.full(len(X), self.v)

class Counted(Learner):
    '''Logs every refit on all N (one per trained cell) to $COUNT_LOG, then takes a while.'''
    name = "counted"
    parameters = {"k": [0.0]}
    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem):
        self.n_all = len(X_train) + len(X_val)
        return super().fit_select(X_train, y_train, X_val, y_val, grid, rng, problem)
    def fit(self, X, y, params, rng, problem):
        if len(X) == getattr(self, "n_all", -1):
            with open(os.environ["COUNT_LOG"], "a") as f:
                f.write(f"{len(X)} {os.getpid()}\\n")
            time.sleep(float(os.environ.get("COUNT_SLEEP", "0.3")))
        return Const(float(np.mean(y)))

@hookimpl
def register_learners(register):
    register(Counted())
"""
NS12 = "20,21,22,23,24,25,26,27,28,29,30,31"


def counted_proc(tmp_path, **env):
    site = tmp_path / "site"
    if not site.exists():
        site.mkdir()
        (site / "cb_counted.py").write_text(COUNTED)
        info = site / "cb_counted-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cb-counted\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text("[conceptbench]\ncb_counted = cb_counted\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path]), "COUNT_LOG": str(tmp_path / "log"),
           "OMP_NUM_THREADS": "1", **env}
    args = [sys.executable, "-m", "harness", "run", "-t", "sin3", "-l", "counted", "--ns", NS12, "--seeds", "1",
            "--n-test", "20", "--jobs", "1", "--no-leaderboard"]
    return subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def trained(tmp_path):
    log = tmp_path / "log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.slow  # ≥ 2 s; the default run stays under 2 minutes (the others in this file cover the path)
def test_two_processes_on_one_grid_train_each_cell_exactly_once(tmp_path):
    # 12 cells × 0.6 s: long enough that the second process is up (an interpreter start is ~3 s
    # on a loaded machine) before the first has done them all
    procs = [counted_proc(tmp_path, COUNT_SLEEP="0.6"), counted_proc(tmp_path, COUNT_SLEEP="0.6")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    sizes = trained(tmp_path)
    assert sorted(sizes) == sorted(NS12.split(",")), sizes  # every N once: nobody trained a cell twice
    ran = [int(re.search(r"Ran (\d+) of 12", out).group(1)) if "Ran " in out else 0 for out, _ in outs]
    assert sum(ran) == 12 and min(ran) > 0, outs  # both worked
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (12, 12)
    assert con.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)


@pytest.mark.slow  # ≥ 2 s; the default run stays under 2 minutes (the others in this file cover the path)
def test_kill_9_mid_run_then_a_rerun_finishes_the_rest_without_duplicates(tmp_path):
    proc = counted_proc(tmp_path, COUNT_SLEEP="0.5")
    deadline = time.monotonic() + 60
    while len(trained(tmp_path)) < 3 and time.monotonic() < deadline:  # the 3rd cell is training now
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # its claim on the cell in flight is left behind
    proc.wait(timeout=60)
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    saved = con.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    assert 2 <= saved < 12 and con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] >= 1
    rerun = counted_proc(tmp_path, COUNT_SLEEP="0")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0 and f"Ran {12 - saved} of 12" in out, (out, err)  # the dead claim is taken over
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (12, 12)
    assert con.execute("SELECT COUNT(*) FROM claims").fetchone() == (0,)


def test_a_claim_is_respected_while_its_owner_lives_and_taken_over_when_it_expires_or_dies(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    me, other_host = new_owner(), "elsewhere:123:abcd"
    assert store.claim("c1", other_host, None, ttl=60) is None
    assert store.claim("c1", me, None) == other_host  # alive (another host): left alone
    assert store.claim("c2", other_host, None, ttl=-1) is None  # already expired
    assert store.claim("c2", me, None) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = f"{socket.gethostname()}:{dead.stdout.strip()}:ffff"  # a process of this host that has exited
    assert store.claim("c3", ghost, None, ttl=60) is None
    assert store.claim("c3", me, None) is None
    store.put({"cell_id": "c4", "task": "t", "task_params": {}, "task_version": "1", "learner": "l",
               "learner_params": {}, "learner_version": "1", "n": 1, "seed": 0, "n_test": 1,
               "val_fraction": 0.2, "status": "ok"})
    assert store.claim("c4", me, None) == "done"  # finished since it was planned
    # what a run planned now would leave to others: the live claims only (c3's ghost was taken
    # over by me; an expired claim and a dead owner's are nobody's)
    store.claim("c5", other_host, None, ttl=-1)
    store.claim("c6", ghost, None, ttl=60)
    assert store.held(["c1", "c2", "c3", "c5", "c6", "c7"]) == {"c1": other_host, "c2": me, "c3": me}


def test_select_on_test_reports_the_best_test_score_and_every_page_says_so(bench, tmp_path):
    sin3 = load_registry().tasks["sin3"]
    from harness.protocol.data import fixed_test_set, training_set

    learner = RefitBlowsUp()  # constant predictors: mean(y) + shift
    record = run_cell(CellSpec(sin3, learner, 60, 0, Protocol(n_test=300, select_on="test")))
    X, y = training_set(sin3, 0, 60)
    X_test, y_test = fixed_test_set(sin3, 0, 300)
    best = min(np.mean((np.mean(y) + s - y_test) ** 2) for s in (0.0, 0.5, 2.0))  # trained on all N
    assert record["status"] == "ok" and record["test_score"] == pytest.approx(best / np.var(y_test))
    assert record["select_on"] == "test"
    on_val = CellSpec(sin3, learner, 60, 0, Protocol(n_test=300))
    assert on_val.cell_id != CellSpec(sin3, learner, 60, 0, Protocol(n_test=300, select_on="test")).cell_id

    args = ("run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "--n", "40",
            "--seeds", "1", "--n-test", "100", "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert bench(*args)[0] == 0 and bench(*args, "--select-on", "test")[0] == 0
    rows = Store(tmp_path / "store.sqlite").rows()
    assert sorted(r["select_on"] for r in rows) == ["test", "validation"]
    page = (tmp_path / "lb" / "sin3.md").read_text()
    assert "selected on the TEST set" in page and "optimistic" in page and "chosen on 20% of the N samples" in page
    assert "sel. on test" in bench("show")[1] and "chosen on the test set" in bench("show")[1]


def test_a_changed_comment_or_docstring_does_not_make_cells_stale_but_code_does(fake_plugin, bench, tmp_path):
    lb = str(tmp_path / "lb")
    source = PLUGIN.format(grid="[0.0, 1.0]", offset="0.1")
    fake_plugin("cb_shift", source)
    assert cells_trained(bench(*RUN, "--out", lb)[1]) == 2
    edited = source.replace('name = "shift"', '"""Now documented."""\n    name = "shift"  # a comment')
    fake_plugin("cb_shift", edited)
    code, out, err = bench(*RUN, "--out", lb)
    assert code == 0 and "stale" not in err and "Nothing to train" in out


def test_the_same_code_hashes_the_same_under_python_3_12s_ast(monkeypatch):
    """Rows trained under another Python (a GPU machine's 3.12) must not read as stale here.
    Python 3.12's parser gives every function and class an empty ``type_params`` field, which
    ``ast.dump`` prints; simulate that parser on this Python and compare with the plain dump."""
    import ast

    from harness.protocol import fingerprint

    source = textwrap.dedent('''
        class Net(Base):
            def forward(self, x: int, *, y=None) -> int:
                return [v for v in x]
        async def go(): pass
        ''')
    here = fingerprint._normalised(source)
    parse = ast.parse
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    def parse_as_312(text, *args, **kwargs):
        tree = parse(text, *args, **kwargs)
        for node in ast.walk(tree):
            if isinstance(node, kinds):
                node.type_params = []
        return tree

    for kind in kinds:
        if "type_params" not in kind._fields:
            monkeypatch.setattr(kind, "_fields", (*kind._fields, "type_params"))
    monkeypatch.setattr(ast, "parse", parse_as_312)
    assert "type_params=[]" in ast.dump(parse_as_312(source))  # the simulated 3.12 dump differs …
    assert fingerprint._normalised(source) == here  # … and the fingerprint does not
