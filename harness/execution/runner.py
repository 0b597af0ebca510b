"""Plans the grid task × learner × N × seed and executes it on a backend, writing each finished
cell to the store at once (so an interrupted run loses nothing and resumes where it stopped)."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time
import warnings
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator


from harness.api.checkpoints import DEFAULT_MINUTES, discard, resumable
from harness.api.errors import BenchError, StoreError, one_line
from harness.api.learners import Learner
from harness.api.tasks import FiniteTask, Task
from harness.execution.devices import cell_threads, run_threads
from harness.execution.estimates import cost_model, task_dimension
from harness.execution.progress import CostModel, Progress, run_reported
from harness.execution.provenance import git_revision, versions
from harness.execution.registry import Registry
from harness.execution.summary import RunSummary, StaleGroup
from harness.protocol.cell import (CellSpec, Protocol, checkpoint_folder, checkpoint_identity, harness_fingerprint,
                                   run_cell)
from harness.protocol.fingerprint import code_fingerprint, upgraded
from harness.storage.store import CODE_COLUMNS, FINAL, Store, new_owner


def stale_reasons(stored: dict[str, Any], code: dict[str, str]) -> list[str]:
    """Why a stored row no longer matches the code that would produce it now (empty: current)."""
    what = {"learner_code": "learner code changed", "task_code": f"task '{stored['task']}' code changed",
            "harness_code": "harness protocol changed"}
    return [what[k] for k in CODE_COLUMNS if stored.get(k) != code[k]]


def as_today(row: dict[str, Any], learner: Learner, task: Task) -> dict[str, Any]:
    """``row`` with fingerprints stored under an earlier scheme read as today's scheme's value
    for the same code (see :func:`harness.protocol.fingerprint.upgraded`)."""
    return {**row, "learner_code": upgraded(row.get("learner_code"), "learner", row["learner"], learner),
            "task_code": upgraded(row.get("task_code"), "task", row["task"], task)}


def upgrade_fingerprints(store: Store, registry: Registry) -> int:
    """Rewrite the old-scheme fingerprints in ``store`` whose code is unchanged as today's values
    (the rest stay, and read as stale); the number of rows rewritten."""
    changed = 0
    for kind, table in (("learner", registry.learners), ("task", registry.tasks)):
        for name, code in store.fingerprints(kind):
            obj = table.get(name)
            new = upgraded(code, kind, name, obj) if obj is not None else code
            if new != code:
                changed += store.recode(kind, name, code, new)
    return changed


def staleness(registry: Registry) -> Callable[[dict[str, Any]], list[str]]:
    """A function telling why a stored row is stale against the plugins installed now (empty
    when current, or when its learner or task is not installed: nothing to compare with)."""
    def reasons(row: dict[str, Any]) -> list[str]:
        learner, task = registry.learners.get(row["learner"]), registry.tasks.get(row["task"])
        if learner is None or task is None:
            return []
        if all(row.get(k) is None for k in CODE_COLUMNS):
            return ["ran before code fingerprints were recorded"]
        out = [f"{kind} version changed" for kind, obj in (("learner", learner), ("task", task))
               if row[f"{kind}_version"] != obj.version]
        return out + stale_reasons(as_today(row, learner, task),
                                   {"learner_code": code_fingerprint(learner), "task_code": code_fingerprint(task),
                                    "harness_code": harness_fingerprint()})
    return reasons


def plan(tasks: Iterable[Task], learners: Iterable[Learner], ns: Iterable[int], seeds: Iterable[int],
         protocol: Protocol, registry: Registry | None = None,
         unsupported: list[str] | None = None) -> list[CellSpec]:
    """All cells of the grid, largest N first (long cells start early, so workers finish together).

    Pairs whose learner does not support the task's kind are left out and described in
    ``unsupported``.
    """
    protocol.check()
    ns, seeds, tasks, learners = sorted(set(ns), reverse=True), sorted(set(seeds)), list(tasks), list(learners)
    for n in ns:
        if not isinstance(n, int) or n < protocol.min_n():
            raise BenchError(f"N={n!r} is too small: each N needs at least {protocol.min_n()} samples "
                             f"(one to train on, one to validate on)")
    base = (("versions", versions()), ("git_rev", git_revision()))
    cells = []
    for task in tasks:
        check_finite_size(task, ns)
        protocol.check_task(task)  # e.g. --label-sigma on a classification task: before any training
        for learner in learners:
            if task.kind not in learner.supports:
                if unsupported is not None:
                    unsupported.append(f"learner '{learner.name}' does not support {task.kind} "
                                       f"task '{task.name}'")
                continue
            prov = base + (("device", learner.device),)
            if registry is not None:
                prov += (("task_plugin", str(registry.origin("task", task.name))),
                         ("learner_plugin", str(registry.origin("learner", learner.name))))
            for n in ns:
                for seed in seeds:
                    cells.append(CellSpec(task, learner, n, seed, protocol, prov))
    return cells


def check_finite_size(task: Task, ns: Iterable[int]) -> None:
    """Refuse an N larger than a finite dataset's training pool (its size minus its test set)
    now, at plan time, rather than in every cell of that N."""
    if not isinstance(task, FiniteTask):
        return
    available = len(task.load()[0]) - task.test_size
    too_large = sorted(n for n in set(ns) if n > available)
    if too_large:
        sizes = ", ".join(f"N={n}" for n in too_large)
        raise BenchError(f"task '{task.name}' holds {available} training points; {sizes} "
                         f"{'is' if len(too_large) == 1 else 'are'} too large (largest N: {available})")


def available_memory() -> int | None:
    """Bytes that new allocations can still get without swapping: MemAvailable on Linux (capped
    by a cgroup v2 memory limit), free physical pages on other POSIX systems; None if unknown."""
    found = []
    try:
        with open("/proc/meminfo") as fh:
            found += [int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:")]
    except (OSError, ValueError, IndexError):
        pass
    try:  # a container's limit, which /proc/meminfo does not show
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    return max(0, min(found)) if found else None


def data_memory(task: Task, n: int, protocol: Protocol, d: int) -> int:
    """Rough peak bytes of the data one cell holds: N training and n_test test points of d
    float64 features plus a label, three times over (the stream's chunks and their concatenation,
    then the train/validation split's copies; five with --zou-gu-mu's mapped copies), and a
    finite task's whole pool. Peak RSS of a sin3 cell with a learner that only takes a mean
    (5000 test points): N = 10⁶ measured 101 MiB, this gives 115 MiB; N = 3·10⁶ 289 vs 344 MiB."""
    n_test = task.test_size if isinstance(task, FiniteTask) else protocol.n_test
    copies = 3 if protocol.zou_gu_mu is None else 5
    pool = 0
    if isinstance(task, FiniteTask):
        X, y = task.load()
        pool = X.nbytes + y.nbytes
    return copies * 8 * (n + n_test) * (d + 1) + pool


def cell_memory(spec: CellSpec, d: int) -> tuple[int, int]:
    """(learner, data) peak bytes of one cell: the learner's largest estimate over its grid,
    both for selection (the training part of the split) and for the refit on all N."""
    n = spec.n
    n_val = min(max(1, int(round(spec.protocol.val_fraction * n))), n - 1)  # as cell.split_indices
    learner = 0
    for params in spec.learner.param_grid(spec.task, n):
        for size in (n - n_val, n):
            try:
                learner = max(learner, int(spec.learner.memory_estimate(size, d, params)))
            except Exception as exc:
                raise BenchError(f"learner '{spec.learner.name}' could not estimate its memory "
                                 f"({one_line(exc)}); fix the plugin, or pass --yes to skip the "
                                 f"memory check") from None
    return learner, data_memory(spec.task, n, spec.protocol, d)


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if nbytes < 1024 or unit == "EiB":
            break
        nbytes /= 1024
    return f"{nbytes:.0f} {unit}" if nbytes >= 10 or unit == "bytes" else f"{nbytes:.1f} {unit}"


def check_memory(cells: list[CellSpec], jobs: int = 1, available: int | None = None) -> None:
    """Refuse, before any training, cells whose estimated peak memory exceeds what the machine
    has available (``available`` bytes, default :func:`available_memory`; no check if unknown).

    A cell needs its learner's estimate (:meth:`Learner.memory_estimate`) plus its data; ``jobs``
    workers may run the largest cells side by side, so their sum must fit too. The interpreter
    and its libraries (a few hundred MiB per worker, torch included) are not counted.
    """
    available = available_memory() if available is None else available
    if available is None or not cells:
        return
    dims: dict[int, int] = {}
    needs: dict[tuple[int, int, int], tuple[int, int, CellSpec]] = {}  # (task, learner, N) -> need
    count: Counter = Counter()  # cells per (task, learner, N): one per seed
    for spec in cells:
        key = (id(spec.task), id(spec.learner), spec.n)
        count[key] += 1
        if key in needs:
            continue
        if id(spec.task) not in dims:  # d from a few points, as the cell will see them
            dims[id(spec.task)] = task_dimension(spec.task, spec.protocol.zou_gu_mu is not None)
        needs[key] = (*cell_memory(spec, dims[id(spec.task)]), spec)
    over = sorted((v for v in needs.values() if v[0] + v[1] > available), key=lambda v: -(v[0] + v[1]))
    if over:
        learner, data, spec = over[0]
        others = sorted({f"{s.learner.name} on {s.task.name}" for _, _, s in over[1:]}
                        - {f"{spec.learner.name} on {spec.task.name}"})
        parts = f"{_size(learner)} for the learner" if learner else "the learner gives no estimate"
        raise BenchError(f"{spec.learner.name} on {spec.task.name} at N={spec.n} needs ~{_size(learner + data)} "
                         f"({parts}, {_size(data)} for the data); this machine has {_size(available)} available"
                         + (f" (also too large: {', '.join(others)})" if others else "")
                         + "; lower N, or pass --yes to start it anyway")
    # The largest cells start first (see execute), so up to `jobs` of the largest run side by side.
    per_cell = sorted((v[0] + v[1] for key, v in needs.items() for _ in range(count[key])), reverse=True)
    together = sum(per_cell[:jobs])
    if jobs > 1 and together > available:
        raise BenchError(f"--jobs {jobs} runs up to {jobs} cells at once, together ~{_size(together)}; this "
                         f"machine has {_size(available)} available; use fewer --jobs, lower N, or pass "
                         f"--yes to start it anyway")


# A backend other than the local one: trains the cells it is handed (taking each from the
# iterator only when it can start it) and yields (spec, record) as each finishes.
Backend = Callable[[Iterable[CellSpec], "float | None"], Iterator[tuple[CellSpec, dict[str, Any]]]]


def _execute(cells: Iterable[CellSpec], jobs: int, timeout: float | None,
             progress: Progress | None = None) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
    threads = cell_threads(jobs)
    if jobs == 1:
        for spec in cells:
            if progress is None:
                yield spec, run_cell(spec, threads, timeout)
                continue
            with progress.cell(spec):  # epoch reports go straight to the display
                record = run_cell(spec, threads, timeout)
            yield spec, record
        return
    from joblib import Parallel, delayed

    by_id: dict[str, CellSpec] = {}
    with progress.workers() if progress is not None else contextlib.nullcontext() as folder:

        def tasks():
            for spec in cells:
                by_id[spec.cell_id] = spec
                # with a display, workers write their epoch reports to a file the display polls
                yield (delayed(run_reported)(spec, threads, timeout, folder) if folder
                       else delayed(run_cell)(spec, threads, timeout))

        with Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered") as parallel:
            outputs = parallel(tasks())
            try:
                for record in outputs:
                    yield by_id[record["cell_id"]], record
            finally:
                # Closing joblib's generator early (Ctrl-C, SIGTERM) kills the workers, so no cell
                # trains on after the run has stopped; the warning that it cancelled their tasks
                # repeats what the run's "Interrupted" line says.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", r".*tasks (which were still being processed|have been "
                                            r"successfully executed but not used)", UserWarning)
                    outputs.close()


def _to_train(row: dict[str, Any] | None, stale: list[str], retry_failed: bool, reuse_stale: bool) -> bool:
    """Whether a cell with stored ``row`` (None: not stored) must train in this run."""
    if row is None:
        return True
    return bool(stale and not reuse_stale) or (retry_failed and row["status"] not in FINAL)


def pending(cells: list[CellSpec], store: Store, retry_failed: bool = False,
            reuse_stale: bool = False) -> list[CellSpec]:
    """The cells a run would train (not yet stored, stale, or failed with ``retry_failed``)."""
    stored = store.existing(c.cell_id for c in cells)
    def reasons(c: CellSpec) -> list[str]:
        row = stored.get(c.cell_id)
        return [] if row is None else stale_reasons(as_today(row, c.learner, c.task), c.code)
    return [c for c in cells if _to_train(stored.get(c.cell_id), reasons(c), retry_failed, reuse_stale)]


def checkpoint_root(store: Store) -> Path:
    """Where a store's cells keep their checkpoints: ``<dir>/<name>-checkpoints/`` beside
    ``<dir>/<name>.sqlite`` (git-ignored), one folder per cell in progress."""
    return store.path.with_name(store.path.stem + "-checkpoints")


def trained_before(cells: list[CellSpec], store: Store) -> dict[str, float]:
    """The cells among ``cells`` that a cut left half-trained and a run would resume from their
    checkpoints beside ``store`` (this code, this grid): cell id → seconds trained before the cut."""
    return resumable(checkpoint_root(store), {c.cell_id: checkpoint_identity(c) for c in cells})


def execute(cells: list[CellSpec], store: Store, jobs: int = 1, retry_failed: bool = False,
            progress: Progress | None = None, cell_timeout: float | None = None,
            reuse_stale: bool = False, estimate: tuple[float, str] | None = None,
            backend: Backend | None = None,
            costs: tuple[CostModel, Callable[[CellSpec], float]] | None = None,
            checkpoint_minutes: float | None = DEFAULT_MINUTES) -> RunSummary:
    """Run the cells not yet finished in ``store``; write each row the moment it completes.

    A stored cell whose code fingerprint differs from the code installed now is stale: it is
    re-run (its old row moves to the store's history), or kept with ``reuse_stale``; either way
    ``summary.stale`` says so per learner. Each cell is claimed in the store before it trains,
    so several processes sharing a store train every cell once.
    Ctrl-C stops the run: every finished cell is already stored; ``summary.interrupted`` is set.
    A cell running longer than ``cell_timeout`` seconds is stopped and stored as ``timeout``.
    ``progress`` shows the plan (with ``estimate`` = (seconds per cell, where from) when no stored
    timing gives one), the cells in flight with their epochs, and each finished cell.
    ``costs`` = (cost model, prior) from :func:`harness.execution.estimates.estimate_run`, else
    computed here for the display.
    ``backend`` trains the cells elsewhere (``backend(cells, cell_timeout)`` yields (spec,
    record) pairs, e.g. :class:`harness.execution.backends.DaskBackend`); default: this process, or
    ``jobs`` joblib worker processes. This process claims and stores every cell either way.
    Network cells save their training state every ``checkpoint_minutes`` (None or 0: never) in
    :func:`checkpoint_root`, so a cell cut off resumes where it was; a cell's checkpoints are
    removed once its row is stored.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise BenchError(f"--jobs must be a positive integer, got {jobs!r}")
    start = time.monotonic()
    summary = RunSummary(planned=len(cells))
    stored = store.existing(c.cell_id for c in cells)
    root = checkpoint_root(store)
    left = {p.name for p in root.iterdir()} if root.is_dir() else set()  # cells with checkpoints here
    todo = []
    for spec in cells:
        row = stored.get(spec.cell_id)
        reasons = stale_reasons(as_today(row, spec.learner, spec.task), spec.code) if row is not None else []
        if reasons:
            group = summary.stale.setdefault(spec.learner.name, StaleGroup())
            group.cells += 1
            group.reasons.update(reasons)
            group.since = max(group.since, row["created_at"][:10])
        if _to_train(row, reasons, retry_failed, reuse_stale):
            todo.append(spec)
        elif spec.cell_id in left and row["status"] == "ok" and not reasons:
            # a cell stored while its checkpoints stayed behind (trained on another machine and
            # merged, or stored by another process that was cut before it cleaned up): nothing
            # will resume them, and `bench show` would list the cell in progress for ever
            discard(root / spec.cell_id)
    # Largest N first; within one N a per-process random order, so that two processes sharing a
    # store start on different cells.
    order = random.Random(os.getpid() ^ time.time_ns())
    todo.sort(key=lambda c: (-c.n, order.random()))
    saved: dict[str, float] = {}  # cells that resume mid-cell → seconds trained before the cut
    if checkpoint_minutes:
        folder = str(root.resolve())
        todo = [replace(spec, checkpoints=(folder, float(checkpoint_minutes))) for spec in todo]
        # Within one N, the cells a cut left half-trained go first (a stable sort keeps the random
        # order otherwise): their saved work lands soonest instead of waiting behind fresh cells.
        saved = trained_before(todo, store)
        todo.sort(key=lambda c: (-c.n, c.cell_id not in saved))
        summary.resuming = len(saved)
    summary.skipped = len(cells) - len(todo)
    if progress is not None:
        # each cell's cost model, rescaled by the stored timings of this run's learners (any
        # task, any grid), gives the plan line its estimate and the ETA its start
        progress.calibrate(*(costs or cost_model(todo, store, threads=run_threads(jobs, len(todo), backend is not None))))
        # cells another process on this store trains now: left to it (claimed() skips them unless
        # it dies first), so not in this run's estimate
        progress.begin(summary, todo, reuse_stale, estimate, saved, store.held(c.cell_id for c in todo))
    owner = new_owner()

    handed: list[CellSpec] = []  # claimed and given to a worker

    def others(ids: list[str]) -> tuple[set[str], set[str]]:
        # for the ETA: the cells another run on this store holds now, and those it stored since
        # the plan (their row changed, as claim() sees it); a busy store just skips one look
        mine = {c.cell_id for c in handed}
        ids = [c for c in ids if c not in mine]
        try:
            held = {c for c, who in store.held(ids).items() if who != owner}
            now = store.existing(ids)
        except (StoreError, sqlite3.Error):
            return set(), set()
        moved = {c for c in ids if (now.get(c) or {}).get("created_at") != (stored.get(c) or {}).get("created_at")}
        return held, moved

    if progress is not None:
        progress.watch(others)

    def claimed() -> Iterator[CellSpec]:
        # Claimed one at a time, just before it is handed to a worker: a cell that another
        # process finished or holds since we planned is left to it.
        for spec in todo:
            row = stored.get(spec.cell_id)
            why = store.claim(spec.cell_id, owner, row["created_at"] if row else None)
            if why is None:
                handed.append(spec)
                yield spec
                continue
            if why == "done":
                summary.skipped += 1
                if spec.checkpoints is not None:  # another process stored it
                    discard(checkpoint_folder(spec))
            else:
                summary.busy[why] += 1
            if progress is not None:
                progress.drop(spec)

    with store.heartbeat(owner):
        try:
            results = (_execute(claimed(), min(jobs, max(1, len(todo))), cell_timeout, progress) if backend is None
                       else backend(claimed(), cell_timeout))
            # closed on the way out even when Ctrl-C lands here rather than inside it, so the
            # workers stop now rather than when this frame is collected
            with contextlib.closing(results) if hasattr(results, "close") else contextlib.nullcontext():
                for spec, record in results:
                    store.put(record, owner)
                    summary.stored.append(spec.cell_id)
                    if spec.checkpoints is not None:
                        discard(checkpoint_folder(spec))
                    summary.statuses[record["status"]] += 1
                    if record.get("edges"):
                        counts = summary.edges.setdefault(spec.learner.label, Counter())
                        counts["cells"] += 1
                        counts.update((e["param"], e["side"], e.get("why", "")) for e in record["edges"])
                    if progress is not None:
                        progress.update(spec, record)
        except KeyboardInterrupt:
            summary.interrupted = True
            # cells the stop left half-trained with checkpoints: a later run resumes them, so this
            # run's time went into them too (its record says so)
            done = set(summary.stored)
            summary.cut = list(trained_before([c for c in handed if c.cell_id not in done], store))
    summary.seconds = time.monotonic() - start
    return summary
