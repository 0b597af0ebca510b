"""Kernel regression with the exact infinite-width neural tangent kernel of the 2- and 3-layer
ReLU networks (with biases) — the "NTK" curve of Allen-Zhu, Li, Liang (2019, Fig. 1)."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from harness import hookimpl, is_int

from . import arccos, nystrom
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
        """Bytes at the peak. Exact path (n ≤ nystrom.EXACT_MAX): the Gram, the validation
        kernel (n/4 × n) and the ridge solve (:func:`ridge_bytes`, Gram included); the
        arc-cosine recursion runs in blocks of arccos.BLOCK_ELEMENTS entries, so it adds only
        the Gram itself. Prediction keeps no Gram: PREDICT_ROWS × n kernel rows at a time.
        Nyström path: :func:`nystrom.nystrom_bytes`, independent of n but for the validation
        part's n/4 × M kernel.

        Checked against the peak RSS above the interpreter's of selection, refit and prediction
        (default grid, sin3, 5000 test points, one thread): N = 2000 measured 128 MiB, this gives
        191 MiB; N = 4000 measured 395 MiB, this gives 763 MiB (the eigendecomposition fallback
        it allows for was not needed there). Nyström at N = 100,000: benchmarks/kernel_scaling.md.
        """
        if nystrom.use_nystrom(n):
            return nystrom.nystrom_bytes(n, nystrom.CENTRES, n // 4) + 8 * n * d
        fit = ridge_bytes(n) + 8 * n * (n // 4)
        predict = 2 * 8 * PREDICT_ROWS * n
        return max(fit, predict) + 8 * n * d

    def design(self, X: np.ndarray, T: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
               n_total: int) -> Design:
        kernel = partial(arccos.ntk, depth=int(params["depth"]), bias=float(params["bias"]))
        if nystrom.use_nystrom(n_total):
            return nystrom.nystrom_design(kernel, X, T, X[nystrom.centres(len(X), rng)])
        return Design.from_kernel(kernel, X, T)


@hookimpl
def register_learners(register):
    register(NTK())
