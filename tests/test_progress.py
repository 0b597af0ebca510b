"""Live progress: the plan line, plain and quiet output, epoch reports (in-process and from loky
workers) and the ETA on a fake clock against the true remaining time of a simulated run."""

import heapq
import io
import math
import os
import random
from dataclasses import dataclass, field

import pytest

from harness import report_epoch
from harness.api.epochs import reporting
from harness.execution.progress import (PRIOR_EXPONENT, QUIET, CostModel, Progress, naive_remaining,
                                        schedule_remaining, suite_estimate)
from harness.execution.registry import load_registry
from harness.execution.runner import execute, plan
from harness.execution.summary import RunSummary
from harness.protocol.cell import Protocol
from harness.storage.store import Store

# A learner that reports EPOCHS epochs per fit, sleeping between them, so that a poll of the
# worker files falls inside every fit; it predicts the training mean.
STEPPER = """
import sys, time
import numpy as np
from harness import Learner, hookimpl, report_epoch

EPOCHS = 4

class Mean:
    def __init__(self, m): self.m = m
    def predict(self, X): return np.full(len(X), self.m)

class Stepper(Learner):
    name = "stepper"
    parameters = {"offset": [0.0]}
    def fit(self, X, y, params, rng, problem):
        print("stepper-fit", file=sys.stderr, flush=True)
        for epoch in range(1, EPOCHS + 1):
            time.sleep({pause})
            report_epoch(epoch, EPOCHS)
        time.sleep({pause})
        return Mean(float(np.mean(y)))

@hookimpl
def register_learners(register):
    register(Stepper())
"""


# --- the ETA on a fake clock --------------------------------------------------------------------

@dataclass(frozen=True)
class FakeLearner:
    label: str

    @property
    def name(self) -> str:
        return self.label


@dataclass(frozen=True)
class FakeTask:
    name: str = "sin3"


@dataclass(frozen=True)
class FakeSpec:
    """What Progress reads of a cell."""

    learner: FakeLearner
    n: int
    seed: int
    task: FakeTask = field(default_factory=FakeTask)

    @property
    def cell_id(self) -> str:
        return f"{self.learner.label}-{self.n}-{self.seed}"

    def describe(self) -> str:
        return self.cell_id


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# seconds = COST * N**EXPONENT per learner: the built-ins' measured slopes span about 1 to 2
COSTS = {"a": (2e-2, 1.0), "b": (5e-4, 1.5), "c": (2e-5, 2.0)}


def simulated_run(jobs: int, seed: int = 0, at: float = 0.25):
    """Run 36 fake cells (3 learners × N 100…800 × 3 seeds, largest N first, shuffled within an
    N as the runner does) on ``jobs`` workers on a fake clock. Returns, at the moment a fraction
    ``at`` of the cells have finished: (Progress's ETA, the naive ETA, the true remaining seconds)."""
    order = random.Random(seed)
    cells = [FakeSpec(FakeLearner(lr), n, s) for n in (800, 400, 200, 100) for lr in COSTS for s in range(3)]
    cells.sort(key=lambda c: (-c.n, order.random()))
    cost = {c.cell_id: COSTS[c.learner.label][0] * c.n ** COSTS[c.learner.label][1] for c in cells}
    clock = Clock()
    progress = Progress(stream=io.StringIO(), clock=clock, jobs=jobs, live=False)
    progress.begin(RunSummary(), cells, False)
    # Event simulation: each worker takes the next cell in order when it is free.
    events, queue, done = [], list(cells), 0
    for _ in range(jobs):
        spec = queue.pop(0)
        progress.started(spec.cell_id)
        heapq.heappush(events, (cost[spec.cell_id], spec.cell_id, spec))
    finish_all = checked = None
    while events:
        t, _, spec = heapq.heappop(events)
        clock.now = t
        progress.update(spec, {"status": "ok", "metric": "mse", "test_score": 0.0, "seconds": cost[spec.cell_id]})
        done += 1
        if queue:
            nxt = queue.pop(0)
            progress.started(nxt.cell_id)
            heapq.heappush(events, (t + cost[nxt.cell_id], nxt.cell_id, nxt))
        if done == int(len(cells) * at):
            checked = (progress.remaining(), naive_remaining(t, done, len(cells)), t)
        finish_all = t
    eta, naive, t = checked
    return eta, naive, finish_all - t


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eta_after_a_quarter_of_the_cells_is_within_2x_where_the_naive_one_is_not(jobs, seed):
    eta, naive, true = simulated_run(jobs, seed=seed)
    assert 0.5 <= eta / true <= 2.0, (eta, true)
    assert naive / true > 2.0, (naive, true)  # the mean so far: the largest cells ran first


@pytest.mark.parametrize("jobs", [1, 2])
def test_eta_is_exact_once_two_sizes_of_every_learner_finished(jobs):
    # half-way every learner has timings at N = 800 and 400: its c·N^a is fitted, not assumed
    eta, naive, true = simulated_run(jobs, at=0.5)
    assert eta == pytest.approx(true, rel=1e-6) and naive / true > 2.0


