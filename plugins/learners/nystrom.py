"""Nyström kernel ridge regression for N past the exact-solve size, shared by ``ntk`` and
``kernel_ridge``.

Below ``EXACT_MAX`` points the kernels solve exactly (an N × N Gram: 3.2 GB and ~1 min per
ridge at N = 20,000). Above it they use the Nyström estimator of Rudi, Camoriano & Rosasco (2015)
— the model Falkon (Rudi, Carratino & Rosasco 2017) solves — on M = ``CENTRES`` training points
drawn uniformly at random as centres C:

    f(x) = k(x, C) α,    (K_nMᵀ K_nM + λ K_MM) α = K_nMᵀ y,

which is the exact solve when C is all of X. With K_MM + εI = L Lᵀ (ε = 2·M·eps·max diag, Falkon's
jitter) and β = Lᵀ α this is ridge regression on the M features Φ = K_nM L⁻ᵀ:
(ΦᵀΦ + λI) β = Φᵀ y, so the ridge path of :mod:`.ridge` (one M × M Cholesky per ridge) serves
every ridge of the grid from one pass over the data.

Why hand-written rather than a library: ``falkon`` is not on PyPI (it builds CUDA/C++ extensions
from source), ``pykeops`` compiles its kernels with a C++ toolchain at run time, and neither
gpytorch/linear_operator nor scikit-learn's ``Nystroem`` computes the arc-cosine NTK; ``Nystroem``
also forms the N × M feature matrix (3.2 GB at N = 80,000, M = 5,000) and solves one ridge per
fit. Here the pass over the data is streamed in blocks of rows — K_nMᵀ K_nM accumulated in
float64 (float32 arithmetic breaks ridges ≈ 1e-8·N) — so memory is O(M²), independent of N, and
one factorisation per ridge solves the M × M system directly: no iterative solver to converge.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .ridge import Design, safe_blas

# Cells with more points than this (training and validation together) use the Nyström path;
# at or below it, the exact N × N solve.
EXACT_MAX = 20_000
# Nyström centres M: the cost is N·M² (the streamed K_nMᵀ K_nM) and the memory ~6 M² float64.
CENTRES = 5_000
# Rows of K_nM computed and accumulated at a time.
BLOCK_ROWS = 2_048

Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]


def use_nystrom(n_total: int) -> bool:
    """Whether a cell of ``n_total`` points takes the Nyström path."""
    return n_total > EXACT_MAX


def nystrom_bytes(n: int, m: int, n_embed: int) -> int:
    """Peak float64 bytes of :func:`nystrom_design` and the ridge path on it, for n points, m
    centres and an embedding of n_embed new points kept at once (the validation part in
    selection): K_MM and its factor, K_nMᵀ K_nM and the transformed Gram, the ridge path's
    2 m² (:func:`.ridge.ridge_bytes`'s Cholesky route) and one block of rows (three arrays)."""
    m = min(m, n)
    return 8 * (6 * m * m + 3 * BLOCK_ROWS * m + n_embed * m)


def centres(n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of min(CENTRES, n) centres drawn uniformly without replacement, sorted."""
    return np.sort(rng.choice(n, size=min(CENTRES, n), replace=False))


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
            with safe_blas(len(A)):
                return scipy.linalg.cholesky(A, lower=True, overwrite_a=True)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
            eps *= 10.0
    raise np.linalg.LinAlgError("the centres' kernel matrix is not positive semi-definite")


def nystrom_design(kernel: Kernel, X: np.ndarray, T: np.ndarray, C: np.ndarray) -> Design:
    """The Nyström ridge design on centres C (rows of X, :func:`centres`): Gram ΦᵀΦ = L⁻¹ K_nMᵀ K_nM L⁻ᵀ, right-hand
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
