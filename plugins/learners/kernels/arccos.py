"""Infinite-width kernels of ReLU networks: the arc-cosine recursions behind ``ntk`` and the limit
of ``random_features``.

Parameterisation (the one the theory papers use for unit-norm inputs; every weight and bias is a
standard Gaussian at initialisation and all of them are trained):

    g¹(x) = √(1−β²) · W¹ x + β · b¹                       (no 1/√d: inputs have norm ≈ 1)
    gˡ(x) = √(1−β²) · √(2/m) · Wˡ relu(gˡ⁻¹(x)) + β · bˡ     l = 2 … L  (He scale keeps norms)
    f(x)  = √(1/m) · a · relu(gᴸ(x))

β² (``bias``) is the share of each pre-activation's variance that comes from its bias;
β² = 1/2 on the first layer is the input map x → [x, 1]/√2. With β = 0 and L = 1 the part of the
NTK that comes from W¹ is Arora et al.'s H∞ = xᵀx′ (π − arccos xᵀx′) / (2π) on unit vectors.

For jointly Gaussian (u, v) with covariance [[s, c], [c, t]] and angle θ = arccos(c / √(st)):

    E relu(u) relu(v) = √(st) (sin θ + (π − θ) cos θ) / (2π)      (Cho & Saul, degree 1, halved)
    E relu′(u) relu′(v) = (π − θ) / (2π)                          (degree 0, halved)

and the NTK follows Jacot et al.: Θ¹ = Σ¹, Θˡ⁺¹ = Σˡ⁺¹ + Θˡ · Σ̇ˡ⁺¹, output Θ = Λᴸ + Θᴸ · Dᴸ.
"""

from __future__ import annotations

import numpy as np

# Kernels are computed in blocks of about BLOCK_ELEMENTS entries (rows of X × all of Y) with
# in-place arithmetic: the recursion holds ~6 block-sized arrays, so the only full-size array is
# the result. The whole-matrix formula held 8–10 N×N float64 arrays at once (~6 GB at N = 10⁴).
# With two fill threads each calling two-threaded BLAS, blocks of 2¹⁸ made X Yᵀ big enough for
# BLAS to thread it, and the depth-2 (depth-3) NTK of 2·10⁴ × 10⁴ points took 2.8–4.1 s
# (5.1–6.0 s) against 1.3–1.6 s (2.2–2.3 s) at 2¹⁶. Now that the fills run BLAS on one thread
# inside (nystrom._dealt) the two sizes time the same (benchmarks/kernel_scaling.md,
# section 5); 2¹⁶ is kept, 512 KB a temporary.
BLOCK_ELEMENTS = 1 << 16


def _check(depth: int, bias: float) -> None:
    if not 0.0 <= bias < 1.0:
        raise ValueError(f"bias (β²) must lie in [0, 1), got {bias!r}")
    if depth < 2:
        raise ValueError(f"depth counts layers of weights and must be at least 2, got {depth!r}")


def _relu_moments(c: np.ndarray, s: np.ndarray, t: np.ndarray, lam: np.ndarray,
                  dot: np.ndarray | None, same: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Write E relu(u) relu(v) into ``lam`` and (if given) E relu′(u) relu′(v) into ``dot``, for
    covariances ``c`` (overwritten) and variances s (rows), t (cols); the entries ``same``
    pair a point with itself, whose angle is exactly 0."""
    norm = np.sqrt(np.outer(s, t))
    if s.min(initial=1.0) > 0 and t.min(initial=1.0) > 0:
        c /= norm                         # the usual case, without the three masked passes below
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(c, np.where(norm > 0, norm, 1.0), out=c)
        c[norm <= 0] = 0.0
    np.clip(c, -1.0, 1.0, out=c)          # cos θ
    if same is not None:
        # Round-off leaves cos θ = 1 ± 1e-16 on the diagonal, and arccos turns that into θ ~ 1e-8
        # (a 1e-8 relative error of the diagonal in float64, 1e-4 in float32): set it exactly.
        c[same] = 1.0
    # sin θ = √((1 − cos θ)(1 + cos θ)) and cos θ itself instead of sin(θ), cos(θ): two
    # transcendental functions fewer (each ~8 ns per entry), as accurate (the product form keeps
    # 1 − cos θ exact near θ = 0, where arccos is as ill-conditioned as the square root).
    np.subtract(1.0, c, out=lam)
    lam *= 1.0 + c
    np.sqrt(lam, out=lam)                 # sin θ
    theta = np.arccos(c)
    c *= np.pi - theta
    lam += c                              # sin θ + (π − θ) cos θ
    lam *= norm
    lam /= 2 * np.pi
    if dot is not None:
        np.subtract(np.pi, theta, out=dot)
        dot /= 2 * np.pi


def _block(X: np.ndarray, Y: np.ndarray, depth: int, bias: float, ntk: bool, out: np.ndarray,
           same: tuple[np.ndarray, np.ndarray] | None) -> None:
    """Recurse up to the last hidden layer L = depth − 1 on rows X against Y and write the NTK
    (``ntk``) or the last layer's Λᴸ into ``out``; ``same`` indexes the (x, x) entries."""
    w, b = 1.0 - bias, bias
    cov = X @ Y.T
    cov *= w
    cov += b                                     # Σ¹(x, y)
    sx = w * np.einsum("ij,ij->i", X, X) + b     # Σ¹(x, x)
    sy = w * np.einsum("ij,ij->i", Y, Y) + b
    theta = cov.copy() if ntk else None          # Θ¹ = Σ¹
    lam = np.empty_like(cov)
    dot = np.empty_like(cov) if ntk else None
    for _ in range(depth - 2):                   # hidden layers 2 … L
        _relu_moments(cov, sx, sy, lam, dot, same)
        lam *= w * 2.0
        lam += b                                 # Σˡ⁺¹
        if ntk:
            dot *= w * 2.0
            theta *= dot
            theta += lam                         # Θˡ⁺¹ = Σˡ⁺¹ + Θˡ · Σ̇ˡ⁺¹
        # The diagonal maps through the same formula with θ = 0: Λ = s/2.
        cov, lam = lam, cov
        sx, sy = w * sx + b, w * sy + b
    _relu_moments(cov, sx, sy, out if not ntk else lam, dot, same)
    if ntk:
        np.multiply(theta, dot, out=out)
        out += lam                               # Θ = Λᴸ + Θᴸ · Dᴸ


def _kernel(X: np.ndarray, Y: np.ndarray, depth: int, bias: float, ntk: bool) -> np.ndarray:
    _check(depth, bias)
    square = X is Y
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    out = np.empty((len(X), len(Y)))
    rows = max(1, BLOCK_ELEMENTS // max(1, len(Y)))
    for i in range(0, len(X), rows):
        k = np.arange(min(rows, len(X) - i))
        _block(X[i:i + rows], Y, depth, bias, ntk, out[i:i + rows], (k, i + k) if square else None)
    return out


def ntk(X: np.ndarray, Y: np.ndarray, depth: int = 2, bias: float = 0.5) -> np.ndarray:
    """The infinite-width NTK Θ(X, Y) of a ReLU network with ``depth`` layers of weights."""
    return _kernel(X, Y, depth, bias, ntk=True)


def arccos1(X: np.ndarray, Y: np.ndarray, bias: float = 0.5) -> np.ndarray:
    """E over one random ReLU unit of relu(g¹(x)) relu(g¹(y)): the kernel that random ReLU
    features of the first layer converge to (the NNGP kernel of a 2-layer network)."""
    return _kernel(X, Y, 2, bias, ntk=False)
