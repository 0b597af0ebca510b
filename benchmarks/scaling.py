"""Scale report: wall time and peak memory of one cell of every built-in learner against N (and
against the width for the SGD networks), each cell alone in a subprocess with one thread (forked
from this one after the imports: a fresh interpreter per cell cost 6-10 s of start-up on the
shared machine, more than most cells);
and the wall time of `--jobs 2` with the thread cap (2 workers × 1 thread) against 2 workers ×
all the cores' threads (the oversubscription the cap prevents). Writes benchmarks/scaling.md and
benchmarks/scaling.png (and the measurements, scaling.json; `--report` redraws the page from it).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaling.py

A cell here is the protocol's cell (harness.protocol.cell.run_cell: data, selection on the validation
split, refit on all N, test score) on sin3 with 2000 test points, under a grid fixed below:
the kernel learners keep their default grids (one Gram matrix per representation, every ridge
solved from it: that is their real cost); the networks train one configuration for a fixed
number of epochs (schedule=step), so their time is per configuration and per epoch budget (a
default-grid cell trains 8 configurations, each up to 100 epochs by early stopping). Grid-edge
extensions are switched off (their number depends on where each winner lands, not on N).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
NS = (250, 500, 1000, 2000, 4000)
WIDTHS = (128, 512, 2048)  # the SGD networks' width sweep, at N = WIDTH_N
WIDTH_N = 1000
EPOCHS = 3
N_TEST = 2000
TOO_LONG = 30.0  # seconds: a learner's larger Ns are skipped after a cell this slow (the time budget)
NETWORK = dict(lr=[0.03], weight_decay=[0.0], schedule=["step"], epochs=[EPOCHS])
GRIDS: dict[str, dict] = {
    "kernel_ridge": {},
    "ntk": {},
    "random_features": {},
    "two_layer_sgd": NETWORK,
    "three_layer_sgd": NETWORK,
    "two_layer_ntk": NETWORK,
    "three_layer_ntk": NETWORK,
    # No fixed schedule: its rounds stop early (patience) or at the cap, EPOCHS rounds here.
    "three_layer_alg1": dict(lr=[0.1], epochs=[EPOCHS], patience=[EPOCHS]),
}
SWEPT = ("two_layer_sgd", "three_layer_sgd")
KERNELS = ("kernel_ridge", "ntk", "random_features")
# The oversubscription comparison: 4 cells at --jobs 2, capped and not; a run still going after
# OVERSUB_LIMIT seconds is stopped and reported as such (the time budget).
OVERSUB = dict(learner="three_layer_sgd", width=256, n=1000, epochs=5, seeds=4, repeats=2)
OVERSUB_LIMIT = 150


def _spec(learner: str, n: int, width: int | None, n_test: int = N_TEST):
    from harness.protocol.cell import Protocol
    from harness.execution.registry import load_registry
    from harness.execution.runner import plan

    reg = load_registry()
    overrides = dict(GRIDS[learner], **({"width": [width]} if width else {}))
    obj = reg.learners[learner].with_params(**overrides) if overrides else reg.learners[learner]
    spec, = plan([reg.tasks["sin3"]], [obj], [n], [0], Protocol(n_test=n_test), reg)
    return spec


def _warm_up() -> None:
    """One tiny cell of every learner in this process, before any fork, so that each measured
    cell starts as a `bench run` worker's later cells do: torch's lazily imported parts and
    first-call set-up (about 4 s a cell on the shared machine otherwise) already done. One
    thread, so no OpenMP pool exists to be forked."""
    from harness.protocol.cell import run_cell

    for learner in GRIDS:
        record = run_cell(_spec(learner, 50, None if learner in KERNELS else 8, 50), threads=1)
        assert record["status"] == "ok", (learner, record["error"])


def _cell(learner: str, n: int, width: int | None) -> dict:
    """Run one cell in this (forked) process with one thread; its seconds and peak RSS."""
    from harness.protocol import cell
    from harness.protocol.cell import run_cell

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # the forked interpreter, imports done
    cell.refine = lambda learner, selection, fit_select: (selection, [])  # no edge extensions (docstring)
    record = run_cell(_spec(learner, n, width), threads=1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"learner": learner, "n": n, "width": width, "status": record["status"], "error": record["error"],
            "seconds": record["seconds"], "rss_before": before, "rss_peak": peak,
            "configs": len(record["selection"])}


def _oversubscribed(capped: bool) -> dict:
    """Wall time of OVERSUB's cells at --jobs 2, and each cell's own seconds: each worker capped
    at cores // 2 threads, or (``capped=False``) each taking every core, as before the cap."""
    from harness.execution import runner
    from harness.protocol.cell import Protocol
    from harness.execution.registry import load_registry
    from harness.storage.store import Store

    reg = load_registry()
    cores = os.cpu_count() or 1
    if not capped:
        runner.cell_threads = lambda jobs: cores
    learner = reg.learners[OVERSUB["learner"]].with_params(**{**NETWORK, "epochs": [OVERSUB["epochs"]]},
                                                           width=[OVERSUB["width"]])
    cells = runner.plan([reg.tasks["sin3"]], [learner], [OVERSUB["n"]], range(OVERSUB["seeds"]),
                        Protocol(n_test=N_TEST), reg)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite")
        start = time.perf_counter()
        summary = runner.execute(cells, store, jobs=2)
        wall = time.perf_counter() - start
        assert summary.statuses == {"ok": len(cells)}, summary.statuses
        return {"wall": wall, "cells": [r["seconds"] for r in store.rows()]}


