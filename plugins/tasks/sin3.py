"""The target of Allen-Zhu, Li, Liang (NeurIPS 2019, arXiv 1811.04918), Figure 1."""

import numpy as np

from harness import Task, hookimpl


class Sin3(Task):
    """x ∈ R^4 standard Gaussian normalised to unit norm; y = (sin 3x1 + sin 3x2 + sin 3x3 − 2)² · cos 7x4.

    Noise-free regression; Var(y) ≈ 30 over this input distribution.
    """

    name = "sin3"
    kind = "regression"
    description = "Allen-Zhu–Li–Liang Fig. 1: y = (sin3x1+sin3x2+sin3x3−2)²·cos7x4, x uniform on S³"

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, 4))
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        y = (np.sin(3 * X[:, 0]) + np.sin(3 * X[:, 1]) + np.sin(3 * X[:, 2]) - 2) ** 2 * np.cos(7 * X[:, 3])
        return X, y


@hookimpl
def register_tasks(register):
    register(Sin3())
