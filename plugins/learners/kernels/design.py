"""A representation of the training inputs for ridge regression (:class:`Design`: a kernel's
dual form or explicit features' primal form, summed over row blocks), what a cell's selection
rounds keep of it (:class:`CellCache`), and the BLAS thread limit for large factorisations.
Shared by :mod:`.ridge` and :mod:`.nystrom`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

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
    object (``harness.protocol.edges.refine``). Values are kept under a key for one (data, rng) at a time:
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
