"""Mixture data of Li & Liang (NeurIPS 2018, arXiv 1808.01204).

``mixtures`` meets the paper's assumptions (§3, (A1)–(A2)): k classes, each a mixture of l
components; every input has ‖x‖ = 1; the supports of components of *different* classes are at
distance ≥ δ; each component has diameter ≤ λδ with λ ≤ 1/(8l); components of one class are
unconstrained.

Construction (all distances Euclidean, in R^d):

- centres c_{s,j} (class s, component j) are unit vectors drawn uniformly on S^{d−1} from
  ``teacher_seed``, one at a time, each re-drawn until it is ≥ δ + 2r from every centre of every
  *other* class (bounded number of tries, then a one-line error);
- component (s, j) is the spherical cap {x ∈ S^{d−1} : ‖x − c_{s,j}‖ ≤ r} with r = λδ/2, so its
  diameter is ≤ 2r = λδ, and, by the triangle inequality, points of caps of different classes are
  ≥ ‖c − c′‖ − 2r ≥ δ apart;
- a point: class s ~ uniform{0..k−1}, component j ~ uniform{0..l−1} (the paper leaves the mixing
  weights open), x = cos θ · c + sin θ · u with u a uniform unit vector ⟂ c and
  θ = θ_max · U^{1/(d−1)}, θ_max = 2 arcsin(r/2) (so ‖x − c‖ = 2 sin(θ/2) ≤ r): uniform in the
  cap's geodesic ball coordinates (exponential map at c), nearly uniform on a small cap.

``lam`` is λ (default ``None``: the largest allowed, 1/(8l), i.e. r = δ/(16l)).

``mixtures_gauss`` is the paper's own synthetic experiment (§7): d = 1000, k = 10, l = 2, component
N(μ, I/d), means μ ~ N(0, 25·I/d). These are Gaussian (unbounded, overlapping) components and do
NOT satisfy (A1)–(A2).
"""

from functools import lru_cache

import numpy as np

from harness import BenchError, Task, hookimpl

from .sphere import check_int, teacher_rng, unit_sphere

BATCH = 64  # candidate centres drawn at once
TRIES = 800  # batches per centre before giving up: at most 51,200 candidates per centre


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and np.isfinite(value)


@lru_cache(maxsize=32)
def _place_centres(k: int, l: int, d: int, delta: float, lam: float, teacher_seed: int) -> np.ndarray:
    """(k, l, d) unit centres, centres of different classes ≥ δ + 2r = δ(1 + λ) apart; BenchError
    if the bounded random search finds no place for one of them."""
    gap = delta * (1 + lam)
    rng = teacher_rng("mixtures", teacher_seed)
    labels = np.repeat(np.arange(k), l)
    C = np.empty((k * l, d))
    for i in range(k * l):
        others = C[:i][labels[:i] != labels[i]]
        for _ in range(TRIES):
            cand = unit_sphere(BATCH, d, rng)
            if not len(others):
                C[i] = cand[0]
                break
            # ‖a − b‖ for unit vectors; a small margin keeps rounding on the safe side
            dist = np.sqrt(np.maximum(2.0 - 2.0 * cand @ others.T, 0.0)).min(axis=1)
            ok = np.flatnonzero(dist >= gap + 1e-9)
            if len(ok):
                C[i] = cand[ok[0]]
                break
        else:
            raise BenchError(
                f"mixtures: delta={delta:g} is too large for k={k}, l={l}, d={d}: found no place on the unit "
                f"sphere for centre {i + 1} of {k * l} at ≥ delta·(1+lam) = {gap:g} from the other classes' "
                f"centres in {TRIES * BATCH} random tries; lower delta (or k, l) or raise d")
    return C.reshape(k, l, d)


