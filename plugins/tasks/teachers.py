"""Smooth teacher networks: the concept classes of Allen-Zhu, Li, Liang (NeurIPS 2019, §3).

``teacher2``: F(x) = Σ_{r≤p} a*_r φ(⟨w*_r, x⟩) — a two-layer network with smooth activation φ.
``teacher3``: F(x) = Σ_{i≤p} a*_i φ( (1/√p) Σ_{j≤p} v*_{ij} φ(⟨w*_j, x⟩) ) — a three-layer
composition of such functions (the paper's class also multiplies two such sums; we keep the
composition, which is what separates three-layer from two-layer learners).
Weights w*_r are unit vectors, a* and v* uniform in [−1, 1]; all drawn from ``teacher_seed``,
independently of the data seed; x is uniform on the unit sphere of R^d.
"""

import numpy as np

from harness import BenchError, Task, hookimpl

from .sphere import check_int, teacher_rng, unit_sphere

ACTIVATIONS = {
    "sin": lambda z: np.sin(3 * z),
    "exp": np.exp,
    "poly2": lambda z: z ** 2,
    "poly3": lambda z: z ** 3 - z,
}


class _Teacher(Task):
    kind = "regression"

    def __init__(self, d: int = 10, p: int = 5, phi: str = "sin", teacher_seed: int = 0):
        super().__init__(d=d, p=p, phi=phi, teacher_seed=teacher_seed)

    def check_params(self) -> None:
        check_int(self.name, "d", self.params["d"], 1)
        check_int(self.name, "p", self.params["p"], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)
        if self.params["phi"] not in ACTIVATIONS:
            raise BenchError(f"{self.name}: phi must be one of {', '.join(ACTIVATIONS)}, got {self.params['phi']!r}")

    def weights(self) -> dict[str, np.ndarray]:
        d, p = self.params["d"], self.params["p"]
        rng = teacher_rng(self.name, self.params["teacher_seed"])
        W = rng.standard_normal((p, d))
        return {"W": W / np.linalg.norm(W, axis=1, keepdims=True), "a": rng.uniform(-1, 1, p),
                "V": rng.uniform(-1, 1, (p, p))}

    def sample(self, n, rng):
        X = unit_sphere(n, self.params["d"], rng)
        return X, self.evaluate(X, self.weights(), ACTIVATIONS[self.params["phi"]])


class Teacher2(_Teacher):
    """Two-layer smooth teacher F(x) = Σ_r a*_r φ(⟨w*_r, x⟩) (Allen-Zhu–Li–Liang)."""

    name = "teacher2"
    description = "Allen-Zhu–Li–Liang 2-layer concept: Σ_r a_r φ(⟨w_r,x⟩), unit w_r, x on S^{d-1}"

    def evaluate(self, X, t, phi):
        return phi(X @ t["W"].T) @ t["a"]


class Teacher3(_Teacher):
    """Three-layer smooth teacher F(x) = Σ_i a*_i φ((1/√p) Σ_j v*_ij φ(⟨w*_j, x⟩))."""

    name = "teacher3"
    description = "Allen-Zhu–Li–Liang 3-layer concept: Σ_i a_i φ(Σ_j v_ij φ(⟨w_j,x⟩)/√p), x on S^{d-1}"

    def evaluate(self, X, t, phi):
        hidden = phi(X @ t["W"].T) @ t["V"].T / np.sqrt(self.params["p"])
        return phi(hidden) @ t["a"]


@hookimpl
def register_tasks(register):
    register(Teacher2())
    register(Teacher3())
