"""Estimates before training: every learner's cost model (Learner.time_estimate), its rescaling by
stored timings of similar cells, the --yes gate for a run estimated over an hour, the live bar's
ETA at 80 columns and the plan line within 100."""

import importlib
import io
import math
import sys
import textwrap
import time

import pytest
from rich.console import Console

from conftest import one_line_error
from harness import BenchError, Learner
from harness.execution import estimates
from harness.execution.progress import TRUSTED_SPAN, CostModel, Progress
from harness.execution.registry import load_registry
from harness.execution.runner import execute, plan
from harness.execution.summary import RunSummary
from harness.protocol import fingerprint
from harness.protocol.cell import Protocol, run_cell
from harness.storage.store import Store

REG = load_registry()
BUSY_FACTOR = estimates.busy_factor  # before the autouse fixture replaces it


@pytest.fixture(autouse=True)
def idle(monkeypatch):
    """Estimates as on an idle machine: the shared test machine's load would scale them."""
    monkeypatch.setattr(estimates, "busy_factor", lambda threads=None: 1.0)


# --- the learners' cost models ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(REG.learners))
def test_every_builtin_learner_estimates_a_cost_that_grows_with_n(name):
    learner, task = REG.learners[name], REG.tasks["sin3"]
    seconds = [learner.time_estimate(n, 4, learner.param_grid(task, n)) for n in (100, 1000, 10_000, 10**7)]
    assert all(isinstance(s, float) and math.isfinite(s) and s > 0 for s in seconds)
    assert seconds == sorted(seconds) and seconds[-1] > 1800  # N = 10⁷: half an hour at the least


def test_exact_kernels_grow_like_n3_and_falkon_like_n():
    task = REG.tasks["sin3"]
    for name in ("ntk", "kernel_ridge"):
        learner = REG.learners[name]

        def t(n):
            return learner.time_estimate(n, 4, learner.param_grid(task, n))

        # exact path (N ≤ 20,000): the Cholesky factorisations dominate, 2³ = 8× per doubling
        assert 6 < t(20_000) / t(10_000) < 8.5
        # Falkon past it: N·M per path, 10× per decade
        assert 9 < t(10**7) / t(10**6) < 11


def test_nets_cost_epochs_times_n_times_width_squared():
    learner, task = REG.learners["three_layer_sgd"], REG.tasks["sin3"]
    one = learner.with_params(width=[1000], lr=[0.1], weight_decay=[0.0])
    t = lambda lr, n: lr.time_estimate(n, 4, lr.param_grid(task, n))  # noqa: E731
    wide = one.with_params(width=[4000])
    # width² dominates at width 1000 and 4000 (16× the weights); steps add a little to both
    assert 10 < t(wide, 1000) / t(one, 1000) < 16.5
    assert 1.9 < t(one, 2000) / t(one, 1000) < 2.1  # linear in N
    twice = one.with_params(epochs=[200])
    assert t(twice, 1000) == pytest.approx(2 * t(one, 1000))
    # selection trains each configuration on 80 % of N, the refit one on all of it: eight
    # configurations cost 8·0.8 + 1 units where one costs 0.8 + 1
    eight = one.with_params(lr=[0.01, 0.03, 0.1, 0.3], weight_decay=[0.0, 1e-4])
    assert t(eight, 1000) / t(one, 1000) == pytest.approx(7.4 / 1.8, rel=0.01)


def test_a_learner_without_an_estimate_gets_the_conservative_quadratic_default():
    class Bare(Learner):
        name = "bare"

        def fit(self, X, y, params, rng, problem):
            raise NotImplementedError

    bare = Bare()
    # (grid + refit) × (0.05 s + 1e-7·n·(d+1) + 1e-9·n²)
    assert bare.time_estimate(1000, 4, [{}]) == pytest.approx(2 * (0.05 + 1e-7 * 1000 * 5 + 1e-3))
    assert bare.time_estimate(10**7, 4, [{}, {}]) == pytest.approx(3 * (0.05 + 5 + 1e5))


def test_the_estimate_method_is_not_part_of_the_learners_fingerprint(tmp_path, monkeypatch):
    """Editing a cost model must not make stored cells stale; editing fit must."""
    monkeypatch.syspath_prepend(str(tmp_path))
    source = """
        import numpy as np
        from harness import Learner

        class Probe(Learner):
            name = "probe"

            def fit(self, X, y, params, rng, problem):
                return {fit}
            {estimate}
    """
    estimate = "def time_estimate(self, n, d, grid):\n                return {} * n"

    def fingerprint_of(index, fit="None", est=""):
        module = f"probe_fp{index}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source.format(fit=fit, estimate=est)))
        importlib.invalidate_caches()
        sys.modules.pop(module, None)
        return fingerprint.code_fingerprint(importlib.import_module(module).Probe())

    bare = fingerprint_of(0)
    assert fingerprint_of(1, est=estimate.format(1.0)) == bare
    assert fingerprint_of(2, est=estimate.format(2.0)) == bare
    assert fingerprint_of(3, fit="0") != bare


