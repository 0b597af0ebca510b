"""Runner: progress, `all`, and a real Ctrl-C mid-run that loses no finished cell."""

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time

from harness.runner import Progress
from test_registry import GOOD

DUPLICATE = GOOD.format(name="twin")



def test_heartbeat_speaks_while_a_long_cell_runs():
    stream = io.StringIO()
    progress = Progress(total=3, stream=stream, interval=0.2)
    with progress.heartbeat():
        time.sleep(0.6)
    assert "[0/3] still training" in stream.getvalue()


def test_all_selects_every_learner_that_supports_the_task(bench, tmp_path):
    code, out, err = bench("run", "-t", "sin3", "-l", "all", "--n", "20", "--seeds", "1", "--n-test", "50",
                           "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p", "alpha_per_n=1e-3",
                           "-p", "width=8", "-p", "epochs=2", "-p", "lr=0.01", "-p", "weight_decay=0.0",
                           "-p", "ridge_per_n=1e-6", "-p", "ntk.depth=2", "--out", str(tmp_path / "lb"))
    assert code == 0, err
    names = ("kernel_ridge", "ntk", "random_features", "three_layer_alg1", "three_layer_ntk", "three_layer_sgd",
             "two_layer_ntk", "two_layer_sgd")
    assert all(name in err for name in names) and f"Ran {len(names)} of {len(names)} cells" in out


def test_running_a_name_two_plugins_register_is_one_line_error(fake_plugin, bench):
    fake_plugin("cb_one", DUPLICATE)
    fake_plugin("cb_two", DUPLICATE)
    code, _, err = bench("run", "-t", "twin", "-l", "kernel_ridge")
    assert code != 0 and "registered by both" in err.splitlines()[-1] and "Traceback" not in err


def test_ctrl_c_keeps_every_finished_cell_and_the_rerun_resumes(tmp_path):
    args = [sys.executable, "-m", "harness", "run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf",
            "--ns", "300,310,320,330,340,350", "--seeds", "2", "--jobs", "1", "--n-test", "300"]
    proc = subprocess.Popen(args, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    printed = 0
    for line in proc.stderr:  # wait until two cells are reported, then Ctrl-C the process group
        printed += "rel_mse=" in line
        if printed == 2:
            os.killpg(proc.pid, signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    assert "Interrupted" in rest and "Traceback" not in rest
    con = sqlite3.connect(tmp_path / "conceptbench.sqlite")
    saved = con.execute("SELECT COUNT(*) FROM cells WHERE status = 'ok'").fetchone()[0]
    assert 2 <= saved < 12  # a cell may finish between the report and the signal
    rerun = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0
    assert f"Ran {12 - saved} of 12 cells" in rerun.stdout and f"{saved} already in" in rerun.stdout
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT cell_id) FROM cells").fetchone() == (12, 12)
