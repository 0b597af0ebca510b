"""Smooth teacher networks: the concept classes of Allen-Zhu, Li, Liang (NeurIPS 2019,
arXiv 1811.04918), with one output (r = 1).

``teacher2``, eq. (3.1):  F(x) = Σ_{i≤p} a*_i φ(⟨w*_{1,i}, x⟩) · ⟨w*_{2,i}, x⟩

``teacher3``, eq. (4.1):  F(x) = Σ_{i≤p1} a*_i Φ( Σ_{j≤p2} v*_{1,i,j} φ(⟨w*_{1,j}, x⟩) )
                                             · ( Σ_{j≤p2} v*_{2,i,j} φ(⟨w*_{2,j}, x⟩) )

As the paper assumes (§3): inputs have ‖x‖ = 1 and last coordinate x_d = 1/2 (padding) —
x = (√(3/4)·z/‖z‖, 1/2) with z standard Gaussian in R^{d−1}; every w* ∈ R^d and v* ∈ R^{p2} is a
unit vector (standard Gaussian, normalised); a* ~ uniform[−1, 1], so |a*| ≤ 1. The paper allows a
different smooth function per unit (φ_{1,j}, φ_{2,j}, Φ_i); we use the one smooth ``phi`` for all
of them. All weights come from ``teacher_seed``, independently of the data seed, and are returned
by :meth:`weights`.
"""

import numpy as np

from harness import BenchError, Task, hookimpl

from .sphere import check_int, teacher_rng

ACTIVATIONS = {
    "sin": lambda z: np.sin(3 * z),
    "exp": np.exp,
    "poly2": lambda z: z ** 2,
    "poly3": lambda z: z ** 3 - z,
}

PAD = 0.5  # x_d, the paper's padding coordinate


def padded_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` inputs with ‖x‖ = 1 and x_d = 1/2: (√(1 − 1/4)·z/‖z‖, 1/2), z uniform direction in R^{d−1}."""
    Z = rng.standard_normal((n, d - 1))
    Z *= np.sqrt(1 - PAD ** 2) / np.linalg.norm(Z, axis=1, keepdims=True)
    return np.hstack([Z, np.full((n, 1), PAD)])


def unit_rows(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    M = rng.standard_normal((rows, cols))
    return M / np.linalg.norm(M, axis=1, keepdims=True)


class _Teacher(Task):
    kind = "regression"
    version = "2"  # v2: the paper's classes (3.1) and (4.1) on inputs with x_d = 1/2

    def check_params(self) -> None:
        check_int(self.name, "d", self.params["d"], 2)  # x_d is the padding
        for key in self.widths:
            check_int(self.name, key, self.params[key], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)
        if self.params["phi"] not in ACTIVATIONS:
            raise BenchError(f"{self.name}: phi must be one of {', '.join(ACTIVATIONS)}, got {self.params['phi']!r}")

    def sample(self, n, rng):
        X = padded_sphere(n, self.params["d"], rng)
        return X, self.evaluate(X)


class Teacher2(_Teacher):
    """Eq. (3.1): F(x) = Σ_i a*_i φ(⟨w*_{1,i}, x⟩)·⟨w*_{2,i}, x⟩, unit w*, |a*| ≤ 1, ‖x‖ = 1, x_d = 1/2."""

    name = "teacher2"
    widths = ("p",)
    description = ("Allen-Zhu–Li–Liang eq. (3.1): Σ_i a_i φ(⟨w1_i,x⟩)·⟨w2_i,x⟩, unit w, |a| ≤ 1, "
                   "‖x‖=1, x_d=1/2")

    def __init__(self, d: int = 10, p: int = 5, phi: str = "sin", teacher_seed: int = 0):
        super().__init__(d=d, p=p, phi=phi, teacher_seed=teacher_seed)

    def weights(self) -> dict[str, np.ndarray]:
        """The teacher: ``W1``, ``W2`` (p, d) with unit rows w*_{1,i}, w*_{2,i}; ``a`` (p,) in [−1, 1]."""
        d, p = self.params["d"], self.params["p"]
        rng = teacher_rng(self.name, self.params["teacher_seed"])
        return {"W1": unit_rows(rng, p, d), "W2": unit_rows(rng, p, d), "a": rng.uniform(-1, 1, p)}

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        t, phi = self.weights(), ACTIVATIONS[self.params["phi"]]
        return (phi(X @ t["W1"].T) * (X @ t["W2"].T)) @ t["a"]


class Teacher3(_Teacher):
    """Eq. (4.1): F(x) = Σ_i a*_i Φ(Σ_j v*_{1,i,j} φ(⟨w*_{1,j}, x⟩))·(Σ_j v*_{2,i,j} φ(⟨w*_{2,j}, x⟩)),
    Φ = φ = ``phi``, unit w* and v*, |a*| ≤ 1, ‖x‖ = 1, x_d = 1/2."""

    name = "teacher3"
    widths = ("p1", "p2")
    description = ("Allen-Zhu–Li–Liang eq. (4.1): Σ_i a_i φ(Σ_j v1_ij φ(⟨w1_j,x⟩))·(Σ_j v2_ij φ(⟨w2_j,x⟩)), "
                   "unit w, v, ‖x‖=1, x_d=1/2")

    def __init__(self, d: int = 10, p1: int = 5, p2: int = 5, phi: str = "sin", teacher_seed: int = 0):
        super().__init__(d=d, p1=p1, p2=p2, phi=phi, teacher_seed=teacher_seed)

    def weights(self) -> dict[str, np.ndarray]:
        """The teacher: ``W1``, ``W2`` (p2, d) with unit rows w*_{1,j}, w*_{2,j}; ``V1``, ``V2``
        (p1, p2) with unit rows v*_{1,i}, v*_{2,i}; ``a`` (p1,) in [−1, 1]."""
        d, p1, p2 = self.params["d"], self.params["p1"], self.params["p2"]
        rng = teacher_rng(self.name, self.params["teacher_seed"])
        return {"W1": unit_rows(rng, p2, d), "W2": unit_rows(rng, p2, d),
                "V1": unit_rows(rng, p1, p2), "V2": unit_rows(rng, p1, p2), "a": rng.uniform(-1, 1, p1)}

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        t, phi = self.weights(), ACTIVATIONS[self.params["phi"]]
        first = phi(phi(X @ t["W1"].T) @ t["V1"].T)  # Φ_i(Σ_j v*_{1,i,j} φ(⟨w*_{1,j}, x⟩)), shape (n, p1)
        second = phi(X @ t["W2"].T) @ t["V2"].T  # Σ_j v*_{2,i,j} φ(⟨w*_{2,j}, x⟩)
        return (first * second) @ t["a"]


@hookimpl
def register_tasks(register):
    register(Teacher2())
    register(Teacher3())
