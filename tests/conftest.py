"""Shared fixtures: fake plugin distributions on sys.path, and an in-process `bench`."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path

# One BLAS/OpenMP thread per process (unless the caller chose): the tests' arrays are small, and
# on a shared 2-core machine spinning OpenMP threads made the torch tests up to 10x slower. Set
# before numpy/torch load; subprocesses (`python -m harness`) inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from harness.cli.app import main


@pytest.fixture(autouse=True)
def _threads_as_configured():
    """An in-process `bench run` sets torch's threads to cores // jobs; put them back after."""
    yield
    if "torch" in sys.modules and os.environ["OMP_NUM_THREADS"].isdigit():
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    """Install a plugin module as a distribution visible to importlib.metadata (entry points).

    ``fake_plugin("mod_name", source, dist="dist-name")`` writes the module and a dist-info
    folder declaring it in the ``conceptbench`` entry-point group.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(module: str, source: str, dist: str | None = None, version: str = "0.1") -> None:
        dist = dist or module.replace("_", "-")
        (site / f"{module}.py").write_text(textwrap.dedent(source))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(exist_ok=True)  # a test may rewrite a plugin
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[conceptbench]\n{module} = {module}\n")
        importlib.invalidate_caches()
        sys.modules.pop(module, None)

    yield make


@pytest.fixture
def bench(capsys, tmp_path, monkeypatch):
    """Run `bench ARGS` in-process; return (exit code, stdout, stderr). Store and out go to tmp."""
    monkeypatch.setenv("CONCEPTBENCH_STORE", str(tmp_path / "store.sqlite"))

    def call(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def one_line_error(err: str) -> str:
    """Assert stderr is one `error:` line (besides progress lines) with no traceback; return it."""
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


ROOT = Path(__file__).resolve().parent.parent
