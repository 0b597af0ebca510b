"""Nyström kernel ridge regression for N past the exact-solve size, shared by ``ntk`` and
``kernel_ridge``, solved by Falkon (Rudi, Carratino & Rosasco 2017, Alg. 1).

Below ``EXACT_MAX`` points the kernels solve exactly (an N × N Gram: 3.2 GB and ~1 min per
ridge at N = 20,000). Above it they use the Nyström estimator of Rudi, Camoriano & Rosasco (2015)
— the model Falkon solves — on M training points drawn uniformly at random as centres C:

    f(x) = k(x, C) α,    (K_nMᵀ K_nM + λn K_MM) α = K_nMᵀ y,

which is the exact solve when C is all of X (λ is the learners' ridge per sample). Forming
K_nMᵀ K_nM costs N·M² (10¹³ flops at N = 10⁵, M = 10⁴) and one M × M Cholesky per ridge on top;
Falkon instead runs conjugate gradients on the system preconditioned by T = chol(K_MM) and
A = chol(T Tᵀ/M + λI), which is close to the identity, so ~20–30 passes over K_nM (each 4·N·M
flops per ridge) solve it to FALKON_TOL at every ridge (:class:`FalkonPath`). Every ridge of
the grid rides the same passes (one CG column each, in lockstep); a preconditioner is one M × M
Cholesky, so ridges share one per ANCHOR_SPAN of ridge values. The ridges selection's edge
search would try next (past the grid's ends, to the learner's search bounds) ride along too
(:func:`lookahead`, :data:`LOOKAHEAD`): an extension round then needs no new K_nM.

Constants: ``EXACT_MAX`` = 20,000 points; M = ``CENTRES`` (the learner may pass its own);
CG tolerance ``FALKON_TOL`` = 1e-5 on the relative preconditioned residual, at most
``FALKON_MAX_ITER`` = 100 iterations; preconditioners shared over ``ANCHOR_SPAN`` = 10⁴ of
ridge, at ``ANCHOR_POSITION`` = 3/4 of the way up each group; K_nM computed ``FILL_ROWS`` = 256
rows at a time and converted to float64 ``PASS_ROWS`` = 64 rows at a time in each pass, on as
many threads as BLAS may use; K_nM held up to ``HOLD_BYTES`` = 4·10⁹ bytes (all of it at
N = 10⁵), its other rows computed again in each pass (PASS_ROWS at a time), so that memory stops
growing with N past 10⁵ (N = 10⁶ would need 40 GB) while time grows with it.

Why hand-written rather than a library: ``falkon`` is not on PyPI (it builds CUDA/C++ extensions
from source), ``pykeops`` compiles its kernels with a C++ toolchain at run time, and neither
gpytorch/linear_operator nor scikit-learn's ``Nystroem`` computes the arc-cosine NTK; ``Nystroem``
also forms the N × M feature matrix in float64 and solves one ridge per fit; scipy's ``cg``
solves one right-hand side at a time, so each ridge would make its own passes over K_nM. Below,
numpy and scipy do every product, factorisation and triangular solve; only the CG recurrence
(a dozen lines, vectorised over the columns) is ours.

:func:`nystrom_design`, the direct solve of the same estimator (K_nMᵀ K_nM streamed in float64,
one Cholesky per ridge), is kept as the baseline ``benchmarks/kernel_scaling.py`` measures
Falkon against.

Over 500 lines because it is one algorithm: the centres, the preconditioner groups, the CG passes
over K_nM held or recomputed, and the selection that rides every ridge on the same passes share
their constants and their memory budget; cut apart, each piece would need the others' internals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .design import CellCache, Design, safe_blas

# Cells with more points than this (training and validation together) use the Nyström path;
# at or below it, the exact N × N solve.
EXACT_MAX = 20_000
# Nyström centres M by default: ntk at N = 10⁵ needs ~10⁴ to beat the exact solve at 20,000
# (benchmarks/kernel_scaling.md); memory is 4·N·M (K_nM in float32) + (1 + anchors)·8·M².
CENTRES = 10_000
# Rows of K_nM computed and accumulated at a time by the direct baseline.
BLOCK_ROWS = 2_048

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def use_nystrom(n_total: int) -> bool:
    """Whether a cell of ``n_total`` points takes the Nyström path."""
    return n_total > EXACT_MAX


def falkon_bytes(n: int, m: int, itemsize: int = 4, preconditioners: int = 1) -> int:
    """Peak bytes of Falkon on n points and m centres with ``preconditioners`` anchors
    (:func:`anchors`): the rows of K_nM it holds (:func:`held_rows`; ``itemsize`` bytes an
    entry: 4 for float32), and in float64 T and
    the preconditioners (the last factored in place of T Tᵀ/M, so 1 + preconditioners m × m
    arrays at the peak), the threads' FILL_ROWS-row blocks while K_nM is filled (the arc-cosine
    recursion holds ~6 such arrays; counted for 2 threads; a pass computing rows it does not hold
    makes PASS_ROWS-row ones, fewer), a pass's PASS_ROWS-row float64 block
    and sum per thread (2 threads), and the CG vectors (~6 m × 18, small but counted)."""
    m = min(m, n)
    return itemsize * held_rows(n, m, itemsize) * m + 8 * ((1 + preconditioners) * m * m
                                                         + (12 * FILL_ROWS + 2 * PASS_ROWS + 10 * 18) * m)


def falkon_peak(n: int, m: int, itemsize: int, grid: list[float], search: Any) -> int:
    """Peak bytes of a Falkon cell: selection (the grid's ridges and the edge look-ahead on
    their :func:`anchors`; counted on all n points, an upper bound for the training part) or the
    refit (one ridge, one preconditioner), whichever is larger."""
    ridges = [float(r) for r in grid]
    ridges += lookahead(ridges, search.lo, search.hi, search.step)
    selection = falkon_bytes(n, m, itemsize, len(set(anchors(ridges))))
    return max(selection, falkon_bytes(n, m, itemsize, 1))


def nystrom_bytes(n: int, m: int, n_embed: int) -> int:
    """Peak float64 bytes of the direct baseline :func:`nystrom_design` and the ridge path on it,
    for n points, m centres and an embedding of n_embed new points kept at once."""
    m = min(m, n)
    return 8 * (6 * m * m + 3 * BLOCK_ROWS * m + n_embed * m)


def centres(n: int, rng: np.random.Generator, m: int | None = None) -> np.ndarray:
    """Indices of min(m, n) centres (m defaults to CENTRES) drawn uniformly without
    replacement, sorted."""
    return np.sort(rng.choice(n, size=min(CENTRES if m is None else m, n), replace=False))


def jittered_cholesky(K: np.ndarray) -> np.ndarray:
    """Lower L with L Lᵀ = K + εI: ε = 2·M·eps·max diag K (Falkon's jitter), raised ×10 until
    the factorisation succeeds (a kernel matrix on close centres is singular to round-off)."""
    import scipy.linalg  # here, not at the top: scipy costs `bench list` ~0.3 s

    scale = float(np.max(np.diag(K))) if len(K) else 1.0
    eps = 2 * len(K) * np.finfo(np.float64).eps * (scale if scale > 0 else 1.0)
    for _ in range(12):
        A = K.copy()
        A.flat[::len(A) + 1] += eps
        try:
            # The upper factor of the symmetric A's column-major transpose (the same memory) is
            # Lᵀ: LAPACK works in place, where a row-major A with lower=True made scipy copy it
            # first (and check it for NaNs): 7.2 s against 4.1 s at M = 10⁴, two threads.
            with safe_blas(len(A)):
                return scipy.linalg.cholesky(A.T, lower=False, overwrite_a=True, check_finite=False).T
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            eps *= 10.0
    raise np.linalg.LinAlgError("the centres' kernel matrix is not positive semi-definite")


def nystrom_design(kernel: Kernel, X: np.ndarray, T: np.ndarray, C: np.ndarray) -> Design:
    """The direct baseline: the Nyström ridge design on centres C (rows of X, :func:`centres`): Gram ΦᵀΦ = L⁻¹ K_nMᵀ K_nM L⁻ᵀ, right-hand
    side Φᵀ T = L⁻¹ K_nMᵀ T, new points embedded as k(Z, C), coefficients lifted by L⁻ᵀ."""
    import scipy.linalg  # here, not at the top: scipy costs `bench list` ~0.3 s

    L = jittered_cholesky(kernel(C, C))
    m = len(C)
    H = np.zeros((m, m))
    R = np.zeros((m, T.shape[1]))
    for i in range(0, len(X), BLOCK_ROWS):
        Kb = kernel(X[i:i + BLOCK_ROWS], C)
        H += Kb.T @ Kb           # numpy runs Aᵀ A as one symmetric rank-k update (syrk)
        R += Kb.T @ T[i:i + BLOCK_ROWS]
    # Φᵀ Φ = L⁻¹ H L⁻ᵀ by two triangular solves (H symmetric: the second acts on the transpose).
    G = scipy.linalg.solve_triangular(L, H, lower=True, overwrite_b=True)
    G = scipy.linalg.solve_triangular(L, G.T, lower=True, overwrite_b=True)
    G += G.T                     # symmetrise the round-off (the ridge path's Cholesky reads one triangle)
    G *= 0.5
    B = scipy.linalg.solve_triangular(L, R, lower=True)
    return Design(G, B, lambda Z: kernel(Z, C),
                  lambda beta: scipy.linalg.solve_triangular(L, beta, lower=True, trans="T"))


# --- Falkon: the same Nyström estimator, solved by preconditioned conjugate gradients ---------

# CG stops a column once its preconditioned residual ‖r‖ ≤ FALKON_TOL·‖b‖. Measured on sin3
# (N = 10⁴, M = 10³, all 11 ridges): the predictions then differ from CG run to 1e-11 by ≤ 1.4·tol
# relative (norm over test points), i.e. ~1e-10 of the variance in squared error, far below any
# test error reported; 1e-7 took 31 iterations against 22.
FALKON_TOL = 1e-5
# CG iterations at most; a ridge stopped here is reported with its residual (trial and
# diagnostics). Measured at FALKON_TOL: the NTK 17–30 at every ridge; Gaussian kernels at
# alpha ≤ 1e-10·N, where K_MM's spectrum has fallen below round-off, 41–300 (N = 3·10⁴,
# M = 10³–3·10³): there the cap ends CG early (an early-stopped CG solution, more regularised
# than the ridge alone). The falkon library stops after 20 iterations by default.
FALKON_MAX_ITER = 100
# Ridges (per sample) within a factor ANCHOR_SPAN of a group's smallest share one
# preconditioner, each one M × M Cholesky (M³/3 flops, ~4 s at M = 10⁴ on 2 cores, ~4 CG passes
# at N = 8·10⁴) and one M × M array held through CG. Measured on sin3, ntk depth 2, N = 2·10⁴,
# M = 2·10³, the 18 ridges 1e-14…1e3 a cell solves (grid + edge look-ahead), anchors at the
# geometric mean: one preconditioner per ridge took ≤ 32 iterations; span 1e4 (4 anchors) ≤ 28; span 1e5 (3) up to 96; one
# preconditioner left the large ridges unconverged after 300.
ANCHOR_SPAN = 1e4
# Where in its group (in log ridge) the anchor sits: 0 is the group's smallest ridge, 1 its
# largest. A ridge above its anchor is the costly side (CG on a preconditioner with too little
# ridge). Measured with the 18 ridges at N = 4·10⁴, M = 10⁴ (depth 2, 4 anchors), the most
# iterations any ridge took — which every pass pays, the ridges moving in lockstep: the
# geometric mean (0.5) 51 (ridge 1e-5, 100× above its anchor), 0.6 37, 2/3 32, 0.75 32; at
# N = 3·10⁴, M = 3·10³ 0.5 30, 0.75 32; at N = 2·10⁴, M = 2·10³ the top (1.0) up to 140.
# Spans 1e3 (5 anchors) and 1e2 (7) took 29 and 17 at N = 4·10⁴, but each anchor holds another
# 0.8 GB at M = 10⁴: four is what fits the 8 GiB target.
ANCHOR_POSITION = 0.75
# Rows of K_nM converted to float64 at a time in a CG pass, each thread into its own 5 MB buffer
# (M = 10⁴) that stays in cache for the two products. Measured for K_nM (4·10⁴ × 10⁴, float32)
# times U (10⁴ × 18), idle 2-core machine: one thread converting 512-row blocks for two-threaded
# BLAS (the pass before) 1.26 s; two threads on alternate blocks, one-threaded BLAS each: 32 rows
# 0.68–0.88 s, 48 0.70, 64 0.65–0.72, 128 0.83–1.07, 256 0.97–1.12; with one column 0.36 s
# against 0.13 s at 64 rows (benchmarks/kernel_scaling.md has the whole cells).
PASS_ROWS = 64
# Rows of K_nM computed per kernel call while it is filled (and of new points when predicting).
FILL_ROWS = 256
# K_nM is held in memory up to this many bytes (its first rows); the rows past it are computed
# again, PASS_ROWS at a time, in every pass that needs them. 4·10⁹ bytes hold K_nM whole at
# N = 10⁵ exactly (ntk: 10⁵ × 10⁴ float32; kernel_ridge: 10⁵ × 5·10³ float64), so no cell needs
# more memory than one at N = 10⁵ does (under 8 GiB), where at N = 10⁶ K_nM alone would be 40 GB.
# Each row not held costs its kernel values again in every pass (benchmarks/kernel_scaling.md,
# "Past memory: N = 10⁶").
HOLD_BYTES = 4 * 10**9


def held_rows(n: int, m: int, itemsize: int) -> int:
    """Rows of an n × m K_nM of ``itemsize``-byte entries that :class:`FalkonPath` holds: all of
    them within HOLD_BYTES, else the most that fit, a multiple of PASS_ROWS (a pass's block is
    then either held or computed)."""
    fit = HOLD_BYTES // (itemsize * max(m, 1))
    return n if fit >= n else fit - fit % PASS_ROWS


def blas_threads() -> int:
    """The BLAS thread limit in force (the harness sets it per cell): the threads that fill K_nM."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(1, min(counts)) if counts else 1


def kernel_rows(kernel: Kernel, X: np.ndarray, C: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """k(X, C) as one ``dtype`` array, filled FILL_ROWS rows at a time by as many threads as BLAS
    may use (:func:`_dealt`)."""
    out = np.empty((len(X), len(C)), dtype=dtype)

    def fill(i: int) -> None:
        out[i:i + FILL_ROWS] = kernel(X[i:i + FILL_ROWS], C)

    _dealt(len(X), FILL_ROWS, lambda mine: [fill(i) for i in mine])
    return out


def _dealt(n: int, rows: int, run: Callable[[list[int]], Any]) -> list[Any]:
    """``run(share)`` for each thread's share of the block starts 0, rows, 2·rows, … below n, the
    starts dealt out in turn to as many threads as BLAS may use, with BLAS on one thread inside
    each; returns the threads' results. The threads are the parallelism: numpy's elementwise
    kernels and float32 → float64 conversions release the GIL but run on one thread, products of
    thin blocks with a few columns starve multithreaded BLAS, and two threads each calling
    two-threaded BLAS fight over the cores (the Gaussian K_nM of sin3, 2·10⁴ × 5·10³, two threads
    after a warm-up fill: 0.32–0.45 s with the limit, 0.62–1.10 s without). joblib's threading
    backend would be this with more machinery."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    starts = list(range(0, n, rows))
    threads = max(1, min(blas_threads(), len(starts)))
    shares = [starts[t::threads] for t in range(threads)]
    with threadpool_limits(limits=1, user_api="blas"):
        if threads == 1:
            return [run(shares[0])]
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(run, shares))


def kernel_square(kernel: Kernel, C: np.ndarray) -> np.ndarray:
    """k(C, C) in float64 on threads (:func:`kernel_rows`), with each diagonal block computed as
    k(B, B) of one array, as the kernels' own square call does: there they know the pairs of a
    point with itself and set them exactly (the arc-cosine angle 0, the Gaussian distance 0)."""
    out = kernel_rows(kernel, C, C, np.float64)
    for i in range(0, len(C), FILL_ROWS):
        block = C[i:i + FILL_ROWS]
        out[i:i + FILL_ROWS, i:i + FILL_ROWS] = kernel(block, block)
    return out


def anchors(ridges: list[float]) -> list[float]:
    """The preconditioner's ridge for each ridge: ridges grouped greedily from the smallest,
    each group within ANCHOR_SPAN of its smallest, at ANCHOR_POSITION of the way from its
    smallest to its largest in log ridge."""
    out: dict[float, float] = {}
    todo = sorted(set(float(r) for r in ridges))
    while todo:
        group = [r for r in todo if r <= todo[0] * ANCHOR_SPAN]
        for r in group:
            out[r] = float(group[0] * (group[-1] / group[0]) ** ANCHOR_POSITION)
        todo = todo[len(group):]
    return [out[float(r)] for r in ridges]


@dataclass
class FalkonPath:
    """Nyström kernel ridge on centres C for many ridges at once, by Falkon (Rudi, Carratino &
    Rosasco 2017, Alg. 1): with K_MM = TᵀT and AᵀA = T Tᵀ/M + λI, conjugate gradients solve

        Bᵀ (K_nMᵀ K_nM / n + λ K_MM) B β = Bᵀ K_nMᵀ y / n,   α = B β,   B = T⁻¹ A⁻¹,

    whose matrix is ≈ I when K_nMᵀK_nM/n ≈ K_MM²/M, so CG needs few iterations at any λ. This is
    the Nyström system (K_nMᵀK_nM + nλ K_MM) α = K_nMᵀ y divided by n: λ is ``ridge_per_n``.

    K_nM is kept in float32 by default (half the memory; its rounding changes each kernel value
    by ≤ 6e-8 relative, which moved NTK predictions by 4e-6 relative at M = N = 300 but Gaussian
    kernel ones by up to 6e-3 at small ridges: ``kernel_ridge`` stores float64) and every product
    runs in float64: float32 arithmetic stalls CG at ridges ≈ 1e-8 per sample. All ridges (one CG column each, × the target columns) iterate in lockstep, so a
    pass over K_nM serves all of them; a column leaves once it has converged. Ridges share
    preconditioners (:func:`anchors`): with A built at λ₀ the system's matrix is ≈ A⁻ᵀ(T Tᵀ/M +
    λI)A⁻¹, conditioned within max(λ/λ₀, λ₀/λ).
    """

    K: np.ndarray           # the held rows of K_nM (:func:`held_rows`), float32 (or float64), held × M
    T: np.ndarray           # upper Cholesky factor of K_MM + εI (column-major)
    # (kernel, X, C) when K holds only K_nM's first rows: the others are computed in each pass
    rest: tuple[Kernel, np.ndarray, np.ndarray] | None = None
    history: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, kernel: Kernel, X: np.ndarray, C: np.ndarray, dtype: type = np.float32) -> "FalkonPath":
        """K_nM (stored as ``dtype``; its first :func:`held_rows` rows) and T for the points X
        and centres C (rows of X: :func:`centres`)."""
        # Lᵀ of the row-major L is T in column-major order, as LAPACK wants it: no copy (a
        # transposing copy of 10⁴ × 10⁴ took 3 s).
        T = jittered_cholesky(kernel_square(kernel, C)).T
        held = held_rows(len(X), len(C), np.dtype(dtype).itemsize)
        return cls(kernel_rows(kernel, X[:held], C, dtype), T, (kernel, X, C) if held < len(X) else None)

    @property
    def n(self) -> int:
        return len(self.K) if self.rest is None else len(self.rest[1])

    def _preconditioners(self, lams: list[float]) -> dict[float, np.ndarray]:
        """A (upper) with AᵀA = T Tᵀ/M + λI for each λ: T Tᵀ by LAPACK's lauum (M³/3 flops, one
        triangle), then one Cholesky each, the last in place (len(lams) M × M arrays at the end,
        one more while they are made)."""
        import scipy.linalg

        m = len(self.T)
        # T Tᵀ = Lᵀ L with L = Tᵀ, lower and column-major as LAPACK returned it: lauum and the
        # Cholesky factors below work on it without a transposing copy (3 s at M = 10⁴); the
        # factors come out lower, and their transposes are the upper A (scipy's triangular solve
        # takes either layout without copying).
        P, info = scipy.linalg.lapack.dlauum(self.T.T, lower=1)   # a copy: T itself is kept
        if info != 0:
            raise np.linalg.LinAlgError(f"T Tᵀ: LAPACK dlauum failed (info = {info})")
        P /= m                                   # lower triangle is T Tᵀ/M; Cholesky reads only it
        out = {}
        for k, lam in enumerate(lams):
            A = P if k == len(lams) - 1 else P.copy(order="F")
            A.flat[::m + 1] += lam
            with safe_blas(m):
                out[lam] = scipy.linalg.cholesky(A, lower=True, overwrite_a=True, check_finite=False).T
            del A
        return out

    def _over_blocks(self, work: Callable[[int, np.ndarray], np.ndarray | None]) -> list[np.ndarray]:
        """``work(i, Kb)`` for every PASS_ROWS-row block Kb of K_nM (in float64, starting at row
        i), on the threads of :func:`_dealt`, each converting a held block into its own reused
        buffer (a fresh array per block costs page faults) or computing a block not held; the
        threads take blocks in turn, so each computes its share of them. Returns, per thread, the
        sum of its ``work`` results (None-returning work: an empty list)."""

        held = len(self.K)

        def run(mine: list[int]) -> np.ndarray | None:
            buf = None if self.K.dtype == np.float64 else np.empty((min(PASS_ROWS, self.n), self.K.shape[1]))
            total = None
            for i in mine:
                rows = min(PASS_ROWS, self.n - i)
                if i >= held:
                    # A row not held: computed again, and rounded to the held rows' dtype so
                    # that the estimator is the same whatever HOLD_BYTES holds.
                    kernel, X, C = self.rest
                    Kb = kernel(X[i:i + rows], C)
                    if self.K.dtype != np.float64:
                        Kb = Kb.astype(self.K.dtype).astype(np.float64)
                elif buf is None:
                    Kb = self.K[i:i + rows]
                else:
                    Kb = buf[:rows]
                    np.copyto(Kb, self.K[i:i + rows])
                part = work(i, Kb)
                if part is not None:
                    if total is None:
                        total = part
                    else:
                        total += part
            return total

        return [r for r in _dealt(self.n, PASS_ROWS, run) if r is not None]

    def normal(self, U: np.ndarray) -> np.ndarray:
        """K_nMᵀ K_nM U / n in float64: one pass over K_nM (:meth:`_over_blocks`)."""
        out = sum(self._over_blocks(lambda i, Kb: Kb.T @ (Kb @ U)), np.zeros_like(U))
        out /= self.n
        return out

    def rhs(self, Y: np.ndarray) -> np.ndarray:
        """K_nMᵀ Y / n in float64."""
        out = sum(self._over_blocks(lambda i, Kb: Kb.T @ Y[i:i + len(Kb)]),
                  np.zeros((self.K.shape[1], Y.shape[1])))
        out /= self.n
        return out

    def outputs(self, alpha: np.ndarray) -> np.ndarray:
        """K_nM α in float64: the fit's outputs on its own training points."""
        out = np.empty((self.n, alpha.shape[1]))

        def rows(i: int, Kb: np.ndarray) -> None:
            np.matmul(Kb, alpha, out=out[i:i + len(Kb)])

        self._over_blocks(rows)
        return out

    def solve(self, Y: np.ndarray, ridges_per_n: list[float], tol: float | None = None,
              max_iter: int | None = None) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        """α (M × columns of Y) for each ridge per sample, and per ridge the CG ``iterations``
        and final relative preconditioned ``residual`` (the largest over Y's columns)."""
        import scipy.linalg

        tol = FALKON_TOL if tol is None else tol
        max_iter = FALKON_MAX_ITER if max_iter is None else max_iter
        t = Y.shape[1]
        anchor_of = anchors(ridges_per_n)
        A = self._preconditioners(sorted(set(anchor_of)))
        lams = np.repeat(np.asarray(ridges_per_n, float), t)              # per CG column
        pre = np.repeat(np.asarray(anchor_of, float), t)                  # its preconditioner
        ridge_of = np.repeat(np.arange(len(ridges_per_n)), t)

        def tri(R: np.ndarray, V: np.ndarray, trans: str) -> np.ndarray:
            return scipy.linalg.solve_triangular(R, V, lower=False, trans=trans, check_finite=False)

        def by_anchor(V: np.ndarray, cols: np.ndarray, trans: str) -> np.ndarray:
            out = np.empty_like(V)
            for lam in np.unique(pre[cols]):
                sel = pre[cols] == lam
                out[:, sel] = tri(A[lam], V[:, sel], trans)
            return out

        def operator(V: np.ndarray, cols: np.ndarray) -> np.ndarray:
            # A⁻ᵀ (T⁻ᵀ K_nMᵀ K_nM T⁻¹ / n + λ) A⁻¹ V on the CG columns ``cols``
            W = by_anchor(V, cols, "N")
            out = tri(self.T, self.normal(tri(self.T, W, "N")), "T")
            out += lams[cols] * W
            return by_anchor(out, cols, "T")

        every = np.arange(len(lams))
        b = by_anchor(tri(self.T, np.tile(self.rhs(Y), len(ridges_per_n)), "T"), every, "T")
        # Conjugate gradients on every column at once (the textbook recurrence, per column).
        x, r = np.zeros_like(b), b.copy()
        p = r.copy()
        rr = np.einsum("ij,ij->j", r, r)
        b_norm = np.sqrt(rr)
        b_norm[b_norm == 0] = 1.0
        iterations = np.zeros(len(lams), dtype=int)
        active = every[np.sqrt(rr) > tol * b_norm]
        for _ in range(max_iter):
            if not len(active):
                break
            Ap = operator(p[:, active], active)
            step = rr[active] / np.einsum("ij,ij->j", p[:, active], Ap)
            x[:, active] += step * p[:, active]
            r[:, active] -= step * Ap
            rr_new = np.einsum("ij,ij->j", r[:, active], r[:, active])
            p[:, active] = r[:, active] + (rr_new / rr[active]) * p[:, active]
            rr[active] = rr_new
            iterations[active] += 1
            active = active[np.sqrt(rr_new) > tol * b_norm[active]]
        alphas, info = [], []
        for k in range(len(ridges_per_n)):
            cols = np.flatnonzero(ridge_of == k)
            alphas.append(tri(self.T, tri(A[pre[cols[0]]], x[:, cols], "N"), "N"))
            info.append({"cg_iterations": int(iterations[cols].max()),
                         "cg_residual": float((np.sqrt(rr[cols]) / b_norm[cols]).max())})
        return alphas, info


