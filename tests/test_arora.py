"""Arora et al. (2019)'s random-label setting: the arora_gd learner against the paper's formulas,
the two-class tasks, test-label corruption (--corrupt-test, store v7), the Trend and Tracks claims
on synthetic points whose answer is known, the figures, and the arora-random-labels suite."""

import dataclasses
import math
import sqlite3

import numpy as np
import pytest
import torch

from conftest import one_line_error
from harness import BenchError, Problem, Tracks, Trend
from harness.reporting import suite_pages
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from harness.storage.store import SCHEMA_VERSION, Store
from harness.protocol.data import corrupt_labels
from harness.suites.claims import Point
from harness.suites.statistics import FAILS, HOLDS, NOT_SEPARABLE
from harness.suites.sweeps import point_value
from plugins.learners.nets.arora_gd import AroraGD
from plugins.tasks.digits import DigitsTwoClass
from plugins.tasks.linear_sign import LinearSign

# t(0.975, 2) from a printed table of Student's t quantiles: the 95% interval over 3 seeds.
T_975_2 = 4.302653
P = (0.0, 0.25, 0.5, 1.0)


def h_infinity(X):
    """H∞ of Arora et al. eq. (3), written out here: x_iᵀx_j (π − arccos(x_iᵀx_j)) / (2π), ‖x‖ = 1."""
    G = np.clip(X @ X.T, -1.0, 1.0)
    return G * (np.pi - np.arccos(G)) / (2 * np.pi)


def sphere(n, d, seed=0):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# --- the learner ------------------------------------------------------------------------------

def test_the_initial_network_is_the_papers_and_outputs_almost_zero():
    """W(0) ~ N(0, κ²I), a ∈ {±1}: f(x) = (1/√m) Σ a_r σ(w_rᵀx) has std κ·sqrt(E σ(g)²) = κ/√2 for
    g ~ N(0, 1), so the first recorded loss is ½·mean(y²) = ½ up to O(κ)."""
    X, y = sphere(40, 5), np.arange(40) % 2
    net = AroraGD().fit(X, y, {"width": 4000, "kappa": 0.01, "lr": 1.0, "epochs": 1}, np.random.default_rng(0),
                        Problem("classification", 5, 2))
    # after one step W moved; its spread is still κ to within a few per cent (the step is ≪ κ·√(md))
    assert abs(float(net.W.std()) - 0.01) < 0.001
    assert set(net.a.tolist()) == {-1.0, 1.0} and abs(float(net.a.mean())) < 0.05
    assert net.train_loss[0] == pytest.approx(0.5, abs=0.01)


def test_one_step_is_gradient_descent_on_half_the_mean_squared_loss():
    """The update against torch's autograd of ½·mean (y − f)² at W(0) (an independent gradient)."""
    X, y = sphere(30, 4, seed=1), (np.arange(30) % 2)
    problem, params = Problem("classification", 4, 2), {"width": 50, "kappa": 0.5, "lr": 0.3, "epochs": 1}
    net = AroraGD().fit(X, y, params, np.random.default_rng(3), problem)
    start = AroraGD().fit(X, y, {**params, "lr": 1e-30}, np.random.default_rng(3), problem).W  # same draw, no move
    W = start.clone().double().requires_grad_(True)
    Xt, yt, a = torch.tensor(X), torch.tensor(2.0 * y - 1.0), net.a.double()
    loss = 0.5 * torch.mean((torch.relu(Xt @ W.T) @ a / math.sqrt(50) - yt) ** 2)
    loss.backward()
    assert torch.allclose(net.W.double(), (start.double() - 0.3 * W.grad), atol=1e-6)


def test_a_wide_net_follows_the_kernel_dynamics_and_moves_as_far_as_the_lemma_says():
    """Arora et al. eq. (4)/Thm 4.1: for large m, u(k) − y ≈ (I − η H∞)^k (u(0) − y), η = lr/n on our
    mean loss; Lemma 5.3: ‖W(k) − W(0)‖_F ≈ sqrt((y − u(0))ᵀ(H∞)⁻¹(y − u(0))) once converged.
    κ = 1 here: the theory needs m ≫ 1/κ² for the activation patterns to stay put (with κ = 0.01 and
    m = 20,000 the loss at step 10 was 3× the kernel prediction and ‖W − W(0)‖ 27% above the bound)."""
    n, d, lr = 20, 6, 20.0
    X, labels = sphere(n, d, seed=2), np.arange(n) % 2
    y, problem = 2.0 * labels - 1.0, Problem("classification", d, 2)
    params = {"width": 20000, "kappa": 1.0, "lr": lr, "epochs": 300}
    net = AroraGD().fit(X, labels, params, np.random.default_rng(0), problem)
    u0 = AroraGD().fit(X, labels, {**params, "lr": 1e-30, "epochs": 1}, np.random.default_rng(0), problem).outputs(X)
    H = h_infinity(X)
    for k in (2, 5, 10):  # train_loss[k]: the loss after k steps (recorded before step k + 1)
        residual = np.linalg.matrix_power(np.eye(n) - lr / n * H, k) @ (u0 - y)
        assert net.train_loss[k] == pytest.approx(0.5 * np.mean(residual ** 2), rel=0.1)
    assert net.train_loss[-1] < 1e-4
    bound = math.sqrt((y - u0) @ np.linalg.solve(H, y - u0))
    assert 0.9 * bound <= net.diagnostics()["weight_change"] <= 1.05 * bound