def test_the_cost_model_recovers_a_power_law_from_two_sizes():
    model = CostModel()
    for n in (400, 800):
        model.add(("sin3", "a"), n, 3e-4 * n ** 1.7)
    assert model.predict(("sin3", "a"), 100) == pytest.approx(3e-4 * 100 ** 1.7, rel=1e-9)
    # one size only: N^PRIOR_EXPONENT; an unseen learner: the others' geometric mean
    model.add(("sin3", "b"), 800, 8.0)
    assert model.predict(("sin3", "b"), 200) == pytest.approx(8.0 / 4 ** PRIOR_EXPONENT)
    assert model.predict(("sin3", "new"), 200) == pytest.approx(
        math.sqrt(3e-4 * 200 ** 1.7 * 8.0 / 4 ** PRIOR_EXPONENT))
    # another task of a seen learner borrows that learner's timings
    assert model.predict(("tanh3", "b"), 800) == pytest.approx(8.0)


def test_remaining_time_schedules_the_cells_on_the_workers():
    # worked by hand: B (free at 0) takes 3 -> 3; A (free at 1) takes 2 -> 3; then 2 -> 5, 1 -> 4
    assert schedule_remaining([3, 2, 2, 1], [1.0], 2) == 5
    assert schedule_remaining([3, 2, 2, 1], [], 1) == 8
    assert schedule_remaining([], [4.0, 1.0], 2) == 4


def test_a_running_cell_counts_only_its_time_left():
    clock = Clock()
    spec = FakeSpec(FakeLearner("a"), 100, 0)
    progress = Progress(stream=io.StringIO(), clock=clock, live=False)
    progress.seed([(spec, 10.0)])
    progress.begin(RunSummary(), [spec], False)
    assert progress.remaining() == pytest.approx(10.0)
    progress.started(spec.cell_id)
    clock.now = 4.0
    assert progress.remaining() == pytest.approx(6.0)
    clock.now = 30.0  # overran its prediction by 20 s: a quarter of that again, not 0 while it runs
    assert progress.remaining() == pytest.approx(5.0)


def test_a_suite_estimate_scales_the_last_recorded_run_by_jobs():
    runs = [{"wall_seconds": 100.0, "trained": 10, "jobs": 1}, {"wall_seconds": 37.2, "trained": 72, "jobs": 2},
            {"wall_seconds": 1.0, "trained": 0, "jobs": 2}]
    per_cell, why = suite_estimate(runs, jobs=1)
    assert per_cell == pytest.approx(37.2 / 72 * 2) and "72 cell(s) in 37 s with --jobs 2" in why
    assert suite_estimate([], jobs=2) is None


# --- report_epoch --------------------------------------------------------------------------------

def test_report_epoch_is_a_no_op_without_a_reporter_and_rate_limited_with_one():
    report_epoch(1, 10)  # nothing installed: nothing happens, nothing raises
    seen = []
    with reporting(lambda done, total: seen.append(done)):
        for epoch in range(1, 10001):
            report_epoch(epoch, 10000)
    assert seen[0] == 1 and seen[-1] == 10000 and len(seen) < 100
    report_epoch(2, 10)
    assert seen[-1] == 10000  # uninstalled after the block


