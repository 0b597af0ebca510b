"""Built-in learners against independent references: scikit-learn, easy targets, divergence."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from sklearn.kernel_ridge import KernelRidge

from harness import Problem, Task
from harness.cell import CellSpec, Protocol, run_cell
from harness.registry import load_registry


@pytest.fixture(scope="module")
def reg():
    return load_registry()


class Linear(Task):
    name, kind, description = "linear", "regression", "y = x1 + 0.5 x2 on the unit sphere"

    def sample(self, n, rng):
        X = rng.standard_normal((n, 5))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return X, X[:, 0] + 0.5 * X[:, 1]


class Blobs(Task):
    name, kind, n_classes, description = "blobs", "classification", 3, "three separated Gaussian blobs"

    def sample(self, n, rng):
        y = rng.integers(3, size=n)
        centres = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]])
        return centres[y] + 0.5 * rng.standard_normal((n, 3)), y


@pytest.mark.parametrize("kernel, metric", [("rbf", "sqeuclidean"), ("laplacian", "cityblock")])
def test_kernel_ridge_equals_scikit_learns_own_result(reg, kernel, metric):
    rng = np.random.default_rng(0)
    X, X_new = rng.standard_normal((300, 4)), rng.standard_normal((50, 4))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    params = {"kernel": kernel, "gamma_scale": 2.0, "alpha_per_n": 1e-3}
    ours = reg.learners["kernel_ridge"].fit(X, y, params, rng, Problem("regression", 4))
    gamma = 2.0 / np.median(pdist(X, metric=metric))  # the documented median heuristic
    ref = KernelRidge(alpha=1e-3 * 300, kernel=kernel, gamma=gamma).fit(X, y)
    np.testing.assert_allclose(ours.predict(X_new), ref.predict(X_new), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("learner, overrides, bound", [
    ("kernel_ridge", {}, 0.01),
    ("three_layer_sgd", {"width": [64], "epochs": [60]}, 0.05),
    ("ntk", {}, 0.01),
    ("random_features", {"width": [1000]}, 0.01),
])
def test_learners_fit_a_linear_target(reg, learner, overrides, bound):
    lr = reg.learners[learner].with_params(**overrides) if overrides else reg.learners[learner]
    record = run_cell(CellSpec(Linear(), lr, n=400, seed=0, protocol=Protocol(n_test=1000)))
    assert record["status"] == "ok", record["error"]
    assert record["test_score"] < bound


@pytest.mark.parametrize("learner, overrides", [
    ("kernel_ridge", {"kernel": ["rbf"]}),
    ("three_layer_sgd", {"width": [64], "epochs": [30]}),
    ("ntk", {"depth": [2]}),
    ("random_features", {"width": [300]}),
])
def test_learners_classify_separated_blobs(reg, learner, overrides):
    record = run_cell(CellSpec(Blobs(), reg.learners[learner].with_params(**overrides), n=300, seed=1,
                               protocol=Protocol(n_test=1000)))
    assert record["status"] == "ok", record["error"]
    assert record["metric"] == "error" and record["test_score"] < 0.05


def test_a_huge_learning_rate_is_recorded_as_diverged_and_skipped(reg):
    sgd = reg.learners["three_layer_sgd"].with_params(width=[32], epochs=[5], lr=[1e4, 0.05], weight_decay=[0.0])
    record = run_cell(CellSpec(Linear(), sgd, n=200, seed=0, protocol=Protocol(n_test=200)))
    assert record["status"] == "ok"
    assert [t["status"] for t in record["selection"]] == ["diverged", "ok"]
    assert record["chosen_params"]["lr"] == 0.05

    only_huge = sgd.with_params(lr=[1e4])
    record = run_cell(CellSpec(Linear(), only_huge, n=200, seed=0, protocol=Protocol(n_test=200)))
    assert record["status"] == "diverged" and record["test_score"] is None


def test_sgd_is_deterministic_given_the_seed(reg):
    sgd = reg.learners["three_layer_sgd"].with_params(width=[32], epochs=[5], lr=[0.05], weight_decay=[0.0])
    a, b = (run_cell(CellSpec(Linear(), sgd, n=100, seed=4, protocol=Protocol(n_test=100))) for _ in range(2))
    assert a["test_score"] == b["test_score"]
