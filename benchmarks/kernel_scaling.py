"""Kernels at scale, each measured side by side in one run against the naive way:

1. kernel_ridge selection (48 candidates): distances once per kernel, every (gamma, alpha)
   solved on them, against scikit-learn's KernelRidge fitted and predicted per candidate (what
   the learner did before: 48 kernel builds, and 48 validation kernels);
2. the arc-cosine NTK (depth 3): blocked, in place, against the whole-matrix formula it
   replaces — peak memory (tracemalloc) and time;
3. one fit + prediction of 5,000 test points on sin3 at fixed hyper-parameters, each in a fresh
   process (peak RSS), with the test relative MSE: ntk (depth 2, β² = 1/2, ridge 1e-8·N) by the
   exact solve at N = 20,000, the direct Nyström solve (K_nMᵀK_nM, one Cholesky; M = 5,000) at
   N = 100,000, and Falkon at N = 50,000 and 100,000 (M = 5,000 and 10,000); the exact solves of
   kernel_ridge and random_features at N = 20,000 and their large-N paths at N = 100,000;
4. the whole `bench run` cell at N = 100,000 (selection over the default grid on the validation
   split, edge extensions, refit, 5,000 test points) of ntk, kernel_ridge and random_features,
   each under /usr/bin/time -v with a throw-away store in /tmp;
5. Falkon's inner loops on two threads, each against the way before: a CG pass over K_nM
   (one thread converting 512-row blocks for two-threaded BLAS, against alternate 64-row blocks
   per thread with one-threaded BLAS), and the K_nM fills of the NTK and the Gaussian kernel (the
   fill threads each calling two-threaded BLAS, with the NTK recursion in blocks of 2¹⁸ entries,
   against one-threaded BLAS inside and blocks of 2¹⁶), with the largest difference between the
   two results;
6. past memory: one fit of each at N = 10⁵, the way before (random features: the whole n × m
   Φ; Falkon: K_nM held whole) beside the way now (ΦᵀΦ summed over row blocks; K_nM held to
   nystrom.HOLD_BYTES) and beside Falkon computing every row in each pass, then one fit of each
   at N = 10⁶, where only the way now fits, and random_features' whole cell at N = 10⁶.

    .venv/bin/python benchmarks/kernel_scaling.py [--quick] [--sections 1,2,3,4,5,6]

writes benchmarks/kernel_scaling.md; sections not run keep their text from the file as it was.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import platform
import subprocess
import sys
import time
import tracemalloc
from importlib import metadata
from pathlib import Path

import numpy as np
from tabulate import tabulate

from harness import Problem, score
from harness.execution.registry import load_registry
from plugins.learners.kernels import arccos, nystrom
from plugins.learners.kernels.kernel_ridge import median_distance

ROOT = Path(__file__).resolve().parent.parent
GiB = 2**30

CHILD = """
import json, resource, sys, time
import numpy as np
from harness import Problem
from harness.execution.registry import load_registry
from plugins.learners.kernels import nystrom
from plugins.learners.kernels.ridge import RidgePath, Targets
reg = load_registry()
name, params, n, solver, m = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
nystrom.EXACT_MAX = max(nystrom.EXACT_MAX, n) if solver == "exact" else 0
nystrom.CENTRES = m
if solver == "computed":  # Falkon holding none of K_nM: every row computed again in each pass
    nystrom.HOLD_BYTES = 0
if solver == "whole":     # random features as before: the whole n × m Φ, then ΦᵀΦ (one block)
    from plugins.learners.kernels import design
    design.FEATURE_BLOCK_BYTES = 2**62
if name == "kernel_ridge":
    from plugins.learners.kernels import kernel_ridge
    kernel_ridge.CENTRES = m
task = reg.tasks["sin3"]
X, y = task.sample(n, np.random.default_rng(1))
X_test, y_test = task.sample(5000, np.random.default_rng(2))
problem = Problem("regression", 4)
start = time.perf_counter()
cg = {}
if solver == "direct":  # the path before Falkon: K_nMᵀK_nM streamed in float64, one Cholesky
    from functools import partial
    from plugins.learners.kernels import arccos
    kernel = partial(arccos.ntk, depth=params["depth"], bias=params["bias"])
    targets, T = Targets.encode(y, problem)
    C = X[nystrom.centres(n, np.random.default_rng(0), m)]
    design = nystrom.nystrom_design(kernel, X, T, C)
    coef = design.lift(RidgePath(design.gram, design.B).coef(params["ridge_per_n"] * n))
    pred = targets.decode(np.concatenate([kernel(X_test[i:i + 4096], C) @ coef for i in range(0, len(X_test), 4096)]))
