"""Kernel regression with the exact infinite-width neural tangent kernel of the 2- and 3-layer
ReLU networks (with biases) — the "NTK" curve of Allen-Zhu, Li, Liang (2019, Fig. 1)."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from harness import hookimpl, is_int

from . import arccos
from .ridge import RIDGE, RIDGES, Design, RidgeLearner


class NTK(RidgeLearner):
    """Ridge regression with Θ from :func:`arccos.ntk` (parameterisation documented there).

    ``depth`` is the number of layers of weights (2: one hidden layer, 3: two); ``bias`` is β²,
    the share of each pre-activation's variance that comes from its bias. Without biases the
    2-layer NTK cannot fit sin3 (its odd harmonics of degree ≥ 3 vanish), so the default is
    β² = 1/2, the map x → [x, 1]/√2. The ridge is ``ridge_per_n · n``; classification regresses
    centred one-hot targets.
    """

    name = "ntk"
    discrete = frozenset({"depth"})  # a choice between two kernels, not an ordered axis
    description = "kernel regression with the exact NTK of the 2-/3-layer ReLU net (biases), ridge tuned"
    parameters = {
        "depth": [2, 3],
        "bias": [0.5],
        RIDGE: RIDGES,
    }

    def check_params(self) -> None:
        super().check_params()
        self.require("depth", is_int(2), "an integer ≥ 2 (layers of weights)")

    def design(self, X: np.ndarray, params: dict[str, Any], rng: np.random.Generator) -> Design:
        return Design.from_kernel(partial(arccos.ntk, depth=int(params["depth"]), bias=float(params["bias"])), X)


@hookimpl
def register_learners(register):
    register(NTK())
