"""Tasks and the harness's data: sin3 against the paper's formula, nested training sets, test set."""

import math

import numpy as np
import pytest

from harness import BenchError, Task
from harness.execution.registry import load_registry
from harness.protocol.data import CHUNK, checked_sample, fixed_test_set, training_set


@pytest.fixture(scope="module")
def sin3():
    return load_registry().tasks["sin3"]


def test_sin3_matches_the_papers_formula_point_by_point(sin3):
    X, y = sin3.sample(200, np.random.default_rng(0))
    for x, value in zip(X, y):
        expected = (math.sin(3 * x[0]) + math.sin(3 * x[1]) + math.sin(3 * x[2]) - 2) ** 2 * math.cos(7 * x[3])
        assert value == pytest.approx(expected, abs=1e-12)


def test_sin3_inputs_are_unit_norm_and_isotropic(sin3):
    X, y = sin3.sample(20000, np.random.default_rng(1))
    assert X.shape == (20000, 4)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    # uniform on the sphere S^3: E[x_i^2] = 1/4, E[x_i] = 0
    np.testing.assert_allclose((X ** 2).mean(axis=0), 0.25, atol=0.01)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=0.02)
    assert 25 < y.var() < 35  # DESIGN.md: Var(y) ≈ 30


def test_training_sets_are_nested_prefixes_across_chunks(sin3):
    big_X, big_y = training_set(sin3, seed=3, n=CHUNK * 2 + 17)
    for n in (1, 50, CHUNK - 1, CHUNK, CHUNK + 5):
        X, y = training_set(sin3, seed=3, n=n)
        np.testing.assert_array_equal(X, big_X[:n])
        np.testing.assert_array_equal(y, big_y[:n])


def test_seeds_change_the_draw_and_test_set_is_disjoint_from_training(sin3):
    X0, _ = training_set(sin3, seed=0, n=500)
    X1, _ = training_set(sin3, seed=1, n=500)
    assert not np.allclose(X0, X1)
    Xt, _ = fixed_test_set(sin3, seed=0, n_test=2000)
    train_rows = {row.tobytes() for row in X0}
    assert not any(row.tobytes() in train_rows for row in Xt)
    # fixed per (task, seed): drawing it again gives the same points
    np.testing.assert_array_equal(Xt, fixed_test_set(sin3, seed=0, n_test=2000)[0])


class Broken(Task):
    name, kind = "broken", "regression"

    def __init__(self, mode="nan"):
        super().__init__(mode=mode)

    def sample(self, n, rng):
        X = rng.standard_normal((n, 3))
        if self.params["mode"] == "nan":
            return X, np.full(n, np.nan)
        if self.params["mode"] == "shape":
            return X, np.zeros((n, 2))
        return X[:-1], np.zeros(n)


@pytest.mark.parametrize("mode, words", [("nan", "not finite"), ("shape", "shape"), ("rows", "shape")])
def test_task_output_that_breaks_the_contract_is_named(mode, words):
    with pytest.raises(BenchError, match=f"task 'broken'.*{words}"):
        checked_sample(Broken(mode), 10, np.random.default_rng(0))


def test_tanh3_is_fig2s_target_on_sin3s_inputs():
    """F(x) = (tanh 8x1 + tanh 8x2 + tanh 8x3 − 2)² · tanh 8x4 (Allen-Zhu–Li–Liang Fig. 2), on the
    very inputs sin3 draws from the same generator (standard Gaussian in R^4, normalised)."""
    reg = load_registry()
    tanh3, sin3 = reg.tasks["tanh3"], reg.tasks["sin3"]
    X, y = tanh3.sample(300, np.random.default_rng(4))
    np.testing.assert_array_equal(X, sin3.sample(300, np.random.default_rng(4))[0])
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    for x, value in zip(X, y):
        expected = (math.tanh(8 * x[0]) + math.tanh(8 * x[1]) + math.tanh(8 * x[2]) - 2) ** 2 * math.tanh(8 * x[3])
        assert value == pytest.approx(expected, abs=1e-12)