else:
    model = reg.learners[name].fit(X, y, params, np.random.default_rng(0), problem)
    pred = model.predict(X_test)
    cg = model.diagnostics() if hasattr(model, "diagnostics") else {}
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "rel_mse": float(np.mean((pred - y_test) ** 2) / np.var(y_test)),
                  "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, **cg}))
"""


def one_fit(name: str, params: dict, n: int, solver: str, m: int = 0) -> dict:
    """One fit and test prediction in a fresh interpreter (its own peak RSS), on two BLAS
    threads (the ridge path factors matrices past design.SERIAL_CHOLESKY rows on one: OpenBLAS's
    threaded Cholesky, as bundled with numpy 2.4 / scipy 1.17, dies with SIGSEGV there)."""
    out = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(params), str(n), solver, str(m)],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def naive_kernel_ridge_select(X, y, X_val, y_val, grid, problem):
    """The learner as it was: scikit-learn's KernelRidge fitted and scored per candidate."""
    from sklearn.kernel_ridge import KernelRidge
    scores = []
    for p in grid:
        est = KernelRidge(alpha=p["alpha_per_n"] * len(X), kernel=p["kernel"],
                          gamma=p["gamma_scale"] / median_distance(X, p["kernel"]))
        scores.append(score(problem, y_val, est.fit(X, y).predict(X_val)))
    return scores


