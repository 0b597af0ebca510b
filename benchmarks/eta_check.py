"""The ETA of `bench run` against the time the run actually took to finish.

Runs a real small grid into a temporary store, timestamps every line `bench run` prints, and
after a quarter of the cells compares the remaining time two estimators gave with the remaining
time measured to the last cell:

- shipped: the ETA printed on the cell line (harness.execution.progress: each learner's cost model,
  Learner.time_estimate, rescaled by the timings of the cells finished so far, scheduled on the
  workers);
- naive: elapsed / cells done × cells left, the estimator it replaced, computed here from the
  same timestamps.

A second part checks the estimate printed on the plan line, before anything trains (the
learners' cost models, `Learner.time_estimate`, rescaled by stored timings of similar cells and
by the machine's load: harness/execution/estimates.py), against the training time the run then
reports ("Ran k of m cells in S s"), for the README's commands and a fresh grid; and how far each
built-in learner's cost model alone is from the committed store's timings (the evidence for the
constants in the learners' time_estimate methods).

Writes benchmarks/eta_check.md (``--parts eta,plan``: both; ``--parts plan`` rewrites only the
plan-line part and keeps the ETA part as it was).

    .venv/bin/python benchmarks/eta_check.py [--parts plan]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
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


ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "leaderboards" / "store.sqlite"
PLAN_PART = "## The plan line's estimate before training"
# (command, store): "cold" an empty store, "committed" a copy of leaderboards/store.sqlite
PLAN_RUNS = [
    (["--suite", "quick"], "cold"),
    (["--task", "sin3", "--learner", "three_layer_sgd"], "cold"),
    (["--task", "sin3", "--learner", "three_layer_sgd"], "committed"),
    (["-t", "sin3", "-l", "kernel_ridge", "--ns", "1000,2000", "--seeds", "2"], "cold"),
    (["-t", "sin3", "-l", "kernel_ridge", "--ns", "1000,2000", "--seeds", "2"], "committed"),
]
PLAN = re.compile(r"^Plan: (\d+) cell\(s\) to train, (\d+) already in the store; estimate ([\d:]+)(?: \((.*)\))?\.$")
RAN = re.compile(r"^Ran (\d+) of (\d+) cells in ([\d.]+)s")


def clock_seconds(text: str) -> float:
    parts = [int(p) for p in text.split(":")]
    return sum(v * 60 ** i for i, v in enumerate(reversed(parts)))


def plan_run(args: list[str], store_kind: str) -> dict:
    """One `bench run` into a temporary store and pages folder: its plan line and its training time."""
    bench = Path(sys.executable).with_name("bench")
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store.sqlite"
        if store_kind == "committed":
            shutil.copy(COMMITTED, store)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.run([str(bench), "run", *args, "--store", str(store), "--out", f"{tmp}/pages"],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"bench run {' '.join(args)} failed:\n{proc.stderr}")
    lines = (proc.stdout + proc.stderr).splitlines()
    plan = next(m for line in lines if (m := PLAN.match(line)))
    ran = next(m for line in lines if (m := RAN.match(line)))
    return {"command": "bench run " + " ".join(args), "store": store_kind, "cells": int(plan.group(1)),
            "stored": int(plan.group(2)), "estimate": clock_seconds(plan.group(3)), "note": plan.group(4) or "",
            "trained": float(ran.group(3)), "wall": wall, "load": load}


def prior_accuracy() -> list[list]:
    """Per built-in learner: measured ÷ its cost model alone over the committed store's finished
    cells (median, and the range holding 80 % of them)."""
    from harness.execution.estimates import Priors, stored_timings
    from harness.execution.registry import load_registry
    from harness.execution.runner import plan
    from harness.protocol.cell import Protocol
    from harness.storage.store import Store

    reg = load_registry()
    cells = plan([reg.tasks["sin3"]], [reg.learners[n] for n in sorted(reg.learners)], [100], [0], Protocol())
    ratios: dict[str, list[float]] = {}
    for key, n, seconds, prior in stored_timings(cells, Store(COMMITTED), Priors()):
        ratios.setdefault(key[1].split(" (")[0], []).append(seconds / prior)
    rows = []
    for name, values in sorted(ratios.items()):
        values.sort()
        lo, hi = values[int(0.1 * (len(values) - 1))], values[int(0.9 * (len(values) - 1))]
        rows.append([name, len(values), f"{statistics.median(values):.2f}", f"{lo:.2f}–{hi:.2f}"])
    return rows


def plan_part() -> str:
    runs = [plan_run(args, kind) for args, kind in PLAN_RUNS]
    table = tabulate([[f"`{r['command']}`", r["store"], r["cells"], f"{r['load']:.1f}", r["note"] or "—",
                       f"{r['estimate']:.0f}", f"{r['trained']:.1f}", f"{r['estimate'] / r['trained']:.2f}"]
                      for r in runs],
                     headers=["command", "store", "cells", "load before", "plan line's note", "estimate (s)",
                              "trained (s)", "estimate / trained"], tablefmt="github")
    accuracy = tabulate(prior_accuracy(), headers=["learner", "stored cells", "median measured / model",
                                                   "80 % of cells within"], tablefmt="github")
    return (f"{PLAN_PART}\n\nEach command run once into a temporary store (cold: empty; committed: a copy of "
            f"`leaderboards/store.sqlite`) and a temporary pages folder, default --jobs, one after another. "
            f"\"estimate\" is what the plan line said before anything trained (the learners' cost models, "
            f"`Learner.time_estimate`, rescaled by stored timings of similar cells and by the other work "
            f"running when it starts, the note's \"busy ×\": harness/execution/estimates.py); \"trained\" is the "
            f"run's own \"Ran k of m cells in S s\". The machine is shared (other sessions train on it): "
            f"\"load before\" is the 1-minute load average when the command started, on "
            f"{os.cpu_count()} cores.\n\n{table}\n\nTarget: within 2× (0.5 ≤ estimate / trained ≤ 2).\n\n"
            f"### Each learner's cost model against the committed store\n\nMeasured seconds ÷ the learner's "
            f"`time_estimate` alone (no rescaling, no load factor) over the finished cells of the committed "
            f"store on the CPU (each row's own grid and N): the evidence for the constants in the built-in "
            f"learners' `time_estimate` methods, which cite it. `bench run` rescales by exactly these ratios "
            f"(at the nearest stored N) wherever the store has timings of a learner.\n\n{accuracy}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="eta,plan", help="eta, plan or both (comma-separated)")
    parts = set(parser.parse_args().parts.split(","))
    path = Path(__file__).with_suffix(".md")
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    eta_text = old.split(PLAN_PART)[0].rstrip() + "\n" if "eta" not in parts else eta_part()
    text = eta_text + ("\n" + plan_part() if "plan" in parts else
                       ("\n" + PLAN_PART + old.split(PLAN_PART, 1)[1] if PLAN_PART in old else ""))
    path.write_text(text, encoding="utf-8")
    print(text)


def eta_part() -> str:
    store = COMMITTED
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
            f"another: {r['cells']} cells; the ETA printed after {r['quarter']} of them (shipped: the learners' cost "
            f"models rescaled by the cells finished so far; "
            f"naive: elapsed / done × left, the estimator it replaced, from the same timestamps) against the "
            f"time measured from then to the last cell.\n\n{table}\n\nTarget: the ETA within 2× of the actual remaining time "
            f"(0.5 ≤ ETA / actual ≤ 2).\n\n## The exponent assumed without a learner's cost model\n\n"
            f"A caller of the progress display that gives no cost model (`Progress` without `calibrate`) "
            f"gets c·N^a fitted on the finished cells, with N^{PRIOR_EXPONENT} "
            f"(`harness.execution.progress.PRIOR_EXPONENT`) until a learner has two sizes. Slopes of log seconds against log N between consecutive "
            f"N ≥ 200 in the committed store (`leaderboards/store.sqlite`): the quick suite's curves (the "
            f"flagship command; learners at their defaults, epochs by early stopping): {describe(quick)}; "
            f"every curve, including the published-protocol suites whose fixed epoch counts make the cost "
            f"about linear in N: {describe(every)}.\n")
    return text


if __name__ == "__main__":
    main()