class Mixtures(Task):
    """Li–Liang (A1)–(A2) data: k classes × l spherical caps of radius r = λδ/2 on S^{d−1},
    caps of different classes ≥ δ apart (see the module docstring for the construction)."""

    name = "mixtures"
    kind = "classification"
    version = "2"  # v2: inputs on the unit sphere (spherical caps), λ ≤ 1/(8l); v1 had balls in R^d
    description = ("Li–Liang §3 (A1)–(A2): ‖x‖=1, k classes × l caps of diameter λδ (λ ≤ 1/(8l)), "
                   "caps of different classes ≥ δ apart")

    def __init__(self, k: int = 2, l: int = 2, d: int = 10, delta: float = 1.0, lam: float | None = None,
                 teacher_seed: int = 0):
        super().__init__(k=k, l=l, d=d, delta=delta, lam=lam, teacher_seed=teacher_seed)
        self.n_classes = k

    @property
    def lam(self) -> float:
        """λ: ``lam``, or 1/(8l) when unset."""
        lam = self.params["lam"]
        return 1.0 / (8 * self.params["l"]) if lam is None else float(lam)

    @property
    def radius(self) -> float:
        """r = λδ/2: the chordal radius of every component's cap (its diameter is ≤ λδ)."""
        return self.lam * self.params["delta"] / 2

    def check_params(self) -> None:
        check_int(self.name, "k", self.params["k"], 2)
        check_int(self.name, "l", self.params["l"], 1)
        check_int(self.name, "d", self.params["d"], 2)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)
        k, l, delta, lam = self.params["k"], self.params["l"], self.params["delta"], self.params["lam"]
        if lam is not None and not (_number(lam) and 0 < lam <= 1 / (8 * l)):
            raise BenchError(f"mixtures: lam must lie in (0, 1/(8l)] = (0, {1 / (8 * l):g}] for l={l} "
                             f"(Li–Liang (A2): component diameter ≤ lam·delta), got {lam!r}")
        # k unit vectors have min pairwise distance ≤ √(2k/(k−1)) (Σ_{i<j}‖x_i − x_j‖² ≤ k²), and
        # centres of different classes must be ≥ δ + 2r = δ(1 + λ) apart.
        top = np.sqrt(2 * k / (k - 1)) / (1 + self.lam)
        if not (_number(delta) and 0 < delta <= top):
            raise BenchError(f"mixtures: delta must lie in (0, {top:.6g}] for k={k}, lam={self.lam:g} (k unit "
                             f"centres are at most √(2k/(k−1)) apart and need delta·(1+lam)), got {delta!r}")
        self.centres()  # a placement failure is a parameter error too, reported before any training

    def centres(self) -> np.ndarray:
        """Array (k, l, d) of unit component centres (from ``teacher_seed``); centres of different
        classes are ≥ δ + 2r apart."""
        p = self.params
        return _place_centres(p["k"], p["l"], p["d"], float(p["delta"]), self.lam, p["teacher_seed"])

    def sample_components(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` points with their class and component: (X, y, component), X of shape (n, d)."""
        k, l, d = self.params["k"], self.params["l"], self.params["d"]
        C = self.centres()
        y = rng.integers(k, size=n)
        comp = rng.integers(l, size=n)
        c = C[y, comp]
        u = rng.standard_normal((n, d))
        u -= np.sum(u * c, axis=1, keepdims=True) * c  # tangent direction at c
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        theta = 2 * np.arcsin(self.radius / 2) * rng.random(n) ** (1 / (d - 1))
        X = np.cos(theta)[:, None] * c + np.sin(theta)[:, None] * u
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return X, y, comp

    def sample(self, n, rng):
        X, y, _ = self.sample_components(n, rng)
        return X, y


class MixturesGauss(Task):
    """Li–Liang §7's synthetic data: class s and component j uniform, x ~ N(μ_{s,j}, I/d), means
    μ_{s,j} ~ N(0, 25·I/d) from ``teacher_seed``. Not (A1)–(A2): unbounded, overlapping components."""

    name = "mixtures_gauss"
    kind = "classification"
    description = ("Li–Liang §7 experiment (not (A1)–(A2)): d=1000, k=10 classes × l=2 components "
                   "N(μ, I/d), μ ~ N(0, 25·I/d)")

    def __init__(self, k: int = 10, l: int = 2, d: int = 1000, teacher_seed: int = 0):
        super().__init__(k=k, l=l, d=d, teacher_seed=teacher_seed)
        self.n_classes = k

    def check_params(self) -> None:
        check_int(self.name, "k", self.params["k"], 2)
        check_int(self.name, "l", self.params["l"], 1)
        check_int(self.name, "d", self.params["d"], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)

    def means(self) -> np.ndarray:
        """Array (k, l, d) of component means μ ~ N(0, 25·I/d), fixed by ``teacher_seed``."""
        k, l, d = self.params["k"], self.params["l"], self.params["d"]
        return teacher_rng(self.name, self.params["teacher_seed"]).standard_normal((k, l, d)) * (5 / np.sqrt(d))

    def sample_components(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` points with their class and component: (X, y, component)."""
        k, l, d = self.params["k"], self.params["l"], self.params["d"]
        y = rng.integers(k, size=n)
        comp = rng.integers(l, size=n)
        return self.means()[y, comp] + rng.standard_normal((n, d)) / np.sqrt(d), y, comp

    def sample(self, n, rng):
        X, y, _ = self.sample_components(n, rng)
        return X, y


@hookimpl
def register_tasks(register):
    register(Mixtures())
    register(MixturesGauss())