def kernel_ridge_rows(ns: list[int]) -> list[list]:
    reg = load_registry()
    learner, task, problem = reg.learners["kernel_ridge"], reg.tasks["sin3"], Problem("regression", 4)
    rows = []
    for n in ns:
        X, y = task.sample(n, np.random.default_rng(0))
        n_val = n // 5
        args = (X[n_val:], y[n_val:], X[:n_val], y[:n_val])
        grid = learner.param_grid(task, n)
        naive, t_naive = timed(lambda: naive_kernel_ridge_select(*args, grid, problem))
        ours, t_ours = timed(lambda: learner.fit_select(*args, grid, np.random.default_rng(0), problem))
        by_params = {json.dumps(p, sort_keys=True): s for p, s in zip(grid, naive)}
        gap = max(abs(t["val_score"] - by_params[json.dumps(t["params"], sort_keys=True)])
                  / by_params[json.dumps(t["params"], sort_keys=True)] for t in ours.trials)
        rows.append([n, len(grid), f"{t_naive:.1f}", f"{t_ours:.1f}", f"{t_naive / t_ours:.1f}×", f"{gap:.0e}",
                     ours.best_params == grid[int(np.argmin(naive))]])
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def whole_matrix_ntk():
    """The recursion as it was computed before (8–10 N × N arrays live): the whole-matrix formula
    tests/test_kernels.py keeps as the reference the blocked one must reproduce, loaded from
    there so that the two cannot drift apart; returns (X, Y, depth, bias) → Θ."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("test_kernels", ROOT / "tests" / "test_kernels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda X, Y, depth, bias: module.whole_matrix_ntk(X, Y, depth, bias)[0]


def arccos_rows(n: int) -> list[list]:
    X = np.random.default_rng(0).standard_normal((n, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rows, results = [], []
    for label, fn in (("whole-matrix formula (before)", whole_matrix_ntk()), ("blocked, in place", arccos.ntk)):
        tracemalloc.start()
        out, seconds = timed(lambda: fn(X, X, 3, 0.5))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        results.append(out)
        rows.append([label, n, f"{peak / 2**20:.0f}", f"{peak / (8 * n * n):.2f}", f"{seconds:.2f}"])
    gap = np.abs(results[0] - results[1]).max() / np.abs(results[0]).max()
    return rows, gap


NTK_PARAMS = {"depth": 2, "bias": 0.5, "ridge_per_n": 1e-8}
# The fixed settings the slow tests compare at N = 20,000 and 100,000 (tests/test_nystrom.py).
KR_PARAMS = {"kernel": "rbf", "gamma_scale": 3.0, "alpha_per_n": 1e-6}
RF_PARAMS = {"width": 4000, "bias": 0.5, "ridge_per_n": 1e-8}


def fixed_rows(quick: bool) -> list[list]:
    from plugins.learners.kernels import kernel_ridge

    small, mid, big = (2000, 5000, 10_000) if quick else (20_000, 50_000, 100_000)
    m_small, m_big = (500, 1000) if quick else (5000, nystrom.CENTRES)
    # ntk's side-by-side first, then each learner's reference pair, then the M trade-off. With
    # KERNEL_SCALING_DEADLINE (Unix time) set, rows that would start after it are listed as not run.
    plan = [("ntk", NTK_PARAMS, small, "exact", 0), ("ntk", NTK_PARAMS, big, "falkon", m_big),
            ("ntk", NTK_PARAMS, big, "direct", m_small), ("ntk", NTK_PARAMS, mid, "falkon", m_big),
            ("kernel_ridge", KR_PARAMS, small, "exact", 0),
            ("kernel_ridge", KR_PARAMS, big, "falkon", kernel_ridge.CENTRES if not quick else m_small),
            ("random_features", RF_PARAMS, small, "exact", 0), ("random_features", RF_PARAMS, big, "exact", 0),
            ("ntk", NTK_PARAMS, big, "falkon", m_small)]
    label = {"exact": "exact", "direct": "direct Nyström (N·M², before)", "falkon": "Falkon"}

    def head(name: str, n: int, solver: str, m: int) -> list:
        what = label[solver] if name != "random_features" else "primal ridge on the features"
        return [name, n, what, f"{m:,}" if m else ""]

    return fit_rows(plan, head)


def fit_rows(plan: list[tuple], head) -> list[list]:
    """One fit per (learner, params, n, solver, M) of ``plan`` (:func:`one_fit`): ``head``'s
    leading columns, then time, peak RSS, test relative MSE and CG. With KERNEL_SCALING_DEADLINE
    (Unix time) set, rows that would start after it are listed as not run."""
    deadline = float(os.environ.get("KERNEL_SCALING_DEADLINE", "inf"))
    rows = []
    for name, params, n, solver, m in plan:
        if time.time() > deadline:
            rows.append(head(name, n, solver, m) + ["not run (out of time)", "", "", ""])
            continue
        r = one_fit(name, params, n, solver, m)
        cg = f"{r['cg_iterations']} ({r['cg_residual']:.0e})" if "cg_iterations" in r else ""
        rows.append(head(name, n, solver, m) + [f"{r['seconds']:.0f}", f"{r['peak_rss'] / GiB:.2f}",
                                                f"{r['rel_mse']:.2e}", cg])
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def time_v(field: str, text: str) -> str:
    return re.search(rf"{re.escape(field)}: (.*)", text).group(1).strip()


def cell_rows(quick: bool, n: int | None = None, names: tuple[str, ...] = ("ntk", "kernel_ridge", "random_features")) -> list[list]:
    """Each learner's whole cell at N = 100,000 (or n) through `bench run`, under /usr/bin/time -v."""
    from harness.execution import runner
    from harness.protocol.cell import Protocol

    n = n or (3000 if quick else 100_000)
    reg = load_registry()
    rows = []
    for name in names:
        cell = runner.plan([reg.tasks["sin3"]], [reg.learners[name]], [n], [0], Protocol())[0]
        estimate = sum(runner.cell_memory(cell, 4))
        store, out = f"/tmp/falkon-{name}.sqlite", f"/tmp/falkon-out-{name}"
        for path in (store, store + "-wal", store + "-shm"):
            Path(path).unlink(missing_ok=True)
        cmd = ["/usr/bin/time", "-v", str(Path(sys.executable).with_name("bench")), "run", "-t", "sin3", "-l", name,
               "--n", str(n), "--seeds", "1", "--jobs", "1", "--store", store, "--out", out, "--no-leaderboard"]
        load = os.getloadavg()[0]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
        with sqlite3.connect(store) as con:
            status, score, chosen, metrics, selection, seconds, edges = con.execute(
                "select status, test_score, chosen_params, metrics, selection, seconds, edges from cells").fetchone()
        diag = json.loads(metrics or "{}").get("diagnostics", {})
        trials = json.loads(selection or "[]")
        iters = [t["cg_iterations"] for t in trials if "cg_iterations" in t]
        rows.append([name, n, status, time_v("Elapsed (wall clock) time (h:mm:ss or m:ss)", done.stderr),
                     f"{seconds:.0f}", f"{int(time_v('Maximum resident set size (kbytes)', done.stderr)) / 2**20:.2f}",
                     f"{estimate / GiB:.2f}",
                     f"{score:.2e}" if score is not None else "", chosen, len(trials),
                     f"{min(iters)}–{max(iters)}" if iters else "", diag.get("cg_iterations", ""),
                     ", ".join(f"{e['param']} {e['side']} {e['value']:g}" for e in json.loads(edges or "[]")) or "none",
                     f"{load:.1f} / {os.getloadavg()[0]:.1f}"])
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def pass_before(path: nystrom.FalkonPath, U: np.ndarray, rows: int = 512) -> np.ndarray:
    """K_nMᵀ K_nM U / n as FalkonPath.normal did before: this thread converts ``rows``-row blocks
    into one float64 buffer, BLAS (two threads) does the products."""
    out = np.zeros_like(U)
    buf = np.empty((min(rows, path.n), path.K.shape[1]))
    for i in range(0, path.n, rows):
        r = min(rows, path.n - i)
        np.copyto(buf[:r], path.K[i:i + r])
        out += buf[:r].T @ (buf[:r] @ U)
    return out / path.n


