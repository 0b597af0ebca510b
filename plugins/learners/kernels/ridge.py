"""Ridge regression on a fixed representation (a kernel or random features), shared by ``ntk``
and ``random_features``.

Selection tunes the ridge over a wide log grid. The default ``fit_select`` would rebuild the
representation (an O(n²d) kernel, or random features) for every candidate; here it is built once
per setting of the other parameters, with the validation embedding, and every ridge reuses them
(the "whole grid at once" route the learner contract allows; ``benchmarks/ridge_path.md``).
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from harness import Diverged, Learner, Problem, Search, Selection, is_number, score

from .design import DESIGNS, Design, keeps, safe_blas

RIDGE = "ridge_per_n"
# Ridge candidates per training sample, 1e-10 … 1: on noise-free targets the smallest ridges
# win, and a narrow grid makes kernels look worse than they are (see DESIGN.md).
RIDGES = [10.0 ** k for k in range(-10, 1)]
# FittedRidge.predict embeds this many new points at a time: a kernel's embedding is rows × N.
PREDICT_ROWS = 4096
def ridge_bytes(p: int) -> int:
    """Peak bytes of :class:`RidgePath` on a p × p Gram, Gram included: the Gram and gram + λI,
    factored in place (2 p² float64), or in the eigendecomposition fallback (a tiny ridge on a
    rank-deficient Gram) the Gram, gram + λI, the copy LAPACK works on, the eigenvectors and
    the 2 p² of the divide-and-conquer workspace: 6 p² (tracemalloc measured 6.0 at p = 2000)."""
    return 8 * 6 * p * p


# The kernels' cost model (time_estimate; not part of the learners' fingerprints). Seconds per p³ of
# one Cholesky factorisation of a p × p matrix: 0.9e-11 on one thread, 3.5e-11 on two threads of
# the loaded 2-core machine (scipy cho_factor, p = 800–2000, best of 3); a cell gets one thread at
# the default --jobs on 2 cores. At 2e-11 the committed store's kernel_ridge and ntk cells measured
# 0.55 and 0.59× the estimate (median), hence 1.2e-11 (87 s for one exact solve at N = 20,000 in
# benchmarks/kernel_scaling.md: 96 s here).
CHOLESKY_SECONDS = 1.2e-11
# Seconds per N·M entry of one Falkon path (K_nM filled, ~20–30 CG passes over it, the M × M
# preconditioners): whole cells at N = 10⁵ in benchmarks/kernel_scaling.md took 199 s for ntk (3
# paths of M = 10⁴: two depths and the refit) and 290 s for kernel_ridge (9 paths of M = 5·10³):
# 6.6e-8 and 6.4e-8. Past nystrom.HOLD_BYTES the rows of K_nM are computed again in every pass, so
# beyond N ≈ 10⁵ this is a lower bound.
FALKON_SECONDS = 6.5e-8
# Predictions on the test set: bench run's default n_test.
TEST_POINTS = 5000
# Fixed seconds per ridge solved and per representation built (Python, validation scoring, the
# features' draw): the committed store's random_features cells at N ≤ 250 take 0.01–0.09 s where
# their arithmetic comes to a few milliseconds.
SOLVE_OVERHEAD, DESIGN_OVERHEAD = 3e-4, 3e-3


def ridge_seconds(n: int, grid: list[dict[str, Any]], centres: int,
                  falkon: Callable[[dict[str, Any], int], bool],
                  design: Callable[[dict[str, Any], int, int], float],
                  solve_size: Callable[[dict[str, Any], int], int]) -> float:
    """Estimated seconds of a ridge learner's cell (time_estimate of :class:`RidgeLearner` and
    kernel_ridge): per setting of the non-ridge parameters, the representation of the 80 %
    training part with the validation part (``design(params, rows, other_rows)`` seconds) and one
    Cholesky of ``solve_size(params, rows)`` per ridge, or one Falkon path on ``centres`` centres
    when ``falkon(params, n)``; then the refit of the costliest setting on all n with its
    predictions on n training and :data:`TEST_POINTS` test points."""
    n_fit = max(1, n - round(0.2 * n))
    groups: dict[str, list[dict[str, Any]]] = {}
    for params in grid:
        others = repr(sorted((k, v) for k, v in params.items() if k not in (RIDGE, "alpha_per_n")))
        groups.setdefault(others, []).append(params)
    total, refit = 0.0, 0.0
    for members in groups.values():
        params = members[0]
        if falkon(params, n):
            total += FALKON_SECONDS * n * centres
            refit = max(refit, FALKON_SECONDS * n * centres)
            continue
        total += (DESIGN_OVERHEAD + design(params, n_fit, n - n_fit)
                  + len(members) * (SOLVE_OVERHEAD + CHOLESKY_SECONDS * solve_size(params, n_fit) ** 3))
        refit = max(refit, DESIGN_OVERHEAD + design(params, n, n + TEST_POINTS)
                    + SOLVE_OVERHEAD + CHOLESKY_SECONDS * solve_size(params, n) ** 3)
    return total + refit


@dataclass
class Targets:
    """Regression targets centred on their training mean (an unpenalised intercept);
    classification as centred one-hot rows, predicted by argmax."""

    problem: Problem
    offset: np.ndarray

    @classmethod
    def encode(cls, y: np.ndarray, problem: Problem) -> tuple["Targets", np.ndarray]:
        T = np.eye(problem.n_classes)[y] if problem.kind == "classification" else np.asarray(y, float)[:, None]
        offset = T.mean(axis=0)
        return cls(problem, offset), T - offset

    def decode(self, out: np.ndarray) -> np.ndarray:
        out = out + self.offset
        return np.argmax(out, axis=1) if self.problem.kind == "classification" else out[:, 0]


class RidgePath:
    """Solutions of (gram + λI) coef = B for one or many λ.

    Each λ costs one Cholesky factorisation (about 15× cheaper than an eigendecomposition, so
    it wins for the ~11 ridges of a grid). If Cholesky finds gram + λI numerically indefinite
    (a tiny ridge on a rank-deficient Gram), the eigendecomposition is computed once and serves
    every such λ, with round-off negative eigenvalues clipped to zero.
    """

    def __init__(self, gram: np.ndarray, B: np.ndarray) -> None:
        self.gram, self.B = gram, B
        self._eig: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def coef(self, ridge: float) -> np.ndarray:
        import scipy.linalg  # here, not at the top: scipy costs `bench list` ~0.3 s

        # A Fortran-ordered copy that LAPACK factors in place: the Gram and one p × p array at a time.
        A = self.gram.copy(order="F")
        A.flat[::len(A) + 1] += ridge
        try:
            with safe_blas(len(A)):
                return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A, lower=True, overwrite_a=True), self.B)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            if self._eig is None:
                s, U = scipy.linalg.eigh(self.gram, driver="evd")
                self._eig = (np.clip(s, 0.0, None), U, U.T @ self.B)
            s, U, UtB = self._eig
            return U @ (UtB / (s + ridge)[:, None])


def embedded_outputs(embed: Callable[[np.ndarray], np.ndarray], X: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """embed(X) @ coef, PREDICT_ROWS rows of X at a time: a kernel's embedding of a large set is
    its size × N, random features' its size × m."""
    out = np.empty((len(X), coef.shape[1]))
    for i in range(0, len(X), PREDICT_ROWS):
        out[i:i + PREDICT_ROWS] = embed(X[i:i + PREDICT_ROWS]) @ coef
    return out


