"""Kernel ridge regression as scikit-learn's KernelRidge computes it (RBF and Laplacian kernels),
with each kernel's distances computed once per selection and every (gamma, alpha) solved from them,
and a Nyström path past the exact-solve size (:mod:`.nystrom`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from harness import BenchError, Diverged, Learner, Problem, Search, Selection, hookimpl, score

from . import nystrom
from .design import safe_blas
from .ridge import PREDICT_ROWS, ridge_seconds

# Seconds per entry of a (kernel, gamma)'s distances and exp (time_estimate only), fitted to the
# committed store's kernel_ridge cells at N = 1000 (0.63–0.79 s; 48 Cholesky factorisations of
# p = 800 at ridge.CHOLESKY_SECONDS account for ~0.5 s of it).
KERNEL_ENTRY_SECONDS = 2e-8


# Nyström centres of the Falkon path (past nystrom.EXACT_MAX points): each of the grid's 8
# (kernel, gamma) pairs needs its own K_nM and preconditioners, so M is half ntk's; at 5,000 the
# direct solve already beat the exact one at N = 20,000 (the slow test in tests/test_nystrom.py).
CENTRES = 5_000
# K_nM stored in float64: the Gaussian kernel's small-alpha solutions move by up to 6e-3 relative
# under float32 rounding of K_nM (measured at M = N = 300, alpha 1e-6·N); at M = 5,000 float64
# costs 4 GB at N = 10⁵.
DTYPE = np.float64
# Median-heuristic distances use at most this many training points (the first ones: deterministic).
MEDIAN_POINTS = 500
KERNELS = ("rbf", "laplacian")


def median_distance(X: np.ndarray, kernel: str) -> float:
    """Median pairwise distance the kernel's gamma multiplies: squared L2 (rbf) or L1 (laplacian)."""
    from sklearn.metrics import pairwise_distances

    sub = X[:MEDIAN_POINTS]
    if kernel == "rbf":
        dist = pairwise_distances(sub, metric="sqeuclidean")
    else:
        dist = pairwise_distances(sub, metric="manhattan")
    off = dist[np.triu_indices(len(sub), k=1)]
    med = float(np.median(off)) if off.size else 1.0
    return med if med > 0 else 1.0


def distances(A: np.ndarray, B: np.ndarray | None, kernel: str) -> np.ndarray:
    """The distances the kernel exponentiates, as scikit-learn's ``rbf_kernel`` (squared L2 by
    ``euclidean_distances``, whose diagonal is exactly 0 when B is None) and ``laplacian_kernel``
    (L1) compute them."""
    if kernel == "rbf":
        from sklearn.metrics.pairwise import euclidean_distances

        return euclidean_distances(A, B, squared=True)
    from sklearn.metrics.pairwise import manhattan_distances

    return manhattan_distances(A, A if B is None else B)


def exp_kernel(D: np.ndarray, gamma: float) -> np.ndarray:
    """exp(−gamma · D) in a new array, as scikit-learn's kernels do in place."""
    K = D * -gamma
    return np.exp(K, out=K)


def kernel_function(kernel: str, gamma: float) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """k(A, B) for the Nyström path and blocked prediction."""
    return lambda A, B: exp_kernel(distances(A, B, kernel), gamma)


def solve_dual(K: np.ndarray, alpha: float, Y: np.ndarray) -> np.ndarray:
    """(K + alpha·I)⁻¹ Y as scikit-learn's KernelRidge solves it (``_solve_cholesky_kernel``: a
    Cholesky solve, least squares if K + alpha·I is singular), but on K in place: the caller
    passes a fresh kernel matrix, so no N × N copy is made."""
    import scipy.linalg  # here, not at the top: scipy costs `bench list` ~0.3 s

    K.flat[::len(K) + 1] += alpha
    try:
        with safe_blas(len(K)):
            return scipy.linalg.solve(K, Y, assume_a="pos", overwrite_a=True)
    except np.linalg.LinAlgError:
        raise _Singular from None


class _Singular(Exception):
    """K + alpha·I was singular to working precision: the caller rebuilds it for least squares."""


def dual_coef(make_kernel: Callable[[], np.ndarray], alpha: float, Y: np.ndarray) -> np.ndarray:
    """:func:`solve_dual` on a fresh kernel, with scikit-learn's least-squares fallback."""
    import scipy.linalg  # here, not at the top: scipy costs `bench list` ~0.3 s

    try:
        return solve_dual(make_kernel(), alpha, Y)
    except _Singular:  # scikit-learn's fallback; the failed solve overwrote the matrix
        K = make_kernel()
        K.flat[::len(K) + 1] += alpha
        with safe_blas(len(K)):
            return scipy.linalg.lstsq(K, Y)[0]