# --- rescaling by stored timings ------------------------------------------------------------------

def test_the_prior_is_rescaled_by_the_ratio_at_the_nearest_stored_n():
    model = CostModel()
    key = ("sin3", "ridge (width=10)")
    assert model.predict(key, 1000, prior=4.0) == 4.0  # no timing: the prior alone
    model.add(key, 1000, seconds=6.0, prior=2.0)      # ×3 at N = 1000
    model.add(key, 100, seconds=0.5, prior=1.0)       # ×0.5 at N = 100
    assert model.predict(key, 800, prior=4.0) == pytest.approx(12.0)
    assert model.predict(key, 150, prior=4.0) == pytest.approx(2.0)
    # beyond TRUSTED_SPAN from the nearest timing the log-ratio shrinks as span / distance
    far = 1000 * TRUSTED_SPAN ** 2
    assert model.predict(key, far, prior=1.0) == pytest.approx(3.0 ** 0.5)


def test_a_ratio_falls_back_to_the_same_grid_then_to_the_learner():
    model = CostModel()
    model.add(("mixtures", "ridge (width=10)"), 500, seconds=4.0, prior=1.0)
    model.add(("digits", "ridge"), 500, seconds=9.0, prior=1.0)
    # same label on another task: its ratio (4), not the other grid's
    assert model.predict(("sin3", "ridge (width=10)"), 500, prior=1.0) == pytest.approx(4.0)
    # another grid of the same learner: both of its timings at that N (geometric mean 6)
    assert model.predict(("sin3", "ridge (width=99)"), 500, prior=1.0) == pytest.approx(6.0)
    # another learner: the prior alone
    assert model.predict(("sin3", "other"), 500, prior=1.0) == 1.0


class FakeStore:
    """What the estimates read of a store: rows of one learner."""

    def __init__(self, rows):
        self._rows = rows

    def rows(self, task=None, learner=None):
        return [r for r in self._rows if learner is None or r["learner"] == learner]


def _row(spec, seconds, **extra):
    return {"task": spec.task.name, "learner": spec.learner.name, "learner_params": spec.learner.overrides,
            "learner_grid": spec.learner.grid_spec, "n": spec.n, "status": "ok", "seconds": seconds,
            "device": "cpu", "input_transform": None, **extra}


def test_stored_timings_of_other_grids_calibrate_a_fresh_grid():
    """The store's rows of the same learner (another grid, other N) rescale the estimate of a grid
    it has never run; each row's prior is computed for that row's own grid and N."""
    task, learner = REG.tasks["sin3"], REG.learners["ntk"]
    variant = learner.with_params(depth=[2])
    priors = estimates.Priors()
    rows = []
    for n in (200, 400):
        spec = plan([task], [variant], [n], [0], Protocol())[0]
        rows.append(_row(spec, 5 * priors.cell(spec)))  # this machine is 5× slower than the model
    spec = plan([task], [variant], [400], [1], Protocol())[0]
    rows += [_row(spec, 1000.0, status="timeout"), _row(spec, 1000.0, device="cuda"),
             _row(spec, 1000.0, learner_grid={**variant.grid_spec, "removed": [1]})]  # none of them counts
    fresh = plan([task], [learner], [300, 3000], [0], Protocol())
    model, prior = estimates.cost_model(fresh, FakeStore(rows))
    near, far = fresh[1], fresh[0]  # run order: the largest N first
    assert near.n == 300 and far.n == 3000
    # N = 300: nearest stored N is 400, ratio 5; N = 3000: 400 is 7.5× away, past TRUSTED_SPAN = 4
    assert model.predict(estimates.cell_key(near), 300, prior(near)) == pytest.approx(5 * priors.cell(near))
    shrunk = 5 ** (math.log(TRUSTED_SPAN) / math.log(3000 / 400))
    assert model.predict(estimates.cell_key(far), 3000, prior(far)) == pytest.approx(shrunk * priors.cell(far))


