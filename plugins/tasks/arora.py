"""Smooth targets of Arora, Du, Hu, Li, Wang (ICML 2019, §6): provably learnable by wide
two-layer ReLU nets — y = Σ_j (β_jᵀx)^{p_j} and y = cos(βᵀx) — on unit-norm inputs."""

import numpy as np

from harness import BenchError, Task, hookimpl

from .sphere import check_int, teacher_rng, unit_sphere


class Poly(Task):
    """y = Σ_{p in degrees} (β_pᵀx)^p with unit β_p drawn from ``teacher_seed``; x on S^{d-1}."""

    name = "poly"
    kind = "regression"
    description = "Arora et al.: y = Σ_p (β_pᵀx)^p over degrees p (default (2,)), unit β_p, x on S^{d-1}"

    def __init__(self, d: int = 10, degrees: tuple = (2,), teacher_seed: int = 0):
        degrees = (degrees,) if isinstance(degrees, int) else tuple(degrees)
        super().__init__(d=d, degrees=degrees, teacher_seed=teacher_seed)

    def check_params(self) -> None:
        check_int(self.name, "d", self.params["d"], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)
        degrees = self.params["degrees"]
        if not degrees or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in degrees):
            raise BenchError(f"poly: degrees must be positive integers, e.g. (1, 2, 4); got {degrees!r}")

    def sample(self, n, rng):
        d, degrees = self.params["d"], self.params["degrees"]
        B = teacher_rng(self.name, self.params["teacher_seed"]).standard_normal((len(degrees), d))
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        X = unit_sphere(n, d, rng)
        return X, sum((X @ b) ** p for b, p in zip(B, degrees))


class Cos(Task):
    """y = cos(frequency · βᵀx) with unit β drawn from ``teacher_seed``; x on S^{d-1}."""

    name = "cos"
    kind = "regression"
    description = "Arora et al.: y = cos(f·βᵀx), unit β, x on S^{d-1}"

    def __init__(self, d: int = 10, frequency: float = 1.0, teacher_seed: int = 0):
        super().__init__(d=d, frequency=frequency, teacher_seed=teacher_seed)

    def check_params(self) -> None:
        check_int(self.name, "d", self.params["d"], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)
        f = self.params["frequency"]
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 0:
            raise BenchError(f"cos: frequency must be a positive number, got {f!r}")

    def sample(self, n, rng):
        d = self.params["d"]
        beta = teacher_rng(self.name, self.params["teacher_seed"]).standard_normal(d)
        beta /= np.linalg.norm(beta)
        X = unit_sphere(n, d, rng)
        return X, np.cos(self.params["frequency"] * (X @ beta))


@hookimpl
def register_tasks(register):
    register(Poly())
    register(Cos())
