"""ntk and random_features against independent references: hand-derived kernel values, Arora et
al.'s H∞, Cho & Saul's arc-cosine kernel, the empirical NTK of wide torch networks, and
scikit-learn's KernelRidge."""

import numpy as np
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge

from harness import Problem
from harness.execution.registry import load_registry
from plugins.learners.kernels import arccos

E1, E2 = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])
THETA2 = np.arccos(1 / np.pi)  # angle between orthogonal inputs after one bias-free ReLU layer


@pytest.fixture(scope="module")
def reg():
    return load_registry()


def unit_rows(rng, n, d):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("x, y, depth, bias, expected", [
    # 2 layers, no bias, orthogonal: Σ¹ = 0, θ = π/2 → Λ = 1/(2π), first-layer part 0.
    (E1, E2, 2, 0.0, 1 / (2 * np.pi)),
    # 2 layers, same point: Λ = 1/2, D = 1/2, Σ¹ = 1 → 1/2 + 1/2.
    (E1, E1, 2, 0.0, 1.0),
    # 2 layers, β² = 1/2 (x → [x, 1]/√2), orthogonal: Σ¹ = 1/2, θ = π/3, D = 1/3
    #   → (sin π/3 + (2π/3)·(1/2)) / (2π) + (1/2)(1/3) = √3/(4π) + 1/3.
    (E1, E2, 2, 0.5, np.sqrt(3) / (4 * np.pi) + 1 / 3),
    # 3 layers, no bias, orthogonal: Σ² = 2·1/(2π) = 1/π, Σ̇² = 2·1/4, Θ² = 1/π + 0;
    #   output: cos θ₂ = 1/π → Λ² + Θ²·D².
    (E1, E2, 3, 0.0, (np.sqrt(1 - np.pi ** -2) + (np.pi - THETA2) / np.pi) / (2 * np.pi)
     + (1 / np.pi) * (np.pi - THETA2) / (2 * np.pi)),
    # 3 layers, same point: Σ² = 1, Θ² = 1 + 1·1 = 2 → 1/2 + 2·1/2.
    (E1, E1, 3, 0.0, 1.5),
])
def test_ntk_matches_hand_derived_values_for_two_points(x, y, depth, bias, expected):
    assert arccos.ntk(x, y, depth, bias)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_first_layer_part_of_the_two_layer_ntk_is_arora_h_infinity():
    X = unit_rows(np.random.default_rng(0), 30, 6)
    G = np.clip(X @ X.T, -1, 1)
    h_inf = G * (np.pi - np.arccos(G)) / (2 * np.pi)  # Arora et al. (2019), eq. for H∞
    first_layer = arccos.ntk(X, X, 2, 0.0) - arccos.arccos1(X, X, 0.0)  # minus the output layer's part
    np.testing.assert_allclose(first_layer, h_inf, atol=1e-12)


def cho_saul_k1(A, B):
    """Arc-cosine kernel of degree 1 (Cho & Saul 2009): ‖a‖‖b‖(sin θ + (π − θ) cos θ)/π."""
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    theta = np.arccos(np.clip(A @ B.T / np.outer(na, nb), -1, 1))
    return np.outer(na, nb) * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi


def with_bias_input(X, bias):
    """The bias as an input coordinate: x → [√(1−β²) x, β]."""
    return np.hstack([np.sqrt(1 - bias) * X, np.full((len(X), 1), np.sqrt(bias))])


def test_random_feature_kernel_is_the_halved_cho_saul_kernel_of_the_bias_augmented_input():
    rng = np.random.default_rng(1)
    X, Y = 2.0 * rng.standard_normal((20, 4)), rng.standard_normal((15, 4))  # not unit norm
    np.testing.assert_allclose(arccos.arccos1(X, Y, 0.3),
                               cho_saul_k1(with_bias_input(X, 0.3), with_bias_input(Y, 0.3)) / 2, atol=1e-12)


