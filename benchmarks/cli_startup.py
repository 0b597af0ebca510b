"""`bench --help` and `bench list` start-up: the CLI as shipped against the naive way, measured
side by side in fresh interpreters. Writes benchmarks/cli_startup.md.

- `bench --help`: shipped, scikit-learn and scipy are imported only when a command needs them;
  naive imports both at start-up, as the CLI did before.
- `bench list`: it imports every plugin module to read names, grids and descriptions. Shipped,
  those modules import torch, scikit-learn and scipy only where they train; naive first imports
  exactly what the built-in plugin modules imported at their top before (torch, torch.func,
  sklearn.kernel_ridge, sklearn.metrics, scipy.linalg), then lists — the eager import path, in the
  same interpreter and the same run. Where git history is at hand, a third case lists with the
  plugin modules of the last commit before they were made lazy (OLD_COMMIT), as a check that the
  reproduction is faithful.

    .venv/bin/python benchmarks/cli_startup.py
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from tabulate import tabulate

RUNS = 7
ROOT = Path(__file__).resolve().parent.parent
OLD_COMMIT = "6439187"  # the last commit whose plugin modules imported torch, scikit-learn, scipy at the top
EAGER = "import torch, torch.func, sklearn.kernel_ridge, sklearn.metrics, scipy.linalg; "
CASES = {  # name: (python code, target in seconds)
    "`bench --help` (lazy imports)": ("from harness.cli import main; main(['--help'])", 0.5),
    "naive: scikit-learn + scipy at start-up": (
        "import sklearn.model_selection, scipy.stats; from harness.cli import main; main(['--help'])", None),
    "`bench list` (plugins import torch, scikit-learn, scipy where they train)": (
        "from harness.cli import main; main(['list'])", 1.5),
    "naive: the plugin modules' old top-level imports, then `bench list`": (
        EAGER + "from harness.cli import main; main(['list'])", None),
}


def old_plugins(where: Path) -> str | None:
    """Code that makes ``plugins`` the package of OLD_COMMIT (extracted under ``where``), or None
    without git history. The editable install's import hook would win over PYTHONPATH, so the
    package is put in sys.modules by hand; its submodules then load from its path."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD_COMMIT, "plugins"], capture_output=True)
    if archive.returncode:
        return None
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    pkg = where / "plugins"
    return (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('plugins', "
            f"{str(pkg / '__init__.py')!r}, submodule_search_locations=[{str(pkg)!r}]); "
            f"sys.modules['plugins'] = module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); ")


def seconds(code: str) -> tuple[float, float]:
    """(wall, CPU) seconds of ``python -c code``; CPU time (user + system) moves less than wall
    time when other processes load the machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        old = old_plugins(Path(tmp))
        cases = dict(CASES)
        if old:
            cases[f"check: the plugin modules of commit {OLD_COMMIT}, then `bench list`"] = (
                old + "from harness.cli import main; main(['list'])", None)
        times: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):  # interleaved, so load on the machine hits every case alike
            for name, (code, _) in cases.items():
                wall, used = seconds(code)
                times[name].append(wall)
                cpu[name].append(used)
    median = {name: statistics.median(ts) for name, ts in times.items()}
    rows = [[name, f"{median[name]:.3f}", f"{min(times[name]):.3f}–{max(times[name]):.3f}",
             f"{statistics.median(cpu[name]):.3f}", f"< {target}" if target else ""]
            for name, (_, target) in cases.items()]
    table = tabulate(rows, headers=["", f"wall, median of {RUNS} (s)", "wall range (s)", "CPU, median (s)",
                                    "target (s)"], tablefmt="github")
    names = list(CASES)

    def cpu_ratio(naive: int, shipped: int) -> float:
        return statistics.median(cpu[names[naive]]) / statistics.median(cpu[names[shipped]])

    versions = ", ".join(f"{lib} {metadata.version(lib)}" for lib in ("scikit-learn", "scipy", "numpy", "torch"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = (f"# `bench --help` and `bench list` start-up\n\nGenerated by `benchmarks/cli_startup.py` on "
            f"{platform.machine()} with {os.cpu_count()} cores (load average {load} at the end), Python "
            f"{platform.python_version()}, {versions}; every case measured in the same run, interleaved, each in "
            f"a fresh interpreter.\n\n{table}\n\n"
            f"Speed-up in wall time: `bench --help` **{median[names[1]] / median[names[0]]:.1f}×**, `bench list` "
            f"**{median[names[3]] / median[names[2]]:.1f}×** (in CPU time: {cpu_ratio(1, 0):.1f}×, "
            f"{cpu_ratio(3, 2):.1f}×).\n\n"
            "\"Naive\" for `bench list` is the eager import path, reproduced: the interpreter first imports what "
            "the built-in plugin modules imported at their top before they were made lazy (torch, torch.func, "
            "sklearn.kernel_ridge, sklearn.metrics, scipy.linalg), then runs the shipped `bench list`; the "
            f"\"check\" row, where git history is at hand, lists with the plugin modules of commit {OLD_COMMIT} "
            "themselves. CPU time is user + system time of the process, which other load on the machine "
            "changes less than wall time. "
            "`tests/test_cli.py` fails if `bench --help` or `bench list` imports torch, scikit-learn, scipy "
            "or matplotlib.\n")
    Path(__file__).with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