@dataclass
class FittedKernelRidge:
    """Predicts k(X, centres) @ coef in blocks of PREDICT_ROWS rows (the centres are all the
    training points on the exact path). A Falkon fit reports its CG iterations and residual,
    predicts on threads (:func:`nystrom.predict_rows`) and, asked for the very array it was
    fitted on, returns the outputs its fit computed (:class:`nystrom.FalkonFit`)."""

    kernel: Callable[[np.ndarray, np.ndarray], np.ndarray]
    centres: np.ndarray
    coef: np.ndarray
    problem: Problem
    cg: dict[str, Any] = field(default_factory=dict)
    train: tuple[np.ndarray, np.ndarray] | None = None  # (training inputs, outputs on them)

    def diagnostics(self) -> dict[str, Any]:
        return dict(self.cg)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.train is not None:
            out = self.train[1] if X is self.train[0] else nystrom.predict_rows(self.kernel, X, self.centres, self.coef)
            return decode(out, self.problem)
        out = np.concatenate([self.kernel(X[i:i + PREDICT_ROWS], self.centres) @ self.coef
                              for i in range(0, len(X), PREDICT_ROWS)])
        return decode(out, self.problem)


def encode(y: np.ndarray, problem: Problem) -> np.ndarray:
    """KernelRidge's targets: one-hot rows for classification, y as a column otherwise (no intercept)."""
    return np.eye(problem.n_classes)[y] if problem.kind == "classification" else np.asarray(y, float)[:, None]


def decode(out: np.ndarray, problem: Problem) -> np.ndarray:
    return np.argmax(out, axis=1) if problem.kind == "classification" else out[:, 0]