def empirical_ntk(X, depth, width, bias, seed):
    """⟨∂f(x)/∂θ, ∂f(x')/∂θ⟩ by autograd for a torch network written out from the documented
    parameterisation (standard Gaussian weights and biases, all trained)."""
    gen = torch.Generator().manual_seed(seed)
    dims = [X.shape[1]] + [width] * (depth - 1)
    Ws = [torch.randn(dims[i + 1], dims[i], generator=gen).requires_grad_() for i in range(depth - 1)]
    bs = [torch.randn(width, generator=gen).requires_grad_() for _ in range(depth - 1)]
    a = torch.randn(width, generator=gen).requires_grad_()
    params = Ws + bs + [a]

    def f(x):
        h = x
        for i, (W, b) in enumerate(zip(Ws, bs)):
            scale = 1.0 if i == 0 else (2.0 / width) ** 0.5
            h = torch.relu((1 - bias) ** 0.5 * scale * (W @ h) + bias ** 0.5 * b)
        return a @ h / width ** 0.5

    grads = [torch.autograd.grad(f(x), params) for x in torch.as_tensor(X, dtype=torch.float32)]
    K = np.zeros((len(X), len(X)))
    for i in range(len(X)):
        for j in range(i, len(X)):
            K[i, j] = K[j, i] = sum(float(torch.dot(g.reshape(-1), h.reshape(-1)))
                                    for g, h in zip(grads[i], grads[j]))
    return K


@pytest.mark.parametrize("depth, n_points", [
    (2, 6),  # ~1 s, 0.4 GB
    pytest.param(3, 3, marks=pytest.mark.slow),  # a 20000×20000 layer and its gradients: ~10 s, 6.5 GB
])
def test_empirical_ntk_of_a_width_20000_network_is_within_a_few_percent(depth, n_points):
    X = unit_rows(np.random.default_rng(2), n_points, 5)
    analytic = arccos.ntk(X, X, depth, 0.5)
    empirical = empirical_ntk(X, depth, 20000, 0.5, seed=0)
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.04
    np.testing.assert_allclose(empirical, analytic, rtol=0.06)


def test_mean_empirical_ntk_of_eight_width_2000_three_layer_networks_is_within_a_few_percent():
    # The default-run stand-in for the slow width-20000 case above (~1 s, +0.1 GB): averaging 8
    # independent networks cuts the spread by √8. Measured over 30 such groups of 8 (seeds 0-239):
    # relative Frobenius error mean 0.013, sd 0.007, max 0.030; worst element 0.039 (one width-20000
    # net: 0.027, 0.030). Wrong kernels are far outside: bias 0.3 for 0.5 is 0.13 off, ×1.1 is 0.10,
    # the 2-layer kernel 0.29.
    X = unit_rows(np.random.default_rng(2), 3, 5)
    analytic = arccos.ntk(X, X, 3, 0.5)
    empirical = np.mean([empirical_ntk(X, 3, 2000, 0.5, seed=s) for s in range(8)], axis=0)
    assert np.linalg.norm(empirical - analytic) / np.linalg.norm(analytic) < 0.04
    np.testing.assert_allclose(empirical, analytic, rtol=0.06)


def test_random_features_converge_to_their_arc_cosine_kernel_regression(reg):
    rng = np.random.default_rng(0)
    X, X_new = unit_rows(rng, 300, 4), unit_rows(rng, 200, 4)
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    bias, ridge = 0.5, 1e-3
    K = cho_saul_k1(with_bias_input(X, bias), with_bias_input(X, bias)) / 2
    K_new = cho_saul_k1(with_bias_input(X_new, bias), with_bias_input(X, bias)) / 2
    ref = KernelRidge(alpha=ridge * 300, kernel="precomputed").fit(K, y - y.mean()).predict(K_new) + y.mean()
    gaps = []
    for width in (100, 1000, 10000):  # 100 and 10000 also exercise the dual and primal forms
        model = reg.learners["random_features"].fit(X, y, {"width": width, "bias": bias, "ridge_per_n": ridge},
                                                    np.random.default_rng(width), Problem("regression", 4))
        gaps.append(np.sqrt(np.mean((model.predict(X_new) - ref) ** 2)) / np.std(ref))
    assert gaps[0] > 2 * gaps[1] > 4 * gaps[2]  # ≈ 1/√m
    assert gaps[2] < 0.02


def test_ntk_selection_scores_equal_scikit_learn_kernel_ridge(reg):
    rng = np.random.default_rng(3)
    X, X_val = unit_rows(rng, 120, 4), unit_rows(rng, 40, 4)
    f = lambda Z: Z[:, 0] ** 2 - Z[:, 1]  # noqa: E731
    learner = reg.learners["ntk"]
    grid = learner.with_params(depth=[3], ridge_per_n=[1e-8, 1e-4, 1e-1]).param_grid(None, 120)
    sel = learner.fit_select(X, f(X), X_val, f(X_val), grid, rng, Problem("regression", 4))
    K, K_val = arccos.ntk(X, X, 3, 0.5), arccos.ntk(X_val, X, 3, 0.5)
    for trial in sel.trials:
        ridge = trial["params"]["ridge_per_n"] * len(X)
        pred = KernelRidge(alpha=ridge, kernel="precomputed").fit(K, f(X) - f(X).mean()).predict(K_val)
        assert trial["val_score"] == pytest.approx(np.mean((pred + f(X).mean() - f(X_val)) ** 2), rel=1e-6)
    assert sel.best_score == min(t["val_score"] for t in sel.trials)


