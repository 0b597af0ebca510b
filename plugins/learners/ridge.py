"""Ridge regression on a fixed representation (a kernel or random features), shared by ``ntk``
and ``random_features``.

Selection tunes the ridge over a wide log grid. The default ``fit_select`` would rebuild the
representation (an O(n²d) kernel, or random features) for every candidate; here it is built once
per setting of the other parameters, with the validation embedding, and every ridge reuses them
(the "whole grid at once" route the learner contract allows; ``benchmarks/ridge_path.md``).
"""

from __future__ import annotations

import abc
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from harness import Diverged, Learner, Problem, Search, Selection, is_number, score

RIDGE = "ridge_per_n"
# Ridge candidates per training sample, 1e-10 … 1: on noise-free targets the smallest ridges
# win, and a narrow grid makes kernels look worse than they are (see DESIGN.md).
RIDGES = [10.0 ** k for k in range(-10, 1)]
# FittedRidge.predict embeds this many new points at a time: a kernel's embedding is rows × N.
PREDICT_ROWS = 4096


# OpenBLAS's multi-threaded Cholesky, as numpy 2.4 / scipy 1.17 bundle it, dies with SIGSEGV on
# large matrices (measured with two threads: 10,000 rows fine; 16,000 and 20,000 crash, even on
# 2·I, through numpy.linalg.cholesky and scipy alike); past this size it runs on one thread.
SERIAL_CHOLESKY = 12_000


def safe_blas(p: int) -> contextlib.AbstractContextManager:
    """The BLAS thread limit for factoring (or solving with) a p × p matrix."""
    if p <= SERIAL_CHOLESKY:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def ridge_bytes(p: int) -> int:
    """Peak bytes of :class:`RidgePath` on a p × p Gram, Gram included: the Gram and gram + λI,
    factored in place (2 p² float64), or in the eigendecomposition fallback (a tiny ridge on a
    rank-deficient Gram) the Gram, gram + λI, the copy LAPACK works on, the eigenvectors and
    the 2 p² of the divide-and-conquer workspace: 6 p² (tracemalloc measured 6.0 at p = 2000)."""
    return 8 * 6 * p * p


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


@dataclass
class Design:
    """A representation of the training inputs for ridge regression, with the targets applied.

    ``gram`` is the p × p PSD matrix the ridge is added to and ``B`` the p × k right-hand side;
    a solved coefficient c predicts ``embed(Z) @ lift(c)`` for new inputs Z. A kernel is the dual
    form (p = n); explicit features may use the primal form (p = number of features); a Nyström
    approximation (:mod:`.nystrom`) is a primal form on M centres whose ``lift`` maps its
    coefficients back onto the kernel columns.
    """

    gram: np.ndarray
    B: np.ndarray
    embed: Callable[[np.ndarray], np.ndarray]
    lift: Callable[[np.ndarray], np.ndarray] = lambda coef: coef  # noqa: E731

    @classmethod
    def from_kernel(cls, kernel: Callable[[np.ndarray, np.ndarray], np.ndarray], X: np.ndarray,
                    T: np.ndarray) -> "Design":
        return cls(kernel(X, X), T, lambda Z: kernel(Z, X))

    @classmethod
    def from_features(cls, features: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                      T: np.ndarray) -> "Design":
        """The cheaper of the primal (features ≤ n) and dual forms; both give the same predictor.
        The primal form keeps no n × m array once built (prediction recomputes features)."""
        Phi = features(X)
        if Phi.shape[1] <= Phi.shape[0]:
            return cls(Phi.T @ Phi, Phi.T @ T, features)
        return cls(Phi @ Phi.T, T, lambda Z: features(Z) @ Phi.T)


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


@dataclass
class FittedRidge:
    embed: Callable[[np.ndarray], np.ndarray]
    coef: np.ndarray
    targets: Targets

    def predict(self, X: np.ndarray) -> np.ndarray:
        # In chunks: a kernel's embedding of a large test set is test size × N.
        out = np.concatenate([self.embed(X[i:i + PREDICT_ROWS]) @ self.coef
                              for i in range(0, len(X), PREDICT_ROWS)])
        return self.targets.decode(out)


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
        """One representation per setting of the other parameters; every ridge reuses it."""
        best = Selection(None, None)
        groups: dict[str, list[dict[str, Any]]] = {}
        for params in grid:
            groups.setdefault(repr(sorted((k, v) for k, v in params.items() if k != RIDGE)), []).append(params)
        targets, T = Targets.encode(y_train, problem)
        for members in groups.values():
            kernel = self.falkon_kernel(members[0], len(X_train) + len(X_val))
            if kernel is not None:
                self._falkon_select(kernel, X_train, T, X_val, y_val, members, targets, rng, problem, best)
                continue
            start = time.perf_counter()
            design = self.design(X_train, T, members[0], np.random.default_rng(rng.integers(2**63)),
                                 len(X_train) + len(X_val))
            path = RidgePath(design.gram, design.B)
            E_val = np.concatenate([design.embed(X_val[i:i + PREDICT_ROWS])
                                    for i in range(0, len(X_val), PREDICT_ROWS)])
            share = (time.perf_counter() - start) / len(members)
            for params in members:
                start = time.perf_counter()
                trial: dict[str, Any] = {"params": params}
                try:
                    coef = design.lift(path.coef(float(params[RIDGE]) * len(X_train)))
                    trial.update(status="ok", val_score=score(problem, y_val,
                                                              targets.decode(E_val @ coef)))
                except Diverged as exc:
                    trial.update(status="diverged", val_score=None, error=str(exc))
                trial["seconds"] = share + time.perf_counter() - start
                best.add(trial)
        return best

    def _falkon_select(self, kernel, X_train, T, X_val, y_val, members, targets, rng, problem, best) -> None:
        """Every ridge of ``members`` from one Falkon path, with the ridges the edge search would
        try next solved alongside (:func:`.nystrom.falkon_trials`)."""
        from .nystrom import falkon_trials

        group = repr(sorted((k, v) for k, v in members[0].items() if k != RIDGE))
        trials = falkon_trials(kernel, X_train, T, X_val, y_val, [float(p[RIDGE]) for p in members], group,
                               self.search[RIDGE], lambda out: score(problem, y_val, targets.decode(out)),
                               np.random.default_rng(rng.integers(2**63)))
        for params, trial in zip(members, trials):
            best.add({"params": params, **trial})