def fill_before(kernel, X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """nystrom.kernel_rows as it was: the fill threads each calling BLAS with its own two threads."""
    from concurrent.futures import ThreadPoolExecutor

    out = np.empty((len(X), len(C)))

    def fill(i: int) -> None:
        out[i:i + nystrom.FILL_ROWS] = kernel(X[i:i + nystrom.FILL_ROWS], C)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fill, range(0, len(X), nystrom.FILL_ROWS)))
    return out


def inner_loop_rows(quick: bool) -> list[list]:
    """Section 5: each inner loop the way before and now, best of three, on two threads."""
    from functools import partial

    from threadpoolctl import threadpool_limits

    from plugins.learners.kernels.kernel_ridge import kernel_function

    def best(fn) -> tuple[float, np.ndarray]:
        times, out = [], None
        for _ in range(3):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        return min(times), out

    n, m = (4000, 1000) if quick else (40_000, 10_000)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    C = X[:m]
    rows = []
    with threadpool_limits(limits=2, user_api="blas"):
        ntk = partial(arccos.ntk, depth=2, bias=0.5)
        path = nystrom.FalkonPath(nystrom.kernel_rows(ntk, X, C), np.eye(1))
        for cols in (18, 1):
            U = rng.normal(size=(m, cols))
            (t0, a), (t1, b) = best(partial(pass_before, path, U)), best(partial(path.normal, U))
            rows.append([f"CG pass, K_nM float32, {cols} column(s)", f"{n} × {m}", f"{t0:.3g}", f"{t1:.3g}",
                         f"{t0 / t1:.1f}×", f"{np.abs(a - b).max() / np.abs(a).max():.0e}"])
        path = None                                   # K_nM: 1.6 GB at 4·10⁴ × 10⁴
        half = X[: n // 2]
        kernels = [("NTK fill (depth 2)", ntk), ("NTK fill (depth 3)", partial(arccos.ntk, depth=3, bias=0.5)),
                   ("Gaussian fill", kernel_function("rbf", 3.0))]
        for label, kernel in kernels:
            now = arccos.BLOCK_ELEMENTS
            arccos.BLOCK_ELEMENTS = 1 << 18           # the recursion's block size before (no effect on the Gaussian)
            try:
                t0, a = best(partial(fill_before, kernel, half, C))
            finally:
                arccos.BLOCK_ELEMENTS = now
            t1, b = best(partial(nystrom.kernel_rows, kernel, half, C, np.float64))
            rows.append([f"{label}", f"{n // 2} × {m}", f"{t0:.3g}", f"{t1:.3g}",
                         f"{t0 / t1:.1f}×", f"{np.abs(a - b).max() / np.abs(a).max():.0e}"])
    return rows


def past_memory_rows(quick: bool) -> list[list]:
    """Section 6: one fit at fixed hyper-parameters (section 3's) at N = 10⁵, the way before and
    now side by side, and at N = 10⁶, where only the way now fits in memory."""
    from plugins.learners.kernels import kernel_ridge

    big, huge = (5000, 50_000) if quick else (100_000, 1_000_000)
    m_ntk, m_kr = (1000, 500) if quick else (nystrom.CENTRES, kernel_ridge.CENTRES)
    plan = [("random_features", RF_PARAMS, big, "whole", 0), ("random_features", RF_PARAMS, big, "exact", 0),
            ("kernel_ridge", KR_PARAMS, big, "falkon", m_kr), ("kernel_ridge", KR_PARAMS, big, "computed", m_kr),
            ("ntk", NTK_PARAMS, big, "falkon", m_ntk), ("ntk", NTK_PARAMS, big, "computed", m_ntk),
            ("random_features", RF_PARAMS, huge, "exact", 0), ("kernel_ridge", KR_PARAMS, huge, "falkon", m_kr),
            ("ntk", NTK_PARAMS, huge, "falkon", m_ntk)]
    label = {"whole": "whole Φ, then ΦᵀΦ (before)", "exact": "ΦᵀΦ summed over row blocks",
             "falkon": "Falkon, K_nM held to HOLD_BYTES", "computed": "Falkon, no row held: all computed each pass"}

    def head(name: str, n: int, solver: str, m: int) -> list:
        held = nystrom.held_rows(n, m, 8 if name == "kernel_ridge" else 4) if solver == "falkon" else 0
        return [name, f"{n:,}", label[solver], f"{m:,}" if m else "", f"{held:,}" if m else ""]

    return fit_rows(plan, head)


CELL_HEADERS = ["learner", "N", "status", "wall", "cell (s)", "peak RSS (GiB)", "estimate (GiB)", "test rel. MSE", "chosen",
                "trials", "CG (trials)", "CG (refit)", "edges left", "load"]


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in subprocess.run(["lscpu"], capture_output=True, text=True)
                  .stdout.splitlines() if line.startswith("Model name")), platform.processor())
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "scipy", "scikit-learn"))
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, {versions}"


