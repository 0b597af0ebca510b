"""How long a run will take, said before it trains: each cell's cost from its learner's cost model
(:meth:`harness.Learner.time_estimate`), rescaled by the store's timings of similar cells (the same
learner, any task or grid), and the cells scheduled on the run's workers. A run estimated over
:data:`CONFIRM_SECONDS` is refused unless the user passes ``--yes``.

The rescaling: for every stored timing of a learner, measured ÷ estimated is a *ratio*; a planned
cell's estimate is multiplied by the ratio at the nearest stored N among the closest kind of cell
that has one — the same task and grid, else the same grid on other tasks, else the learner with any
grid (see :class:`harness.execution.progress.CostModel`). So the learner's cost model supplies the
shape (how cost grows with N and the grid), the store the constant of this machine.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Callable

import numpy as np

from harness.api.errors import BenchError
from harness.api.learners import Learner, label
from harness.execution.progress import CostModel, clock_text, left_of, schedule_remaining
from harness.protocol.data import checked_sample

if TYPE_CHECKING:
    from harness.api.tasks import Task
    from harness.protocol.cell import CellSpec
    from harness.storage.store import Store

# Past this many seconds (an hour) `bench run` asks for --yes before it starts.
CONFIRM_SECONDS = 3600.0
# Stored statuses whose seconds are a cell's real cost (a timeout's are its limit; a failure's,
# however long it ran before failing).
TIMED = ("ok", "diverged")


def other_work() -> float | None:
    """Threads of other work runnable right now: the kernel's count of running threads
    (``procs_running`` in /proc/stat, ours included) averaged over :data:`LOAD_SAMPLES` looks
    :data:`LOAD_INTERVAL` s apart, less this process; the 1-minute load average where there is
    no /proc (it also counts the run that ended a minute ago, this user's own); None if neither."""
    import time

    counts = []
    for i in range(LOAD_SAMPLES):
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                counts += [int(line.split()[1]) for line in fh if line.startswith("procs_running ")]
        except (OSError, ValueError, IndexError):
            break
        if i < LOAD_SAMPLES - 1:
            time.sleep(LOAD_INTERVAL)
    if counts:
        return max(0.0, sum(counts) / len(counts) - 1)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


# Five looks at the running threads, 20 ms apart: 80 ms before the plan line.
LOAD_SAMPLES, LOAD_INTERVAL = 5, 0.02
# The machine's load changes over minutes, not seconds: a look is reused for this long.
LOAD_VALID = 30.0
_last_look: tuple[float, float | None] | None = None


def busy_factor(threads: int | None = None) -> float:
    """How much slower than on an idle machine cells will train now: the run's ``threads``
    (default: as many as the machine has cores) and the other work already running
    (:func:`other_work`, in runnable threads) share the cores, so each thread gets
    cores ÷ (threads + other work) of a core when that is below 1. 1 when that is unknown. On the
    shared 2-core machine, quick-suite cells run beside ~2.8 threads of other work took 1.7–3×
    their committed timings (benchmarks/eta_check.md); this gives 2.4×. A run of one thread
    beside one other (two ``OMP_NUM_THREADS=1`` processes sharing a store) is not slowed: 1×.
    A look stays valid for :data:`LOAD_VALID` seconds, so runs started in one process (a notebook,
    a script) look once."""
    global _last_look
    now = time.monotonic()
    if _last_look is None or now - _last_look[0] > LOAD_VALID:
        _last_look = (now, other_work())
    load = _last_look[1]
    if load is None:
        return 1.0
    cores = os.cpu_count() or 1
    # a run of more threads than cores (--jobs past them) is not "busy": its own overlap is its
    # workers', which the schedule already lays side by side
    demand = (cores if threads is None else min(threads, cores)) + load
    return max(1.0, demand / cores)


def task_dimension(task: Task, zou_gu: bool) -> int:
    """The input dimension a cell of ``task`` sees: d from a few points, plus one with Zou & Gu's map."""
    X, _ = checked_sample(task, 8, np.random.default_rng(0))
    return X.shape[1] + zou_gu


class Priors:
    """Each cell's seconds by its learner's own cost model, cached per (learner, task, N)."""

    def __init__(self) -> None:
        self._dims: dict[int, int] = {}
        self._seconds: dict[tuple[int, int, int], float] = {}

    def dimension(self, task: Task, zou_gu: bool) -> int:
        key = id(task) * 2 + zou_gu
        if key not in self._dims:
            self._dims[key] = task_dimension(task, zou_gu)
        return self._dims[key]

    def seconds(self, learner: Learner, task: Task, n: int, d: int) -> float:
        """``learner.time_estimate`` over its grid for ``n`` points of ``task``; a plugin whose
        estimate raises or returns nonsense gets :meth:`Learner.time_estimate`'s default."""
        key = (id(learner), id(task), n)
        if key not in self._seconds:
            grid = learner.param_grid(task, n)
            try:
                value = float(learner.time_estimate(n, d, grid))
            except Exception:  # an estimate must never stop a run that could train
                value = float("nan")
            if not np.isfinite(value) or value <= 0:
                value = Learner.time_estimate(learner, n, d, grid)
            self._seconds[key] = value
        return self._seconds[key]

    def cell(self, spec: CellSpec) -> float:
        """The cost-model seconds of one planned cell."""
        zou_gu = spec.protocol.zou_gu_mu is not None
        return self.seconds(spec.learner, spec.task, spec.n, self.dimension(spec.task, zou_gu))


def stored_timings(cells: list[CellSpec], store: Store, priors: Priors) -> list[tuple[tuple[str, str], int, float, float]]:
    """(key, N, seconds, cost-model seconds) of every finished stored cell of the learners in
    ``cells`` on the same device, any task and grid: what :class:`CostModel` is calibrated on.
    A stored grid the learner no longer accepts (a parameter since removed) is skipped."""
    by_name: dict[str, CellSpec] = {}
    tasks: dict[str, CellSpec] = {}
    for spec in cells:
        by_name.setdefault(spec.learner.name, spec)
        tasks.setdefault(spec.task.name, spec)
    out = []
    variants: dict[tuple[str, str], Learner | None] = {}
    for name, example in by_name.items():
        for row in store.rows(learner=name):
            if row["status"] not in TIMED or not row.get("seconds") or (row.get("device") or "cpu") != example.learner.device:
                continue
            grid = row.get("learner_grid")
            if not grid:  # rows from before grids were recorded
                continue
            vkey = (name, json.dumps(grid, sort_keys=True, default=str))
            if vkey not in variants:
                try:  # the full stored grid replaces every list of the planned variant
                    variants[vkey] = example.learner.with_params(**grid)
                except (BenchError, TypeError, ValueError):
                    variants[vkey] = None
            learner = variants[vkey]
            if learner is None:
                continue
            # the row's own task when this run has it (its d), else this learner's planned task:
            # d moves the built-in estimates little next to N and the grid
            spec = tasks.get(row["task"], example)
            d = priors.dimension(spec.task, row.get("input_transform") is not None)
            key = (row["task"], label(name, row.get("learner_params") or {}))
            out.append((key, int(row["n"]), float(row["seconds"]), priors.seconds(learner, spec.task, int(row["n"]), d)))
    return out


def cost_model(cells: list[CellSpec], store: Store | None, slowdown: float | None = None,
               threads: int | None = None) -> tuple[CostModel, Callable[[CellSpec], float]]:
    """A :class:`CostModel` calibrated on ``store``'s timings of similar cells (none without a
    store) and the prior that it rescales, per planned cell: the learner's cost model times
    ``slowdown`` (default :func:`busy_factor` of the run's ``threads``; the model keeps it as
    ``model.slowdown``)."""
    priors = Priors()
    model = CostModel()
    if store is not None:
        for key, n, seconds, prior in stored_timings(cells, store, priors):
            model.add(key, n, seconds, prior)
    model.slowdown = busy_factor(threads) if slowdown is None else slowdown
    return model, lambda spec: priors.cell(spec) * model.slowdown


def cell_key(spec: CellSpec) -> tuple[str, str]:
    return spec.task.name, spec.learner.label


def plan_seconds(todo: list[CellSpec], model: CostModel, prior: Callable[[CellSpec], float],
                 jobs: int, before: dict[str, float] | None = None) -> tuple[float, dict[tuple[str, int], list[float]]]:
    """Seconds until ``todo`` (in run order) is done on ``jobs`` workers, and the estimate of
    each cell grouped by (learner, N); a cell a cut left half-trained counts what is left of it
    after the ``before`` seconds (cell id → seconds) it trained."""
    before = before or {}
    costs = [left_of(model.predict(cell_key(spec), spec.n, prior(spec)), before.get(spec.cell_id, 0.0))
             for spec in todo]
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    for spec, cost in zip(todo, costs):
        groups[(spec.learner.name, spec.n)].append(cost)
    order = sorted(range(len(todo)), key=lambda i: -todo[i].n)  # the run starts the largest N first
    return schedule_remaining([costs[i] for i in order], [], max(1, min(jobs, len(todo)))), groups


def check_duration(todo: list[CellSpec], store: Store | None, jobs: int,
                   limit: float = CONFIRM_SECONDS, slowdown: float | None = None,
                   costs: tuple[CostModel, Callable[[CellSpec], float]] | None = None,
                   before: dict[str, float] | None = None) -> float:
    """Refuse, before any training, a run whose estimate exceeds ``limit`` seconds, naming the
    estimate and its largest part; else return the estimate (0 for nothing to train).
    ``slowdown``: as :func:`cost_model`; ``costs``: its result, when already computed;
    ``before``: as :func:`plan_seconds`."""
    if not todo:
        return 0.0
    model, prior = costs or cost_model(todo, store, slowdown)
    total, groups = plan_seconds(todo, model, prior, jobs, before)
    if total > limit:
        (name, n), costs = max(groups.items(), key=lambda kv: sum(kv[1]))
        each = sum(costs) / len(costs)
        part = f"{name} at N={n:,}: {len(costs)} cell(s) of ~{clock_text(each)}"
        if model.slowdown >= 1.2:  # as the plan line says it: the estimate is for a machine this busy
            part += f"; busy ×{model.slowdown:.1f}"
        raise BenchError(f"this run is estimated at {clock_text(total)} ({part}); pass --yes to start it, "
                         f"or lower N")
    return total


def estimate_run(todo: list[CellSpec], store: Store | None, jobs: int, check: bool = True,
                 threads: int | None = None,
                 before: dict[str, float] | None = None) -> tuple[CostModel, Callable[[CellSpec], float]]:
    """:func:`cost_model` for a run about to start (``threads``: how many it runs at once, default
    the machine's cores), refused first (with ``check``) when its estimate exceeds
    :data:`CONFIRM_SECONDS` (:func:`check_duration`, ``before``: as :func:`plan_seconds`); the
    model and prior go on to the run's progress display (``execute(..., costs=...)``), which then
    need not read the store's timings again."""
    model, prior = cost_model(todo, store, threads=threads)
    if check:
        check_duration(todo, store, jobs, costs=(model, prior), before=before)
    return model, prior


__all__ = ["CONFIRM_SECONDS", "Priors", "busy_factor", "check_duration", "estimate_run", "other_work", "cost_model", "plan_seconds", "stored_timings",
           "task_dimension"]