class KernelRidge(Learner):
    """Kernel ridge regression as ``sklearn.kernel_ridge.KernelRidge`` (no intercept) with
    alpha = alpha_per_n · n and gamma = gamma_scale / median pairwise distance (the median
    heuristic), both tuned.

    The ridge grid spans 1e-10 … 1e0 per sample: on noise-free targets the smallest ridges win,
    and a narrow grid makes kernels look worse than they are. Classification regresses one-hot
    targets and predicts the argmax. Selection computes each kernel's distances once, and each
    (gamma, alpha) solves on exp(−gamma·D) without recomputing them (scikit-learn's own fit
    would rebuild the N × N kernel for each of the 48 candidates). Cells of more than
    ``nystrom.EXACT_MAX`` points solve the Nyström approximation on ``CENTRES`` = 5,000 centres
    (K_nM in float64, ``DTYPE``) by Falkon (:mod:`.nystrom`: CG to ``nystrom.FALKON_TOL`` = 1e-5, at most
    ``nystrom.FALKON_MAX_ITER`` = 100 iterations, every alpha of a (kernel, gamma) at once; K_nM
    held up to ``nystrom.HOLD_BYTES`` = 4·10⁹ bytes, N = 10⁵ whole, its other rows computed
    again in each pass).
    """

    name = "kernel_ridge"
    # alpha as the ridge learners' ridge; gamma over six decades around the median heuristic.
    search = {"alpha_per_n": Search(1e-14, 1e3), "gamma_scale": Search(1e-3, 1e3)}
    description = "scikit-learn KernelRidge (rbf, laplacian); alpha and gamma tuned on a wide log grid"
    parameters = {
        "kernel": ["rbf", "laplacian"],
        "gamma_scale": [0.3, 1.0, 3.0, 10.0],
        "alpha_per_n": [1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0],
    }

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float64 bytes at the peak. Exact path: in selection the training distances, one
        kernel matrix solved in place, and the validation part's distances and kernel (n/4 × n
        each); in the refit the kernel matrix and the copy scipy's solve may take, beside the
        distances it is computed from; prediction PREDICT_ROWS × n blocks (distances and
        kernel). Falkon path: :func:`nystrom.falkon_peak` (K_nM in float64, T and one
        preconditioner per anchor of the alpha grid) or, once it is freed, prediction's
        PREDICT_ROWS × CENTRES blocks.

        Checked against the peak RSS above the interpreter's of selection, refit and prediction
        (default grid, sin3, 5000 test points, one thread): N = 2000 measured 138 MiB, this gives
        217 MiB; N = 4000 measured 396 MiB, this gives 616 MiB.
        """
        if nystrom.use_nystrom(n):
            fit = nystrom.falkon_peak(n, CENTRES, 8, self.grid_spec["alpha_per_n"], self.search["alpha_per_n"])
            return max(fit, 8 * 2 * PREDICT_ROWS * CENTRES) + 8 * n * d
        return 8 * (3 * n * n + 2 * PREDICT_ROWS * n) + 8 * n * d

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """:func:`ridge_seconds` with each (kernel, gamma)'s entries at :data:`KERNEL_ENTRY_SECONDS`,
        one n × n Cholesky per alpha, Falkon on ``CENTRES`` centres past nystrom.EXACT_MAX points."""
        return ridge_seconds(n, grid, CENTRES, lambda params, size: nystrom.use_nystrom(size),
                             lambda params, rows, other: KERNEL_ENTRY_SECONDS * rows * (rows + other) * max(1, d / 4),
                             lambda params, rows: rows)

    def check_params(self) -> None:
        bad = [k for k in self.grid_spec.get("kernel", []) if k not in KERNELS]
        if bad:
            raise BenchError(f"learner 'kernel_ridge': kernel must be 'rbf' or 'laplacian', got {', '.join(map(repr, bad))}")

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> FittedKernelRidge:
        kernel = params["kernel"]
        if kernel not in KERNELS:
            raise ValueError(f"kernel_ridge: kernel must be 'rbf' or 'laplacian', got {kernel!r}")
        gamma = float(params["gamma_scale"]) / median_distance(X, kernel)
        alpha = float(params["alpha_per_n"]) * len(X)
        Y, k = encode(y, problem), kernel_function(kernel, gamma)
        if nystrom.use_nystrom(len(X)):
            fitted = nystrom.falkon_fit(k, X, Y, float(params["alpha_per_n"]), rng, CENTRES, DTYPE)
            return FittedKernelRidge(k, fitted.C, fitted.alpha, problem, fitted.cg, (X, fitted.train_out))
        return FittedKernelRidge(k, X, dual_coef(lambda: k(X, None), alpha, Y), problem)

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        """Distances once per kernel, the validation kernel once per (kernel, gamma), one solve
        per alpha; past the exact-solve size one Falkon path per (kernel, gamma), every alpha
        solved on it at once (each trial records ``cg_iterations`` and ``cg_residual``)."""
        best = Selection(None, None)
        Y = encode(y_train, problem)
        big = nystrom.use_nystrom(len(X_train) + len(X_val))
        by_kernel: dict[str, dict[float, list[dict[str, Any]]]] = {}
        for params in grid:
            by_kernel.setdefault(params["kernel"], {}).setdefault(float(params["gamma_scale"]), []).append(params)
        for kernel, by_gamma in by_kernel.items():
            if kernel not in KERNELS:
                raise ValueError(f"kernel_ridge: kernel must be 'rbf' or 'laplacian', got {kernel!r}")
            start = time.perf_counter()
            med = median_distance(X_train, kernel)
            D = D_val = None
            if not big:
                D, D_val = distances(X_train, None, kernel), distances(X_val, X_train, kernel)
            share = (time.perf_counter() - start) / sum(map(len, by_gamma.values()))
            for gamma_scale, members in by_gamma.items():
                start = time.perf_counter()
                gamma = gamma_scale / med
                if big:
                    trials = nystrom.falkon_trials(
                        kernel_function(kernel, gamma), X_train, Y, X_val, y_val,
                        [float(p["alpha_per_n"]) for p in members], repr((kernel, gamma_scale)),
                        self.search["alpha_per_n"], lambda out: score(problem, y_val, decode(out, problem)),
                        rng, CENTRES, DTYPE)
                    for params, trial in zip(members, trials):
                        best.add({"params": params, **trial, "seconds": share + trial["seconds"]})
                    continue
                K_val = exp_kernel(D_val, gamma)
                solve = lambda alpha: dual_coef(lambda: exp_kernel(D, gamma), alpha, Y)  # noqa: E731
                gamma_share = share + (time.perf_counter() - start) / len(members)
                for params in members:
                    start = time.perf_counter()
                    trial: dict[str, Any] = {"params": params}
                    try:
                        coef = solve(float(params["alpha_per_n"]) * len(X_train))
                        trial.update(status="ok", val_score=score(problem, y_val, decode(K_val @ coef, problem)))
                    except Diverged as exc:
                        trial.update(status="diverged", val_score=None, error=str(exc))
                    trial["seconds"] = gamma_share + time.perf_counter() - start
                    best.add(trial)
        return best


@hookimpl
def register_learners(register):
    register(KernelRidge())
