"""Task families of the papers: distributional facts checked by independent computation."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from conftest import one_line_error
from harness import BenchError
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from harness.protocol.data import corrupt_labels, fixed_test_set, training_set, zou_gu

REG = load_registry()
SPHERE_TASKS = ["teacher2", "teacher3", "poly", "cos"]


def task(name, **params):
    return REG.tasks[name].with_params(**params) if params else REG.tasks[name]


def test_every_family_is_listed_with_a_description(bench):
    code, out, _ = bench("list")
    for name in ["sin3", "tanh3", "teacher2", "teacher3", "poly", "cos", "mixtures", "mixtures_gauss", "digits",
                 "mnist"]:
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


# Smooth functions written out again here, independently of plugins/tasks/teachers.py.
PHI = {"sin": lambda z: math.sin(3 * z), "exp": math.exp, "poly2": lambda z: z ** 2, "poly3": lambda z: z ** 3 - z}


@pytest.mark.parametrize("phi", sorted(PHI))
def test_teacher2_is_eq_3_1_term_by_term(phi):
    """F(x) = Σ_i a*_i φ(⟨w*_{1,i}, x⟩)·⟨w*_{2,i}, x⟩ (Allen-Zhu–Li–Liang eq. (3.1))."""
    p, d = 4, 5
    t = task("teacher2", d=d, p=p, phi=phi)
    w = t.weights()
    assert w["W1"].shape == w["W2"].shape == (p, d) and w["a"].shape == (p,)
    X, y = t.sample(100, np.random.default_rng(9))
    for x, value in zip(X, y):
        expected = 0.0
        for i in range(p):
            inner1 = sum(w["W1"][i][m] * x[m] for m in range(d))
            inner2 = sum(w["W2"][i][m] * x[m] for m in range(d))
            expected += w["a"][i] * PHI[phi](inner1) * inner2
        assert value == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("phi", sorted(PHI))
def test_teacher3_is_eq_4_1_term_by_term(phi):
    """F(x) = Σ_i a*_i Φ(Σ_j v*_{1,i,j} φ(⟨w*_{1,j}, x⟩))·(Σ_j v*_{2,i,j} φ(⟨w*_{2,j}, x⟩)) (eq. (4.1)), Φ = φ."""
    p1, p2, d = 3, 4, 5
    t = task("teacher3", d=d, p1=p1, p2=p2, phi=phi)
    w = t.weights()
    assert w["W1"].shape == w["W2"].shape == (p2, d) and w["V1"].shape == w["V2"].shape == (p1, p2)
    assert w["a"].shape == (p1,)
    X, y = t.sample(60, np.random.default_rng(1))
    f = PHI[phi]
    for x, value in zip(X, y):
        expected = 0.0
        for i in range(p1):
            first = sum(w["V1"][i][j] * f(sum(w["W1"][j][m] * x[m] for m in range(d))) for j in range(p2))
            second = sum(w["V2"][i][j] * f(sum(w["W2"][j][m] * x[m] for m in range(d))) for j in range(p2))
            expected += w["a"][i] * f(first) * second
        assert value == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", ["teacher2", "teacher3"])
def test_teacher_inputs_have_unit_norm_and_padding_half_and_weights_are_unit(name):
    t = task(name, d=7)
    X, _ = t.sample(4000, np.random.default_rng(3))
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(X[:, -1], 0.5)
    np.testing.assert_allclose(X[:, :-1].mean(axis=0), 0.0, atol=0.03)  # the rest: uniform on a sphere of radius √3/2
    np.testing.assert_allclose((X[:, :-1] ** 2).mean(axis=0), 0.75 / 6, atol=0.01)
    w = t.weights()
    for key in w:
        if key != "a":
            np.testing.assert_allclose(np.linalg.norm(w[key], axis=1), 1.0, atol=1e-12)
    assert np.all(np.abs(w["a"]) <= 1)
    # the teacher depends only on teacher_seed, never on the data seed
    np.testing.assert_array_equal(t.weights()["W1"], task(name, d=7).weights()["W1"])
    assert not np.allclose(w["W1"], task(name, d=7, teacher_seed=1).weights()["W1"])


MIXTURES = [dict(k=3, l=2, d=5, delta=0.8), dict(k=4, l=3, d=3, delta=0.9),
            dict(k=2, l=1, d=2, delta=1.5, lam=0.05), dict(k=5, l=2, d=20, delta=1.1, lam=0.03)]


def lam_of(params):
    return params.get("lam") or 1 / (8 * params.get("l", 2))  # Li–Liang (A2): λ ≤ 1/(8l)


@pytest.mark.parametrize("params", MIXTURES)
def test_mixtures_meet_li_liang_a1_a2_on_samples(params):
    """‖x‖ = 1; points of components of different classes ≥ δ apart; each component's diameter ≤ λδ."""
    t = task("mixtures", **params)
    X, y, comp = t.sample_components(4000, np.random.default_rng(0))
    X2, y2 = t.sample(4000, np.random.default_rng(0))
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    delta, lam, k, l = params["delta"], lam_of(params), params["k"], params["l"]
    groups = {(s, j): X[(y == s) & (comp == j)] for s in range(k) for j in range(l)}
    assert all(len(g) > 50 for g in groups.values())
    for (s, j), A in groups.items():
        assert pdist(A).max() <= lam * delta
        for (s2, j2), B in groups.items():
            if s2 > s:
                assert cdist(A, B).min() >= delta