# Section headings (their starts identify a section in the .md when it is carried over).
HEADINGS = {"1": "## kernel_ridge selection on sin3", "2": "## Arc-cosine NTK (depth 3)",
            "3": "## One fit at fixed hyper-parameters", "4": "## Whole cells at N = 100,000",
            "5": "## Falkon's inner loops, before and now", "6": "## Past memory: N = 10⁶"}
OBSOLETE = ("## ntk on sin3 (depth 2",)  # replaced by section 3


def section(key: str, quick: bool) -> str:
    load, started = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M")
    if key == "1":
        kr = kernel_ridge_rows([500, 1000] if quick else [2000, 4000])
        body = f"""{tabulate(kr, ["N", "candidates", "KernelRidge per candidate (s)", "shared distances (s)", "speed-up",
               "max rel. Δ val score", "same choice"], tablefmt="github")}

Both ways factor one N × N Cholesky per candidate, and at d = 4 that dominates: sharing the
distances removes the 48 kernel builds, a small share of the time, within this run's noise."""
        title = " (80 % train, 20 % validation)"
    elif key == "2":
        ac, gap = arccos_rows(1000 if quick else 3000)
        body = f"""{tabulate(ac, ["recursion", "N", "peak (MiB, tracemalloc)", "peak / (8 N²)", "time (s)"], tablefmt="github")}

Largest difference between the two, relative to the largest entry: {gap:.1e}.
The difference is on the diagonal: the whole-matrix formula leaves the angle of a point with
itself at round-off (~1e-8); the blocked one sets it to exactly 0."""
        title = " on N points of S³"
    elif key == "3":
        rows = fixed_rows(quick)
        body = f"""ntk: depth 2, β² = 1/2, ridge 1e-8·N; kernel_ridge: rbf, gamma 3 × median heuristic, alpha
1e-6·N; random_features: width 4000, ridge 1e-8·N. Training set sin3 (seed 1), test set 5,000
points (seed 2); each row one fit and one test prediction in a fresh process, two BLAS threads.
"CG" is Falkon's conjugate-gradient iterations (final relative preconditioned residual).

{tabulate(rows, ["learner", "N", "solver", "centres M", "time (s)", "peak RSS (GiB)", "test rel. MSE", "CG"],
          tablefmt="github")}"""
        title = " (sin3, 5,000 test points)"
    elif key == "5":
        rows = inner_loop_rows(quick)
        body = f"""Points on S⁴ (d = 5), centres the first M of them, two BLAS threads.
"before" is the code as it was (re-implemented here as `pass_before` and `fill_before`, the NTK's
block size set back to 2¹⁸), "now" is FalkonPath.normal and nystrom.kernel_rows as they are. Best
of three (the first call of a process pays its page faults).

{tabulate(rows, ["loop", "size", "before (s)", "now (s)", "speed-up", "max rel. difference"], tablefmt="github")}"""
        title = " (two threads)"
    elif key == "6":
        rows = past_memory_rows(quick)
        huge = 50_000 if quick else 1_000_000
        body = f"""Section 3's fixed settings and protocol (one fit and 5,000 test predictions in a fresh
process, two BLAS threads, sin3). Before, random_features held the whole n × m feature matrix
(32 GB at N = 10⁶, m = 4000) and Falkon the whole K_nM (40 GB at N = 10⁶ for either kernel):
neither fits this 24 GiB machine at N = 10⁶. Now random features sum ΦᵀΦ over row blocks
(`design.FEATURE_BLOCK_BYTES`), and Falkon holds K_nM's first rows up to `nystrom.HOLD_BYTES`
= 4·10⁹ bytes ("held rows") and computes the others again in every pass. The "no row held" rows
show what computing K_nM in every pass costs where it would fit.

{tabulate(rows, ["learner", "N", "way", "centres M", "held rows", "time (s)", "peak RSS (GiB)", "test rel. MSE", "CG"],
          tablefmt="github")}

The whole `bench run` cell of random_features at N = {huge:,} (section 4's command and columns):

{tabulate(cell_rows(quick, huge, ("random_features",)), CELL_HEADERS, tablefmt="github")}"""
        title = ""
    else:
        rows = cell_rows(quick)
        body = f"""`/usr/bin/time -v bench run -t sin3 -l LEARNER --n {3000 if quick else 100_000} --seeds 1 --jobs 1 --store
/tmp/falkon-LEARNER.sqlite --out /tmp/falkon-out-LEARNER --no-leaderboard` with OMP_NUM_THREADS=2:
selection over the learner's default grid on the 20 % validation split, the edge search's
extensions, the refit on all N and 5,000 test points. "wall" is /usr/bin/time's (interpreter
start and store included), "cell" the cell's own seconds; "CG (trials)" the iterations over the
selection trials, "CG (refit)" the refit's; "estimate" is what `bench run` checks against free
memory before it starts (the learner's memory_estimate over its grid, plus the data); load is
the 1-minute load average before / after.

{tabulate(rows, CELL_HEADERS, tablefmt="github")}"""
        title = ""
    after = os.getloadavg()
    return (f"{HEADINGS[key]}{title}\n\nRun {started}–{time.strftime('%H:%M')}; load average (1/5/15 min) "
            f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} before, {after[0]:.1f}/{after[1]:.1f}/{after[2]:.1f} after.\n\n{body}\n")