def test_random_labels_train_slower_and_move_further_than_true_labels():
    task = LinearSign(d=5)
    X, labels = task.sample(60, np.random.default_rng(0))
    noisy = np.random.default_rng(1).integers(2, size=60)
    params = {"width": 2000, "kappa": 0.01, "lr": 10.0, "epochs": 200}
    fits = [AroraGD().fit(X, lab, params, np.random.default_rng(0), Problem("classification", 5, 2))
            for lab in (labels, noisy)]
    assert fits[0].train_loss[-1] < 0.5 * fits[1].train_loss[-1]
    assert fits[0].moved < fits[1].moved


def test_the_learner_refuses_more_than_two_classes_and_bad_parameters(bench):
    with pytest.raises(BenchError, match="two classes"):
        AroraGD().fit(sphere(10, 3), np.arange(10) % 3, {"width": 4, "kappa": 0.01, "lr": 1.0, "epochs": 1},
                      np.random.default_rng(0), Problem("classification", 3, 3))
    code, _, err = bench("run", "-t", "linear_sign", "-l", "arora_gd", "-p", "kappa=-1", "--n", "20", "--seeds", "1")
    assert code != 0 and "kappa" in one_line_error(err)


# --- the tasks --------------------------------------------------------------------------------

def test_digits2_is_two_digit_classes_on_the_unit_sphere():
    X, y = DigitsTwoClass().load()
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0)
    # scikit-learn's digits hold 178 zeros and 182 ones
    assert (len(y), int((y == 0).sum()), int((y == 1).sum())) == (360, 178, 182)
    X38, y38 = DigitsTwoClass(classes=(3, 8)).load()
    assert len(y38) == 183 + 174 and set(y38.tolist()) == {0, 1}
    with pytest.raises(BenchError, match="two different digits"):
        DigitsTwoClass(classes=(1, 1)).check_params()


def test_linear_sign_labels_are_a_balanced_linearly_separable_split():
    from sklearn.svm import LinearSVC

    X, y = LinearSign(d=10).sample(2000, np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(X, axis=1), 1.0)
    assert abs(y.mean() - 0.5) < 0.04
    assert LinearSVC(C=1e4, fit_intercept=False, max_iter=20000).fit(X, y).score(X, y) >= 0.995


# --- corrupting the test labels too -----------------------------------------------------------

def test_test_labels_get_their_own_random_labels_at_the_same_rate():
    task = LinearSign()
    y = np.zeros(20000, dtype=np.int64)
    train, test = corrupt_labels(task, 0, y, 0.5), corrupt_labels(task, 0, y, 0.5, stream="test-noise")
    # a fraction p replaced by a uniform class: P(label changes) = p/2
    assert abs(test.mean() - 0.25) < 0.01 and abs(train.mean() - 0.25) < 0.01
    assert abs(np.mean(train == test) - (0.25 ** 2 + 0.75 ** 2)) < 0.01  # independent streams
    assert np.array_equal(corrupt_labels(task, 0, y, 0.0, stream="test-noise"), y)


def test_a_cell_with_corrupt_test_scores_against_corrupted_labels_and_is_another_cell():
    learner = AroraGD().with_params(width=[200], epochs=[100])
    clean = CellSpec(LinearSign(d=5), learner, 40, 0, Protocol(n_test=2000, label_noise=1.0))
    dirty = dataclasses.replace(clean, protocol=Protocol(n_test=2000, label_noise=1.0, corrupt_test=True))
    assert clean.cell_id != dirty.cell_id and dirty.key["protocol"]["corrupt_test"] is True
    assert "corrupt_test" not in CellSpec(LinearSign(), learner, 40, 0, Protocol()).key["protocol"]  # old ids kept
    a, b = run_cell(clean), run_cell(dirty)
    assert a["status"] == b["status"] == "ok" and (a["corrupt_test"], b["corrupt_test"]) == (0, 1)
    # trained on random labels: chance against any labels; but the two test sets differ, so do the scores
    assert abs(b["test_score"] - 0.5) < 0.06 and a["test_score"] != b["test_score"]
    with pytest.raises(BenchError, match="--corrupt-test"):
        Protocol(corrupt_test="yes").check()