def test_ridge_path_falls_back_to_clipped_eigenvalues_when_cholesky_fails():
    from plugins.learners.kernels.ridge import RidgePath
    rng = np.random.default_rng(4)
    V = rng.standard_normal((8, 3))
    gram = V @ V.T - 1e-9 * np.eye(8)  # rank 3, slightly indefinite: Cholesky fails for ridge 1e-12
    B = rng.standard_normal((8, 2))
    s, U = np.linalg.eigh(gram)
    expected = U @ np.diag(1 / (np.clip(s, 0, None) + 1e-12)) @ U.T @ B
    np.testing.assert_allclose(RidgePath(gram, B).coef(1e-12), expected, rtol=1e-6)
    direct = np.linalg.solve(gram + 0.5 * np.eye(8), B)  # a well-posed ridge takes the Cholesky route
    np.testing.assert_allclose(RidgePath(gram, B).coef(0.5), direct, rtol=1e-10)


# --- No waste: kernel_ridge solves every candidate from one distance matrix per kernel, and the
# --- arc-cosine recursion runs in blocks.

def whole_matrix_ntk(X, Y, depth, bias):
    """The recursion as the whole-matrix formula computed it before it was blocked: the
    reference the blocked, in-place version must reproduce."""
    w, b = 1.0 - bias, bias

    def moments(c, s, t):
        norm = np.sqrt(np.outer(s, t))
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(norm > 0, c / np.where(norm > 0, norm, 1.0), 0.0)
        theta = np.arccos(np.clip(cos, -1.0, 1.0))
        return norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi), (np.pi - theta) / (2 * np.pi)

    cov, sx, sy = w * (X @ Y.T) + b, w * np.sum(X * X, 1) + b, w * np.sum(Y * Y, 1) + b
    theta = cov.copy()
    for _ in range(depth - 2):
        lam, dot = moments(cov, sx, sy)
        new_cov = w * 2.0 * lam + b
        theta = new_cov + theta * (w * 2.0 * dot)
        cov, sx, sy = new_cov, w * sx + b, w * sy + b
    lam, dot = moments(cov, sx, sy)
    return lam + theta * dot, lam


@pytest.mark.parametrize("depth, bias", [(2, 0.5), (3, 0.5), (4, 0.2), (3, 0.0)])
def test_blocked_arc_cosine_recursion_equals_the_whole_matrix_formula(depth, bias, monkeypatch):
    rng = np.random.default_rng(5)
    X, Y = 1.5 * rng.standard_normal((150, 5)), rng.standard_normal((170, 5))
    X[7] = 0.0  # a zero row: Σ¹ = β² only, and with β = 0 the 0/0 angle
    monkeypatch.setattr(arccos, "BLOCK_ELEMENTS", 1000)  # several blocks, a ragged last one
    theta, lam = whole_matrix_ntk(X, Y, depth, bias)
    np.testing.assert_allclose(arccos.ntk(X, Y, depth, bias), theta, rtol=1e-12, atol=1e-12 * np.abs(theta).max())
    if depth == 2:
        np.testing.assert_allclose(arccos.arccos1(X, Y, bias), lam, rtol=1e-12, atol=1e-12 * np.abs(lam).max())


@pytest.mark.parametrize("bias", [0.0, 0.5])
def test_the_diagonal_of_the_gram_is_exact(bias, monkeypatch):
    # A point with itself: θ = 0 at every layer, so Λ = s/2 and D = 1/2 exactly. With s the
    # first layer's variance w‖x‖² + b: depth 2 gives Θ = s; depth 3 gives Σ² = w s + b,
    # Θ² = Σ² + w s, Θ = (Σ² + Θ²)/2.
    monkeypatch.setattr(arccos, "BLOCK_ELEMENTS", 1000)
    X = 1.7 * unit_rows(np.random.default_rng(8), 200, 4)
    w = 1 - bias
    s = w * np.sum(X * X, 1) + bias
    np.testing.assert_allclose(np.diag(arccos.ntk(X, X, 2, bias)), s, rtol=1e-14)
    s2 = w * s + bias
    np.testing.assert_allclose(np.diag(arccos.ntk(X, X, 3, bias)), (s2 + s2 + w * s) / 2, rtol=1e-14)


