"""Last layer only: a random ReLU layer of m features, kept at its initialisation, with the
output layer fitted by ridge regression — "2layer(last)" of Allen-Zhu, Li, Liang (2019, Fig. 1),
the conjugate kernel, fitted by ridge instead of the paper's SGD (``two_layer_sgd -p train=last``
is the same model trained by SGD)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import hookimpl, is_int

from .design import Design, feature_rows, kept_bytes
from .ridge import PREDICT_ROWS, RIDGE, RIDGES, RidgeLearner, ridge_bytes, ridge_seconds

# Seconds per row × m² of the primal Gram ΦᵀΦ (time_estimate only), fitted to the whole cell at
# N = 10⁵ in benchmarks/kernel_scaling.md (44 s, widths 100/1000/4000, 11 ridges each): its
# Cholesky factorisations come to ~15 s at ridge.CHOLESKY_SECONDS, the Grams to the other ~29 s.
GRAM_SECONDS = 1e-11


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
        out = X @ self.W         # in place from here: one rows × m array
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
        """float64 bytes at the peak. Primal form (m ≤ n): the ridge solve on the m × m Gram
        (:func:`ridge_bytes`) beside one block of features while the Gram is summed
        (:func:`primal_gram`), whatever n is, and the grid's Grams kept for extension rounds
        (:func:`kept_bytes`); dual form (m > n): the n × m features Φ, the ridge
        solve on the n × n Gram, and Φᵀ kept for prediction; prediction PREDICT_ROWS × m
        features (two arrays at once).

        Checked against the peak RSS above the interpreter's of selection, refit and prediction
        (default grid, sin3, 5000 test points, one thread): N = 2000 measured 300 MiB, this gives
        342 MiB; N = 4000 measured 321 MiB, this gives 868 MiB (the eigendecomposition fallback
        it allows for was not needed there).
        """
        m = int(params["width"])
        p, dual = min(m, n), m > n
        kept = kept_bytes([int(w) for w in self.grid_spec.get("width", [m])], n)
        fit = ridge_bytes(p) + (8 * n * m if dual else 8 * feature_rows(m) * m) + kept
        predict = 8 * (p * p + 2 * PREDICT_ROWS * m) + (8 * n * m if dual else 0)
        return max(fit, predict)

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """:func:`ridge_seconds` with the features' Gram at :data:`GRAM_SECONDS` per row × m²
        (the primal form) or the n × n Gram of the dual one (m > n), a min(m, n) solve per ridge."""
        def design(params: dict[str, Any], rows: int, other: int) -> float:
            m = int(params["width"])
            return GRAM_SECONDS * (rows * min(m, rows) * m + other * m * (d + 1))
        return ridge_seconds(n, grid, 0, lambda params, size: False, design,
                             lambda params, rows: min(int(params["width"]), rows))

    def design(self, X: np.ndarray, T: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
               n_total: int) -> Design:
        # Linear in n already (m ≤ a few thousand) and, in the primal form, summed over blocks of
        # rows: no Nyström path needed at any N, and memory does not grow with it.
        return Design.from_features(ReLUFeatures(X.shape[1], int(params["width"]), float(params["bias"]), rng), X, T)


@hookimpl
def register_learners(register):
    register(RandomFeatures())
