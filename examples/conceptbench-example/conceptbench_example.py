"""An example conceptbench plugin: the task ``halfspace``, the learners ``knn`` and
``nearest_centroid``, and the suite ``halfspace-example`` — one of each hook and every piece of
the contract that docs/plugins.md describes. It imports only from ``harness``, the public API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import BenchError, Learner, Ordering, Problem, Scale, Search, Slope, Suite, Task, hookimpl, is_int

# The size of the test set `bench run` scores on by default (--n-test), for memory_estimate.
TEST_ROWS = 5000


class Halfspace(Task):
    """x ~ N(0, I_d); label 1 when x1 + x2 > 0, else 0."""

    name = "halfspace"
    kind = "classification"
    n_classes = 2
    version = "1"  # bump when sample() draws differently for the same parameters
    description = "Example plugin: x ~ N(0, I_d), y = 1[x1 + x2 > 0]"

    def __init__(self, d: int = 5) -> None:
        super().__init__(d=d)  # the parameters (`-p d=10`): part of the task's identity

    def check_params(self) -> None:
        d = self.params["d"]
        if not isinstance(d, int) or isinstance(d, bool) or d < 2:
            raise BenchError(f"halfspace: d must be an integer ≥ 2, got {d!r}; e.g. -p d=5")

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        X = rng.standard_normal((n, self.params["d"]))  # randomness from rng only
        return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


class KNN(Learner):
    """k-nearest neighbours from scikit-learn; k tuned on the validation part of the N samples."""

    name = "knn"
    description = "Example plugin: scikit-learn k-nearest neighbours, k tuned"
    version = "1"  # bump when fit() gives different results for the same parameters
    parameters = {"n_neighbors": [1, 3, 9, 27], "weights": ["uniform"]}  # the grid: their product
    # When the largest (smallest) k wins, selection also tries 3× more (fewer), up to these bounds.
    search = {"n_neighbors": Search(1, 729)}

    def check_params(self) -> None:
        self.require("n_neighbors", is_int(1), "a positive integer")
        self.require("weights", lambda v: v in ("uniform", "distance"), "uniform or distance")

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float64 bytes: the copy of X the index keeps, and predict's distances and indices
        (about five n_rows × k arrays) on the larger of the training and the test set.

        Peak traced allocations of a fit plus predictions on 5000 test points and on the
        training set, k = 27, d = 5: N = 2000 measured 5.6 MiB, this gives 5.2 MiB; N = 20000
        measured 22.5 MiB, this gives 21.4 MiB; N = 100000 measured 112 MiB, this gives 103 MiB.
        """
        k = int(params["n_neighbors"])
        return 8 * (n * d + 5 * max(n, TEST_ROWS) * k)

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> Any:
        # Imported here, not at the top: `bench list` imports every plugin module, and
        # scikit-learn would add about a second to it.
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        k = min(int(params["n_neighbors"]), len(X))
        cls = KNeighborsClassifier if problem.kind == "classification" else KNeighborsRegressor
        return cls(n_neighbors=k, weights=params["weights"]).fit(X, y)  # has .predict(X)


@dataclass
class NearestMean:
    """The model nearest_centroid fits: any object with ``predict(X)`` will do."""

    means: np.ndarray  # (n_classes, d); NaN rows for classes absent from the training set

    def predict(self, X: np.ndarray) -> np.ndarray:
        dist = ((X[:, None, :] - self.means[None, :, :]) ** 2).sum(axis=2)
        return np.argmin(np.where(np.isnan(dist), np.inf, dist), axis=1)


class NearestCentroid(Learner):
    """Predict the class whose training mean is nearest; nothing to tune. Written out in numpy
    (scikit-learn has NearestCentroid) to show that ``fit`` may return any object with predict."""

    name = "nearest_centroid"
    description = "Example plugin: the class whose training mean is nearest (classification only)"
    supports = frozenset({"classification"})  # `bench run` skips it on regression tasks, saying so
    parameters: dict[str, list[Any]] = {}  # no hyper-parameters: a grid of one configuration

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> NearestMean:
        means = np.full((problem.n_classes, problem.d), np.nan)
        for c in np.unique(y):
            means[c] = X[y == c].mean(axis=0)
        return NearestMean(means)


SUITE = Suite(
    name="halfspace-example",
    description="Example plugin: on a halfspace the nearest class mean beats k-NN, and k-NN improves with N",
    tasks={"halfspace": {"d": 5}},
    learners={"nearest_centroid": {}, "knn": {}},
    ns=(100, 200, 400, 800), seeds=5, n_test=2000,  # the small scale: seconds
    scales={"paper": Scale(ns=(100, 1000, 10000), seeds=5, n_test=5000, note="about a minute on 2 cores")},
    claims=(
        Ordering(learners=("nearest_centroid", "knn"), task="halfspace",
                 text="the nearest-class-mean rule has a lower test error than k-NN at every N",
                 source="the classes are mirror images (x ↦ −x), so the bisector of their means is the "
                        "Bayes boundary x1 + x2 = 0"),
        Slope(learner="knn", at_most=0.0, text="k-NN's test error falls as N grows",
              source="k-NN is consistent (Stone 1977)"),
    ),
    caveats=("an example of the plugin API, not a paper's claim",),
)


@hookimpl
def register_tasks(register):
    register(Halfspace())


@hookimpl
def register_learners(register):
    register(KNN())
    register(NearestCentroid())


@hookimpl
def register_suites(register):
    register(SUITE)
