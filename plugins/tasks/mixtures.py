"""Separated mixtures of Li & Liang (NeurIPS 2018, §3): k classes, each a mixture of l components;
every component is supported on a ball of radius r, and points of different classes are at
least δ apart."""

import numpy as np

from harness import BenchError, Task, hookimpl

from .sphere import check_int, teacher_rng


class Mixtures(Task):
    """Classification: class c ~ uniform{0..k−1}, component ~ uniform{0..l−1}, x = centre + r·u
    with u uniform in the unit ball. Centres (from ``teacher_seed``) are placed so that centres of
    different classes are ≥ δ + 2r apart, which makes the supports ≥ δ apart."""

    name = "mixtures"
    kind = "classification"
    description = "Li–Liang separated mixtures: k classes × l components, radius r, inter-class gap ≥ δ"

    def __init__(self, k: int = 2, l: int = 2, d: int = 10, delta: float = 1.0, radius: float = 0.2,
                 teacher_seed: int = 0):
        super().__init__(k=k, l=l, d=d, delta=delta, radius=radius, teacher_seed=teacher_seed)
        self.n_classes = k

    def check_params(self) -> None:
        check_int(self.name, "k", self.params["k"], 2)
        check_int(self.name, "l", self.params["l"], 1)
        check_int(self.name, "d", self.params["d"], 1)
        check_int(self.name, "teacher_seed", self.params["teacher_seed"], 0)
        delta, r = self.params["delta"], self.params["radius"]
        if not isinstance(delta, (int, float)) or not delta > 0:
            raise BenchError(f"mixtures: delta must be a positive number, got {delta!r}")
        if not isinstance(r, (int, float)) or not 0 < r <= delta / 2:
            raise BenchError(f"mixtures: radius must lie in (0, delta/2] = (0, {delta / 2:g}], got {r!r}")

    def centres(self) -> np.ndarray:
        """Array (k, l, d) of component centres, inter-class distances ≥ δ + 2r."""
        k, l, d = self.params["k"], self.params["l"], self.params["d"]
        gap = self.params["delta"] + 2 * self.params["radius"]
        rng = teacher_rng(self.name, self.params["teacher_seed"])
        scale = gap
        for _ in range(200):  # widen the spread until a draw is separated enough
            C = scale * rng.standard_normal((k, l, d))
            flat, labels = C.reshape(k * l, d), np.repeat(np.arange(k), l)
            dist = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
            if dist[labels[:, None] != labels[None]].min() >= gap:
                return C
            scale *= 1.1
        raise BenchError("mixtures: could not place separated centres; lower k·l or raise d")

    def sample(self, n, rng):
        k, l, d, r = self.params["k"], self.params["l"], self.params["d"], self.params["radius"]
        C = self.centres()
        y = rng.integers(k, size=n)
        comp = rng.integers(l, size=n)
        u = rng.standard_normal((n, d))
        u *= (rng.random(n) ** (1 / d) / np.linalg.norm(u, axis=1))[:, None]  # uniform in the unit ball
        return C[y, comp] + r * u, y


@hookimpl
def register_tasks(register):
    register(Mixtures())
