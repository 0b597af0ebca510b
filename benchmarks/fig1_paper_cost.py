"""What the paper scale of ``allen-zhu-fig1`` costs on this machine (issue #14, item 5), and a
floor no implementation can beat.

The suite's paper scale (``bench suite show allen-zhu-fig1``) trains, per N ∈ {1000, 2000, 5000,
10000}, seed (3) and label-noise σ (3), five width-2000 network curves — each selects lr from 3
values by early stopping (patience 100, cap 800 epochs) on 80 % of N, then refits on all N — and
two kernels. This script

1. measures, side by side in one run, the seconds per configuration-epoch of every network curve
   at width 2000 (sin3, 1,600 training / 400 validation points, batch 50, the suite's 3-lr grid
   trained for 2 epochs) one configuration at a time (the loop) and as one batched program, and
   the float32 matmul peak (``torch.mm`` 2048², best of 5, 1 and 2 threads);
2. times the two kernels' whole cells (selection + refit + 5,000 test points) at N = 2,000 and
   5,000 and extrapolates each by a power law in N to the paper's sizes;
3. adds them up over the suite's cells for two epoch counts: the floor (each configuration stops
   at ``patience`` epochs, the earliest early stopping allows, and the refit runs 1 epoch) and the
   cap (800 epochs each, as if nothing stopped early);
4. states a lower bound independent of the implementation: the matmul FLOPs that back-propagation
   through the 3-layer net must do for the ``3layer`` curve alone at the floor's epoch count,
   divided by the 2-thread matmul peak.

    .venv/bin/python benchmarks/fig1_paper_cost.py   # writes benchmarks/fig1_paper_cost.md

Per-epoch cost is linear in the number of samples (mini-batch SGD plus one validation pass), so
the measured seconds per sample-epoch scale to the paper's N.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import sklearn
import torch
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batched_sgd import _timed, epoch_flops, loop_select, lscpu, matmul_peak  # noqa: E402  (one definition each)

from harness import Problem  # noqa: E402
from harness.execution.registry import load_registry

SUITE, SCALE = "allen-zhu-fig1", "paper"
N_PROBE, EPOCHS_PROBE = 2000, 2
KERNEL_NS = (2000, 5000)
WIDTH_OVERRIDE: int | None = None  # --smoke only
HOUR = 3600.0


def probe_networks(reg, grid, problem, X, y, threads: int) -> list[dict]:
    """Seconds per configuration-epoch per training sample of each network curve, loop and batched."""
    torch.set_num_threads(threads)
    n_val = N_PROBE // 5
    args = (X[n_val:], y[n_val:], X[:n_val], y[:n_val])
    rows = []
    for name, params in grid.learners:
        if WIDTH_OVERRIDE and "width" in params:
            params = {**params, "width": [WIDTH_OVERRIDE]}
        base = reg.learners[name].with_params(**params)
        if not base.uses_device:
            continue  # the kernels: timed as whole cells below
        lrn = base.with_params(epochs=[EPOCHS_PROBE], patience=[EPOCHS_PROBE])
        configs = lrn.param_grid(None, len(args[0]))
        warm = lrn.with_params(epochs=[1], patience=[1])
        loop_select(warm, *(a[:200] for a in args), warm.param_grid(None, 200)[:1], np.random.default_rng(1), problem)
        curve = f"{name}[train={params['train'][0]}]" if "train" in params else name
        row = {"curve": curve, "learner": name, "params": params, "configs": len(configs)}
        for how in ("loop", "batched"):
            fn = (lambda: loop_select(lrn, *args, configs, np.random.default_rng(1), problem)) if how == "loop" \
                else (lambda: lrn.fit_select(*args, configs, np.random.default_rng(1), problem))
            _, seconds = _timed(fn)
            row[how] = seconds / (len(configs) * EPOCHS_PROBE * len(args[0]))  # s per config-epoch per sample
            print(f"{row['curve']} {how}: {seconds:.1f} s for {len(configs)} configs × {EPOCHS_PROBE} epochs",
                  file=sys.stderr)
        rows.append(row)
    return rows


def probe_kernels(reg, grid, threads: int) -> list[dict]:
    """Whole-cell seconds of each kernel learner at KERNEL_NS, with the power law through them."""
    torch.set_num_threads(threads)
    rows = []
    task = reg.tasks["sin3"]
    for name, params in grid.learners:
        lrn = reg.learners[name].with_params(**params) if params else reg.learners[name]
        if lrn.uses_device:
            continue  # the networks: probed per epoch above
        times = []
        for n in KERNEL_NS:
            X, y = task.sample(n, np.random.default_rng(0))
            Xt, _ = task.sample(5000, np.random.default_rng(1))
            n_val = n // 5
            problem = Problem("regression", X.shape[1])

            def cell():
                sel = lrn.fit_select(X[n_val:], y[n_val:], X[:n_val], y[:n_val], lrn.param_grid(None, n - n_val),
                                     np.random.default_rng(2), problem)
                model = lrn.fit(X, y, sel.best_params, np.random.default_rng(3), problem)
                return model.predict(Xt)

            times.append(_timed(cell)[1])
            print(f"{name} N={n}: {times[-1]:.1f} s", file=sys.stderr)
        a = np.log(times[1] / times[0]) / np.log(KERNEL_NS[1] / KERNEL_NS[0])
        rows.append({"learner": name, "times": times, "exponent": a,
                     "at": {n: times[1] * (n / KERNEL_NS[1]) ** a for n in grid.ns}})
    return rows


def main() -> str:
    load_before = os.getloadavg()
    reg = load_registry()
    grid = reg.suites[SUITE].at(SCALE)
    cells_per_n = grid.seeds * len(grid.conditions)
    torch.set_num_threads(1)
    peak1 = matmul_peak()
    torch.set_num_threads(2)
    peak2 = matmul_peak()
    X, y = reg.tasks["sin3"].sample(N_PROBE, np.random.default_rng(0))
    problem = Problem("regression", X.shape[1])
    nets = probe_networks(reg, grid, problem, X, y, threads=2)
    kernels = probe_kernels(reg, grid, threads=2)
    load_after = os.getloadavg()

    def sample_epochs(row, epochs_per_config: int, refit_epochs: int) -> float:
        """Training samples × epochs over the suite's cells of one curve (validation passes are
        inside the measured per-epoch cost)."""
        return cells_per_n * sum(row["configs"] * epochs_per_config * round(n * (1 - grid.val_fraction))
                                 + refit_epochs * n for n in grid.ns)

    patience = {row["curve"]: int(row["params"]["patience"][0]) for row in nets}
    cap = {row["curve"]: int(row["params"]["epochs"][0]) for row in nets}
    table = []
    totals = {"floor": {"loop": 0.0, "batched": 0.0, "best": 0.0}, "cap": {"loop": 0.0, "batched": 0.0, "best": 0.0}}
    for row in nets:
        floor_se = sample_epochs(row, patience[row["curve"]], 1)
        cap_se = sample_epochs(row, cap[row["curve"]], cap[row["curve"]])
        row["best"] = min(row["loop"], row["batched"])  # whichever this machine runs faster
        for how in ("loop", "batched", "best"):
            totals["floor"][how] += floor_se * row[how]
            totals["cap"][how] += cap_se * row[how]
        table.append([row["curve"], row["configs"], f"{row['loop'] * 1e3:.3f}", f"{row['batched'] * 1e3:.3f}",
                      f"{row['loop'] / row['batched']:.2f}×", f"{floor_se * row['best'] / HOUR:.1f}",
                      f"{cap_se * row['best'] / HOUR:.1f}"])
    kernel_hours = sum(cells_per_n * sum(k["at"].values()) for k in kernels) / HOUR
    ktable = [[k["learner"], *(f"{t:.1f}" for t in k["times"]), f"{k['exponent']:.2f}",
               *(f"{k['at'][n]:.0f}" for n in grid.ns)] for k in kernels]

    # the floor no code can beat: back-propagation through the 3-layer net (forward, weight
    # gradients and the activation gradients below the top layer) for the 3layer curve alone
    three = next(r for r in nets if r["curve"] == "three_layer_sgd[train=hidden]")
    width = int(three["params"]["width"][0])
    flops = epoch_flops(1, X.shape[1], width, 3) * sample_epochs(three, patience[three["curve"]], 1)
    bound_hours = flops / (peak2 * 1e9) / HOUR
    per_sample = epoch_flops(1, X.shape[1], width, 3)
    speed = {how: per_sample / three[how] / 1e9 for how in ("loop", "batched")}  # GFLOP/s of the 3layer epoch

    versions = (f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
                f"scikit-learn {sklearn.__version__}")
    per_cell = (f"{len(grid.ns)} N × {grid.seeds} seeds × {len(grid.conditions)} σ = "
                f"{len(grid.ns) * cells_per_n} cells per curve")
    return (
        f"# The paper scale of allen-zhu-fig1 on this machine\n\n"
        f"Generated by `benchmarks/fig1_paper_cost.py`. Machine: {lscpu()}; {os.cpu_count()} cores seen. "
        f"{versions}. Load average (1, 5, 15 min) {', '.join(f'{v:.1f}' for v in load_before)} before, "
        f"{', '.join(f'{v:.1f}' for v in load_after)} after.\n\n"
        f"The suite's paper scale: N ∈ {{{', '.join(map(str, grid.ns))}}}, {per_cell}; five width-{width} network "
        f"curves, each selecting lr from 3 values by early stopping (patience {patience[three['curve']]}, cap "
        f"{cap[three['curve']]} epochs) on {1 - grid.val_fraction:.0%} of N and refitting on all N; two kernels.\n\n"
        f"float32 matmul peak (torch.mm 2048², best of 5): **{peak1:.1f} GFLOP/s** on 1 thread, "
        f"**{peak2:.1f} GFLOP/s** on 2.\n\n"
        f"## Network curves: measured cost, and the suite's total\n\n"
        f"Seconds per configuration-epoch per 1,000 training samples (sin3, {N_PROBE - N_PROBE // 5:,} training points, "
        f"batch 50, {EPOCHS_PROBE} epochs of the 3-lr grid, 2 torch threads, loop and batched side by side in "
        f"this run); hours for the suite's cells of that curve with the faster of the two, at the floor "
        f"(every configuration stops after {patience[three['curve']]} epochs, the refit runs 1) and at the cap "
        f"({cap[three['curve']]} epochs each).\n\n"
        + tabulate(table, ["curve", "configs", "loop s", "batched s", "batched speed-up", "hours at floor",
                           "hours at cap"], tablefmt="github")
        + f"\n\nThe `3layer` epoch runs its matmul FLOPs ({per_sample / 1e6:.1f} MFLOP per sample) at "
        f"{speed['loop']:.0f} GFLOP/s in the loop and {speed['batched']:.0f} GFLOP/s batched: "
        f"{peak2 / speed['loop']:.2f}× and {peak2 / speed['batched']:.2f}× the time the 2-thread peak allows "
        f"(batch 50: 50 × {width} × {width} products are smaller than the 2048² of the peak).\n"
        + "\n\n## Kernels: whole cells (selection, refit, 5,000 test points), extrapolated\n\n"
        + tabulate(ktable, ["learner", *(f"s at N = {n:,}" for n in KERNEL_NS), "exponent",
                            *(f"s at N = {n:,}" for n in grid.ns)], tablefmt="github")
        + "\n\n## Total\n\n"
        "| | loop | batched | the faster per curve |\n|---|---|---|---|\n"
        + "".join(f"| networks, {at} (h) | {totals[at]['loop'] / HOUR:.1f} | {totals[at]['batched'] / HOUR:.1f} | "
                  f"{totals[at]['best'] / HOUR:.1f} |\n" for at in ("floor", "cap"))
        + f"| kernels (h) | {kernel_hours:.2f} | {kernel_hours:.2f} | {kernel_hours:.2f} |\n\n"
        f"**The paper scale takes between {(totals['floor']['best'] / HOUR + kernel_hours):.0f} and "
        f"{(totals['cap']['best'] / HOUR + kernel_hours):.0f} hours on this machine** (each curve the faster of "
        f"loop and batched; the cells one after another, each on both cores).\n\n"
        f"**A floor no implementation beats:** the `3layer` curve alone must do {flops:.3g} matmul FLOPs at the "
        f"earliest early stopping ({epoch_flops(1, X.shape[1], width, 3) / 1e6:.1f} MFLOP per sample-epoch: "
        f"forward, weight gradients, activation gradients), {bound_hours:.1f} hours at the 2-thread peak of "
        f"{peak2:.1f} GFLOP/s. "
        + (f"The issue's target of one hour on 2 cores cannot be met with this suite's protocol (3 lrs, patience "
           f"{patience[three['curve']]}, {grid.seeds} seeds, {len(grid.conditions)} σ) at width {width}: it needs "
           f"a GPU (`--device cuda`) or a cluster (`--backend dask`).\n"
           if bound_hours > 1 else "This floor alone does not rule out the issue's one-hour target.\n")
    )


if __name__ == "__main__":
    if "--smoke" in sys.argv:  # a check that the script runs (tiny sizes, width 100): prints, writes nothing
        N_PROBE, KERNEL_NS, WIDTH_OVERRIDE = 300, (300, 600), 100
        print(main())
    else:
        text = main()
        Path(__file__).with_suffix(".md").write_text(text)
        print(text)