class Recording(Progress):
    """Keeps every (fit, done, total) each cell reached, as the display saw it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = {}

    def tick(self):
        super().tick()
        with self.lock:
            for cell_id, state in self.running.items():
                self.seen.setdefault(cell_id, set()).add((state.fit, state.done, state.total))


def _stepper_cells(fake_plugin, pause, seeds):
    fake_plugin("cb_stepper", STEPPER.replace("{pause}", str(pause)))
    reg = load_registry()
    return plan([reg.tasks["sin3"]], [reg.learners["stepper"]], [20], range(seeds), Protocol(n_test=20), reg)


@pytest.mark.parametrize("jobs", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2 workers: 2.5 s
def test_epoch_reports_reach_the_parent(fake_plugin, tmp_path, jobs):
    # jobs=2: the cells run in loky workers, their reports come back through the files
    cells = _stepper_cells(fake_plugin, 0.1, seeds=jobs)
    progress = Recording(stream=io.StringIO(), live=False, jobs=jobs)
    with progress.heartbeat():
        summary = execute(cells, Store(tmp_path / "s.sqlite"), jobs=jobs, progress=progress)
    assert summary.statuses["ok"] == jobs
    for spec in cells:
        seen = progress.seen[spec.cell_id]
        # selection's fit, then the refit, each seen mid-way: a fit lasts 5 pauses, the display
        # polls every 0.25 s
        assert {fit for fit, done, total in seen if done > 0 and total == 4} == {1, 2}, seen


# --- the command line ----------------------------------------------------------------------------

def _cell_lines(err):
    return [line for line in err.splitlines() if line.startswith("[")]


@pytest.fixture
def idle(monkeypatch):
    """The estimates as on an idle machine (the shared test machine's load would scale them)."""
    from harness.execution import estimates

    monkeypatch.setattr(estimates, "busy_factor", lambda threads=None: 1.0)


def test_the_plan_line_comes_before_any_cell_trains(fake_plugin, bench, idle):
    fake_plugin("cb_stepper", STEPPER.replace("{pause}", "0"))
    code, _, err = bench("run", "-t", "sin3", "-l", "stepper", "--n", "20", "--n-test", "20", "--seeds", "2",
                         "--jobs", "1", "--no-leaderboard")
    assert code == 0, err
    assert err.index("Plan: 2 cell(s) to train, 0 already in the store") < err.index("stepper-fit")
    # an estimate before anything is stored: the learner's cost model (here Learner's default)
    assert "; estimate 0:00 (no stored timings)." in err
    # a second run with one more N rescales it by the stored timings of the two reused cells
    code, _, err = bench("run", "-t", "sin3", "-l", "stepper", "--ns", "20,40", "--n-test", "20", "--seeds", "2",
                         "--jobs", "1", "--no-leaderboard")
    assert code == 0, err
    assert "Plan: 2 cell(s) to train, 2 already in the store; estimate 0:00." in err


def test_the_plan_line_weighs_other_work_against_the_threads_this_run_takes(fake_plugin, bench, monkeypatch):
    # one thread of other work on 2 cores (another OMP_NUM_THREADS=1 run on the same store): a run
    # of one thread is not slowed by it; one that takes both cores' threads shares 3 over 2
    from harness.execution import estimates

    fake_plugin("cb_stepper", STEPPER.replace("{pause}", "0"))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(estimates, "other_work", lambda: 1.0)
    args = ("run", "-t", "sin3", "-l", "stepper", "--n-test", "20", "--seeds", "1", "--jobs", "1", "--no-leaderboard")
    for n, threads, said in ((20, "1", "; estimate 0:00 (no stored timings)."), (30, "", "; estimate 0:00 (busy ×1.5).")):
        monkeypatch.setattr(estimates, "_last_look", None)
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        code, _, err = bench(*args, "--n", str(n))
        assert code == 0 and said in err, err


def test_plain_output_is_one_line_per_cell_without_carriage_returns(fake_plugin, bench):
    fake_plugin("cb_stepper", STEPPER.replace("{pause}", "0"))
    code, out, err = bench("run", "-t", "sin3", "-l", "stepper", "--ns", "20,30", "--n-test", "20", "--seeds", "2",
                           "--jobs", "1", "--no-leaderboard")
    assert code == 0, err
    assert "\r" not in err and "\x1b" not in err
    lines = _cell_lines(err)
    assert len(lines) == 4 and [line[:5] for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert all("stepper" in line and "ETA" in line for line in lines)
    assert "Ran 4 of 4 cells" in out


def test_quiet_prints_the_plan_and_the_summary_only(fake_plugin, bench):
    fake_plugin("cb_stepper", STEPPER.replace("{pause}", "0"))
    code, out, err = bench("run", "-t", "sin3", "-l", "stepper", "--ns", "20,30", "--n-test", "20", "--seeds", "1",
                           "--jobs", "1", "--no-leaderboard", "--quiet")
    assert code == 0, err
    assert _cell_lines(err) == [] and "Plan: 2 cell(s) to train" in err and "Ran 2 of 2 cells" in out


def test_verbose_adds_the_chosen_parameters(fake_plugin, bench):
    fake_plugin("cb_stepper", STEPPER.replace("{pause}", "0"))
    code, _, err = bench("run", "-t", "sin3", "-l", "stepper", "--n", "20", "--n-test", "20", "--seeds", "1",
                         "--jobs", "1", "--no-leaderboard", "-v")
    assert code == 0, err
    assert "    chosen: offset=0.0" in err.splitlines()


def test_quiet_and_verbose_together_is_a_one_line_error(bench):
    from conftest import one_line_error

    code, _, err = bench("run", "-t", "sin3", "-l", "kernel_ridge", "--quiet", "--verbose")
    assert code == 2 and "--quiet and --verbose" in one_line_error(err)


def test_a_terminal_gets_a_live_bar_that_quiet_turns_off():
    stream = io.StringIO()
    spec = FakeSpec(FakeLearner("a"), 100, 0)
    progress = Progress(stream=stream, live=True)
    progress.begin(RunSummary(), [spec], False)
    progress.started(spec.cell_id)
    progress.epoch(spec.cell_id, 3, 10)
    progress.tick()
    progress.update(spec, {"status": "ok", "metric": "mse", "test_score": 0.5, "seconds": 1.0})
    progress.close()
    text = stream.getvalue()
    assert "fit 1, epoch 3/10" in text and "[1/1] " in text and "\x1b[" in text
    assert Progress(stream=io.StringIO(), live=True, verbosity=QUIET).live is False
