"""A deep ReLU network in Zou & Gu's setting, trained by plain SGD on the squared loss.

Zou, Gu, *An Improved Analysis of Training Over-parameterized Deep Neural Networks* (NeurIPS 2019,
arXiv 1906.04688), §3 (problem setup) and their (S)GD theorems: a fully connected ReLU network
with L hidden layers of width m and no biases,

    f(x) = vᵀ σ(W_L σ(W_{L−1} ··· σ(W_1 x))),   W_1 ∈ R^{m×d}, W_l ∈ R^{m×m}, v ∈ R^m,

on inputs with ‖x‖ = 1 and last coordinate μ (``--zou-gu-mu``: the constant coordinate stands in
for the biases the network does not have), started from a Gaussian initialisation and trained by
(S)GD on the squared loss. Their result is an optimisation result — (S)GD reaches an arbitrarily
small *training* loss once m is polynomial in n and L — and it holds for any labels; they run no
experiments (``../shared/PAPERS.md``).

What is theirs and what is ours, every constant listed:

- ``depth`` = L, the number of hidden layers (≥ 1; one value per run: a different network, a
  separate curve); default 3 (the smallest depth that is "deep" beyond Allen-Zhu et al.'s 3-layer
  net, and the depth of the ``zou-gu-deep`` suite).
- Hidden weights W_1, ..., W_L: i.i.d. N(0, 2/m) — He initialisation, with the fan-out m also for
  W_1, as in the paper; with ‖x‖ = 1 it keeps ‖h_l‖ ≈ 1 through every layer.
- Output layer v: fixed at its initialisation, never trained (the paper trains the hidden layers
  only). Its distribution is not on our sheet: ours is v_j ~ N(0, 1) i.i.d., so that the output at
  initialisation is Θ(1) (Var f(x) = ‖h_L‖² ≈ 1). For classification the output layer is k × m,
  every entry N(0, 1). The network has no biases (the layers' bias vectors are zero and frozen).
- Trained: every hidden weight matrix W_1 ... W_L, by plain SGD (``torch.optim.SGD``, momentum 0,
  weight decay 0 by default), mini-batch ``batch_size`` (ours: 32), on the mean squared loss of the
  standardised targets (``nn.MSELoss``; the paper's ½ factor only rescales the step).
- Step size: ``lr`` is η·m, i.e. SGD runs at η = ``lr`` / ``width``. In this parametrisation the
  network's tangent kernel grows like m (K(x, x) ≈ L·m/2 at initialisation), so the stable step
  falls like 1/m; with η = lr/m one ``lr`` serves every width of a sweep and the function-space
  dynamics become width-independent as m grows. Ours: lr = 2. Measured on sin3 with μ = 0.5,
  L = 3, 400 epochs, batch 32, one seed (relative training MSE at widths 16 / 64 / 256, N = 400):
  lr 1: 0.023 / 0.0049 / 0.0067; lr 2: 0.019 / 0.0013 / 0.00049; lr 4: 0.37 / 0.0017 / 0.00032 —
  lr 4 is past the stable step at width 16 (and at width 8 for N = 400), lr 1 is slower; after
  200 epochs lr 0.1 and 0.3 were still at 0.36–0.59 and 0.10–0.22 (widths 16–256).
- ``schedule``: ``fixed`` (ours, the default) trains exactly ``epochs`` epochs at the constant step
  with no early stopping — the question is optimisation (how small the *training* loss gets), not
  generalisation; ``early_stop`` and ``step`` are those of the other SGD learners. Ours: 400 epochs.
- Selection: with ``fixed``, each configuration trains for all epochs on the training part and is
  scored on the validation part after the last epoch; a grid of exactly one configuration (the
  default) has nothing to select and is not trained on the validation split at all (its cell's
  validation score is empty), so a cell costs one training run, on all N.
- Classification: one output per class and cross-entropy (the harness's convention), not the
  paper's squared loss.

The cell's ``train_score`` (training relative MSE) and the diagnostics' training curve are the
training loss the ``zou-gu-deep`` suite reads.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from harness import BenchError, Diverged, Problem, Selection, hookimpl, is_int, is_number

from .relu_nets import linear_layers, relu_net
from .sgd_learner import SGDNetLearner
from .torch_training import SCHEDULES, Outcome, out_dim

if TYPE_CHECKING:  # torch is imported where a network is built: it costs `bench list` ~1 s
    import torch
    from torch import nn

FIXED = "fixed"
DEEP_SCHEDULES = (FIXED, *SCHEDULES)


def zou_gu_net(d: int, k: int, width: int, depth: int, generator: torch.Generator) -> nn.Sequential:
    """The initialised network of Zou & Gu with ``depth`` hidden layers of ``width`` units (see the
    module docstring): hidden weights N(0, 2/m), output weights N(0, 1), biases zero and frozen;
    every hidden weight trainable, the output layer frozen. Drawn from ``generator`` only."""
    import torch

    # relu_net builds the Linear/ReLU stack (depth counts layers of weights there: L + 1). Its own
    # initialisation, from a throwaway generator, is overwritten below: every value comes from
    # ``generator`` in layer order, whatever relu_net's init draws.
    net = relu_net(d, k, width, depth + 1, "fan_in", torch.Generator().manual_seed(0))
    *hidden, out = linear_layers(net)
    with torch.no_grad():
        for layer in hidden:
            layer.weight.normal_(0.0, (2.0 / width) ** 0.5, generator=generator)
        out.weight.normal_(0.0, 1.0, generator=generator)
        for layer in (*hidden, out):
            layer.bias.zero_()
    for p in net.parameters():
        p.requires_grad_(False)
    for layer in hidden:
        layer.weight.requires_grad_(True)
    return net


class DeepSGD(SGDNetLearner):
    """Zou & Gu's deep ReLU net (L = ``depth`` hidden layers, output fixed, no biases) by plain SGD
    on the squared loss, a fixed number of epochs (see the module docstring for every constant)."""

    name = "deep_sgd"
    description = ("deep ReLU net, L hidden layers of width m (Zou & Gu 2019): N(0, 2/m) init, output "
                   "fixed, plain SGD at lr/m for a fixed number of epochs")
    parameters = {
        "width": [256],
        "depth": [3],
        "lr": [2.0],
        "weight_decay": [0.0],
        "momentum": [0.0],
        "schedule": [FIXED],
        "batch_size": [32],
        "epochs": [400],
        "patience": [20],
    }
    discrete = frozenset({"depth"})

    def check_params(self) -> None:
        # SGDNetLearner.check_params would refuse schedule=fixed, so its checks are repeated here.
        for key in ("width", "depth", "batch_size", "epochs", "patience"):
            self.require(key, is_int(1), "a positive integer")
        self.require("lr", is_number(0.0, lo_open=True), "a positive number (the step size times the width)")
        self.require("weight_decay", is_number(0.0), "a number ≥ 0")
        self.require("momentum", is_number(0.0, 1.0), "a number in [0, 1)")
        self.require("schedule", lambda v: v in DEEP_SCHEDULES, " or ".join(DEEP_SCHEDULES))
        for key, why in (("depth", "it selects a different network (a separate curve), not a hyper-parameter "
                                   "to tune"),
                         ("schedule", "fixed, early stopping and the step schedule select differently")):
            values = self.grid_spec.get(key, [])
            if len(values) > 1:
                raise BenchError(f"learner '{self.name}': {key} takes one value per run, got "
                                 f"{', '.join(map(str, values))} — {why}; run once per value")

    def weight_count(self, d: int, params: dict[str, Any]) -> int:
        width, depth = int(params["width"]), int(params["depth"])
        # weights and the (frozen, zero) biases relu_net carries
        return (d + 1) * width + (depth - 1) * (width + 1) * width + width + 1

    def build(self, d: int, problem: Problem, params: dict[str, Any], generator: torch.Generator) -> nn.Module:
        return zou_gu_net(d, out_dim(problem), int(params["width"]), int(params["depth"]), generator)

    def hidden_weights(self, net: nn.Module) -> dict[str, torch.Tensor]:
        """W_1 ... W_L as ``layer1`` ... ``layerL`` (all trained)."""
        *hidden, _ = linear_layers(net)
        return {f"layer{i}": layer.weight for i, layer in enumerate(hidden, 1)}

    def train_network(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
                      problem: Problem, **val: Any) -> Outcome:
        """As :meth:`SGDNetLearner.train_network`, at the step lr / width; ``fixed`` is a constant
        step for all epochs (the early-stop schedule of :func:`train` without validation data)."""
        fixed = params.get("schedule") == FIXED
        step = {**params, "lr": float(params["lr"]) / int(params["width"]),
                "schedule": "early_stop" if fixed else params.get("schedule", "early_stop")}
        if fixed:  # no validation data: nothing to stop on, every epoch runs (on_epoch still watches)
            val = {k: v for k, v in val.items() if k == "on_epoch"}
        return super().train_network(X, y, step, rng, problem, **val)

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        if grid[0].get("schedule") != FIXED:  # schedule is single-valued (check_params)
            return super().fit_select(X_train, y_train, X_val, y_val, grid, rng, problem)
        best = Selection(None, None)
        if len(grid) == 1:  # nothing to select: the refit on all N is the only training run
            best.add({"params": grid[0], "status": "ok", "val_score": None, "seconds": 0.0,
                      "note": "a single configuration: not trained on the validation split"})
            return best
        for params in grid:
            start = time.perf_counter()
            trial: dict[str, Any] = {"params": params}
            try:
                model = self.train_network(X_train, y_train, params, rng, problem).model
                trial.update(status="ok", val_score=model.validate(X_val, y_val)[1])
            except Diverged as exc:
                trial.update(status="diverged", val_score=None, error=str(exc))
            trial["seconds"] = time.perf_counter() - start
            best.add(trial)
        return best


@hookimpl
def register_learners(register):
    register(DeepSGD())
