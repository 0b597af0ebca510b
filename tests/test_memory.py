"""The memory check: an N the machine cannot hold is refused before any training (one line),
`--yes` (or the older `--force`) overrides it, and the learners' estimates are honest about how memory grows with N."""

import pytest

from conftest import one_line_error
from harness import BenchError, Learner
from harness.execution import runner
from harness.protocol.cell import Protocol
from harness.execution.registry import load_registry

REG = load_registry()
GiB = 2**30
QUIET = ["--seeds", "1", "--jobs", "1", "--n-test", "200", "--no-leaderboard"]


@pytest.fixture
def memory(monkeypatch):
    """Pretend the machine has this many bytes available, so the tests do not depend on it."""
    def set_available(nbytes):
        monkeypatch.setattr(runner, "available_memory", lambda: nbytes)
    return set_available


@pytest.mark.parametrize("learner", sorted(REG.learners))
def test_a_billion_points_is_refused_for_every_learner_before_training(bench, memory, learner):
    memory(64 * GiB)  # a big machine: the data alone (~112 GiB) does not fit
    code, _, err = bench("run", "-t", "sin3", "-l", learner, "--n", "1000000000", *QUIET)
    line = one_line_error(err)
    assert code != 0 and "[1/" not in err  # nothing trained
    assert f"error: {learner} on sin3 at N=1000000000 needs ~" in line
    assert "for the data); this machine has 64 GiB available; lower N, or pass --yes to start it anyway" in line


def test_ntk_at_20000_is_refused_naming_its_estimate(bench, memory):
    memory(8 * GiB)  # the exact N × N solve at its largest size (the eigendecomposition fallback: 6 N²)
    code, _, err = bench("run", "-t", "sin3", "-l", "ntk", "--n", "20000", *QUIET)
    assert code != 0 and "[1/" not in err
    line = one_line_error(err)
    assert line.startswith("error: ntk on sin3 at N=20000 needs ~19 GiB (19 GiB for the learner, ")
    assert line.endswith("; this machine has 8.0 GiB available; lower N, or pass --yes to start it anyway")


def test_force_runs_past_the_memory_check(bench, memory):
    memory(1024)
    args = ["run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0",
            "-p", "alpha_per_n=1e-3", "--n", "20", *QUIET]
    code, _, err = bench(*args)
    assert code != 0 and "this machine has 1.0 KiB available" in one_line_error(err) and "[1/" not in err
    code, out, err = bench(*args, "--force")
    assert code == 0 and "Ran 1 of 1 cells" in out, err
    code, out, err = bench(*args)  # stored now: nothing to train, nothing to check
    assert code == 0 and "Nothing to train" in out, err


def test_yes_starts_a_run_the_memory_check_refuses(bench, memory):
    memory(1024)
    args = ["run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0",
            "-p", "alpha_per_n=1e-3", "--n", "20", *QUIET]
    code, _, err = bench(*args)
    assert code == 2 and one_line_error(err).endswith("lower N, or pass --yes to start it anyway")
    code, out, err = bench(*args, "--yes")
    assert code == 0 and "Ran 1 of 1 cells" in out, err


def test_jobs_whose_cells_together_do_not_fit_are_refused(bench, memory):
    memory(300 * 2**20)  # one ntk cell at N=2000 (~191 MiB) fits; two side by side do not
    args = ["run", "-t", "sin3", "-l", "ntk", "-p", "depth=3", "--n", "2000", "--seeds", "2", "--n-test", "200",
            "--no-leaderboard"]
    code, _, err = bench(*args, "--jobs", "2")
    assert code != 0 and "[1/" not in err
    assert one_line_error(err).startswith("error: --jobs 2 runs up to 2 cells at once, together ~382 MiB; this "
                                          "machine has 300 MiB available; use fewer --jobs")


def test_no_check_when_the_available_memory_is_unknown(memory):
    memory(None)
    cells = runner.plan([REG.tasks["sin3"]], [REG.learners["ntk"]], [10**9], [0], Protocol())
    runner.check_memory(cells)  # nothing to compare with: no refusal


def test_ntk_estimate_is_quadratic_on_the_exact_path_and_bounded_past_it():
    ntk = REG.learners["ntk"]
    grid = ntk.param_grid(REG.tasks["sin3"], 100_000)

    def peak(n):
        return max(ntk.memory_estimate(n, 4, p) for p in grid)

    # Exact up to 20,000 points: the N × N Gram and the ridge solve's copies, 6–7 such arrays.
    assert 6 * 8 * 20_000**2 <= peak(20_000) <= 8 * 8 * 20_000**2
    assert 3.9 < peak(20_000) / peak(10_000) < 4.1
    # Nyström past it: M² arrays and the validation part's n/4 × M kernel; the 745 GiB that
    # N = 100,000 needed on the exact path is now under 8 GiB.
    assert peak(100_000) < 8 * GiB
    assert peak(200_000) < 2 * peak(100_000)


@pytest.mark.parametrize("name", sorted(REG.learners))
def test_every_builtin_learner_estimates_and_its_estimate_grows_with_n(name):
    learner = REG.learners[name]
    for params in learner.param_grid(REG.tasks["sin3"], 1000):
        small, large = learner.memory_estimate(1000, 4, params), learner.memory_estimate(100_000, 4, params)
        assert isinstance(small, int) and 0 < small <= large


def test_a_learner_without_an_estimate_reports_zero_and_only_the_data_is_checked():
    class Bare(Learner):
        name = "bare"

        def fit(self, X, y, params, rng, problem):
            raise NotImplementedError

    assert Bare().memory_estimate(10**6, 4, {}) == 0
    cells = runner.plan([REG.tasks["sin3"]], [Bare()], [10**6], [0], Protocol())
    learner, data = runner.cell_memory(cells[0], 4)
    assert learner == 0 and data == 3 * 8 * (10**6 + 5000) * 5
    with pytest.raises(BenchError, match="the learner gives no estimate, 115 MiB for the data"):
        runner.check_memory(cells, available=10**6)


def test_available_memory_is_a_positive_number_or_unknown():
    available = runner.available_memory()
    assert available is None or (isinstance(available, int) and available > 0)