def test_a_version_6_store_gains_corrupt_test(tmp_path, capsys):
    path = tmp_path / "v6.sqlite"
    Store(path).close()
    con = sqlite3.connect(path)  # make it a v6 store: drop the new column as v6 never had it
    for table in ("cells", "history"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN corrupt_test")
    con.execute("INSERT INTO cells (cell_id, task, task_params, task_version, learner, learner_params, "
                "learner_version, n, seed, n_test, val_fraction, status, created_at) VALUES "
                "('c1', 't', '{}', '1', 'l', '{}', '1', 10, 0, 5, 0.2, 'ok', '2026-01-01')")
    con.execute("PRAGMA user_version = 6")
    con.commit()
    con.close()
    store = Store(path)
    assert SCHEMA_VERSION == 7 and "from schema 6 to 7" in capsys.readouterr().err
    (row,) = store.rows()
    assert row["corrupt_test"] == 0


def test_the_cli_flag_is_refused_with_a_suite(bench):
    code, _, err = bench("run", "--suite", "arora-random-labels", "--corrupt-test")
    assert code != 0 and "--corrupt-test would change the grid" in one_line_error(err)


# --- the claims -------------------------------------------------------------------------------

def points(values, metric="weight_change", task="t", n=100, learner="arora_gd"):
    """Points with ``values[seed][i]`` the metric at p = P[i] (test scores if metric is test_score)."""
    out = []
    for seed, row in enumerate(values):
        for p, v in zip(P, row):
            diag = {} if metric == "test_score" else {metric: v}
            out.append(Point(task, f"{task}, label noise {p:g}", {"label_noise": p}, learner, learner, {}, n, seed,
                             v if metric == "test_score" else 0.3, 0.0, diag))
    return out


def test_a_trend_that_grows_holds_with_the_mean_slope_and_its_t_interval():
    # seed s: metric = (2 + δ_s)·p + s, so seed s's least-squares slope is exactly 2 + δ_s
    deltas = (-0.3, 0.0, 0.3)
    pts = points([[(2 + dl) * p + s for p in P] for s, dl in enumerate(deltas)])
    (check,) = Trend(learner="arora_gd", metric="weight_change", text="", source="").evaluate(pts).checks
    half = T_975_2 * np.std(deltas, ddof=1) / math.sqrt(3)
    assert check.estimate == pytest.approx(2.0) and check.status == HOLDS
    assert (check.lo, check.hi) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert check.n == 100 and check.count == 3


def test_a_flat_trend_is_not_separable_and_a_falling_one_fails():
    flat = points([[1.0, 1.1, 0.9, 1.0], [1.0, 0.9, 1.1, 1.0], [0.9, 1.0, 1.0, 1.1]])
    claim = Trend(learner="arora_gd", metric="weight_change", text="", source="")
    assert claim.evaluate(flat).status == NOT_SEPARABLE
    falling = points([[-p + 0.01 * s * p for p in P] for s in range(3)])
    assert claim.evaluate(falling).status == FAILS
    assert Trend(learner="arora_gd", metric="weight_change", op="decreasing", text="",
                 source="").evaluate(falling).status == HOLDS
    one_seed = points([[p for p in P]])
    assert claim.evaluate(one_seed).checks[0].status == NOT_SEPARABLE  # one seed: no interval


def test_tracks_is_the_mean_pearson_correlation_over_seeds():
    complexity = [[1, 2, 3, 5], [1, 2.5, 3, 4], [0.5, 2, 3.5, 4]]
    error = [[0.1, 0.2, 0.35, 0.5], [0.1, 0.3, 0.3, 0.45], [0.0, 0.2, 0.4, 0.5]]
    pts = [dataclasses.replace(c, score=e.score) for c, e in
           zip(points(complexity, "arora_complexity"), points(error, "test_score"))]
    claim = Tracks(learner="arora_gd", text="", source="")
    (check,) = claim.evaluate(pts).checks
    from scipy.stats import pearsonr

    rs = [pearsonr(c, e)[0] for c, e in zip(complexity, error)]
    assert check.estimate == pytest.approx(np.mean(rs)) and check.status == HOLDS
    anti = [dataclasses.replace(p, score=1 - p.score) for p in pts]
    assert claim.evaluate(anti).status == FAILS


def test_train_loss_at_an_epoch_reads_the_stored_curve():
    p = Point("t", "t", {"label_noise": 0.0}, "l", "l", {}, 10, 0, 0.1, 0.0,
              {"epochs_run": 100, "curve_epoch": [1, 10, 50, 100], "curve_train_loss": [0.5, 0.3, 0.2, 0.1]})
    assert point_value(p, "train_loss@60") == 0.2 and point_value(p, "train_loss@100") == 0.1
    assert point_value(p, "train_loss@200") is None  # the run stopped before
    assert point_value(dataclasses.replace(p, score=None), "train_loss@60") is None  # a failed cell


def test_claims_need_the_condition_and_a_valid_metric():
    reg = load_registry()
    grid = dataclasses.replace(reg.suites["arora-random-labels"], conditions={"label_noise": (0.0, 1.0)}).at()
    with pytest.raises(ValueError, match="at least 3"):
        Tracks(learner="arora_gd", text="", source="").check(grid)
    with pytest.raises(ValueError, match="train_loss@E"):
        Trend(learner="arora_gd", metric="train_loss@x", text="", source="").check(grid)
    with pytest.raises(ValueError, match="increasing"):
        Trend(learner="arora_gd", metric="weight_change", op="up", text="", source="")


# --- the suite --------------------------------------------------------------------------------

def test_the_suite_plans_both_tasks_at_every_p_with_test_labels_corrupted():
    reg = load_registry()
    suite = reg.suites["arora-random-labels"]
    small = suite_pages.cells(reg, suite.at())
    assert len(small) == 2 * 4 * 5 * 1  # tasks × p × seeds × N
    assert sorted({c.protocol.label_noise for c in small}) == list(P)
    assert {c.protocol.corrupt_test for c in small} == {True} and len({c.cell_id for c in small}) == 40
    assert {c.learner.grid_spec["width"][0] for c in small} == {1000}
    paper = suite_pages.cells(reg, suite.at("paper"))
    assert len(paper) == 40 and {c.learner.grid_spec["width"][0] for c in paper} == {10000}
    assert {c.learner.grid_spec["kappa"][0] for c in paper} == {0.01}
    assert max(c.n for c in paper) <= 260  # what two digit classes leave after their 100 test points


@pytest.mark.slow  # 1-4 s; the default run stays under 2 minutes (the path is covered by faster tests)
def test_a_reduced_copy_of_the_suite_runs_end_to_end_and_writes_verdict_and_figures(tmp_path):
    reg = load_registry()
    suite = dataclasses.replace(reg.suites["arora-random-labels"], ns=(50,), seeds=1, n_test=200,
                                conditions={"label_noise": (0.0, 1.0)},
                                learners={"arora_gd": {"width": [100], "epochs": [1000]}})
    grid = suite.at()
    planned = suite_pages.cells(reg, grid)
    assert len(planned) == 2 * 2
    store = Store(tmp_path / "s.sqlite")
    for spec in planned:
        store.put(run_cell(spec))
    rows = {r["cell_id"]: r for r in store.rows()}
    assert all(r["status"] == "ok" for r in rows.values())
    written = suite_pages.build(reg, suite, grid, planned, rows, tmp_path / "lb")
    where = tmp_path / "lb" / "arora-random-labels"
    md = (where / "verdict.md").read_text()
    pngs = sorted(p.name for p in where.glob("*.png") if "-N50-" in p.name)
    assert len(pngs) == 2 * 3 and all(f"]({name})" in md for name in pngs)
    assert all((where / name) in written for name in pngs)
    assert "## Figures" in md and "test labels too" in md
    assert "train_loss@100 of arora_gd is increasing in label_noise" in md
    from PIL import Image

    assert Image.open(where / pngs[0]).info["dpi"][0] == pytest.approx(150, abs=1)


def test_a_run_file_and_the_command_line_both_set_corrupt_test(bench, tmp_path):
    run = tmp_path / "run.toml"
    run.write_text('tasks = ["linear_sign"]\nlearners = ["arora_gd"]\nns = [20]\nseeds = 1\nn_test = 50\n'
                   'label_noise = 0.5\ncorrupt_test = true\nno_leaderboard = true\n')
    code, _, err = bench("run", "--config", str(run), "-p", "width=8", "-p", "epochs=2")
    assert code == 0, err
    code, _, err = bench("run", "-t", "linear_sign", "-l", "arora_gd", "--n", "20", "--seeds", "1", "--n-test", "50",
                         "--label-noise", "0.5", "-p", "width=8", "-p", "epochs=2", "--no-leaderboard")
    assert code == 0, err
    rows = Store(tmp_path / "store.sqlite").rows()
    assert sorted(r["corrupt_test"] for r in rows) == [0, 1]  # two cells: the flag is part of the identity
