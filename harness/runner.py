"""Plans the grid task × learner × N × seed and executes it on a backend, writing each finished
cell to the store at once (so an interrupted run loses nothing and resumes where it stopped)."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, TextIO

from .cell import CellSpec, Protocol, run_cell
from .errors import BenchError
from .fingerprint import code_fingerprint, harness_fingerprint
from .learners import Learner
from .provenance import git_revision, versions
from .registry import Registry
from .store import CODE_COLUMNS, FINAL, Store, new_owner
from .tasks import Task


@dataclass
class StaleGroup:
    """Stored cells of one learner whose code changed since they ran."""

    cells: int = 0
    reasons: set[str] = field(default_factory=set)
    since: str = ""  # date of the newest such row: the code changed after it

    def line(self, learner: str, reuse: bool) -> str:
        what = "kept as they are (--reuse-stale)" if reuse else "re-running them (--reuse-stale keeps them)"
        return (f"{learner}: {self.cells} cell(s) stale, {' and '.join(sorted(self.reasons))} since "
                f"{self.since}; {what}")


@dataclass
class RunSummary:
    """What a run did: cells planned, skipped as already finished, and run, by status."""

    planned: int = 0
    skipped: int = 0
    statuses: Counter = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0
    stale: dict[str, StaleGroup] = field(default_factory=dict)  # by learner
    busy: Counter = field(default_factory=Counter)  # cells left to another live process, by owner
    edges: dict[str, Counter] = field(default_factory=dict)  # learner → (param, side, why) → cells

    def edge_lines(self) -> list[str]:
        """One warning per learner whose chosen values stayed on an edge of what was tried."""
        out = []
        for learner, counts in sorted(self.edges.items()):
            cells = counts.pop("cells")
            what = ", ".join(f"{p} ({side}: {why})" for p, side, why in sorted(counts))
            out.append(f"{learner}: chosen on the edge of what was tried in {cells} cell(s): {what}")
            counts["cells"] = cells
        return out

    @property
    def ran(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return self.statuses["failed"] + self.statuses["timeout"]


def stale_reasons(stored: dict[str, Any], code: dict[str, str]) -> list[str]:
    """Why a stored row no longer matches the code that would produce it now (empty: current)."""
    what = {"learner_code": "learner code changed", "task_code": f"task '{stored['task']}' code changed",
            "harness_code": "harness protocol changed"}
    return [what[k] for k in CODE_COLUMNS if stored.get(k) != code[k]]


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
        return out + stale_reasons(row, {"learner_code": code_fingerprint(learner),
                                         "task_code": code_fingerprint(task),
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


class Progress:
    """One line per finished cell (count, what ran, its result, ETA), and a heartbeat line while
    long cells run so the terminal is never silent for more than ``interval`` seconds."""

    def __init__(self, total: int, stream: TextIO | None = None, interval: float = 60.0) -> None:
        self.total, self.done, self.start = total, 0, time.monotonic()
        self.stream = stream or sys.stderr
        self.interval, self.last = interval, time.monotonic()

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.interval / 4):
                if time.monotonic() - self.last >= self.interval and self.done < self.total:
                    self.last = time.monotonic()
                    print(f"[{self.done}/{self.total}] still training… {_clock(self.last - self.start)} elapsed",
                          file=self.stream, flush=True)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def begin(self, summary: RunSummary, todo: int, reuse_stale: bool) -> None:
        """Say what the run will do before it trains: stale cells per learner, then the plan."""
        self.total = todo
        for learner, group in sorted(summary.stale.items()):
            print(group.line(learner, reuse_stale), file=self.stream, flush=True)
        print(f"Plan: {todo} cell(s) to train, {summary.skipped} already in the store.",
              file=self.stream, flush=True)

    def update(self, spec: CellSpec, record: dict[str, Any]) -> None:
        self.done += 1
        self.last = time.monotonic()
        elapsed = self.last - self.start
        eta = elapsed / self.done * (self.total - self.done)
        if record["status"] == "ok":
            result = f"{record['metric']}={record['test_score']:.4g}"
        else:
            result = f"{record['status'].upper()}: {record.get('error') or ''}"
        width = len(str(self.total))
        print(f"[{self.done:>{width}}/{self.total}] {spec.describe()} — {result} "
              f"({record['seconds']:.1f}s) · ETA {_clock(eta)}", file=self.stream, flush=True)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _execute(cells: Iterable[CellSpec], jobs: int, timeout: float | None) -> Iterator[tuple[CellSpec, dict[str, Any]]]:
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        for spec in cells:
            yield spec, run_cell(spec, threads, timeout)
        return
    from joblib import Parallel, delayed

    by_id: dict[str, CellSpec] = {}

    def tasks():
        for spec in cells:
            by_id[spec.cell_id] = spec
            yield delayed(run_cell)(spec, threads, timeout)

    with Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered") as parallel:
        for record in parallel(tasks()):
            yield by_id[record["cell_id"]], record


def execute(cells: list[CellSpec], store: Store, jobs: int = 1, retry_failed: bool = False,
            progress: Progress | None = None, cell_timeout: float | None = None,
            reuse_stale: bool = False) -> RunSummary:
    """Run the cells not yet finished in ``store``; write each row the moment it completes.

    A stored cell whose code fingerprint differs from the code installed now is stale: it is
    re-run (its old row moves to the store's history), or kept with ``reuse_stale``; either way
    ``summary.stale`` says so per learner. Each cell is claimed in the store before it trains,
    so several processes sharing a store train every cell once.
    Ctrl-C stops the run: every finished cell is already stored; ``summary.interrupted`` is set.
    A cell running longer than ``cell_timeout`` seconds is stopped and stored as ``timeout``.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise BenchError(f"--jobs must be a positive integer, got {jobs!r}")
    start = time.monotonic()
    summary = RunSummary(planned=len(cells))
    stored = store.existing(c.cell_id for c in cells)
    todo = []
    for spec in cells:
        row = stored.get(spec.cell_id)
        if row is None:
            todo.append(spec)
            continue
        reasons = stale_reasons(row, spec.code)
        if reasons:
            group = summary.stale.setdefault(spec.learner.name, StaleGroup())
            group.cells += 1
            group.reasons.update(reasons)
            group.since = max(group.since, row["created_at"][:10])
        if (reasons and not reuse_stale) or (retry_failed and row["status"] not in FINAL):
            todo.append(spec)
    # Largest N first; within one N a per-process random order, so that two processes sharing a
    # store start on different cells.
    order = random.Random(os.getpid() ^ time.time_ns())
    todo.sort(key=lambda c: (-c.n, order.random()))
    summary.skipped = len(cells) - len(todo)
    if progress is not None:
        progress.begin(summary, len(todo), reuse_stale)
    owner = new_owner()

    def claimed() -> Iterator[CellSpec]:
        # Claimed one at a time, just before it is handed to a worker: a cell that another
        # process finished or holds since we planned is left to it.
        for spec in todo:
            row = stored.get(spec.cell_id)
            why = store.claim(spec.cell_id, owner, row["created_at"] if row else None)
            if why is None:
                yield spec
                continue
            if why == "done":
                summary.skipped += 1
            else:
                summary.busy[why] += 1
            if progress is not None:
                progress.total -= 1

    with store.heartbeat(owner):
        try:
            for spec, record in _execute(claimed(), min(jobs, max(1, len(todo))), cell_timeout):
                store.put(record)
                summary.statuses[record["status"]] += 1
                if record.get("edges"):
                    counts = summary.edges.setdefault(spec.learner.label, Counter())
                    counts["cells"] += 1
                    counts.update((e["param"], e["side"], e.get("why", "")) for e in record["edges"])
                if progress is not None:
                    progress.update(spec, record)
        except KeyboardInterrupt:
            summary.interrupted = True
    summary.seconds = time.monotonic() - start
    return summary
