"""A minimal conceptbench plugin: the task ``halfspace`` and the learner ``knn``."""

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from harness import BenchError, Learner, Task, hookimpl


class Halfspace(Task):
    """x ~ N(0, I_d); label 1 when x1 + x2 > 0, else 0."""

    name = "halfspace"
    kind = "classification"
    n_classes = 2
    description = "Example plugin: x ~ N(0, I_d), y = 1[x1 + x2 > 0]"

    def __init__(self, d: int = 5):
        super().__init__(d=d)

    def check_params(self):
        if not isinstance(self.params["d"], int) or self.params["d"] < 2:
            raise BenchError(f"halfspace: d must be an integer >= 2, got {self.params['d']!r}")

    def sample(self, n, rng):
        X = rng.standard_normal((n, self.params["d"]))
        return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


class KNN(Learner):
    """k-nearest neighbours from scikit-learn; k tuned on the validation split."""

    name = "knn"
    description = "Example plugin: scikit-learn k-nearest neighbours, k tuned"
    parameters = {"n_neighbors": [1, 3, 9, 27]}

    def fit(self, X, y, params, rng, problem):
        k = min(int(params["n_neighbors"]), len(X))
        cls = KNeighborsClassifier if problem.kind == "classification" else KNeighborsRegressor
        return cls(n_neighbors=k).fit(X, y)


@hookimpl
def register_tasks(register):
    register(Halfspace())


@hookimpl
def register_learners(register):
    register(KNN())
