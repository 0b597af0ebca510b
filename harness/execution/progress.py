"""What a run shows while it trains: the plan before any cell starts, then a live bar on a
terminal (cells done with an ETA, the cells running now and the epoch each has reached) or, when
stderr is not a terminal, one plain line per finished cell.

Epochs reach the display through :func:`harness.report_epoch` (:mod:`harness.api.epochs`), which
a learner's training loop calls once per epoch. In-process it updates the display directly; in a joblib (loky) worker it writes the
cell's state to a small file named after the cell in a folder the parent polls — a plain file
survives a worker that dies and needs no server process or queue proxy pickled into the worker.

The ETA comes from :class:`CostModel` and a simulation of the remaining cells on the run's
workers: cells run largest N first, so the mean time of the cells so far — the estimator this
replaced — overestimates the rest. Each cell's cost is its learner's own estimate
(:meth:`harness.Learner.time_estimate`, known before anything trains) rescaled by the timings
of similar stored and finished cells (:mod:`harness.execution.estimates`); without that estimate
(a caller that gives none) it is c·N^a fitted on the timings alone.

Past ~500 lines because the cost model lives with the display it feeds: the plan line, the ETA on
every cell line, the live bar and the heartbeat all read it under the display's lock.
"""

from __future__ import annotations

import heapq
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TextIO

from harness.api.epochs import report_epoch, reporting

if TYPE_CHECKING:  # only for annotations: this module is imported by `import harness`
    from harness.execution.summary import RunSummary
    from harness.protocol.cell import CellSpec

QUIET, NORMAL, VERBOSE = 0, 1, 2


# With one N seen for a learner (the first quarter of a run: the largest N go first), its cost is
# taken to grow like N^1.5: the median slope of log seconds against log N between consecutive
# N ≥ 200 of the quick suite's curves in the committed store is 1.46 (12 slopes, 0.37–2.03);
# over every stored curve, with the fixed-epoch published-protocol suites (about linear), it is
# 1.11 — there the first-quarter ETA runs high. benchmarks/eta_check.py recomputes both.
# Fitted exponents are kept in [0, 3]: two noisy timings at close Ns can give any slope, and no
# learner here costs more than a cubic solve.
PRIOR_EXPONENT = 1.5
EXPONENT_RANGE = (0.0, 3.0)
# A measured ÷ estimated ratio is trusted as is within a factor TRUSTED_SPAN in N of the timing it
# came from; farther out its logarithm shrinks as span ÷ distance (in log N), toward the cost
# model alone: a ratio measured at N = 100, where a fit's fixed overheads dominate, says little
# about N = 10⁶, where the model's N² or N³ term does.
TRUSTED_SPAN = 4.0
OVERDUE_SHARE = 0.25


def left_of(cost: float, ran: float) -> float:
    """Seconds still to go of a cell predicted at ``cost`` that has trained ``ran`` seconds (in
    this run, or before a cut that it resumes from): past its prediction it is taken to need
    OVERDUE_SHARE of its overrun again rather than nothing, so the ETA does not sit at 0:00."""
    return cost - ran if ran <= cost else OVERDUE_SHARE * (ran - cost)


@dataclass
class CellState:
    """A running cell as the display sees it: when it started (on the display's clock), which
    fit of the cell is training (selection trials, then the refit) and its epochs so far."""

    started: float
    fit: int = 0
    done: int = 0
    total: int = 0

    def epoch(self, done: int, total: int) -> None:
        if not self.fit or done <= 1 or done < self.done:  # a new fit restarts at epoch 1
            self.fit += 1
        self.done, self.total = done, total

    def text(self) -> str:
        return f"fit {self.fit}, epoch {self.done}/{self.total}" if self.fit else "training"


def _write_state(path: Path, state: CellState) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{state.fit} {state.done} {state.total}", encoding="ascii")
    os.replace(tmp, path)  # atomic: the parent never reads half a line