def test_a_cell_past_its_estimate_keeps_the_eta_above_zero():
    clock = Clock()
    cells = plan([REG.tasks["sin3"]], [REG.learners["ntk"]], [100], [0, 1], Protocol())
    progress = Progress(len(cells), stream=io.StringIO(), live=False, jobs=1, clock=clock)
    progress.calibrate(CostModel(), lambda spec: 10.0)
    progress.begin(RunSummary(), cells, False)
    progress.started(cells[0].cell_id)
    clock.now = 4.0
    assert progress.remaining() == pytest.approx(6.0 + 10.0)  # the rest of the first, then the second
    clock.now = 40.0  # 30 s over its estimate: a quarter of the overrun again, then the second
    assert progress.remaining() == pytest.approx(7.5 + 10.0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


# --- the --yes gate -------------------------------------------------------------------------------

def test_a_run_estimated_over_an_hour_is_refused_fast_before_training(bench, tmp_path):
    start = time.perf_counter()
    code, _, err = bench("run", "-t", "sin3", "-l", "ntk", "--n", "10000000", "--seeds", "1", "--no-leaderboard")
    assert time.perf_counter() - start < 10
    line = one_line_error(err)
    assert code == 2 and "Plan:" not in err and "[1/" not in err
    assert line.startswith("error: this run is estimated at ")
    assert "(ntk at N=10,000,000: 1 cell(s) of ~" in line and line.endswith("; pass --yes to start it, or lower N")
    hours = line.split("estimated at ")[1].split(" ")[0].split(":")
    assert len(hours) == 3 and int(hours[0]) >= 1
    assert Store(tmp_path / "store.sqlite").rows() == []


def test_yes_starts_it(bench, monkeypatch):
    """--yes passes the gate; the executor is replaced so that nothing trains for hours."""
    from harness.cli import run as run_cli

    handed = []

    def execute(cells, store, **kwargs):
        handed.extend(cells)
        return RunSummary(planned=len(cells))

    monkeypatch.setattr(run_cli, "execute", execute)
    code, _, err = bench("run", "-t", "sin3", "-l", "ntk", "--n", "10000000", "--seeds", "1", "--no-leaderboard",
                         "--yes")
    assert code == 0, err
    assert [(c.learner.name, c.n) for c in handed] == [("ntk", 10_000_000)]


def test_the_gate_counts_the_jobs_running_side_by_side():
    cells = plan([REG.tasks["sin3"]], [REG.learners["kernel_ridge"]], [8000], range(4), Protocol())
    one = estimates.check_duration(cells[:1], None, jobs=1, limit=math.inf)
    # four cells: 4× one on one worker, 2× on two; the limit is checked against that
    assert estimates.check_duration(cells, None, jobs=1, limit=math.inf) == pytest.approx(4 * one)
    assert estimates.check_duration(cells, None, jobs=2, limit=math.inf) == pytest.approx(2 * one)
    with pytest.raises(Exception, match="estimated at"):
        estimates.check_duration(cells, None, jobs=1, limit=3 * one)
    estimates.check_duration(cells, None, jobs=2, limit=3 * one)


def test_a_busy_machine_scales_the_estimate(monkeypatch):
    monkeypatch.setattr(estimates.os, "cpu_count", lambda: 2)
    for load, factor in ((2.0, 2.0), (0.3, 1.15), (0.0, 1.0), (None, 1.0)):  # 2 threads of other work on 2 cores: half
        monkeypatch.setattr(estimates, "_last_look", None)  # a fresh look
        monkeypatch.setattr(estimates, "other_work", lambda: load)
        assert BUSY_FACTOR() == pytest.approx(factor)


def test_a_run_of_fewer_threads_than_cores_is_slowed_only_past_the_cores(monkeypatch):
    # two OMP_NUM_THREADS=1 processes sharing a store on 2 cores: the second sees one thread of
    # other work and takes one core's thread itself, so neither is slowed; with both cores' threads
    # (jobs 1, OMP_NUM_THREADS unset) it shares 3 threads over 2 cores
    monkeypatch.setattr(estimates.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(estimates, "other_work", lambda: 1.0)
    # (a run of more threads than cores counts as filling them: its own workers' overlap is the
    # schedule's business, not "busy")
    for threads, factor in ((1, 1.0), (2, 1.5), (None, 1.5), (4, 1.5)):
        monkeypatch.setattr(estimates, "_last_look", None)
        assert BUSY_FACTOR(threads) == pytest.approx(factor)


def test_the_load_is_looked_at_once_in_a_while(monkeypatch):
    looks = []
    monkeypatch.setattr(estimates, "_last_look", None)
    monkeypatch.setattr(estimates, "other_work", lambda: looks.append(1) or 2.0)
    clock = [100.0]
    monkeypatch.setattr(estimates.time, "monotonic", lambda: clock[0])
    BUSY_FACTOR(), BUSY_FACTOR()
    assert len(looks) == 1
    clock[0] += estimates.LOAD_VALID + 1
    BUSY_FACTOR()
    assert len(looks) == 2


def test_other_work_counts_a_busy_thread():
    """A second process spinning on a core is at least one thread of other work, whatever else
    the (shared) machine runs meanwhile."""
    import subprocess

    if estimates.other_work() is None:
        pytest.skip("no /proc/stat or load average here")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        during = estimates.other_work()
    finally:
        spinner.kill()
        spinner.wait()
    assert during >= 0.8, during


# --- what the terminal shows -----------------------------------------------------------------------

def _render(progress, width):
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(progress._bar.get_renderable())
    return console.export_text()


@pytest.mark.parametrize("width", [80, 100])
def test_the_live_bar_keeps_its_eta_at_80_columns(width):
    cells = plan([REG.tasks["sin3"]], [REG.learners["three_layer_sgd"].with_params(width=[128], epochs=[60])],
                 [800, 1600], range(3), Protocol())
    progress = Progress(len(cells), stream=io.StringIO(), live=True, jobs=2, clock=lambda: 4000.0)
    progress.console_width = width
    progress.calibrate(CostModel(), lambda spec: 1234.0)  # an ETA of hours: the widest it gets
    progress.begin(RunSummary(), cells, False)
    for spec in cells[:2]:
        progress.epoch(spec.cell_id, 37, 60)
    progress._refresh()
    text = _render(progress, width)
    progress.close()
    lines = text.splitlines()
    assert lines[0].startswith("cells") and "ETA 1:" in lines[0], text
    assert all(len(line) <= width for line in lines)
    assert sum("three_layer_sgd N=1600" in line and "epoch 37/60" in line for line in lines) == 2, text


def test_the_plan_line_fits_100_columns():
    """The widest plan line of a big run: thousands of cells, hundreds stored, hours, some untimed,
    a busy machine."""
    cells = plan([REG.tasks["sin3"]], [REG.learners["ntk"]], [100 + i for i in range(1200)], range(3), Protocol())
    stream = io.StringIO()
    progress = Progress(len(cells), stream=stream, live=False)
    model, _ = estimates.cost_model(cells, None, slowdown=3.3)
    model.add(estimates.cell_key(cells[0]), 100, 1.0, 1.0)
    model.add(("sin3", "other"), 100, 1.0, 1.0)
    progress.calibrate(model, lambda spec: 33.0 if spec.learner.name == "ntk" else 1.0)
    summary = RunSummary()
    summary.skipped = 999
    progress.begin(summary, cells + plan([REG.tasks["sin3"]], [REG.learners["ntk"].with_params(depth=[2])],
                                         [100], [0], Protocol()) * 0, False)
    line = stream.getvalue().strip()
    assert line == "Plan: 3600 cell(s) to train, 999 already in the store; estimate 33:00:00 (busy ×3.3).", line
    assert len(line) <= 100


def test_the_plan_line_says_which_cells_have_no_stored_timing():
    cells = plan([REG.tasks["sin3"]], [REG.learners["ntk"], REG.learners["kernel_ridge"]], [100, 200], range(2),
                 Protocol())
    for timed, note in (([], " (no stored timings)"), (["ntk"], " (4 untimed)"), (["ntk", "kernel_ridge"], "")):
        stream = io.StringIO()
        model = CostModel()
        for name in timed:  # a timing on another task counts: the same learner and grid
            model.add(("cos", name), 100, 2.0, 1.0)
        progress = Progress(len(cells), stream=stream, live=False)
        progress.calibrate(model, lambda spec: 1.0)
        progress.begin(RunSummary(), cells, False)
        # 8 cells of 1 s × their ratio (2 where timed) on one worker
        assert stream.getvalue().strip() == (f"Plan: 8 cell(s) to train, 0 already in the store; estimate "
                                             f"0:{8 + 4 * len(timed):02d}{note}.")


def test_the_plan_line_counts_cells_timed_only_on_another_grid_of_their_learner():
    """A stored timing of the learner at another width rescales a cell's cost model, but says
    nothing of how cost grows with width: the plan line says how many cells rest on that alone."""
    wide = REG.learners["ntk"].with_params(depth=[3])
    cells = plan([REG.tasks["sin3"]], [REG.learners["ntk"], wide], [100], range(2), Protocol())
    for timed, note in ((["ntk"], " (2 timed on other grids only)"), (["ntk", wide.label], "")):
        stream = io.StringIO()
        model = CostModel()
        for label in timed:
            model.add(("sin3", label), 100, 2.0, 1.0)
        progress = Progress(len(cells), stream=stream, live=False)
        progress.calibrate(model, lambda spec: 1.0)
        progress.begin(RunSummary(), cells, False)
        assert stream.getvalue().strip() == f"Plan: 4 cell(s) to train, 0 already in the store; estimate 0:08{note}."


def test_the_plan_line_counts_the_cells_that_resume_mid_cell_less_their_time_before_the_cut():
    # 4 cells of 10 s on one worker; one resumes after 4 s, one after 15 s (past its prediction:
    # a quarter of its overrun is left, as for a running cell), so 6 + 1.25 + 10 + 10 s are left
    cells = plan([REG.tasks["sin3"]], [REG.learners["ntk"]], [100, 200], range(2), Protocol())
    stream = io.StringIO()
    progress = Progress(len(cells), stream=stream, live=False)
    model, _ = estimates.cost_model(cells, None, slowdown=1.0)
    model.add(estimates.cell_key(cells[0]), 100, 1.0, 1.0)
    progress.calibrate(model, lambda spec: 10.0)
    summary = RunSummary()
    summary.resuming = 2
    before = {cells[0].cell_id: 4.0, cells[3].cell_id: 15.0}
    progress.begin(summary, cells, False, before=before)
    assert stream.getvalue().strip() == "Plan: 4 cell(s) to train, 0 already in the store; estimate 0:27 (2 resume mid-cell)."
    # a cell another run on the store holds now is counted apart and left out of the estimate
    stream = io.StringIO()
    progress = Progress(len(cells), stream=stream, live=False)
    progress.calibrate(model, lambda spec: 10.0)
    progress.begin(RunSummary(), cells, False, held=[cells[1].cell_id])
    assert stream.getvalue().strip() == ("Plan: 4 cell(s) to train (1 held by another run), 0 already in the "
                                         "store; estimate 0:30.")
    # the refusal of long runs weighs the same seconds
    total, _ = estimates.plan_seconds(cells, model, lambda spec: 10.0, jobs=1, before=before)
    assert total == pytest.approx(27.25)
    assert estimates.plan_seconds(cells, model, lambda spec: 10.0, jobs=1)[0] == pytest.approx(40.0)


def test_the_eta_leaves_out_the_cells_another_run_took_since_the_plan(tmp_path):
    # Two runs share a store. After the plan, the other run claims one of our cells and stores
    # another: within one heartbeat interval our ETA leaves both out (held: while held; stored:
    # for good, and the count drops), as the plan line leaves out the cells held at the start.
    # 4 cells of 10 s on one worker: 40 s planned; 20 s once 2 are the other run's.
    cells = plan([REG.tasks["sin3"]], [REG.learners["kernel_ridge"]], [30, 40], range(2), Protocol())
    store, now, stream = Store(tmp_path / "store.sqlite"), [0.0], io.StringIO()
    progress = Progress(len(cells), stream=stream, live=False, clock=lambda: now[0])
    model, _ = estimates.cost_model(cells, None, slowdown=1.0)
    model.add(estimates.cell_key(cells[0]), 30, 1.0, 1.0)
    other = "elsewhere:1:abcd"  # a live run of another host
    seen = []

    def backend(specs, timeout):  # the first cell is handed out; then the other run acts
        specs = iter(specs)
        first = next(specs)
        seen.append(first)
        held, finished = [c for c in cells if c.cell_id != first.cell_id][:2]
        assert store.claim(held.cell_id, other, None, ttl=600) is None
        store.put(run_cell(finished), other)
        now[0] = 30.0  # not yet an interval since the plan: no look, no heartbeat
        progress.tick()
        now[0] = 61.0
        progress.tick()
        seen.extend(specs)  # the rest: the held one is left to its owner, the stored one skipped
        return []

    summary = execute(cells, store, progress=progress, backend=backend, costs=(model, lambda spec: 10.0))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Plan: 4 cell(s) to train, 0 already in the store; estimate 0:40."
    assert lines[1] == "[0/3] still training… 1:01 elapsed, ETA 0:20 (1 held by another run)"
    assert len(lines) == 2 and len(seen) == 2 and summary.skipped == 1 and sum(summary.busy.values()) == 1


def test_the_refusal_says_when_the_estimate_is_for_a_busy_machine():
    cells = plan([REG.tasks["sin3"]], [REG.learners["ntk"]], [10_000_000], [0], Protocol())
    for slowdown, said in ((1.0, False), (2.5, True)):
        with pytest.raises(BenchError) as info:
            estimates.check_duration(cells, None, 1, slowdown=slowdown)
        assert ("; busy ×2.5)" in str(info.value)) == said, str(info.value)