def _in_subprocess(args: list[str], env: dict[str, str]) -> dict | None:
    """The JSON a run of this script with ``args`` prints; None if it ran past OVERSUB_LIMIT."""
    try:
        out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                             env={**os.environ, **env}, timeout=OVERSUB_LIMIT)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode:
        raise RuntimeError(f"{args}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.0f}"


def _slope(points: list[tuple[float, float]]) -> str:
    import numpy as np

    if len(points) < 3:
        return "–"
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return f"{np.polyfit(x, y, 1)[0]:.2f}"


def main() -> None:
    _warm_up()  # torch, scikit-learn and every plugin imported and used once, before the forks
    one = {"OMP_NUM_THREADS": "1"}
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows: list[dict] = []
    jobs = [(lr, n, None) for lr in GRIDS for n in NS] + [(lr, WIDTH_N, w) for lr in SWEPT for w in WIDTHS]
    slow: set[tuple[str, int | None]] = set()
    for learner, n, width in jobs:
        if (learner, width) in slow:
            rows.append({"learner": learner, "n": n, "width": width, "status": "skipped"})
            continue
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as fresh:
            row = fresh.submit(_cell, learner, n, width).result()
        rows.append(row)
        print(f"{learner} N={n} width={width}: {row['status']} {row['seconds']:.2f}s "
              f"peak {_mib(row['rss_peak'])} MiB", flush=True)
        if row["seconds"] > TOO_LONG and width is None:
            slow.add((learner, width))
    oversub = {"capped": [], "unbounded": []}
    for _ in range(OVERSUB["repeats"]):  # interleaved, so the machine's load hits both alike
        for mode in ("capped", "unbounded"):
            env = one if mode == "capped" else {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
            oversub[mode].append(_in_subprocess(["--oversub", mode], env))
            print(f"jobs 2, {mode}: {oversub[mode][-1]}", flush=True)
    total = time.perf_counter() - start
    results = {"rows": rows, "oversub": oversub, "total": total, "load_before": load_before,
               "load_after": os.getloadavg()}
    (HERE / "scaling.json").write_text(json.dumps(results, indent=1))
    _report(results)


def _report(results: dict) -> None:
    """scaling.md and scaling.png from the measurements (``--report`` redraws them from
    scaling.json without measuring again)."""
    from tabulate import tabulate

    _plot(results["rows"])
    _write(results["rows"], results["oversub"], results["total"], results["load_before"], results["load_after"],
           tabulate)


def _plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    colour = {learner: f"C{i}" for i, learner in enumerate(GRIDS)}
    for learner in GRIDS:
        pts = [r for r in rows if r["learner"] == learner and r["width"] is None and r["status"] == "ok"]
        if not pts:
            continue
        axes[0].plot([r["n"] for r in pts], [r["seconds"] for r in pts], "o-", color=colour[learner], label=learner)
        axes[1].plot([r["n"] for r in pts], [(r["rss_peak"] - r["rss_before"]) / 2**20 for r in pts], "o-",
                     color=colour[learner], label=learner)
    for learner in SWEPT:
        pts = [r for r in rows if r["learner"] == learner and r["width"] is not None and r["status"] == "ok"]
        axes[2].plot([r["width"] for r in pts], [r["seconds"] for r in pts], "o-", color=colour[learner],
                     label=f"{learner}: seconds")
        axes[2].plot([r["width"] for r in pts], [(r["rss_peak"] - r["rss_before"]) / 2**20 for r in pts], "s--",
                     color=colour[learner], label=f"{learner}: MiB above the interpreter")
    titles = ("seconds per cell vs N", "peak RSS above the interpreter (MiB) vs N",
              f"SGD networks vs width at N = {WIDTH_N} ({EPOCHS} epochs)")
    for ax, title, xlabel, ticks in zip(axes, titles, ("N", "N", "width"), (NS, NS, WIDTHS)):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE / "scaling.png", dpi=110)


def _write(rows: list[dict], oversub: dict, total: float, load_before, load_after, tabulate) -> None:
    import statistics

    versions = ", ".join(f"{lib} {metadata.version(lib)}" for lib in ("torch", "numpy", "scipy", "scikit-learn"))
    by_n = []
    for learner in GRIDS:
        cells = {r["n"]: r for r in rows if r["learner"] == learner and r["width"] is None}
        ok = [cells[n] for n in NS if cells[n]["status"] == "ok"]
        by_n.append([f"`{learner}`", *[f"{cells[n]['seconds']:.2f}" if cells[n]["status"] == "ok" else cells[n]["status"]
                                      for n in NS], _slope([(r["n"], r["seconds"]) for r in ok])])
    mem = []
    for learner in GRIDS:
        cells = {r["n"]: r for r in rows if r["learner"] == learner and r["width"] is None}
        ok = [cells[n] for n in NS if cells[n]["status"] == "ok"]
        mem.append([f"`{learner}`", *[f"{_mib(cells[n]['rss_peak'] - cells[n]['rss_before'])} / {_mib(cells[n]['rss_peak'])}"
                                      if cells[n]["status"] == "ok" else cells[n]["status"] for n in NS],
                    _slope([(r["n"], max(r["rss_peak"] - r["rss_before"], 1)) for r in ok])])
    width_rows = []
    for learner in SWEPT:
        cells = {r["width"]: r for r in rows if r["learner"] == learner and r["width"] is not None}
        width_rows.append([f"`{learner}`", *[f"{cells[w]['seconds']:.2f} s, {_mib(cells[w]['rss_peak'] - cells[w]['rss_before'])} MiB"
                                             for w in WIDTHS]])
    def summary(runs: list[dict | None]) -> tuple[str, str, str, float | None]:
        done = [r for r in runs if r is not None]
        walls = ", ".join(f"{r['wall']:.1f}" if r else f"> {OVERSUB_LIMIT} (stopped)" for r in runs)
        if len(done) < len(runs):
            return f"> {OVERSUB_LIMIT}", walls, "–", None
        wall = statistics.median(r["wall"] for r in done)
        cells = [s for r in done for s in r["cells"]]
        return f"{wall:.1f}", walls, f"{statistics.mean(cells):.1f} ({min(cells):.1f}–{max(cells):.1f})", wall

    capped, unbounded = summary(oversub["capped"]), summary(oversub["unbounded"])
    if capped[3] and unbounded[3]:
        ratio = f"**{unbounded[3] / capped[3]:.2f}×**"
    elif capped[3]:
        ratio = f"**more than {OVERSUB_LIMIT / capped[3]:.1f}×** (the unbounded runs were stopped)"
    else:
        ratio = "not measured: the capped runs themselves ran past the limit"
    cores = os.cpu_count() or 1
    configs = {r["learner"]: r["configs"] for r in rows if r.get("configs") and r["n"] == NS[-1]}
    text = f"""# Scale report: time and memory per cell

Generated by `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaling.py` in {total / 60:.1f} min on
{platform.machine()} with {cores} cores, Python {platform.python_version()}, {versions}. The machine
was shared with other work: load average {load_before[0]:.1f} (1 min) / {load_before[1]:.1f} (5 min) at the
start, {load_after[0]:.1f} / {load_after[1]:.1f} at the end, so the times are upper bounds of
what an idle machine gives, and their ratios are noisier than the hardware alone would make them.

Each cell ran alone, in a process forked after the imports, with one thread (torch and BLAS): sin3, seed 0,
{N_TEST} test points, the protocol of `bench run` (selection on a validation fifth, refit on all N,
test score), no grid-edge extensions. Grids: `kernel_ridge`, `ntk` and `random_features` their
defaults ({', '.join(f'{k} {configs[k]} configurations' for k in ('kernel_ridge', 'ntk', 'random_features') if k in configs)});
the four networks one configuration (lr 0.03, no weight decay) for {EPOCHS} epochs at their default
width 1000 (a default-grid cell trains 8 configurations for up to 100 epochs each, then refits
one); `three_layer_alg1` one lr for {EPOCHS} rounds at width 1000 (its default runs 2 lrs, up
to 400 rounds each). A learner whose cell took over {TOO_LONG:.0f} s skips its larger Ns ("skipped").
Slope: least-squares exponent b of cost ≈ a·N^b over the measured Ns.

![log-log time and memory against N and width](scaling.png)

## Seconds per cell

{tabulate(by_n, headers=['learner', *[f'N={n}' for n in NS], 'slope b'], tablefmt='github')}

## Peak memory per cell (MiB): above the interpreter / whole process

The first number is the cell's own peak (peak RSS minus the RSS after importing torch,
scikit-learn and the plugins); the second the process's peak RSS.

{tabulate(mem, headers=['learner', *[f'N={n}' for n in NS], 'slope b (own)'], tablefmt='github')}

## SGD networks against width (N = {WIDTH_N}, {EPOCHS} epochs, one configuration)

{tabulate(width_rows, headers=['learner', *[f'width {w}' for w in WIDTHS]], tablefmt='github')}

## `--jobs 2`: capped threads against unbounded threads

{OVERSUB['seeds']} cells of `{OVERSUB['learner']}` (width {OVERSUB['width']}, N = {OVERSUB['n']}, {OVERSUB['epochs']} epochs, one
configuration) run by `execute(..., jobs=2)`, each setting {OVERSUB['repeats']} times, interleaved, in a fresh
interpreter each; the wall time includes starting the two worker processes, the cells' own
seconds do not (a worker's first cell also pays torch's first-use set-up). A run still going
after {OVERSUB_LIMIT} s was stopped.

| setting | wall time (s), median | runs (s) | seconds of a cell: mean (min–max) |
|---|---|---|---|
| 2 workers × {max(1, cores // 2)} thread(s) (the cap: cores // jobs) | {capped[0]} | {capped[1]} | {capped[2]} |
| 2 workers × {cores} threads (every worker takes every core) | {unbounded[0]} | {unbounded[1]} | {unbounded[2]} |

Oversubscription ratio (wall time, unbounded / capped): {ratio}.
"""
    (HERE / "scaling.md").write_text(text)
    print(text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        _report(json.loads((HERE / "scaling.json").read_text()))
    elif sys.argv[1:2] == ["--oversub"]:
        print(json.dumps(_oversubscribed(sys.argv[2] == "capped")))
    else:
        main()
