"""three_layer_alg1 at N = 500 (sin3, the default grid: width 1000, lr 0.1 and 0.3, up to 400
rounds, patience 50, 16 output draws), before and after issue 27's change to its output step:
seconds per round and the same bits (in one process, the old output step from
tests/test_alg1_speed.py), where a round's time goes (cProfile), and with ``--cell`` one whole
cell on cold stores. Writes benchmarks/alg1_speed.md.

    .venv/bin/python benchmarks/alg1_speed.py                 # per round and profile (~1 min)
    .venv/bin/python benchmarks/alg1_speed.py --cell [COMMIT]  # also the whole cell (long)

``--cell`` checks out COMMIT (default 913efc1, the code before the change) in a temporary git
worktree and runs the cell there and in this checkout side by side, one core each (the runner
gives a lone cell cpu_count // --jobs threads: 1 of 2 with the default --jobs), so both share the
load; without it the last measured whole-cell section of the Markdown is kept.
"""

from __future__ import annotations

import cProfile
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.storage.store import Store  # noqa: E402

COMMAND = ["run", "--task", "sin3", "--learner", "three_layer_alg1", "--n", "500", "--seeds", "1"]
ROUNDS = 10  # profiled rounds of one configuration


def start(code: Path, store: Path) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("bench")), *COMMAND, "--store", str(store)],
                            cwd=code, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, time.perf_counter()


def summary(store: Path, wall: float) -> dict:
    row = Store(store).rows()[0]
    trials = [(t["params"]["lr"], t.get("best_epoch"), t["val_score"]) for t in row["selection"]]
    return {"wall": wall, "seconds": row["seconds"], "test": row["test_score"], "trials": trials,
            "chosen": row["chosen_params"].get("epochs")}


def profile_rounds() -> tuple[float, list[tuple[str, float]]]:
    """Seconds per round of one configuration (lr 0.1, N = 400 training points, one thread) and the
    functions that take them."""
    import torch

    from harness import Problem
    from harness.execution.registry import load_registry

    torch.set_num_threads(1)
    task = load_registry().tasks["sin3"]
    X, y = task.sample(500, np.random.default_rng(0))
    learner = load_registry().learners["three_layer_alg1"].with_params(lr=[0.1], epochs=[ROUNDS], patience=[1000])
    params = learner.param_grid(task, 500)[0]
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    learner._train(X[:400], y[:400], params, np.random.default_rng(1), Problem("regression", X.shape[1]),
                   X_val=X[400:], y_val=y[400:], patience=1000)
    prof.disable()
    per_round = (time.perf_counter() - t) / ROUNDS
    stats = pstats.Stats(prof).stats
    rows = sorted(((f"{Path(f).name}:{line}({name})", v[3] / ROUNDS) for (f, line, name), v in stats.items()),
                  key=lambda r: -r[1])
    return per_round, [r for r in rows if r[1] > 0.01 * per_round][:12]


def round_costs(rounds: int = 15, repeats: int = 2) -> dict:
    """Seconds per round of one configuration (lr 0.1, width 1000, 400 training and 100 validation
    points, one thread) with the output step as it was (tests/test_alg1_speed.py's per-draw
    reference) and as it is, interleaved, fastest of ``repeats``; and whether the two trainings
    gave the same bits (every round's validation score, the chosen round and the predictions)."""
    import torch

    from harness import Problem
    from harness.execution.registry import load_registry
    from plugins.learners.nets import three_layer_alg1

    sys.path.insert(0, str(ROOT / "tests"))
    from test_alg1_speed import per_draw_select_output

    torch.set_num_threads(1)
    task = load_registry().tasks["sin3"]
    X, y = task.sample(500, np.random.default_rng(0))
    learner = load_registry().learners["three_layer_alg1"].with_params(lr=[0.1], epochs=[rounds], patience=[1000])
    params = learner.param_grid(task, 500)[0]
    Network = three_layer_alg1.Alg1Network
    new = Network.select_output
    times: dict[str, list[float]] = {"per draw (before)": [], "cached bases (after)": []}
    outputs: dict[str, tuple] = {}
    for _ in range(repeats):
        for name, select in zip(times, (per_draw_select_output, new)):
            Network.select_output = select
            t = time.perf_counter()
            out = learner._train(X[:400], y[:400], params, np.random.default_rng(1), Problem("regression", X.shape[1]),
                                 X_val=X[400:], y_val=y[400:], patience=1000)
            times[name].append((time.perf_counter() - t) / rounds)
            outputs[name] = (out.best_epoch, out.best_val, np.asarray(out.model.predict(X)).tobytes())
    Network.select_output = new
    a, b = outputs.values()
    return {"seconds": {k: min(v) for k, v in times.items()}, "same": a == b, "rounds": rounds}


