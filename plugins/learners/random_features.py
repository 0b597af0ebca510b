"""Last layer only: a random ReLU layer of m features, kept at its initialisation, with the
output layer fitted by ridge regression — "2layer(last)" of Allen-Zhu, Li, Liang (2019, Fig. 1),
the conjugate kernel, fitted by ridge instead of the paper's SGD (``two_layer_sgd -p train=last``
is the same model trained by SGD)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import hookimpl, is_int

from .ridge import PREDICT_ROWS, RIDGE, RIDGES, Design, RidgeLearner, ridge_bytes


class ReLUFeatures:
    """x → relu(√(1−β²) W x + β b) / √m with W, b standard Gaussian: the first layer of the
    network in :mod:`arccos`, so ΦΦᵀ → :func:`arccos.arccos1` as m → ∞."""

    def __init__(self, d: int, width: int, bias: float, rng: np.random.Generator) -> None:
        if not 0.0 <= bias < 1.0:
            raise ValueError(f"bias (β²) must lie in [0, 1), got {bias!r}")
        self.W = rng.standard_normal((d, width)) * np.sqrt(1.0 - bias)
        self.b = rng.standard_normal(width) * np.sqrt(bias)
        self.scale = width ** -0.5

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = X @ self.W         # in place from here: one n × m array (3.2 GB at N = 10⁵, m = 4000)
        out += self.b
        np.maximum(out, 0.0, out=out)
        out *= self.scale
        return out


class RandomFeatures(RidgeLearner):
    """Ridge regression on ``width`` random ReLU features; width and ridge tuned on validation."""

    name = "random_features"
    description = "last layer only: ridge on m random ReLU features (biases), m and ridge tuned"
    parameters = {
        "width": [100, 1000, 4000],
        "bias": [0.5],
        RIDGE: RIDGES,
    }

    def check_params(self) -> None:
        super().check_params()
        self.require("width", is_int(1), "a positive integer")

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float64 bytes at the peak: the n × m features Φ (computed in place), the ridge solve
        on the smaller Gram (m × m primal, n × n dual; :func:`ridge_bytes`) — the primal form
        keeps no Φ once its Gram is built — and in prediction PREDICT_ROWS × m features (two
        arrays at once), times Φᵀ in the dual form.

        Checked against the peak RSS above the interpreter's of selection, refit and prediction
        (default grid, sin3, 5000 test points, one thread): N = 2000 measured 280 MiB, this gives
        404 MiB; N = 4000 measured 411 MiB, this gives 854 MiB (the eigendecomposition fallback
        it allows for was not needed there).
        """
        m = int(params["width"])
        p, dual = min(m, n), m > n
        features = 8 * n * m
        fit = features + ridge_bytes(p)
        predict = 8 * (p * p + 2 * PREDICT_ROWS * m) + (features + 8 * PREDICT_ROWS * n if dual else 0)
        return max(fit, predict)

    def design(self, X: np.ndarray, T: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
               n_total: int) -> Design:
        # Linear in n already (m ≤ a few thousand): no Nyström path needed at any N.
        return Design.from_features(ReLUFeatures(X.shape[1], int(params["width"]), float(params["bias"]), rng), X, T)


@hookimpl
def register_learners(register):
    register(RandomFeatures())