def carried(old: str) -> list[str]:
    """The ``## `` sections of the existing .md."""
    parts = re.split(r"(?m)^(?=## )", old)
    return [p for p in parts if p.startswith("## ")]


def main(quick: bool, keys: list[str]) -> str:
    md = Path(__file__).with_suffix(".md")
    old = carried(md.read_text()) if md.exists() and not quick else []
    new = {k: section(k, quick) for k in keys}
    out = []
    for k, heading in HEADINGS.items():
        text = new.get(k) or next((p for p in old if p.startswith(heading)), None)
        if text:
            out.append(text.rstrip() + "\n")
    out += [p.rstrip() + "\n" for p in old
            if not any(p.startswith(h) for h in HEADINGS.values()) and not p.startswith(OBSOLETE)]
    return f"""# Kernels at scale: no waste, N = 100,000, and N = 10⁶ past memory

Generated by `benchmarks/kernel_scaling.py{' --quick' if quick else ''}` on {machine()}; this
file's sections {', '.join(keys)} were written by its last run (each with its own date and load),
the others carried over from the run before. Each table compares the ways side by side in the
same run. The machine is shared (2 cores), so absolute times are inflated by other work when
the load exceeds 2; ratios are the robust numbers.

""" + "\n".join(out)


if __name__ == "__main__":
    args = sys.argv[1:]
    quick = "--quick" in args
    keys = args[args.index("--sections") + 1].split(",") if "--sections" in args else list(HEADINGS)
    text = main(quick, keys)
    if not quick:
        Path(__file__).with_suffix(".md").write_text(text)
    print(text)
