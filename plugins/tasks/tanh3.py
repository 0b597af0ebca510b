"""The target of Allen-Zhu, Li, Liang (NeurIPS 2019, arXiv 1811.04918), Figure 2 — Fig. 1's
protocol with tanh in place of sin and cos."""

import numpy as np

from harness import Task, hookimpl

from .sphere import unit_sphere


class Tanh3(Task):
    """x ∈ R^4 standard Gaussian normalised to unit norm (drawn exactly as ``sin3`` draws it);
    y = (tanh 8x1 + tanh 8x2 + tanh 8x3 − 2)² · tanh 8x4. Noise-free regression."""

    name = "tanh3"
    kind = "regression"
    description = "Allen-Zhu–Li–Liang Fig. 2: y = (tanh8x1+tanh8x2+tanh8x3−2)²·tanh8x4, x uniform on S³"

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X = unit_sphere(n, 4, rng)
        t = np.tanh(8 * X)
        return X, (t[:, 0] + t[:, 1] + t[:, 2] - 2) ** 2 * t[:, 3]


@hookimpl
def register_tasks(register):
    register(Tanh3())