@pytest.mark.parametrize("params", MIXTURES)
def test_mixtures_centres_guarantee_the_separation(params):
    """Independently of the generator: unit centres, centres of different classes ≥ δ + 2r with
    r = λδ/2, every point within r of its own component's centre — so supports are ≥ δ apart."""
    t = task("mixtures", **params)
    delta, k, l = params["delta"], params["k"], params["l"]
    r = lam_of(params) * delta / 2
    assert r <= delta / (16 * l) + 1e-15
    C = t.centres()
    assert C.shape == (k, l, params["d"])
    np.testing.assert_allclose(np.linalg.norm(C, axis=-1), 1.0, atol=1e-12)
    for s in range(k):
        for s2 in range(s + 1, k):
            for j in range(l):
                for j2 in range(l):
                    assert math.dist(C[s, j], C[s2, j2]) >= delta + 2 * r
    X, y, comp = t.sample_components(3000, np.random.default_rng(1))
    assert np.linalg.norm(X - C[y, comp], axis=1).max() <= r + 1e-12
    # the caps are filled, not collapsed onto their centres
    assert np.linalg.norm(X - C[y, comp], axis=1).max() > 0.8 * r


def test_mixtures_are_balanced():
    t = task("mixtures", k=3, l=2, d=5, delta=0.8)
    _, y, comp = t.sample_components(6000, np.random.default_rng(0))
    assert np.all(np.abs(np.bincount(y, minlength=3) / 6000 - 1 / 3) < 0.03)
    assert np.all(np.abs(np.bincount(comp, minlength=2) / 6000 - 1 / 2) < 0.03)


