"""What training the lr × weight-decay grid as one program saves (issue #14, item 1): the SGD
learners' ``fit_select`` one configuration at a time (the loop, as before batching) against the
batched program (plugins/learners/nets/batched.py) and the batched program with successive halving,
side by side in one run on the same sin3 data, default grid (lr 4 × weight decay 2), width 1000,
N = 10,000 (8,000 train / 2,000 validation, the harness's 20 %), one torch thread.

A full selection of the 3-layer net takes tens of minutes per variant on a shared 2-core
machine, so each learner runs either ``full`` (the default epochs and early stopping) or a fixed
number of epochs per configuration (``epochs`` = E, patience E: nothing stops early), whose
ratio is the per-epoch ratio. The float32 matmul peak is measured in the same run (``torch.mm``
of 2048 × 2048 matrices, best of 5), and the 3-layer epoch's FLOPs are set against it.

    .venv/bin/python benchmarks/batched_sgd.py [--out=FILE.md] [LEARNER:full|LEARNER:E ...]
    # default: two_layer_sgd:full three_layer_sgd:3; writes benchmarks/batched_sgd.md
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
import torch
from tabulate import tabulate

from harness import Problem
from harness.execution.registry import load_registry
from plugins.learners.nets.sgd_learner import SGDNetLearner

N, WIDTH, THREADS = 10_000, 1000, 1


def matmul_peak(size: int = 2048, reps: int = 5, device: str = "cpu") -> float:
    """GFLOP/s of the best of ``reps`` float32 ``torch.mm`` of two size × size matrices on
    ``device`` (a GPU's product timed to its end: :func:`sync`)."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.mm(a, b)
    sync(device)
    best = min(_timed(lambda: (torch.mm(a, b), sync(device)))[1] for _ in range(reps))
    return 2 * size ** 3 / best / 1e9


def sync(device: str) -> None:
    """Wait for ``device``'s queued work (a CUDA GPU runs kernels asynchronously)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def epoch_flops(n: int, d: int, width: int, depth: int, k: int = 1) -> int:
    """Matmul FLOPs of one SGD epoch over ``n`` samples, every parameter trained: per sample the
    forward pass (2·fan_in·fan_out per layer), the weight gradients (as many) and the gradients of
    the activations below every layer but the first (as many again). Biases, ReLUs and the
    update are elementwise and left out (< 0.1 % at width 1000)."""
    dims = [d] + [width] * (depth - 1) + [k]
    layers = [a * b for a, b in zip(dims, dims[1:])]
    return n * 2 * (2 * sum(layers) + sum(layers[1:]))


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def loop_select(learner, *args):
    class Loop(type(learner)):  # the loop: fit_select as it was before batching
        batchable = False
    return SGDNetLearner.fit_select(Loop(**learner.overrides).on_device(learner.device), *args)


def rel_gap(a, b) -> float:
    """The largest |Δ val score| / val score over the trials that are ok in both selections."""
    return max((abs(x["val_score"] - y["val_score"]) / y["val_score"] for x, y in zip(a.trials, b.trials)
                if x["status"] == y["status"] == "ok"), default=0.0)


def config_epochs(selection) -> int:
    """Epochs trained over all configurations (an early-stopped one: best epoch + patience; a
    diverged one: the epoch its error names)."""
    total = 0
    for trial in selection.trials:
        p = trial["params"]
        if "halved_at" in trial:
            total += trial["halved_at"]
        elif trial["status"] == "diverged":
            total += int(re.search(r"in epoch (\d+)", trial["error"]).group(1))
        elif trial["status"] == "ok" and p["schedule"] == "early_stop":
            total += min(int(p["epochs"]), trial["best_epoch"] + int(p["patience"]))
        else:
            total += int(p["epochs"])
    return total


def lscpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return ", ".join(f"{k}: {fields[k].strip()}" for k in ("Model name", "CPU(s)", "Thread(s) per core", "L3")
                     if k in fields)


def main(specs: list[str]) -> str:
    torch.set_num_threads(THREADS)
    load_before = os.getloadavg()
    peak = matmul_peak()
    reg = load_registry()
    X, y = reg.tasks["sin3"].sample(N, np.random.default_rng(0))
    n_val = N // 5
    X_tr, y_tr, X_va, y_va = X[n_val:], y[n_val:], X[:n_val], y[:n_val]
    problem = Problem("regression", X.shape[1])
    rows, flop_rows, rounding, peaks = [], [], [], []
    for spec in specs:
        name, _, how = spec.partition(":")
        learner = reg.learners[name].with_params(width=[WIDTH])
        if how != "full":
            learner = learner.with_params(epochs=[int(how)], patience=[int(how)])
        warm = learner.with_params(epochs=[1], patience=[1])  # first-call costs (allocator, dispatch) out of the timings
        for fn in (loop_select, type(warm).fit_select):
            fn(warm, X_tr[:500], y_tr[:500], X_va[:100], y_va[:100], warm.param_grid(None, 500)[:2],
               np.random.default_rng(1), problem)
        times, selections = {}, {}
        for variant in ("loop", "batched", "batched + halving"):
            lrn = learner.with_params(halving=[variant.endswith("halving")])
            grid = lrn.param_grid(None, len(X_tr))
            args = (X_tr, y_tr, X_va, y_va, grid, np.random.default_rng(1), problem)
            select = (lambda: loop_select(lrn, *args)) if variant == "loop" else (lambda: lrn.fit_select(*args))
            selections[variant], times[variant] = _timed(select)
            print(f"{name} {how} {variant}: {times[variant]:.1f} s, {config_epochs(selections[variant])} "
                  f"config-epochs, chose {selections[variant].best_params}", file=sys.stderr)
        loop, fast = selections["loop"], selections["batched"]
        gap = rel_gap(fast, loop)
        rounding.append([name, how, gap, fast.best_params == loop.best_params,
                         sum(a.get("best_epoch") != b.get("best_epoch") for a, b in zip(fast.trials, loop.trials))])
        for variant, sel in selections.items():
            ce = config_epochs(sel)
            chosen = {k: sel.best_params[k] for k in ("lr", "weight_decay", "epochs")}
            rows.append([name, how, variant, len(sel.trials), ce, f"{times[variant]:.1f}",
                         f"{times[variant] / ce:.3f}", f"{times['loop'] / times[variant]:.2f}×",
                         f"{(times['loop'] / config_epochs(loop)) / (times[variant] / ce):.2f}×",
                         f"{sel.best_score:.4g}", chosen])
        if learner.depth == 3:
            flops = epoch_flops(len(X_tr), X.shape[1], WIDTH, 3)
            peak_here = matmul_peak()  # the load moves: the peak measured next to these runs too
            peaks.append(peak_here)
            limit = flops / (max(peak, peak_here) * 1e9)
            for variant in ("loop", "batched"):
                per_epoch = times[variant] / config_epochs(selections[variant])
                flop_rows.append([f"{variant} ({how} epochs)", f"{flops / 1e9:.1f}", f"{limit:.2f}", f"{per_epoch:.2f}",
                                  f"{per_epoch / limit:.2f}×", f"{flops / per_epoch / 1e9:.1f}"])
    load_after = os.getloadavg()
    table = tabulate(rows, ["learner", "epochs", "fit_select", "configs", "config-epochs", "seconds",
                            "s / config-epoch", "speed-up (time)", "speed-up per config-epoch",
                            "best val MSE", "chosen"], tablefmt="github")
    rounding_table = tabulate([[r[0], r[1], f"{r[2]:.1e}", r[3], r[4]] for r in rounding],
                              ["learner", "epochs", "max rel. Δ val MSE", "same choice", "configs with another best epoch"],
                              tablefmt="github")
    flop_table = tabulate(flop_rows, ["3-layer, width 1000", "GFLOP / epoch", "limit at peak (s)",
                                      "s / epoch", "× limit", "GFLOP/s"], tablefmt="github")
    versions = (f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
                f"scikit-learn {sklearn.__version__}")
    return (f"# SGD learners: the grid as one batched program vs one configuration at a time\n\n"
            f"Generated by `benchmarks/batched_sgd.py {' '.join(specs)}`: sin3, N = {N:,} "
            f"({len(X_tr):,} train / {n_val:,} validation), width {WIDTH}, the learners' default grid, "
            f"{THREADS} torch thread, all variants in the same run on the same data and seeds. "
            f"`full`: default epochs (100) with early stopping (patience 10); a number E: E epochs per "
            f"configuration, nothing stops early, so the ratio is per epoch.\n\n"
            f"Machine: {lscpu()}; {os.cpu_count()} cores seen. {versions}. Load average (1, 5, 15 min) "
            f"{', '.join(f'{v:.1f}' for v in load_before)} before, {', '.join(f'{v:.1f}' for v in load_after)} "
            f"after (the machine is shared: other processes run beside this one).\n\n"
            f"float32 matmul peak (torch.mm 2048², best of 5, {THREADS} thread): **{peak:.1f} GFLOP/s** at the "
            f"start{''.join(f', {p:.1f} after a 3-layer row' for p in peaks)}; the 3-layer limit below uses the "
            f"larger of the start and the one after its row.\n\n"
            f"{table}\n\n"
            f"config-epochs: epochs trained summed over the configurations (early-stopped: best epoch + "
            f"patience; halved: the budget it was halved at). \"speed-up per config-epoch\" is the loop's "
            f"seconds per config-epoch over the variant's.\n\n"
            f"## The 3-layer epoch against the matmul peak\n\n{flop_table}\n\n"
            f"## Batched vs loop: the same runs?\n\nLargest relative difference of a configuration's "
            f"validation MSE between the batched program and the loop (over the configurations that "
            f"trained finitely in both); float32 rounding differs (batched products sum in another "
            f"order) and SGD amplifies it over the steps.\n\n{rounding_table}\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    out = Path(__file__).with_suffix(".md")
    if args and args[0].startswith("--out="):  # a partial run beside the committed page, not over it
        out, args = Path(args[0].split("=", 1)[1]), args[1:]
    text = main(args or ["two_layer_sgd:full", "three_layer_sgd:3"])
    out.write_text(text)
    print(text)
