"""The layers of docs/DESIGN.md, held by import-linter: `lint-imports` (contracts in
pyproject.toml) passes on the tree, and fails on a copy where one import goes up a layer or
closes a cycle between two modules of one layer."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


def lint(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the packages under ``root`` (its own pyproject.toml)."""
    return subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root), "PATH": ""})


def test_the_tree_keeps_every_import_contract():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path):
    for name in ("harness", "plugins"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize("module, line, broken", [
    ("harness/api/errors.py", "from harness.cli import main", "harness: each layer imports only"),
    ("harness/storage/store.py", "from harness.suites import suite", "harness: each layer imports only"),
    ("harness/api/errors.py", "from harness.api import tasks", "no import cycles"),
    ("plugins/learners/kernels/design.py", "from plugins.learners.kernels import nystrom", "no import cycles"),
    ("plugins/learners/nets/relu_nets.py", "from plugins.learners.kernels import arccos", "nets and kernels"),
    ("plugins/tasks/sin3.py", "from harness.api.tasks import Task", "only the public API"),
])
def test_an_import_up_a_layer_or_around_a_cycle_breaks_a_contract(copy, module, line, broken):
    path = copy / module
    path.write_text(path.read_text() + f"\n{line}  # added by the test\n")
    result = lint(copy)
    assert result.returncode != 0
    assert any(broken in l and "BROKEN" in l for l in result.stdout.splitlines()), result.stdout
