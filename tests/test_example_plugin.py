"""The example plugin (examples/conceptbench-example), pip-installed from outside the repo: every
hook and every piece of the plugin contract it exercises works through `bench`, and the plugin
guide (docs/plugins.md) holds its code verbatim, so a plugin written from the guide is one that runs."""

import json
import math
import os
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT

EXAMPLE = ROOT / "examples" / "conceptbench-example"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(EXAMPLE)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return site


def bench(site, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env, cwd=cwd)


def error_line(proc) -> str:
    assert "Traceback" not in proc.stderr
    (line,) = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    return line


def test_installed_plugin_is_listed_with_its_distribution(plugin_site, tmp_path):
    proc = bench(plugin_site, tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 100
    for name in ("halfspace", "knn", "nearest_centroid", "halfspace-example"):
        assert any(l.startswith(name + " ") and " example " in l for l in lines), name  # its entry point
    proc = bench(plugin_site, tmp_path, "list", "--verbose")  # a block per name: its plugin, then its fields
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 100
    for name in ("halfspace", "knn", "nearest_centroid", "halfspace-example"):
        assert any(l.startswith(name + " ") and "example (conceptbench-example 0.1.0)" in l for l in lines), name
    knn = proc.stdout[proc.stdout.index("\nknn "):].split("\n", 2)[1:]
    assert "    grid: n_neighbors∈{1, 3, 9, 27}; weights=uniform" in knn[1].splitlines()[0]


def test_listing_the_plugin_imports_no_heavy_library(plugin_site, tmp_path):
    code = ("import sys; from harness.cli import main; main(['list']); "
            "print(sorted(m for m in ('sklearn', 'scipy', 'torch') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(plugin_site), "CONCEPTBENCH_PLUGINS": "-builtin,example"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0 and "nearest_centroid" in out.stdout, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"  # scikit-learn is imported in KNN.fit only


@pytest.mark.slow  # 1-4 s; the default run stays under 2 minutes (the path is covered by faster tests)
def test_installed_plugin_runs_beside_builtins(plugin_site, tmp_path):
    proc = bench(plugin_site, tmp_path, "run", "-t", "halfspace", "-l", "knn", "-l", "kernel_ridge",
                 "-p", "kernel_ridge.kernel=rbf", "-p", "gamma_scale=1.0", "--ns", "60,120", "--seeds", "2",
                 "--n-test", "500", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Ran 8 of 8 cells" in proc.stdout
    page = (tmp_path / "conceptbench-pages" / "halfspace.md").read_text()  # beside ./conceptbench.sqlite
    assert "knn" in page and "kernel_ridge" in page and "test 0-1 error" in page


@pytest.mark.parametrize("args, line", [
    (["-t", "halfspace", "-l", "knn", "-p", "d=1"], "error: halfspace: d must be an integer ≥ 2, got 1; e.g. -p d=5"),
    (["-t", "halfspace", "-l", "knn", "-p", "n_neighbors=0,3"],
     "error: learner 'knn': n_neighbors must be a positive integer, got 0; e.g. -p n_neighbors=9"),
    (["-t", "halfspace", "-l", "knn", "-p", "weights=nearest"],
     "error: learner 'knn': weights must be uniform or distance, got 'nearest'; e.g. -p weights=uniform"),
    (["-t", "sin3", "-l", "nearest_centroid"],
     "error: nothing to run: no selected learner supports the selected tasks"),
])
def test_check_params_and_supports_stop_a_run_before_training(plugin_site, tmp_path, args, line):
    proc = bench(plugin_site, tmp_path, "run", *args, "--n", "50", "--seeds", "1", "--jobs", "1")
    assert proc.returncode == 2 and error_line(proc) == line
    assert "[1/" not in proc.stderr  # nothing trained


def test_supports_skips_only_the_tasks_a_learner_does_not_handle(plugin_site, tmp_path):
    proc = bench(plugin_site, tmp_path, "run", "-t", "halfspace", "-t", "sin3", "-l", "nearest_centroid",
                 "--ns", "40,80", "--seeds", "1", "--n-test", "200", "--jobs", "1", "--no-leaderboard")
    assert proc.returncode == 0, proc.stderr
    assert "Ran 2 of 2 cells" in proc.stdout  # halfspace only
    assert any(l.startswith("skipping:") and "nearest_centroid" in l and "sin3" in l for l in proc.stderr.splitlines())


def test_memory_estimate_refuses_a_cell_before_training(plugin_site, tmp_path):
    # k = N = 10⁶ in d = 5: the data is ~46 MiB, knn's own estimate 8·5·10⁶·10⁶ bytes ≈ 36 TiB
    proc = bench(plugin_site, tmp_path, "run", "-t", "halfspace", "-l", "knn", "-p", "n_neighbors=1000000",
                 "--n", "1000000", "--seeds", "1", "--jobs", "1")
    line = error_line(proc)
    assert proc.returncode == 2 and "knn on halfspace at N=1000000 needs ~36 TiB (36 TiB for the learner" in line
    assert "[1/" not in proc.stderr


def test_memory_estimate_matches_measured_allocations(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))
    import conceptbench_example as ex

    from harness import Problem

    rng = np.random.default_rng(0)
    n, d, k = 20000, 5, 27
    X, y = ex.Halfspace(d=d).sample(n, rng)
    X_test, _ = ex.Halfspace(d=d).sample(ex.TEST_ROWS, rng)
    tracemalloc.start()
    try:  # what a cell does with the model: fit, predict on the test set and on the training set
        model = ex.KNN().fit(X, y, {"n_neighbors": k, "weights": "uniform"}, rng, Problem("classification", d, 2))
        model.predict(X_test)
        model.predict(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = ex.KNN().memory_estimate(n, d, {"n_neighbors": k})
    assert 0.5 <= estimate / peak <= 2  # the contract: right within a factor of two


@pytest.mark.slow  # ≥ 2 s; the default run stays under 2 minutes (the others in this file cover the path)
def test_suite_runs_and_its_verdict_agrees_with_the_stored_rows(plugin_site, tmp_path):
    proc = bench(plugin_site, tmp_path, "suite", "list")
    assert proc.returncode == 0 and "halfspace-example" in proc.stdout
    proc = bench(plugin_site, tmp_path, "run", "--suite", "halfspace-example", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Ran 40 of 40 cells" in proc.stdout  # 2 learners × 4 N × 5 seeds
    verdict = (tmp_path / "conceptbench-pages" / "halfspace-example" / "verdict.md").read_text()
    assert "1. **HOLDS** — nearest_centroid < knn on halfspace: HOLDS at every N" in verdict
    assert "2. **HOLDS** — slope of log knn error vs log N ≤ 0" in verdict
    # the same numbers, recomputed from the stored rows with scipy
    proc = bench(plugin_site, tmp_path, "show", "--format", "json")
    rows = [r for r in json.loads(proc.stdout) if r["status"] == "ok"]
    score = {(r["learner"], r["n"], r["seed"]): r["test_score"] for r in rows}
    for n in (100, 200, 400, 800):
        diff = np.array([score[("nearest_centroid", n, s)] - score[("knn", n, s)] for s in range(5)])
        hi = diff.mean() + stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / math.sqrt(len(diff))
        assert hi < 0, n  # the interval lies below 0 at every N: HOLDS
    knn = [(n, s) for (name, n, s) in score if name == "knn"]
    fit = stats.linregress([math.log(n) for n, _ in knn], [math.log(score[("knn", n, s)]) for n, s in knn])
    assert f"slope of log knn vs log N = {fit.slope:.3g}" in verdict


def _fenced(markdown: str, info: str) -> list[str]:
    return re.findall(rf"^```{info}\n(.*?)^```$", markdown, flags=re.S | re.M)


def test_plugin_guide_holds_the_example_verbatim():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert (EXAMPLE / "conceptbench_example.py").read_text() in _fenced(guide, "python")
    assert (EXAMPLE / "pyproject.toml").read_text() in _fenced(guide, "toml")


def test_plugin_guide_documents_every_public_name():
    import harness

    guide = (ROOT / "docs" / "plugins.md").read_text()
    section = re.search(r"^## The public API\n(.*?)(?=^## )", guide, re.S | re.M).group(1)
    assert not [name for name in harness.__all__ if f"`{name}`" not in section]