def run_reported(spec: CellSpec, threads: int | None, timeout: float | None, folder: str) -> dict[str, Any]:
    """:func:`harness.protocol.cell.run_cell` in a worker process, with its epoch reports written to
    ``folder/<cell_id>`` ("fit done total", rewritten at most every :data:`REPORT_EVERY` s); the
    file appears when the cell starts, which is how the parent learns which cells run."""
    from harness.protocol.cell import run_cell

    path = Path(folder) / spec.cell_id
    state = CellState(0.0)

    def write(done: int, total: int) -> None:
        state.epoch(done, total)
        try:
            _write_state(path, state)
        except OSError:  # the parent removed the folder (the run ended): progress is cosmetic
            pass

    _write_state(path, state)
    with reporting(write):
        return run_cell(spec, threads, timeout)


def _read_state(path: Path) -> tuple[int, int, int] | None:
    try:
        fit, done, total = (int(v) for v in path.read_text(encoding="ascii").split())
    except (OSError, ValueError):  # mid-replace or removed: the next poll reads it
        return None
    return fit, done, total


def _key(spec: CellSpec) -> tuple[str, str]:
    return spec.task.name, spec.learner.label


class CostModel:
    """Predicts a cell's seconds from the timings of cells finished so far (stored or in this run).

    Given the cell's ``prior`` (its learner's cost-model seconds), the prediction is the prior
    times measured ÷ prior at the nearest N (geometric mean over the timings at that N) of the
    most similar timed cells: the same (task, learner label), else the same label on any task,
    else the same learner with any grid; the prior alone without any. A ratio from an N far from
    the cell's counts less (:data:`TRUSTED_SPAN`).

    Without a prior: per (task, learner), seconds ≈ c·N^a, a least-squares line through log(mean
    seconds at each N) against log N. With timings at a single N the exponent is
    :data:`PRIOR_EXPONENT`; a learner with no timing on this task borrows its timings on other
    tasks, and one with none at all is predicted as the geometric mean of the other learners'
    predictions at that N.
    """

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        # log(measured ÷ prior) by level (the key, ("", label), ("", "", name)) and N
        self.ratios: dict[tuple[str, ...], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        self._fits: dict[Any, tuple[float, float] | None] = {}
        self.slowdown = 1.0  # how much the priors were scaled for the machine's load (said on the plan line)

    def add(self, key: tuple[str, str], n: int, seconds: float, prior: float | None = None) -> None:
        """Record that a cell of ``key`` = (task, learner label) at ``n`` took ``seconds`` where its
        cost model said ``prior`` (None: unknown)."""
        seconds = max(float(seconds), 1e-3)
        self.seconds[key][n].append(seconds)
        if prior is not None and prior > 0:
            for level in _levels(key):
                self.ratios[level][n].append(math.log(seconds / prior))
        self._fits.clear()

    def ratio(self, key: tuple[str, str], n: int) -> float | None:
        """measured ÷ prior for a cell of ``key`` at ``n`` (see the class docstring); None
        without any timing of a similar cell."""
        for level in _levels(key):
            by_n = self.ratios.get(level)
            if not by_n:
                continue
            near = min(by_n, key=lambda m: (abs(math.log(m / n)), -m))
            logs = by_n[near]
            value = sum(logs) / len(logs)
            distance = abs(math.log(near / n))
            if distance > math.log(TRUSTED_SPAN):
                value *= math.log(TRUSTED_SPAN) / distance
            return math.exp(value)
        return None

    def calibrated(self, key: tuple[str, str]) -> bool:
        """Whether a cell of ``key`` has any similar timed cell to rescale its prior by."""
        return self.similarity(key) is not None

    def similarity(self, key: tuple[str, str]) -> int | None:
        """How close the timed cells that rescale a cell of ``key`` are: 0 the same task and
        grid, 1 the same grid on another task, 2 only the learner with another grid (whose
        cost may grow otherwise with width or epochs than its cost model says); None: untimed."""
        return next((i for i, level in enumerate(_levels(key)) if self.ratios.get(level)), None)

    def __bool__(self) -> bool:
        return bool(self.seconds)

    @staticmethod
    def _fit(by_n: dict[int, list[float]]) -> tuple[float, float] | None:
        """(log c, a) of c·N^a through the mean seconds at each N; None without timings."""
        points = [(math.log(n), math.log(sum(v) / len(v))) for n, v in by_n.items() if v]
        if not points:
            return None
        mx = sum(x for x, _ in points) / len(points)
        my = sum(y for _, y in points) / len(points)
        sxx = sum((x - mx) ** 2 for x, _ in points)
        slope = PRIOR_EXPONENT if sxx == 0 else sum((x - mx) * (y - my) for x, y in points) / sxx
        slope = min(max(slope, EXPONENT_RANGE[0]), EXPONENT_RANGE[1])
        return my - slope * mx, slope

    def _line(self, which: Any) -> tuple[float, float] | None:
        if which not in self._fits:
            if isinstance(which, tuple):
                by_n = self.seconds.get(which, {})
            else:  # a learner label: its timings on every task
                by_n = defaultdict(list)
                for (_, learner), timings in self.seconds.items():
                    if learner == which:
                        for n, v in timings.items():
                            by_n[n].extend(v)
            self._fits[which] = self._fit(by_n)
        return self._fits[which]

    def predict(self, key: tuple[str, str], n: int, prior: float | None = None) -> float | None:
        """Predicted seconds of a cell of ``key`` at ``n`` whose cost model says ``prior``
        seconds; without a prior, None before any timing."""
        if prior is not None:
            ratio = self.ratio(key, n)
            return prior * (1.0 if ratio is None else ratio)
        line = self._line(key) or self._line(key[1])
        if line is not None:
            return math.exp(line[0] + line[1] * math.log(n))
        others = [self._line(k) for k in self.seconds]
        logs = [c + a * math.log(n) for c, a in filter(None, others)]
        return math.exp(sum(logs) / len(logs)) if logs else None


def _levels(key: tuple[str, str]) -> tuple[tuple[str, ...], ...]:
    """The similarity levels of a (task, label) key, closest first: itself, its label on any
    task, its learner (the label's name part) with any grid."""
    name = key[1].split(" (", 1)[0]
    return key, ("", key[1]), ("", "", name)


def naive_remaining(elapsed: float, done: int, total: int) -> float | None:
    """The ETA this module replaced: mean seconds per finished cell × cells left."""
    return elapsed / done * (total - done) if done else None


def schedule_remaining(costs: Iterable[float], busy: Iterable[float], workers: int) -> float:
    """Seconds until ``workers`` finish: each is busy for its ``busy`` seconds (running cells'
    remaining time; idle workers 0), then takes the next of ``costs`` in order."""
    free = sorted(list(busy)[:workers])
    free += [0.0] * (workers - len(free))
    heapq.heapify(free)
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free)


