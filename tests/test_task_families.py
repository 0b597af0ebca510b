"""Task families of the papers: distributional facts checked by independent computation."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from conftest import one_line_error
from harness import BenchError
from harness.cell import CellSpec, Protocol, run_cell
from harness.registry import load_registry
from harness.tasks import corrupt_labels, fixed_test_set, training_set, zou_gu

REG = load_registry()
SPHERE_TASKS = ["teacher2", "teacher3", "poly", "cos"]


def task(name, **params):
    return REG.tasks[name].with_params(**params) if params else REG.tasks[name]


def test_every_family_is_listed_with_a_description(bench):
    code, out, _ = bench("list")
    for name in ["sin3", "teacher2", "teacher3", "poly", "cos", "mixtures", "digits", "mnist"]:
        line = next(l for l in out.splitlines() if l.startswith(name + " "))
        assert len(REG.tasks[name].description) > 20 and REG.tasks[name].description[:20] in line


@pytest.mark.parametrize("name", SPHERE_TASKS)
def test_inputs_are_unit_norm_and_draws_are_deterministic_by_seed(name):
    t = task(name, d=6)
    X, y = t.sample(3000, np.random.default_rng(5))
    assert X.shape == (3000, 6) and y.shape == (3000,)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    X2, y2 = t.sample(3000, np.random.default_rng(5))
    np.testing.assert_array_equal(y, y2)
    assert np.var(y) > 1e-4  # not a constant


def rank_one_quadratic_form(X, z):
    """Least-squares M with z ≈ xᵀMx; returns (M, residual)."""
    feats = np.einsum("ni,nj->nij", X, X).reshape(len(X), -1)
    m, *_ = np.linalg.lstsq(feats, z, rcond=None)
    M = m.reshape(X.shape[1], X.shape[1])
    M = (M + M.T) / 2
    return M, np.abs(feats @ M.reshape(-1) - z).max()


def test_poly_degree_two_is_a_unit_rank_one_quadratic_form():
    X, y = task("poly", d=5, degrees=(2,)).sample(2000, np.random.default_rng(0))
    M, resid = rank_one_quadratic_form(X, y)  # y = (βᵀx)² = xᵀ(ββᵀ)x with |β| = 1
    eig = np.linalg.eigvalsh(M)
    assert resid < 1e-10 and eig[-1] == pytest.approx(1.0, abs=1e-8) and np.abs(eig[:-1]).max() < 1e-8


def test_poly_degree_one_is_linear_with_a_unit_vector():
    X, y = task("poly", d=7, degrees=(1,)).sample(500, np.random.default_rng(0))
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    np.testing.assert_allclose(X @ beta, y, atol=1e-10)
    assert np.linalg.norm(beta) == pytest.approx(1.0)


def test_cos_is_cosine_of_a_unit_projection():
    f = 2.0
    X, y = task("cos", d=4, frequency=f).sample(2000, np.random.default_rng(0))
    assert y.min() >= np.cos(f) - 1e-12  # |βᵀx| ≤ 1
    M, resid = rank_one_quadratic_form(X, (np.arccos(y) / f) ** 2)  # = (βᵀx)²
    eig = np.linalg.eigvalsh(M)
    assert resid < 1e-8 and eig[-1] == pytest.approx(1.0, abs=1e-6)


def test_teacher2_is_the_stated_sum_and_fixed_by_teacher_seed():
    t = task("teacher2", d=4, p=3, phi="sin")
    w = t.weights()
    X, y = t.sample(100, np.random.default_rng(9))
    by_hand = [sum(a * np.sin(3 * (wr @ x)) for a, wr in zip(w["a"], w["W"])) for x in X]
    np.testing.assert_allclose(y, by_hand, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(w["W"], axis=1), 1.0)
    # the teacher does not depend on the data seed, only on teacher_seed
    np.testing.assert_array_equal(t.weights()["W"], task("teacher2", d=4, p=3).weights()["W"])
    assert not np.allclose(w["W"], task("teacher2", d=4, p=3, teacher_seed=1).weights()["W"])


def test_teacher3_is_a_composition():
    t = task("teacher3", d=3, p=4, phi="poly2")
    w = t.weights()
    X, y = t.sample(50, np.random.default_rng(1))
    hidden = ((X @ w["W"].T) ** 2) @ w["V"].T / 2.0
    np.testing.assert_allclose(y, (hidden ** 2) @ w["a"], atol=1e-12)


def test_mixtures_are_balanced_and_separated_by_delta():
    t = task("mixtures", k=3, l=2, d=5, delta=0.8, radius=0.3)
    X, y = t.sample(6000, np.random.default_rng(0))
    counts = np.bincount(y, minlength=3)
    assert np.all(np.abs(counts / 6000 - 1 / 3) < 0.03)
    gaps = [cdist(X[y == a], X[y == b]).min() for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) >= 0.8
    C = t.centres()
    within = [np.linalg.norm(X[y == c] - C[c][:, None], axis=-1).min(axis=0).max() for c in range(3)]
    assert max(within) <= 0.3 + 1e-12  # every point lies in a radius-r ball around its class's centres


def test_zou_gu_inputs_have_unit_norm_and_last_coordinate_mu():
    X = zou_gu(np.random.default_rng(0).standard_normal((500, 4)) * 3, 0.3)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)
    np.testing.assert_allclose(X[:, -1], 0.3)


@pytest.mark.parametrize("name, p", [("mixtures", 0.3), ("sin3", 0.5), ("digits", 0.2)])
def test_label_corruption_fraction_and_nesting(name, p):
    t = task(name)
    n = 1200
    _, y = training_set(t, 0, n)
    noisy = corrupt_labels(t, 0, y, p)
    changed = np.mean(noisy != y)
    expected = p * (1 - 1 / t.n_classes) if t.kind == "classification" else p  # a random class may be the true one
    assert abs(changed - expected) < 0.05
    np.testing.assert_array_equal(corrupt_labels(t, 0, y[:300], p), noisy[:300])  # nested across N


def test_label_noise_reaches_training_labels_only():
    t = task("mixtures", delta=2.0, radius=0.5)
    clean = run_cell(CellSpec(t, REG.learners["kernel_ridge"].with_params(kernel=["rbf"]), 200, 0, Protocol(n_test=500)))
    noisy = run_cell(CellSpec(t, REG.learners["kernel_ridge"].with_params(kernel=["rbf"]), 200, 0,
                              Protocol(n_test=500, label_noise=1.0)))
    assert clean["test_score"] == 0.0  # separated classes: perfect
    assert noisy["test_score"] > 0.3  # all training labels random: chance-level on the clean test set


def test_digits_split_is_disjoint_nested_and_bounded():
    t = task("digits")
    X_te, _ = fixed_test_set(t, 0, 5000)
    X_tr, y_tr = training_set(t, 0, 1300)
    assert len(X_te) == 497 and X_tr.shape == (1300, 64) and X_tr.max() <= 1.0
    rows_te = {r.tobytes() for r in X_te}
    idx_overlap = sum(r.tobytes() in rows_te for r in X_tr)
    assert idx_overlap <= 5  # the digits set has a few exact duplicate images, nothing more
    np.testing.assert_array_equal(training_set(t, 0, 100)[0], X_tr[:100])
    with pytest.raises(BenchError, match="1300 training points"):
        training_set(t, 0, 1301)


def test_mnist_offline_and_uncached_says_what_to_do(monkeypatch, tmp_path, bench):
    import socket

    import sklearn.datasets

    from plugins.tasks import digits as mod

    def offline(*a, **k):
        raise socket.gaierror(-3, "Temporary failure in name resolution")  # what a DNS failure raises

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", offline)
    monkeypatch.setenv("CONCEPTBENCH_DATA", str(tmp_path / "cache"))
    mod._mnist.cache_clear()
    code, _, err = bench("run", "-t", "mnist", "-l", "kernel_ridge", "--n", "100")
    assert code != 0
    line = one_line_error(err)
    assert "no cached copy" in line and str(tmp_path / "cache") in line and "'digits'" in line

    fake = (np.random.default_rng(0).integers(0, 256, (11000, 784)).astype(float),
            np.array([str(i % 10) for i in range(11000)], dtype=object))
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", lambda *a, **k: fake)
    mod._mnist.cache_clear()
    X, y = training_set(REG.tasks["mnist"], 0, 1000)
    assert X.shape == (1000, 784) and X.max() <= 1.0 and set(np.unique(y)) <= set(range(10))
    mod._mnist.cache_clear()


@pytest.mark.parametrize("args, words", [
    (["-t", "poly", "-p", "degrees=(2,-1)"], "poly: degrees must be positive integers"),
    (["-t", "teacher2", "-p", "p=-3"], "teacher2: p must be an integer >= 1"),
    (["-t", "teacher2", "-p", "phi=tanh"], "phi must be one of"),
    (["-t", "mixtures", "-p", "k=1"], "mixtures: k must be an integer >= 2"),
    (["-t", "mixtures", "-p", "radius=0.9"], "radius must lie in (0, delta/2]"),
    (["-t", "cos", "-p", "frequency=0"], "frequency must be a positive number"),
    (["-t", "sin3", "--zou-gu-mu", "1.0"], "--zou-gu-mu must lie strictly between 0 and 1"),
    (["-t", "sin3", "--label-noise", "-0.1"], "--label-noise must lie in [0, 1]"),
])
def test_invalid_task_parameters_get_one_line(bench, args, words):
    code, _, err = bench("run", *args, "-l", "kernel_ridge", "--n", "50")
    assert code != 0 and words in one_line_error(err)


def test_zou_gu_and_noise_runs_are_separate_leaderboard_variants(bench, tmp_path):
    common = ["-t", "poly", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "--ns", "30,60",
              "--seeds", "1", "--n-test", "200", "--jobs", "1", "--out", str(tmp_path / "lb")]
    assert bench("run", *common)[0] == 0
    assert bench("run", *common, "--zou-gu-mu", "0.5", "--label-noise", "0.2")[0] == 0
    page = (tmp_path / "lb" / "poly.md").read_text()
    assert page.count("## poly") == 2 and "label noise 0.2" in page and "zou_gu(mu=0.5)" in page
