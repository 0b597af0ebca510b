"""A two-class synthetic task for Arora, Du, Hu, Li, Wang (ICML 2019): y = sign(βᵀx) on the sphere.

Why this one: their experiments use labels y = ±1 and inputs with ‖x‖ = 1 (App. A), and their
learnable class (§6) starts with linear functions y = βᵀx (p = 1). Labels ±1 need a threshold;
thresholding the linear function at 0 gives balanced classes on the sphere and a boundary that a
wide two-layer ReLU network fits easily, the synthetic counterpart of their "true labels". The
thresholded function is not itself in the §6 class (Thm 5.1's guarantee is not claimed for it);
what the suite compares is how its measures move as labels are randomised. The `cos`/`poly`
tasks are regression targets, not ±1 labels.
"""

import numpy as np

from harness import Task, hookimpl

from .sphere import check_int, teacher_rng, unit_sphere


class LinearSign(Task):
    """x uniform on S^{d-1}; class 1 (y = +1) where βᵀx ≥ 0, else class 0 (y = −1); unit β from
    ``teacher_seed``."""

    name = "linear_sign"
    kind = "classification"
    n_classes = 2
    description = "y = sign(βᵀx), x on S^{d-1}, unit β — ±1 labels from a linear function (Arora et al.'s setting)"

    def __init__(self, d: int = 10, teacher_seed: int = 0):
        super().__init__(d=d, teacher_seed=teacher_seed)

    def check_params(self) -> None:
        check_int(self.name, "d", self.params["d"], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)

    def sample(self, n, rng):
        d = self.params["d"]
        beta = teacher_rng(self.name, self.params["teacher_seed"]).standard_normal(d)
        X = unit_sphere(n, d, rng)
        return X, (X @ beta >= 0).astype(np.int64)


@hookimpl
def register_tasks(register):
    register(LinearSign())