def test_arc_cosine_recursion_holds_at_most_two_and_a_half_matrices():
    import tracemalloc
    X = unit_rows(np.random.default_rng(6), 1500, 4)
    matrix = 8 * len(X) ** 2
    peaks = []
    for kernel in (lambda: arccos.ntk(X, X, 3, 0.5), lambda: whole_matrix_ntk(X, X, 3, 0.5)):
        tracemalloc.start()
        kernel()
        peaks.append(tracemalloc.get_traced_memory()[1] / matrix)
        tracemalloc.stop()
    assert peaks[0] <= 2.5
    assert peaks[1] >= 8  # the whole-matrix formula this replaces: the check can tell them apart


def kernel_ridge_problem(kind):
    rng = np.random.default_rng(7)
    X, X_val = rng.standard_normal((150, 3)), rng.standard_normal((50, 3))
    f = lambda Z: np.sin(2 * Z[:, 0]) + Z[:, 1] * Z[:, 2]  # noqa: E731
    if kind == "classification":
        g = lambda Z: (f(Z) > 0).astype(int) + (Z[:, 2] > 1)  # noqa: E731
        return X, g(X), X_val, g(X_val), Problem("classification", 3, 3)
    return X, f(X), X_val, f(X_val), Problem("regression", 3)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_kernel_ridge_selection_scores_equal_scikit_learn_for_every_candidate(reg, kind):
    from plugins.learners.kernels.kernel_ridge import median_distance
    X, y, X_val, y_val, problem = kernel_ridge_problem(kind)
    learner = reg.learners["kernel_ridge"].with_params(gamma_scale=[0.3, 3.0], alpha_per_n=[1e-8, 1e-4, 1.0])
    sel = learner.fit_select(X, y, X_val, y_val, learner.param_grid(None, 200), np.random.default_rng(0), problem)
    assert len(sel.trials) == 12
    target = np.eye(3)[y] if kind == "classification" else y
    for trial in sel.trials:
        p = trial["params"]
        sk = KernelRidge(alpha=p["alpha_per_n"] * len(X), kernel=p["kernel"],
                         gamma=p["gamma_scale"] / median_distance(X, p["kernel"])).fit(X, target)
        out = sk.predict(X_val)
        expected = (np.mean(np.argmax(out, 1) != y_val) if kind == "classification"
                    else np.mean((out - y_val) ** 2))
        assert trial["val_score"] == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("kernel", ["rbf", "laplacian"])
def test_kernel_ridge_fit_predicts_as_scikit_learn(reg, kernel):
    from plugins.learners.kernels.kernel_ridge import median_distance
    X, y, X_val, _, problem = kernel_ridge_problem("regression")
    params = {"kernel": kernel, "gamma_scale": 1.0, "alpha_per_n": 1e-6}
    model = reg.learners["kernel_ridge"].fit(X, y, params, np.random.default_rng(0), problem)
    sk = KernelRidge(alpha=1e-6 * len(X), kernel=kernel, gamma=1.0 / median_distance(X, kernel)).fit(X, y)
    np.testing.assert_allclose(model.predict(X_val), sk.predict(X_val), rtol=1e-9, atol=1e-12)


def test_kernel_ridge_selection_computes_each_kernels_distances_once(reg, monkeypatch):
    from plugins.learners.kernels import kernel_ridge
    calls = []
    real = kernel_ridge.distances
    monkeypatch.setattr(kernel_ridge, "distances", lambda A, B, k: calls.append((len(A), k)) or real(A, B, k))
    X, y, X_val, y_val, problem = kernel_ridge_problem("regression")
    learner = reg.learners["kernel_ridge"]
    grid = learner.param_grid(None, 200)
    assert len(grid) == 48
    learner.fit_select(X, y, X_val, y_val, grid, np.random.default_rng(0), problem)
    # one training and one validation distance matrix per kernel, for all 4 gammas × 6 alphas
    assert sorted(calls) == [(50, "laplacian"), (50, "rbf"), (150, "laplacian"), (150, "rbf")]


def test_kernel_ridge_rejects_an_unknown_kernel_before_training(reg):
    from harness import BenchError
    with pytest.raises(BenchError, match="kernel must be 'rbf' or 'laplacian', got 'poly'"):
        reg.learners["kernel_ridge"].with_params(kernel=["rbf", "poly"])


