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
# Bytes of one block of features the primal Gram is summed over (:func:`primal_gram`): 4,096
# rows at m = 4000. Measured for ΦᵀΦ at n = 8·10⁴, m = 4000, two threads, twice each: blocks of
# 32 MiB 18.2–18.6 s, 64 MiB 16.0–16.5, 128 MiB 14.7–14.8, 256 MiB 14.1–14.6; the whole Φ, then
# Φᵀ @ Φ (2.6 GB held) 16.6–17.0 s.
FEATURE_BLOCK_BYTES = 128 * 2**20


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
        The primal form never holds the n × m features: ΦᵀΦ and ΦᵀT are summed over blocks of
        :func:`feature_rows` rows (:func:`primal_gram`), and prediction recomputes features."""
        first = features(X[:1])
        m = first.shape[1]
        if m <= len(X):
            gram, B = primal_gram(features, X, T, m)
            return cls(gram, B, features)
        Phi = features(X)
        return cls(Phi @ Phi.T, T, lambda Z: features(Z) @ Phi.T)


def feature_rows(m: int) -> int:
    """Rows of an m-feature block the primal Gram is summed over: FEATURE_BLOCK_BYTES of float64."""
    return max(1, FEATURE_BLOCK_BYTES // (8 * m))


def primal_gram(features: Callable[[np.ndarray], np.ndarray], X: np.ndarray, T: np.ndarray,
                m: int) -> tuple[np.ndarray, np.ndarray]:
    """ΦᵀΦ (m × m) and ΦᵀT of the m features of X, summed over row blocks of :func:`feature_rows`
    rows: memory m² + one block whatever n is (the whole Φ is 32 GB at n = 10⁶, m = 4000).

    Each block's ΦᵀΦ is added by BLAS's symmetric rank-k update (dsyrk, the routine numpy runs
    for Φᵀ @ Φ) into the lower triangle in place: ``G += Φ_bᵀ Φ_b`` would allocate, fill and
    add an m × m temporary per block (128 MB at m = 4000, ~250 blocks at n = 10⁶)."""
    from scipy.linalg.blas import dsyrk  # here, not at the top: scipy costs `bench list` ~0.3 s

    G = np.zeros((m, m), order="F")             # the lower triangle, column-major as BLAS writes it
    B = np.zeros((m, T.shape[1]))
    rows = feature_rows(m)
    for i in range(0, len(X), rows):
        P = np.asarray(features(X[i:i + rows]), dtype=np.float64)
        # Pᵀ is P's column-major m × rows view: dsyrk reads it without a copy, C = Pᵀ P + C.
        G = dsyrk(1.0, P.T, beta=1.0, c=G, trans=0, lower=1, overwrite_c=1)
        B += P.T @ T[i:i + rows]
        del P                                   # before the next block is computed: one at a time
    G = np.tril(G)
    G += np.tril(G, -1).T                       # the upper triangle from the lower
    return G, B


class CellCache:
    """What one selection round computed that a later round of the same cell reuses: the edge
    search's extension rounds call ``fit_select`` again with the same data and the same ``rng``
    object (``harness.search.refine``). Values are kept under a key for one (data, rng) at a time:
    the data by a hash of its arrays, the rng by identity (held, so that its id cannot pass to
    another cell's); another cell's call drops everything kept, so what a cell kept stays in its
    worker until then (random features: the grid's Grams, 136 MB at the default widths, which
    their memory estimate counts). One per use and process: the learners are shared registry
    objects, and a cell's rounds run in order."""

    def __init__(self) -> None:
        self.data: bytes = b""
        self.rng: Any = None
        self.values: dict[Any, Any] = {}

    @staticmethod
    def fingerprint(*arrays: np.ndarray) -> bytes:
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        for a in arrays:
            a = np.ascontiguousarray(a)
            h.update(str((a.shape, a.dtype.str)).encode())
            h.update(a.data)
        return h.digest()

    def get(self, data: bytes, rng: Any, key: Any) -> Any:
        return self.values.get(key) if data == self.data and rng is self.rng else None

    def put(self, data: bytes, rng: Any, key: Any, value: Any) -> None:
        if data != self.data or rng is not self.rng:
            self.data, self.rng, self.values = data, rng, {}
        self.values[key] = value


# Designs (Gram, right-hand side, embedding) kept for a cell's extension rounds: rebuilding
# random features' ΦᵀΦ was most of a cell (3 rounds × 16.5 s of a 94 s cell at N = 10⁵). Only
# primal designs (p < n: building costs n·p², solving p³) of at most KEEP_BYTES each are kept;
# a kernel's dual Gram (p = n) costs less to rebuild than to factor.
DESIGNS = CellCache()
KEEP_BYTES = 256 * 2**20


def keeps(p: int, n: int) -> bool:
    """Whether :data:`DESIGNS` keeps a p × p design built on n training points."""
    return p < n and 8 * p * p <= KEEP_BYTES


def kept_bytes(widths: list[int], n: int) -> int:
    """Bytes of the designs :data:`DESIGNS` keeps for a grid of primal forms of these widths."""
    return sum(8 * p * p for p in set(widths) if keeps(p, n))


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