def lookahead(values: list[float], lo: float, hi: float, step: float | None = None) -> list[float]:
    """The values beyond the grid ``values`` that selection's edge search (``harness.Search``:
    bounds lo, hi, and the step, by default the edge's ratio to its neighbour) would try next,
    outwards from each edge until a bound: Falkon solves them in the same passes, so an edge
    extension is answered without building a new path (a new K_nM and new centres)."""
    vals = sorted(set(float(v) for v in values))
    if len(vals) < 2:
        return []
    out = []
    v, ratio = vals[0], step or vals[1] / vals[0]
    while v > lo and ratio > 1:
        v = float(f"{max(v / ratio, lo):.10g}")
        out.append(v)
    v, ratio = vals[-1], step or vals[-1] / vals[-2]
    while v < hi and ratio > 1:
        v = float(f"{min(v * ratio, hi):.10g}")
        out.append(v)
    return out


# Validation results of the ridges :func:`lookahead` solved ahead, by (group, ridge): an extension
# round of the same cell finds them here instead of building a new path.
LOOKAHEAD = CellCache()


def predict_rows(kernel: Kernel, Z: np.ndarray, C: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """k(Z, C) @ coef, FILL_ROWS rows of Z at a time (k(Z, C) is never held whole), on as many
    threads as BLAS may use (as :func:`kernel_rows`)."""
    out = np.empty((len(Z), coef.shape[1]))

    def fill(i: int) -> None:
        out[i:i + FILL_ROWS] = kernel(Z[i:i + FILL_ROWS], C) @ coef

    _dealt(len(Z), FILL_ROWS, lambda mine: [fill(i) for i in mine])
    return out


def falkon_select(kernel: Kernel, X: np.ndarray, Y: np.ndarray, X_val: np.ndarray,
                  ridges_per_n: list[float], rng: np.random.Generator, m: int | None = None,
                  dtype: type = np.float32) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """For each ridge per sample, the outputs on X_val of Falkon fitted on (X, Y) with centres
    drawn by ``rng``, and its CG record (:meth:`FalkonPath.solve`)."""
    C = X[centres(len(X), rng, m)]
    path = FalkonPath.build(kernel, X, C, dtype)
    alphas, info = path.solve(Y, ridges_per_n)
    del path                                       # K_nM: freed before the validation kernel
    t = Y.shape[1]
    out = predict_rows(kernel, X_val, C, np.hstack(alphas))
    return [out[:, k * t:(k + 1) * t] for k in range(len(alphas))], info


@dataclass
class FalkonFit:
    """A Falkon fit: centres C, coefficients α, its CG record, and its outputs on the training
    points (K_nM α from the K_nM it holds anyway: predicting the training set again would
    recompute N × M kernel values)."""

    C: np.ndarray
    alpha: np.ndarray
    cg: dict[str, Any]
    train_out: np.ndarray


def falkon_trials(kernel: Kernel, X: np.ndarray, Y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                  values: list[float], group: str, search: Any, scorer: Callable[[np.ndarray], float],
                  rng: np.random.Generator, m: int | None = None, dtype: type = np.float32,
                  cell: Any = None) -> list[dict[str, Any]]:
    """One selection trial (``status``, ``val_score``, ``cg_iterations``, ``cg_residual``,
    ``seconds``; no ``params``) per ridge per sample in ``values`` for the configuration
    ``group`` (its other parameters, as a string), ``scorer`` turning validation outputs into a
    score. The values the edge search (``search``: a ``harness.Search``) would try next are
    solved in the same passes and kept in :data:`LOOKAHEAD` for the cell (``cell``: the rng the
    harness passed to ``fit_select``, by default ``rng``); a call whose values are all kept
    there builds nothing."""
    cell = rng if cell is None else cell
    data = LOOKAHEAD.fingerprint(X, Y, X_val, y_val)
    kept = [LOOKAHEAD.get(data, cell, (group, float(v))) for v in values]
    if all(t is not None for t in kept):
        return [dict(t) for t in kept]
    values = [float(v) for v in values]
    extra = [v for v in lookahead(values, search.lo, search.hi, search.step) if v not in values]
    start = time.perf_counter()
    outs, cg = falkon_select(kernel, X, Y, X_val, values + extra, rng, m, dtype)
    share = (time.perf_counter() - start) / len(outs)
    trials = []
    for v, out, record in zip(values + extra, outs, cg):
        trial: dict[str, Any] = {**record, "seconds": share}
        if np.all(np.isfinite(out)):
            trial.update(status="ok", val_score=scorer(out))
        else:
            trial.update(status="diverged", val_score=None, error="Falkon gave non-finite validation outputs")
        if v in extra:
            LOOKAHEAD.put(data, cell, (group, v), trial)
        else:
            trials.append(trial)
    return trials


def falkon_fit(kernel: Kernel, X: np.ndarray, Y: np.ndarray, ridge_per_n: float, rng: np.random.Generator,
               m: int | None = None, dtype: type = np.float32) -> FalkonFit:
    """Falkon fitted on (X, Y) at one ridge per sample, centres drawn by ``rng``."""
    C = X[centres(len(X), rng, m)]
    path = FalkonPath.build(kernel, X, C, dtype)
    alphas, info = path.solve(Y, [ridge_per_n])
    return FalkonFit(C, alphas[0], info[0], path.outputs(alphas[0]))