@dataclass
class FittedRidge:
    embed: Callable[[np.ndarray], np.ndarray]
    coef: np.ndarray
    targets: Targets

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.targets.decode(embedded_outputs(self.embed, X, self.coef))


@dataclass
class FittedFalkon(FittedRidge):
    """A Nyström model solved by Falkon (:mod:`.nystrom`), with its conjugate-gradient record.
    Asked to predict the very array it was fitted on (the harness's training score), it returns
    the outputs the fit computed from its K_nM instead of evaluating N × M kernel values again
    (float32 there: measured within 6e-6 of the largest output of recomputing them at ridge
    1e-8·N, tests/test_falkon.py)."""

    cg: dict[str, Any] = field(default_factory=dict)
    train: tuple[np.ndarray, np.ndarray] | None = None  # (training inputs, outputs on them)

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.train is not None and X is self.train[0]:
            return self.targets.decode(self.train[1])
        from .nystrom import predict_rows

        return self.targets.decode(predict_rows(lambda Z, _: self.embed(Z), X, None, self.coef))

    def diagnostics(self) -> dict[str, Any]:
        return dict(self.cg)


class RidgeLearner(Learner):
    """A learner that fits ridge regression on a representation chosen by its other parameters.

    Subclasses implement :meth:`design`; the ridge is ``ridge_per_n · n``. A kernel learner whose
    :meth:`falkon_kernel` returns a kernel for a cell is solved by Falkon instead (Nyström
    centres, conjugate gradients: :mod:`.nystrom`), all ridges of a group at once.
    """

    # Below 1e-14·n the ridge is round-off next to a Gram matrix of O(n) entries; above 1e3·n the
    # predictor is the training mean.
    search = {RIDGE: Search(1e-14, 1e3)}

    def check_params(self) -> None:
        self.require(RIDGE, is_number(0.0, lo_open=True), "a positive number")
        self.require("bias", is_number(0.0, 1.0), "a number in [0, 1) (β², the bias share)")

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """See :func:`ridge_seconds`: the Gram as ``n² · d`` at 10⁻⁹ s (a subclass knows its
        representation's cost better), an n × n solve per ridge."""
        return ridge_seconds(n, grid, 10_000, lambda params, size: self.falkon_kernel(params, size) is not None,
                             lambda params, rows, other: 1e-9 * rows * (rows + other) * d,
                             lambda params, rows: rows)

    @abc.abstractmethod
    def design(self, X: np.ndarray, T: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
               n_total: int) -> Design:
        """The representation of the training inputs X with targets T for one configuration;
        ``n_total`` is the cell's N (training and validation parts together, or len(X) for the
        refit), so that a cell takes one solver for its selection and its refit."""

    def falkon_kernel(self, params: dict[str, Any], n_total: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """The kernel to solve by Falkon for a cell of ``n_total`` points, or None (the default)
        to solve :meth:`design` directly."""
        return None

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> FittedRidge:
        targets, T = Targets.encode(y, problem)
        kernel = self.falkon_kernel(params, len(X))
        if kernel is not None:
            from .nystrom import falkon_fit

            fitted = falkon_fit(kernel, X, T, float(params[RIDGE]), rng)
            return FittedFalkon(lambda Z: kernel(Z, fitted.C), fitted.alpha, targets, fitted.cg,
                                (X, fitted.train_out))
        design = self.design(X, T, params, rng, len(X))
        coef = RidgePath(design.gram, design.B).coef(float(params[RIDGE]) * len(X))
        return FittedRidge(design.embed, design.lift(coef), targets)

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        """One representation per setting of the other parameters; every ridge reuses it, and
        so do the cell's extension rounds where it is kept (:data:`DESIGNS`)."""
        best = Selection(None, None)
        groups: dict[str, list[dict[str, Any]]] = {}
        for params in grid:
            groups.setdefault(repr(sorted((k, v) for k, v in params.items() if k != RIDGE)), []).append(params)
        targets, T = Targets.encode(y_train, problem)
        data = DESIGNS.fingerprint(X_train, T, X_val, y_val)
        for group, members in groups.items():
            kernel = self.falkon_kernel(members[0], len(X_train) + len(X_val))
            if kernel is not None:
                self._falkon_select(kernel, X_train, T, X_val, y_val, members, targets, rng, problem, best)
                continue
            start = time.perf_counter()
            seed = rng.integers(2**63)           # drawn either way: the rng's stream does not depend on what is kept
            design = DESIGNS.get(data, rng, (self.name, group))
            if design is None:
                design = self.design(X_train, T, members[0], np.random.default_rng(seed), len(X_train) + len(X_val))
                if keeps(len(design.gram), len(X_train)):
                    DESIGNS.put(data, rng, (self.name, group), design)
            path = RidgePath(design.gram, design.B)
            share = (time.perf_counter() - start) / len(members)
            trials, coefs = [], []
            for params in members:
                start = time.perf_counter()
                coefs.append(design.lift(path.coef(float(params[RIDGE]) * len(X_train))))
                trials.append({"params": params, "seconds": share + time.perf_counter() - start})
            # Every ridge's validation outputs from one embedding of each block of X_val: the whole
            # embedding (n_val × m features, n_val × n kernel columns) is never held.
            start = time.perf_counter()
            k = T.shape[1]
            outs = embedded_outputs(design.embed, X_val, np.hstack(coefs))
            share = (time.perf_counter() - start) / len(members)
            for j, trial in enumerate(trials):
                try:
                    trial.update(status="ok", val_score=score(problem, y_val, targets.decode(outs[:, j * k:(j + 1) * k])))
                except Diverged as exc:
                    trial.update(status="diverged", val_score=None, error=str(exc))
                trial["seconds"] += share
                best.add(trial)
        return best

    def _falkon_select(self, kernel, X_train, T, X_val, y_val, members, targets, rng, problem, best) -> None:
        """Every ridge of ``members`` from one Falkon path, with the ridges the edge search would
        try next solved alongside (:func:`.nystrom.falkon_trials`)."""
        from .nystrom import falkon_trials

        group = repr(sorted((k, v) for k, v in members[0].items() if k != RIDGE))
        trials = falkon_trials(kernel, X_train, T, X_val, y_val, [float(p[RIDGE]) for p in members], group,
                               self.search[RIDGE], lambda out: score(problem, y_val, targets.decode(out)),
                               np.random.default_rng(rng.integers(2**63)), cell=rng)
        for params, trial in zip(members, trials):
            best.add({"params": params, **trial})
