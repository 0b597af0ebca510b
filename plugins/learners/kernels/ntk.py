"""Kernel regression with the exact infinite-width neural tangent kernel of the 2- and 3-layer
ReLU networks (with biases) — the "NTK" curve of Allen-Zhu, Li, Liang (2019, Fig. 1)."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from harness import hookimpl, is_int

from . import arccos, nystrom
from .design import Design
from .ridge import PREDICT_ROWS, RIDGE, RIDGES, RidgeLearner, ridge_bytes, ridge_seconds

# Seconds per entry of the arc-cosine NTK (time_estimate only): arccos.ntk on N × N points of
# dimension 4 took 2.5–6.2e-8 s per entry for N = 1000–2000 and depth 2–3 (best-of-one on the
# 2-core machine under a load of ~2); at 4e-8 the committed store's 141 ntk cells measured 0.42×
# the estimate (median), hence 1.5e-8.
NTK_ENTRY_SECONDS = 1.5e-8


class NTK(RidgeLearner):
    """Ridge regression with Θ from :func:`arccos.ntk` (parameterisation documented there).

    ``depth`` is the number of layers of weights (2: one hidden layer, 3: two); ``bias`` is β²,
    the share of each pre-activation's variance that comes from its bias. Without biases the
    2-layer NTK cannot fit sin3 (its odd harmonics of degree ≥ 3 vanish), so the default is
    β² = 1/2, the map x → [x, 1]/√2. The ridge is ``ridge_per_n · n``; classification regresses
    centred one-hot targets.

    Cells of more than ``nystrom.EXACT_MAX`` = 20,000 points solve the Nyström estimator on
    ``nystrom.CENTRES`` = 10,000 centres by Falkon (:mod:`.nystrom`): K_nM in float32, float64
    arithmetic, CG to a relative preconditioned residual of ``nystrom.FALKON_TOL`` = 1e-5 in at
    most ``nystrom.FALKON_MAX_ITER`` = 100 iterations, the 11 ridges of a depth and the 7 the
    edge search may ask next in lockstep on four preconditioners (``nystrom.ANCHOR_SPAN`` =
    10⁴, ``nystrom.ANCHOR_POSITION`` = 3/4), K_nM filled ``nystrom.FILL_ROWS`` = 256 rows at a
    time and converted to float64 ``nystrom.PASS_ROWS`` = 64 rows at a time by each BLAS
    thread, held up to ``nystrom.HOLD_BYTES`` = 4·10⁹ bytes (N = 10⁵ whole) and the rows past it
    computed again in each pass; each trial and the refit's diagnostics record the CG
    iterations and residual.
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
        Falkon path (n > nystrom.EXACT_MAX): :func:`nystrom.falkon_peak` — K_nM in float32 and
        T plus one M × M preconditioner per anchor of the grid's ridges — or, once that is
        freed, prediction's PREDICT_ROWS × CENTRES kernel rows; checked against the measured peak RSS in benchmarks/kernel_scaling.md.
        """
        if nystrom.use_nystrom(n):
            fit = nystrom.falkon_peak(n, nystrom.CENTRES, 4, self.grid_spec[RIDGE], self.search[RIDGE])
            return max(fit, 8 * 2 * PREDICT_ROWS * nystrom.CENTRES) + 8 * n * d
        fit = ridge_bytes(n) + 8 * n * (n // 4)
        predict = 2 * 8 * PREDICT_ROWS * n
        return max(fit, predict) + 8 * n * d

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """:func:`ridge_seconds` with the NTK's entries at :data:`NTK_ENTRY_SECONDS` each and
        Falkon on nystrom.CENTRES centres past nystrom.EXACT_MAX points."""
        return ridge_seconds(n, grid, nystrom.CENTRES, lambda params, size: nystrom.use_nystrom(size),
                             lambda params, rows, other: NTK_ENTRY_SECONDS * rows * (rows + other),
                             lambda params, rows: rows)

    def falkon_kernel(self, params: dict[str, Any], n_total: int) -> nystrom.Kernel | None:
        """Past nystrom.EXACT_MAX points: Falkon on nystrom.CENTRES centres."""
        if nystrom.use_nystrom(n_total):
            return partial(arccos.ntk, depth=int(params["depth"]), bias=float(params["bias"]))
        return None

    def design(self, X: np.ndarray, T: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
               n_total: int) -> Design:
        return Design.from_kernel(partial(arccos.ntk, depth=int(params["depth"]), bias=float(params["bias"])), X, T)


@hookimpl
def register_learners(register):
    register(NTK())