def test_random_features_summed_in_row_blocks_equal_scikit_learn_ridge_on_the_whole_features(reg, monkeypatch):
    # The primal Gram is summed over row blocks (design.primal_gram); blocks of 7 rows (an odd
    # tail too) must give scikit-learn's Ridge on the whole n × m feature matrix.
    from sklearn.linear_model import Ridge

    from plugins.learners.kernels import design
    from plugins.learners.kernels.random_features import ReLUFeatures

    rng = np.random.default_rng(3)
    X, X_new = unit_rows(rng, 200, 4), unit_rows(rng, 50, 4)
    y = np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2]
    width, bias, lam = 60, 0.5, 1e-4
    monkeypatch.setattr(design, "FEATURE_BLOCK_BYTES", 8 * width * 7)
    model = reg.learners["random_features"].fit(X, y, {"width": width, "bias": bias, "ridge_per_n": lam},
                                                np.random.default_rng(9), Problem("regression", 4))
    features = ReLUFeatures(4, width, bias, np.random.default_rng(9))  # the draw the learner made
    ref = Ridge(alpha=lam * len(X), fit_intercept=False, solver="cholesky").fit(features(X), y - y.mean())
    np.testing.assert_allclose(model.predict(X_new), ref.predict(features(X_new)) + y.mean(), rtol=1e-9, atol=1e-9)


def test_the_primal_gram_never_holds_the_whole_feature_matrix(monkeypatch):
    import tracemalloc

    from plugins.learners.kernels import design
    from plugins.learners.kernels.random_features import ReLUFeatures

    n, m = 40_000, 500                     # Φ would be 160 MB; a block here is 8 MB
    monkeypatch.setattr(design, "FEATURE_BLOCK_BYTES", 8 * 2**20)
    X = unit_rows(np.random.default_rng(0), n, 4)
    features = ReLUFeatures(4, m, 0.5, np.random.default_rng(1))
    tracemalloc.start()
    G, B = design.primal_gram(features, X, np.ones((n, 1)), m)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * n * m / 8            # one block (and the m × m Gram) at a time, not Φ
    Phi = features(X)
    np.testing.assert_allclose(G, Phi.T @ Phi, rtol=1e-12)
    np.testing.assert_allclose(B[:, 0], Phi.sum(axis=0), rtol=1e-12)


def test_random_features_extension_rounds_reuse_the_first_rounds_features(reg, monkeypatch):
    # The edge search calls fit_select again with the same data and rng: the features (and
    # their Gram) of the first round serve it, so every ridge of a width is compared on one
    # draw; another cell (another rng) draws its own.
    from sklearn.linear_model import Ridge

    from plugins.learners.kernels.random_features import RandomFeatures, ReLUFeatures

    builds = []
    design = RandomFeatures.design
    monkeypatch.setattr(RandomFeatures, "design", lambda self, *a: builds.append(1) or design(self, *a))
    rng = np.random.default_rng(11)
    X, X_val = unit_rows(rng, 300, 4), unit_rows(rng, 100, 4)
    y, y_val = np.sin(3 * X[:, 0]), np.sin(3 * X_val[:, 0])
    problem = Problem("regression", 4)
    learner = reg.learners["random_features"].with_params(width=[40], ridge_per_n=[1e-4, 1e-2])
    seed = np.random.default_rng(0).integers(2**63)       # the first round's draw from the cell's rng
    cell_rng = np.random.default_rng(0)
    learner.fit_select(X, y, X_val, y_val, learner.param_grid(None, 400), cell_rng, problem)
    ext = learner.fit_select(X, y, X_val, y_val, [{"width": 40, "bias": 0.5, "ridge_per_n": 1e-6}], cell_rng, problem)
    assert len(builds) == 1
    features = ReLUFeatures(4, 40, 0.5, np.random.default_rng(seed))
    ref = Ridge(alpha=1e-6 * len(X), fit_intercept=False, solver="cholesky").fit(features(X), y - y.mean())
    mse = np.mean((ref.predict(features(X_val)) + y.mean() - y_val) ** 2)
    assert ext.trials[0]["val_score"] == pytest.approx(mse, rel=1e-8)
    learner.fit_select(X, y, X_val, y_val, [{"width": 40, "bias": 0.5, "ridge_per_n": 1e-6}],
                       np.random.default_rng(0), problem)
    assert len(builds) == 2
