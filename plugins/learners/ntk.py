"""Kernel regression with the exact infinite-width neural tangent kernel of the 2- and 3-layer
ReLU networks (with biases) — the "NTK" curve of Allen-Zhu, Li, Liang (2019, Fig. 1)."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from harness import hookimpl, is_int

from . import arccos
from .ridge import PREDICT_ROWS, RIDGE, RIDGES, Design, RidgeLearner, ridge_bytes


class NTK(RidgeLearner):
    """Ridge regression with Θ from :func:`arccos.ntk` (parameterisation documented there).

    ``depth`` is the number of layers of weights (2: one hidden layer, 3: two); ``bias`` is β²,
    the share of each pre-activation's variance that comes from its bias. Without biases the
    2-layer NTK cannot fit sin3 (its odd harmonics of degree ≥ 3 vanish), so the default is
    β² = 1/2, the map x → [x, 1]/√2. The ridge is ``ridge_per_n · n``; classification regresses
    centred one-hot targets.
    """

    name = "ntk"
    discrete = frozenset({"depth"})  # a choice between two kernels, not an ordered axis
    description = "kernel regression with the exact NTK of the 2-/3-layer ReLU net (biases), ridge tuned"
    parameters = {
        "depth": [2, 3],
        "bias": [0.5],
        RIDGE: RIDGES,
    }

    def check_params(self) -> None:
        super().check_params()
        self.require("depth", is_int(2), "an integer ≥ 2 (layers of weights)")

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """Bytes at the peak, counted in N×N float64 arrays: the arc-cosine recursion of
        :func:`arccos.ntk` holds 8 of them at once for depth 2 and 10 for depth ≥ 3 (tracemalloc,
        N = 1500 and 3000), more than the ridge solve after it (≤ 6, :func:`ridge_bytes`).
        Prediction runs the same recursion on PREDICT_ROWS × N blocks while the fitted model keeps
        its Gram; the test set (5000 points by default) fills a whole block.

        Checked against the peak RSS of real sin3 cells (default grid, 5000 test points, one
        thread): N = 2000 measured 570 MiB, this gives 655 MiB; N = 4000 measured 1166 MiB, this
        gives 1372 MiB. At N = 100000 it is ~745 GiB (the first array alone, the 80000-point
        selection Gram, is the 48 GiB request that fails).
        """
        arrays = 8 if int(params["depth"]) <= 2 else 10
        fit = max(arrays * 8 * n * n, ridge_bytes(n))
        predict = 8 * n * n + arrays * 8 * PREDICT_ROWS * n
        return max(fit, predict) + 8 * n * d

    def design(self, X: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> Design:
        return Design.from_kernel(partial(arccos.ntk, depth=int(params["depth"]), bias=float(params["bias"])), X)


@hookimpl
def register_learners(register):
    register(NTK())