def clock_text(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class Progress:
    """The display of one run: :meth:`begin` prints the plan, :meth:`running` / the worker files
    follow the cells in flight, :meth:`update` records each finished cell.

    ``verbosity``: :data:`QUIET` (the plan line only; the CLI adds errors and the summary),
    :data:`NORMAL` (a line per finished cell) or :data:`VERBOSE` (also its chosen parameters and
    grid edges). ``live`` (default: whether ``stream`` is a terminal) draws a rich progress bar;
    otherwise lines are plain, without carriage returns, and a heartbeat line is printed when
    nothing was said for ``interval`` seconds. ``clock`` (default :func:`time.monotonic`) is
    injectable so that tests run on a fake clock; ``jobs`` is the number of cells run at once.
    """

    def __init__(self, total: int = 0, stream: TextIO | None = None, interval: float = 60.0, *,
                 verbosity: int = NORMAL, live: bool | None = None, jobs: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.clock, self.verbosity, self.jobs, self.interval = clock, verbosity, jobs, interval
        if live is None:
            live = bool(getattr(self.stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"
        self.live = live and verbosity > QUIET
        self.total, self.done = total, 0
        self.start = self.last = clock()
        self.model = CostModel()
        self.prior: Callable[[CellSpec], float] | None = None  # each cell's cost-model seconds
        self.todo: dict[str, CellSpec] = {}  # cells not yet finished, in run order
        self.before: dict[str, float] = {}  # seconds cells a cut left half-trained trained before it
        self.running: dict[str, CellState] = {}
        # cells another live run on the store holds (left out of the ETA), and how to look again
        self.elsewhere: set[str] = set()
        self.others: Callable[[list[str]], tuple[set[str], set[str]]] | None = None
        self.watched = self.start
        self.folder: str | None = None
        self.lock = threading.RLock()
        self.console_width: int | None = None  # the live bar's width (None: the terminal's)
        self._bar: Any = None  # rich.progress.Progress while live
        self._rows: dict[str, Any] = {}  # cell_id -> rich task id

    # The plan -----------------------------------------------------------------------------

    def seed(self, timings: Iterable[tuple[CellSpec, float]]) -> None:
        """Teach the cost model cells' earlier timings (stored rows), before the run starts."""
        for spec, seconds in timings:
            if seconds is not None:
                self.model.add(_key(spec), spec.n, seconds, self._prior(spec))

    def calibrate(self, model: CostModel, prior: Callable[[CellSpec], float]) -> None:
        """Estimate from the start: ``prior`` gives each cell's cost-model seconds, ``model``
        holds the stored timings that rescale them (:func:`harness.execution.estimates.cost_model`)."""
        with self.lock:
            self.model, self.prior = model, prior

    def _prior(self, spec: CellSpec) -> float | None:
        return None if self.prior is None else self.prior(spec)

    def begin(self, summary: RunSummary, todo: list[CellSpec], reuse_stale: bool,
              fallback: tuple[float, str] | None = None, before: dict[str, float] | None = None,
              held: Iterable[str] = ()) -> None:
        """Say what the run will do before it trains: stale cells per learner, then the plan —
        cells to train, cells reused, and an estimate of the time (from the cost model seeded
        with stored timings, less what cells a cut left half-trained did before it, ``before``:
        cell id → seconds; else ``fallback`` = (seconds per cell, where from), else said to
        follow). Cells another live run on the store holds now (``held``: their ids) are counted
        apart and left out of the estimate: this run will leave them to it."""
        with self.lock:
            self.todo = {spec.cell_id: spec for spec in todo}
            self.before = dict(before or {})
            held = self.elsewhere = set(held) & set(self.todo)
            self.total, self.start = len(todo), self.clock()
            self.watched = self.start
            for learner, group in sorted(summary.stale.items()):
                self._say(group.line(learner, reuse_stale), always=True)
            estimate = self.remaining()
            if not todo:
                how = ""
            elif estimate is not None and self.prior is not None:
                # what the estimate stands on, tersely (the line fits 100 columns): cells with no
                # stored timing of a similar cell ("untimed") rest on their cost model alone, and
                # a busy machine scaled every cell
                levels = [self.model.similarity(_key(spec)) for spec in todo if spec.cell_id not in held]
                untimed, elsewhere = levels.count(None), levels.count(2)
                notes = (["no stored timings"] if untimed == len(levels) else [f"{untimed} untimed"] if untimed else [])
                # timed only on another grid of the learner (another width, another epoch cap): the
                # estimate leans on the cost model's shape, which was far short for allen-zhu-fig1
                # paper-n's first width-1000 cells (issue #25; docs/usage.md, "Progress")
                notes += [f"{elsewhere} timed on other grids only"] if elsewhere else []
                # cells a cut left half-trained count their predicted time less what they trained
                # before the cut (their checkpoints keep it)
                notes += [f"{summary.resuming} resume mid-cell"] if summary.resuming else []
                if self.model.slowdown >= 1.2:
                    notes.append(f"busy ×{self.model.slowdown:.1f}")
                how = f"; estimate {clock_text(estimate)}" + (f" ({'; '.join(notes)})" if notes else "")
            elif estimate is not None:
                how = f"; estimate {clock_text(estimate)} from the stored timings of {self._timings()} cell(s)"
            elif fallback is not None:
                how = f"; estimate {clock_text(fallback[0] * (len(todo) - len(held)))} ({fallback[1]})"
            else:
                how = "; no estimate yet (no stored timings of these cells), the ETA follows the first cells"
            others = f" ({len(held)} held by another run)" if held else ""
            self._say(f"Plan: {len(todo)} cell(s) to train{others}, {summary.skipped} already in the store{how}.",
                      always=True)
            if self.live and todo:
                self._start_bar()

    def watch(self, others: Callable[[list[str]], tuple[set[str], set[str]]]) -> None:
        """Look again, every ``interval`` seconds while the run lasts, at the planned cells that
        other runs sharing the store took: ``others(ids)`` returns (the ids another live run holds,
        the ids another run stored since the plan). Held cells leave the ETA while held (they
        come back if their owner dies); stored ones leave the run, as :meth:`drop` does when the
        run reaches them. Without this, a run beside another counted the other's cells in its
        ETA until it reached them (issue #25: 3:51 against the other run's 2:44)."""
        self.others = others

    def _look_again(self) -> None:
        if self.others is None or self.clock() - self.watched < self.interval:
            return
        self.watched = self.clock()
        with self.lock:
            ids = [c for c in self.todo if c not in self.running]
        if not ids:
            return
        held, stored = self.others(ids)
        with self.lock:
            self.elsewhere = set(held) & set(self.todo)
            for cell_id in stored:
                spec = self.todo.get(cell_id)
                if spec is not None and cell_id not in self.running:
                    self.drop(spec)

    def _held_elsewhere(self) -> set[str]:
        # a held cell this run took over since (its owner died) is running here: counted again
        return self.elsewhere - set(self.running)

    def _timings(self) -> int:
        return sum(len(v) for by_n in self.model.seconds.values() for v in by_n.values())

    def drop(self, spec: CellSpec) -> None:
        """A planned cell that will not run here (another process finished or holds it)."""
        with self.lock:
            if self.todo.pop(spec.cell_id, None) is not None:
                self.total -= 1
                self.elsewhere.discard(spec.cell_id)
                self._refresh()

    # Cells in flight ----------------------------------------------------------------------

    def started(self, cell_id: str) -> CellState:
        with self.lock:
            state = self.running.get(cell_id)
            if state is None:
                state = self.running[cell_id] = CellState(self.clock())
            return state

    def epoch(self, cell_id: str, done: int, total: int) -> None:
        """An epoch report of an in-process cell."""
        with self.lock:
            self.started(cell_id).epoch(done, total)

    @contextmanager
    def cell(self, spec: CellSpec) -> Iterator[None]:
        """Run ``spec`` in this process with its epoch reports shown."""
        self.started(spec.cell_id)
        self._refresh()
        with reporting(lambda done, total: self.epoch(spec.cell_id, done, total)):
            yield

    @contextmanager
    def workers(self) -> Iterator[str]:
        """A folder for worker processes' epoch files (see :func:`run_reported`), removed after."""
        self.folder = tempfile.mkdtemp(prefix="conceptbench-progress-")
        try:
            yield self.folder
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def poll(self) -> None:
        """Read the worker files: cells that started, and the fit and epoch each has reached."""
        folder = self.folder
        if folder is None:
            return
        try:
            names = [p for p in Path(folder).iterdir() if p.suffix != ".tmp"]
        except OSError:
            return
        with self.lock:
            for path in names:
                if path.name not in self.todo:
                    continue
                read = _read_state(path)
                if read is not None:
                    state = self.started(path.name)
                    state.fit, state.done, state.total = read

    # Finished cells -----------------------------------------------------------------------

    def update(self, spec: CellSpec, record: dict[str, Any]) -> None:
        """A cell finished: record its time, print its line (unless quiet), move the bar."""
        with self.lock:
            self.done += 1
            self.todo.pop(spec.cell_id, None)
            self.running.pop(spec.cell_id, None)
            if self.folder is not None:
                Path(self.folder, spec.cell_id).unlink(missing_ok=True)
            self.model.add(_key(spec), spec.n, record["seconds"], self._prior(spec))
            if self.verbosity > QUIET:
                eta = self.remaining()
                if record["status"] == "ok":
                    result = f"{record['metric']}={record['test_score']:.4g}"
                else:
                    result = f"{record['status'].upper()}: {record.get('error') or ''}"
                width = len(str(self.total))
                self._say(f"[{self.done:>{width}}/{self.total}] {spec.describe()} — {result} "
                          f"({record['seconds']:.1f}s) · ETA {'?' if eta is None else clock_text(eta)}")
                if self.verbosity >= VERBOSE:
                    self._say("    " + _details(record))
            self.last = self.clock()
            self._refresh()

    # The ETA ------------------------------------------------------------------------------

    def remaining(self, now: float | None = None, skip: Iterable[str] = ()) -> float | None:
        """Estimated seconds until the last cell finishes: the cost model's prediction of every
        unfinished cell less its time so far (in this run, and before a cut it resumes from:
        :func:`left_of`), scheduled in run order on ``jobs`` workers, leaving out the cells in
        ``skip`` and those another run holds (:meth:`watch`). None until the model has a timing
        or a prior."""
        if not self.model and self.prior is None:
            return None
        now = self.clock() if now is None else now
        with self.lock:
            skip = set(skip) | self._held_elsewhere()
            busy, costs = [], []
            for cell_id, spec in self.todo.items():
                if cell_id in skip:
                    continue
                cost = self.model.predict(_key(spec), spec.n, self._prior(spec))
                before = self.before.get(cell_id, 0.0)  # trained before a cut it resumes from
                state = self.running.get(cell_id)
                if state is None:
                    costs.append(left_of(cost, before))
                else:
                    busy.append(left_of(cost, before + now - state.started))
        return schedule_remaining(costs, busy, max(self.jobs, len(busy)))

    # Output -------------------------------------------------------------------------------

    def _say(self, line: str, always: bool = False) -> None:
        if self.verbosity == QUIET and not always:
            return
        if self._bar is not None:  # above the live bar; no markup: "[3/72]" is text
            self._bar.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn
        from rich.progress import Progress as Bar
        from rich.progress import TextColumn
        from rich.table import Column

        console = Console(file=self.stream, force_terminal=True, width=self.console_width)
        # Every column on one line, cut with "…" rather than wrapped; the notes say the ETA first,
        # so a narrow terminal (80 columns) cuts the elapsed time, not the ETA; the bar shrinks there.
        line = dict(no_wrap=True, overflow="ellipsis")
        self._bar = Bar(TextColumn("{task.description}", table_column=Column(**line)),
                        BarColumn(bar_width=24 if console.width >= 100 else 10),
                        TextColumn("{task.fields[note]}", table_column=Column(**line)),
                        console=console, transient=True, refresh_per_second=4, redirect_stdout=True,
                        redirect_stderr=True)  # stray prints land above the bar
        self._rows["all"] = self._bar.add_task("cells", total=self.total, note="")
        self._bar.start()
        self._refresh()

    def _refresh(self) -> None:
        bar = self._bar
        if bar is None:
            return
        with self.lock:
            eta = self.remaining()
            elapsed = self.clock() - self.start
            bar.update(self._rows["all"], total=self.total, completed=self.done,
                       note=f"ETA {'?' if eta is None else clock_text(eta)} · {self.done}/{self.total} done · "
                            f"{clock_text(elapsed)} elapsed")
            for cell_id in [c for c in self._rows if c != "all" and c not in self.running]:
                bar.remove_task(self._rows.pop(cell_id))
            for cell_id, state in self.running.items():
                spec = self.todo.get(cell_id)
                if spec is None:
                    continue
                if cell_id not in self._rows:
                    # the learner's name: its full label (every grid value) would crowd out the notes
                    self._rows[cell_id] = bar.add_task(f"  {spec.learner.name} N={spec.n} seed {spec.seed}",
                                                       total=None, note="")
                bar.update(self._rows[cell_id], total=state.total or None, completed=state.done,
                           note=f"{state.text()} · {clock_text(self.clock() - state.started)}")

    def _heartbeat_line(self) -> str:
        now = self.clock()
        line = f"[{self.done}/{self.total}] still training… {clock_text(now - self.start)} elapsed"
        eta = self.remaining(now)
        if eta is not None:
            line += f", ETA {clock_text(eta)}"
        held = len(self._held_elsewhere())
        if held:
            line += f" ({held} held by another run)"
        flying = [f"{self.todo[c].learner.label} N={self.todo[c].n} seed {self.todo[c].seed}: {s.text()}"
                  for c, s in self.running.items() if c in self.todo and s.fit]
        return line + ("; " + "; ".join(flying) if flying else "")

    def tick(self) -> None:
        """One refresh: read worker files, redraw the bar, or (plain output) print a heartbeat
        line when nothing was printed for ``interval`` seconds."""
        self.poll()
        self._look_again()
        with self.lock:
            if self._bar is not None:
                self._refresh()
                self._bar.refresh()
            elif (self.verbosity > QUIET and self.clock() - self.last >= self.interval
                  and self.done < self.total):
                self.last = self.clock()
                self._say(self._heartbeat_line())

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """While the block runs, refresh the display every fraction of a second (plain output:
        a heartbeat line when nothing was printed for ``interval`` seconds); stop the bar after."""
        from harness.storage.periodic import every

        try:
            with every(min(0.25, self.interval / 4), self.tick):
                yield
        finally:
            self.close()

    def close(self) -> None:
        """Take the live bar down (the finished-cell lines stay above it)."""
        with self.lock:
            bar, self._bar = self._bar, None
            self._rows.clear()
        if bar is not None:
            bar.stop()


def _details(record: dict[str, Any]) -> str:
    """--verbose: a finished cell's chosen parameters and the grid edges it stopped on."""
    chosen = ", ".join(f"{k}={v}" for k, v in (record.get("chosen_params") or {}).items()) or "none"
    text = f"chosen: {chosen}"
    edges = record.get("edges") or []
    if edges:
        text += "; on a grid edge: " + ", ".join(
            f"{e['param']} ({e['side']}{', ' + e['why'] if e.get('why') else ''})" for e in edges)
    return text


def suite_estimate(runs: list[dict[str, Any]], jobs: int) -> tuple[float, str] | None:
    """Seconds per cell for a suite's plan line, from its recorded runs (runs.json): the latest
    run that trained cells, its wall time per cell scaled by its --jobs against this run's."""
    for run in reversed(runs):
        try:
            wall, trained, then = float(run["wall_seconds"]), int(run["trained"]), int(run.get("jobs") or 1)
        except (KeyError, TypeError, ValueError):
            continue
        if trained > 0 and wall > 0:
            return wall / trained * then / max(jobs, 1), (
                f"the last recorded run of this suite trained {trained} cell(s) in {wall:.0f} s with --jobs {then}")
    return None


__all__ = ["CostModel", "Progress", "clock_text", "naive_remaining", "report_epoch", "run_reported",
           "schedule_remaining", "suite_estimate"]
