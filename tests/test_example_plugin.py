"""A third-party plugin package, pip-installed from outside the repo, is listed and runs."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(site), str(ROOT / "examples" / "conceptbench-example")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return site


def bench(site, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_installed_plugin_is_listed_with_its_distribution(plugin_site, tmp_path):
    proc = bench(plugin_site, tmp_path, "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(l.startswith("halfspace") and "conceptbench-example 0.1.0" in l for l in lines)
    assert any(l.startswith("knn") and "conceptbench-example 0.1.0" in l for l in lines)


def test_installed_plugin_runs_beside_builtins(plugin_site, tmp_path):
    proc = bench(plugin_site, tmp_path, "run", "-t", "halfspace", "-l", "knn", "-l", "kernel_ridge",
                 "-p", "kernel_ridge.kernel=rbf", "-p", "gamma_scale=1.0", "--ns", "60,120", "--seeds", "2",
                 "--n-test", "500", "--jobs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Ran 8 of 8 cells" in proc.stdout
    page = (tmp_path / "leaderboards" / "halfspace.md").read_text()
    assert "knn" in page and "kernel_ridge" in page and "test 0-1 error" in page