def whole_cells(before: str) -> tuple[str, bool]:
    """The cell under the code of commit ``before`` and of this checkout, side by side: the
    Markdown section and whether the two stored results are the same."""
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            load = os.getloadavg()[0]
            runs = {name: start(code, Path(folder) / f"{name}.sqlite") for name, code in
                    (("before", tree), ("after", ROOT))}
            results = {}
            while len(results) < len(runs):  # each run's own wall time, whichever ends first
                for name, (proc, t0) in runs.items():
                    if name not in results and proc.poll() is not None:
                        results[name] = summary(Path(folder) / f"{name}.sqlite", time.perf_counter() - t0)
                time.sleep(1)
            cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
            load_end = os.getloadavg()[0]
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    print(results, flush=True)  # kept in the log should the page below fail
    b, a = results["before"], results["after"]
    same = b["test"] == a["test"] and b["trials"] == a["trials"]
    lines = [f"| {name} | {r['seconds']:.1f} | {r['wall']:.1f} | {r['test']!r} | "
             + "; ".join(f"lr {lr}: " + ("diverged" if v is None else f"best round {ep}, val {v:.4g}")
                         for lr, ep, v in r["trials"]) + f" | {r['chosen']} |"
             for name, r in ((f"before ({before})", b), ("after", a))]
    return f"""{CELL_HEADING}

`bench {' '.join(COMMAND)}` on a cold store, the code of {before} (a git worktree) and of this checkout \
side by side, one core each (a lone cell gets cpu_count // --jobs = 1 thread); load average \
{load:.1f} at the start, {load_end:.1f} at the end; CPU of both together {cpu.ru_utime + cpu.ru_stime:.0f} s.

| code | cell seconds (stored) | wall (s) | test rel. MSE | selection | refit rounds |
|---|---|---|---|---|---|
{chr(10).join(lines)}

Same result bit for bit: **{'yes' if same else 'NO'}** (test score, and every trial's validation \
score and best round, compared exactly).
""", same


CELL_HEADING = "## One whole cell"


def main() -> None:
    args = sys.argv[1:]
    target = ROOT / "benchmarks" / "alg1_speed.md"
    if args[:1] == ["--cell"]:  # slow: the two cells take ~10 min of one core each, more under load
        cell, _ = whole_cells(args[1] if len(args) > 1 else "913efc1")
    elif target.exists() and CELL_HEADING in target.read_text():  # kept from the last --cell run
        old = target.read_text()
        cell = old[old.index(CELL_HEADING):old.index(WHY_HEADING)].rstrip() + "\n"
    else:
        cell = f"{CELL_HEADING}\n\nNot measured yet: `benchmarks/alg1_speed.py --cell`.\n"
    costs = round_costs()
    per_round, top = profile_rounds()
    (before_s, after_s) = costs["seconds"].values()
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "numpy"))
    prof = "\n".join(f"| `{name}` | {s * 1000:.0f} |" for name, s in top)
    text = f"""# three_layer_alg1: one cell at N = 500

Generated by `benchmarks/alg1_speed.py` (`--cell` for the whole-cell section) on {platform.machine()} \
with {os.cpu_count()} cores, Python {platform.python_version()}, {versions}; load average \
{os.getloadavg()[0]:.1f} at the end (the machine is shared). The default grid: width 1000, lr 0.1 and \
0.3, up to 400 rounds with patience 50, 16 output draws.

## Per round

One configuration (sin3, lr 0.1, width 1000, 400 training and 100 validation points, one thread), \
{costs['rounds']} rounds, the output step as it was (the per-draw reference kept in \
tests/test_alg1_speed.py) and as it is, interleaved, fastest of 2:

| output step | seconds per round |
|---|---|
| per draw (before) | {before_s:.3f} |
| cached bases (after) | {after_s:.3f} |

Speed-up {before_s / after_s:.2f}×; the two trainings gave the same bits (validation score, chosen \
round, predictions on all 500 points): **{'yes' if costs['same'] else 'NO'}**.

Where a round goes after the change ({ROUNDS} rounds under cProfile, {per_round:.3f} s a round; \
cumulative ms per round):

| function | ms per round |
|---|---|
{prof}

{cell}
{WHY_HEADING}

What changed: the output step (run after every round to score it on validation) drew Σ̂ and 16 \
smoothing pairs (W^ρ, V^ρ: 16 × 10⁶ Gaussians at width 1000) again every round and summed \
W(0) + W^ρ + Σ̂W′, V(0) + V^ρ + V′Σ̂ per draw. Now `Alg1Network.output_bases` draws them and forms \
W(0) + W^ρ, V(0) + V^ρ once per training (64 MB at width 1000, freed when training ends), and Σ̂W′, \
V′Σ̂ once per round: the same float operations on the same values, so the same bits \
(tests/test_alg1_speed.py compares with the per-draw version it replaced).

Why not 30 s: what is left is arithmetic Algorithm 1 prescribes. Each round's output step evaluates \
all 16 draws on the 400 training points — 16 × 400 × 1000² ≈ 6.4·10⁹ multiply-adds in 400 × 1000 × \
1000 products that cannot be shared (each draw has its own first layer, so its own hidden \
activations) — beside a round's 8 SGD steps (≈ 2·10⁹). At the ≈ 60 GFLOP/s one core sustains on \
these products that is ≈ 0.25 s a round (the `out` row above), and a cell runs hundreds of rounds: \
selection over two learning rates, each to its best round plus 50 rounds of patience (400 at most; \
a best round at the cap doubles it, the epoch search), then the refit. Faster would mean changing \
what is computed — fewer output draws, scoring the draws on a subsample, the output step every k \
rounds — each a different algorithm (and different cells), or more threads for a lone cell (the \
runner gives it cpu_count // --jobs).
"""
    target.write_text(text)
    print(text)


WHY_HEADING = "## What changed, and why not 30 s"


if __name__ == "__main__":
    main()
