"""Every data file the code reads at run time ships in the wheel, not only in a checkout.

A wheel install (``pip install .``, as on a GPU machine) once lacked ``harness/protocol/*.json``
and failed at its first stale check; an editable install hides that.
"""
import fnmatch
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _data_files() -> list[Path]:
    """The non-Python files inside the installed packages' folders."""
    out = []
    for top in ("harness", "plugins"):
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
                out.append(path.relative_to(ROOT))
    return out


def test_package_data_lists_every_data_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config.get("package-data", {})
    files = _data_files()
    assert any(f.name == "equivalent.json" for f in files)  # the file this test was written for
    missing = [str(f) for f in files
               if not any(fnmatch.fnmatch(str(f.relative_to(f.parts[0])), pat)
                          for pat in patterns.get(f.parts[0], []))]
    assert not missing, f"add to [tool.setuptools.package-data] in pyproject.toml: {missing}"


@pytest.mark.slow
def test_built_wheel_holds_every_data_file(tmp_path):
    # setuptools' own build is the reference for what a wheel holds
    pytest.importorskip("setuptools")
    # from a copy of the tracked files: a checkout's build/ folder can hold files of an earlier
    # build, which setuptools reuses
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "pyproject.toml", "README.md", "LICENSE", "harness", "plugins"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(src)], check=True)
    (wheel,) = tmp_path.glob("conceptbench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {str(f) for f in _data_files()} <= names