def test_mixtures_gauss_is_li_liang_section_7():
    """d = 1000, k = 10, l = 2; x ~ N(μ, I/d) around its component's mean, μ ~ N(0, 25·I/d)."""
    t = task("mixtures_gauss")
    assert (t.params["d"], t.params["k"], t.params["l"], t.n_classes) == (1000, 10, 2, 10)
    assert "not (A1)–(A2)" in t.description
    mu = t.means()
    assert mu.shape == (10, 2, 1000)
    assert (mu ** 2).mean() * 1000 == pytest.approx(25, rel=0.05)
    assert abs(mu.mean()) < 0.01
    X, y, comp = t.sample_components(3000, np.random.default_rng(0))
    resid = X - mu[y, comp]
    assert (resid ** 2).mean() * 1000 == pytest.approx(1, rel=0.01)
    assert np.abs(resid.mean(axis=0)).max() < 5 * math.sqrt(1 / (1000 * 3000))  # 5 standard errors
    assert np.all(np.abs(np.bincount(y, minlength=10) / 3000 - 0.1) < 0.025)
    np.testing.assert_array_equal(t.sample(3000, np.random.default_rng(0))[0], X)


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
    t = task("mixtures")
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
    (["-t", "mixtures", "-p", "k=10", "-p", "delta=1.2"], "mixtures: delta=1.2 is too large for k=10, l=2, d=10"),
    (["-t", "mixtures_gauss", "-p", "k=1"], "mixtures_gauss: k must be an integer >= 2"),
    (["-t", "mixtures", "-p", "lam=0.1"], "mixtures: lam must lie in (0, 1/(8l)] = (0, 0.0625] for l=2"),
    (["-t", "mixtures", "-p", "l=3", "-p", "lam=0.05"], "mixtures: lam must lie in (0, 1/(8l)] = (0, 0.0416667]"),
    (["-t", "mixtures", "-p", "lam=0"], "mixtures: lam must lie in (0, 1/(8l)]"),
    (["-t", "mixtures", "-p", "delta=2"], "mixtures: delta must lie in (0, 1.88235] for k=2, lam=0.0625"),
    (["-t", "mixtures", "-p", "k=3", "-p", "delta=-1"], "mixtures: delta must lie in (0, 1.63017] for k=3"),
    (["-t", "mixtures", "-p", "l=0"], "mixtures: l must be an integer >= 1"),
    (["-t", "mixtures", "-p", "d=1"], "mixtures: d must be an integer >= 2"),
    (["-t", "teacher3", "-p", "p2=0"], "teacher3: p2 must be an integer >= 1"),
    (["-t", "teacher2", "-p", "d=1"], "teacher2: d must be an integer >= 2"),
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


def test_mixtures_placement_that_cannot_succeed_fails_fast_with_one_line():
    """δ too large for k·l centres: a bounded random search, then an error naming delta — no hang."""
    import time

    start = time.perf_counter()
    with pytest.raises(BenchError, match=r"^mixtures: delta=1.35 is too large for k=10, l=2, d=300: .*lower delta"):
        task("mixtures", k=10, l=2, d=300, delta=1.35)
    assert time.perf_counter() - start < 60


KR_FIXED = ["-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p", "alpha_per_n=1e-3"]
KR_TINY = [*KR_FIXED, "--n", "30", "--seeds", "1", "--n-test", "100", "--jobs", "1"]


def test_several_values_of_a_task_parameter_sweep_one_variant_each(bench, tmp_path):
    code, out, err = bench("run", "-t", "mixtures", *KR_TINY, "-p", "k=2,3,3", "--out", str(tmp_path / "lb"))
    assert code == 0 and "Ran 2 of 2 cells" in out, err  # a repeated value is one variant
    page = (tmp_path / "lb" / "mixtures.md").read_text()
    titles = [line for line in page.splitlines() if line.startswith("## mixtures (")]
    assert len(titles) == 2 and "`k=2`" in titles[0] and "`k=3`" in titles[1]


def test_a_bracketed_value_is_one_tuple_and_a_list_of_them_sweeps(bench, tmp_path):
    code, out, err = bench("run", "-t", "poly", *KR_TINY, "-p", "degrees=[1,2]", "--out", str(tmp_path / "one"))
    assert code == 0 and "Ran 1 of 1 cells" in out, err
    assert "## poly" not in (tmp_path / "one" / "poly.md").read_text()  # a single variant: no sections
    code, out, err = bench("run", "-t", "poly", *KR_TINY, "-p", "degrees=[1,2],[3]", "--out", str(tmp_path / "two"))
    assert code == 0 and "Ran 1 of 2 cells" in out and "1 already in" in out, err  # degrees=[1,2] is stored
    page = (tmp_path / "two" / "poly.md").read_text()
    assert "## poly (`d=10`, `degrees=[1, 2]`" in page and "## poly (`d=10`, `degrees=[3]`" in page


def test_n_above_a_finite_tasks_training_pool_is_refused_before_training(bench):
    code, _, err = bench("run", "-t", "digits", *KR_FIXED, "--ns", "100,2000", "--seeds", "1", "--no-leaderboard")
    assert code != 0 and "[1/" not in err  # nothing trained, not even N=100
    assert one_line_error(err) == ("error: task 'digits' holds 1300 training points; N=2000 is too large "
                                   "(largest N: 1300)")
    from harness.execution.runner import plan
    assert len(plan([REG.tasks["digits"]], [REG.learners["kernel_ridge"]], [1300], [0], Protocol())) == 1
