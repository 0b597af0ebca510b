"""The ETA of `bench run` against the time the run actually took to finish.

Runs a real small grid into a temporary store, timestamps every line `bench run` prints, and
after a quarter of the cells compares the remaining time two estimators gave with the remaining
time measured to the last cell:

- shipped: the ETA printed on the cell line (harness.execution.progress: a per-learner c·N^a cost model
  scheduled on the workers);
- naive: elapsed / cells done × cells left, the estimator it replaced, computed here from the
  same timestamps.

Writes benchmarks/eta_check.md.

    .venv/bin/python benchmarks/eta_check.py
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from tabulate import tabulate

from harness.execution.progress import PRIOR_EXPONENT

REPEATS = 3
GRID = ["-t", "sin3", "-l", "two_layer_sgd", "-l", "kernel_ridge", "--ns", "100,200,400", "--seeds", "2"]
CELL = re.compile(r"^\[\s*(\d+)/(\d+)\] .* · ETA (\d+):(\d{2})(?::(\d{2}))?$")


def eta_seconds(match: re.Match) -> float:
    a, b, c = match.group(3), match.group(4), match.group(5)
    return int(a) * 3600 + int(b) * 60 + int(c) if c else int(a) * 60 + int(b)


def run() -> dict:
    bench = Path(sys.executable).with_name("bench")
    with tempfile.TemporaryDirectory() as tmp:
        command = [str(bench), "run", *GRID, "--store", f"{tmp}/store.sqlite", "--no-leaderboard"]
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp)
        lines = [(time.perf_counter() - start, line.rstrip("\n")) for line in proc.stderr]
        if proc.wait() != 0:
            sys.exit("bench run failed:\n" + "\n".join(text for _, text in lines))
    plan_at = next(t for t, text in lines if text.startswith("Plan:"))
    cells = [(t, m) for t, text in lines if (m := CELL.match(text))]
    total = int(cells[0][1].group(2))
    quarter = math.ceil(total / 4)
    at, match = cells[quarter - 1]
    actual = cells[-1][0] - at
    naive = (at - plan_at) / quarter * (total - quarter)
    shipped = eta_seconds(match)
    return {"command": "bench run " + " ".join(GRID), "cells": total, "quarter": quarter, "plan_at": plan_at,
            "elapsed": at - plan_at, "actual": actual, "shipped": shipped, "naive": naive,
            "jobs": os.cpu_count()}


def prior_slopes(store: Path, cell_ids: set[str] | None = None) -> list[float]:
    """Slopes of log mean seconds against log N between consecutive N ≥ 200 of each curve (task,
    learner and their parameters, protocol) in ``store`` (only ``cell_ids`` if given): the
    evidence for the cost model's PRIOR_EXPONENT."""
    from harness.storage.store import Store

    curves: dict[str, dict[int, list[float]]] = {}
    for row in Store(store).rows():
        if row["status"] != "ok" or not row["seconds"] or (cell_ids is not None and row["cell_id"] not in cell_ids):
            continue
        key = json.dumps([row["task"], row["task_params"], row["learner"], row["learner_params"], row["n_test"],
                          row.get("select_on"), row.get("label_noise")], sort_keys=True, default=str)
        curves.setdefault(key, {}).setdefault(row["n"], []).append(row["seconds"])
    slopes = []
    for by_n in curves.values():
        ns = sorted(n for n in by_n if n >= 200)
        means = [statistics.mean(by_n[n]) for n in ns]
        slopes += [math.log(means[i + 1] / means[i]) / math.log(ns[i + 1] / ns[i]) for i in range(len(ns) - 1)]
    return sorted(slopes)


def quick_cell_ids() -> set[str]:
    from harness.reporting import suite_pages
    from harness.execution.registry import load_registry

    reg = load_registry()
    return {c.cell_id for c in suite_pages.cells(reg, suite_pages.grid_of(reg.suites["quick"], None))}


def describe(slopes: list[float]) -> str:
    return (f"{len(slopes)} slopes, median {statistics.median(slopes):.2f}, "
            f"range {slopes[0]:.2f}–{slopes[-1]:.2f}")


def main() -> None:
    store = Path(__file__).resolve().parent.parent / "leaderboards" / "store.sqlite"
    quick, every = prior_slopes(store, quick_cell_ids()), prior_slopes(store)
    runs = [run() for _ in range(REPEATS)]
    r = runs[0]
    table = tabulate([[i + 1, f"{x['elapsed']:.1f}", f"{x['actual']:.1f}", f"{x['shipped']:.0f}",
                       f"{x['shipped'] / x['actual']:.2f}", f"{x['naive']:.1f}", f"{x['naive'] / x['actual']:.2f}"]
                      for i, x in enumerate(runs)],
                     headers=["run", "elapsed at ¼ (s)", "actual remaining (s)", "shipped ETA (s)", "shipped / actual",
                              "naive ETA (s)", "naive / actual"], tablefmt="github")
    versions = ", ".join(f"{lib} {metadata.version(lib)}" for lib in ("torch", "scikit-learn", "numpy", "rich"))
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = (f"# ETA check\n\nGenerated by `benchmarks/eta_check.py` on {platform.machine()} with {os.cpu_count()} "
            f"cores (load average at the end {load}), Python {platform.python_version()}, {versions}.\n\n"
            f"`{r['command']}` (default --jobs = {r['jobs']}, empty temporary store), {REPEATS} runs one after "
            f"another: {r['cells']} cells; the ETA printed after {r['quarter']} of them (shipped: the cost model; "
            f"naive: elapsed / done × left, the estimator it replaced, from the same timestamps) against the "
            f"time measured from then to the last cell.\n\n{table}\n\nTarget: the ETA within 2× of the actual remaining time "
            f"(0.5 ≤ ETA / actual ≤ 2).\n\n## The exponent assumed before a learner has two sizes\n\n"
            f"Until a learner has finished cells at two N — the first quarter of a run, which starts with "
            f"the largest N — the cost model takes its cost to grow like N^{PRIOR_EXPONENT} "
            f"(`harness.execution.progress.PRIOR_EXPONENT`). Slopes of log seconds against log N between consecutive "
            f"N ≥ 200 in the committed store (`leaderboards/store.sqlite`): the quick suite's curves (the "
            f"flagship command; learners at their defaults, epochs by early stopping): {describe(quick)}; "
            f"every curve, including the published-protocol suites whose fixed epoch counts make the cost "
            f"about linear in N: {describe(every)}.\n")
    Path(__file__).with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
