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


def _relu_moments(c: np.ndarray, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E relu(u) relu(v), E relu′(u) relu′(v)) for covariances c and variances s (rows), t (cols)."""
    norm = np.sqrt(np.outer(s, t))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(norm > 0, c / np.where(norm > 0, norm, 1.0), 0.0)
    theta = np.arccos(np.clip(cos, -1.0, 1.0))
    lam = norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi)
    return lam, (np.pi - theta) / (2 * np.pi)


def _layers(X: np.ndarray, Y: np.ndarray, depth: int, bias: float, ntk: bool):
    """Recurse up to the last hidden layer L = depth − 1; return (Λᴸ, Dᴸ, Θᴸ or None)."""
    if not 0.0 <= bias < 1.0:
        raise ValueError(f"bias (β²) must lie in [0, 1), got {bias!r}")
    if depth < 2:
        raise ValueError(f"depth counts layers of weights and must be at least 2, got {depth!r}")
    w, b = 1.0 - bias, bias
    X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    cov = w * (X @ Y.T) + b                      # Σ¹(x, y)
    sx = w * np.einsum("ij,ij->i", X, X) + b     # Σ¹(x, x)
    sy = w * np.einsum("ij,ij->i", Y, Y) + b
    theta = cov.copy() if ntk else None          # Θ¹ = Σ¹
    for _ in range(depth - 2):                   # hidden layers 2 … L
        lam, dot = _relu_moments(cov, sx, sy)
        new_cov = w * 2.0 * lam + b
        if ntk:
            theta = new_cov + theta * (w * 2.0 * dot)
        # The diagonal maps through the same formula with θ = 0: Λ = s/2.
        cov, sx, sy = new_cov, w * sx + b, w * sy + b
    lam, dot = _relu_moments(cov, sx, sy)
    return lam, dot, theta


def ntk(X: np.ndarray, Y: np.ndarray, depth: int = 2, bias: float = 0.5) -> np.ndarray:
    """The infinite-width NTK Θ(X, Y) of a ReLU network with ``depth`` layers of weights."""
    lam, dot, theta = _layers(X, Y, depth, bias, ntk=True)
    return lam + theta * dot


def arccos1(X: np.ndarray, Y: np.ndarray, bias: float = 0.5) -> np.ndarray:
    """E over one random ReLU unit of relu(g¹(x)) relu(g¹(y)): the kernel that random ReLU
    features of the first layer converge to (the NNGP kernel of a 2-layer network)."""
    lam, _, _ = _layers(X, Y, 2, bias, ntk=False)
    return lam
