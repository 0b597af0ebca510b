"""The base class of the SGD network learners: its parameters, selection (the grid looped, or
batched as one program per architecture by :mod:`.batched`) and the refit; the training loop
itself is :mod:`.torch_training`."""

from __future__ import annotations

import abc
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from harness import BenchError, Diverged, Learner, Problem, Search, Selection, is_int, is_number

from .torch_training import (PREDICT_ROWS, SCHEDULES, Outcome, TrainedNet, data_bytes, snapshot, torch_seed, train,
                             weight_change)

if TYPE_CHECKING:  # torch is imported where a network is built or run: it costs `bench list` ~1 s
    import torch
    from torch import nn

# The cost model of time_estimate (not part of the learners' fingerprints): seconds of one optimiser
# step beyond its arithmetic (torch dispatch, the batch gather, the loss), of one floating-point
# operation of forward + backward (6 per weight per sample), and per sample per hidden unit (the
# element-wise work on activations: ReLU, its mask, the batched grid's copies; it dominates
# two-layer nets, whose matrix products are small). Fitted together by least squares on log
# seconds to the 1,053 finished CPU cells of two_layer_sgd, three_layer_sgd, three_layer_ntk and
# deep_sgd in the committed store (rms error of log seconds 0.71); the median measured ÷
# estimated per learner is 1.50, 0.84, 1.86 and 0.80 (benchmarks/eta_check.md has the table).
# `bench run` rescales by the stored timings where it has them.
STEP_SECONDS = 2.2e-4
FLOP_SECONDS = 7.9e-12
ACTIVATION_SECONDS = 1e-8
# An early-stopped configuration trains about this share of its epoch cap on average (patience
# runs past the best epoch, the cap binds on the slow learners): a middle value, the stored
# timings correct it per learner.
EARLY_STOP_SHARE = 0.6


class SGDNetLearner(Learner):
    """A torch network trained by :func:`train`; subclasses implement :meth:`build`.

    Parameters every subclass declares: ``width``, ``lr``, ``weight_decay``, ``batch_size``,
    ``epochs`` and ``patience``; optionally ``momentum`` (default 0) and ``schedule`` (default
    ``early_stop``). With ``early_stop``, selection picks the number of epochs by early stopping on
    the validation part (at most ``epochs``, stopping after ``patience`` epochs without
    improvement) and the chosen configuration is retrained on all N samples for that many epochs.
    With ``step`` every configuration trains for all ``epochs`` (lr/10 at half-way), validation
    scores it after the last epoch (so it chooses lr, weight decay, ... but not the epochs;
    ``patience`` is unused), and the winner is retrained on all N for ``epochs`` epochs.
    """

    uses_device = True
    # Where the lr × weight-decay grid may grow when its winner is on an edge: lr 10 diverges on
    # every task here; weight decay beyond 0.1 leaves nothing to fit. The epoch cap doubles while
    # early stopping chooses the cap itself (the network was still improving).
    search = {"lr": Search(1e-5, 10.0), "weight_decay": Search(0.0, 0.1),
              "epochs": Search(1, 3200, step=2, cap=True)}

    def check_params(self) -> None:
        for key in ("width", "batch_size", "epochs", "patience"):
            self.require(key, is_int(1), "a positive integer")
        self.require("lr", is_number(0.0, lo_open=True), "a positive number")
        self.require("weight_decay", is_number(0.0), "a number ≥ 0")
        self.require("momentum", is_number(0.0, 1.0), "a number in [0, 1)")
        self.require("schedule", lambda v: v in SCHEDULES, " or ".join(SCHEDULES))
        self.require("halving", lambda v: isinstance(v, bool), "true or false")
        if len(self.grid_spec.get("halving", [])) > 1:
            raise BenchError(f"learner '{self.name}': halving takes one value per run (it decides how the "
                             f"grid is searched, it is not a hyper-parameter); run once per value")

    @property
    def identity(self) -> dict[str, Any]:
        """As :attr:`Learner.identity`, without ``halving`` when it is off (the default), so a cell
        is the same cell it was before the option existed (same id, same seeds)."""
        ident = super().identity
        if ident["grid"].get("halving") == [False]:
            ident = {**ident, "grid": {k: v for k, v in ident["grid"].items() if k != "halving"}}
        return ident

    @property
    def batchable(self) -> bool:
        """Whether :meth:`fit_select` may train the grid as batched programs: yes unless a subclass
        trains its own way (its own ``_train``/``train_network``, as Algorithm 1 does)."""
        return (type(self)._train is SGDNetLearner._train
                and type(self).train_network is SGDNetLearner.train_network)

    def weight_count(self, d: int, params: dict[str, Any]) -> int:
        """Entries of the network's weights and biases for inputs of dimension ``d`` and one
        output (0: unknown; the estimate then counts activations and data only)."""
        return 0

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float32 bytes: the weights, their gradients and momentum buffers,
        predict's activations for PREDICT_ROWS points (two width-wide blocks alive at once; a
        mini-batch's activations are far smaller) and the data as tensors.

        Checked against the peak RSS of real sin3 cells (one configuration, 2 epochs, 5000 test
        points, one thread): three_layer_sgd width 1000, N = 2000 and 4000 measured 42 and 55 MiB,
        this gives 39 MiB; width 4000, N = 2000 measured 280 MiB, this gives 247 MiB;
        two_layer_sgd width 1000 measured 37 and 44 MiB, this gives 31 MiB.
        """
        floats = 3 * self.weight_count(d, params) + 2 * PREDICT_ROWS * int(params["width"])
        if self.batchable:  # the batched fit_select holds all C configurations of an architecture at
            # once, each with ~4 copies of its weights: stacked, its own net, W(0), momentum (measured:
            # the allen-zhu grid, 18 configs at width 2000, took 1.48 GB over the loop's 0.36 GB)
            configs = math.prod(len(self.grid_spec.get(k, [0])) for k in ("lr", "weight_decay", "momentum"))
            floats = max(floats, 4 * configs * self.weight_count(d, params) + 2 * PREDICT_ROWS * int(params["width"]))
        return 4 * floats + data_bytes(n, d)

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """Optimiser steps, their arithmetic and their activations: every configuration trains
        on the training part (80 %) for its epochs (a share :data:`EARLY_STOP_SHARE` of the cap under early
        stopping), then the costliest is refit on all n. (A batched grid runs its configurations
        as one program, but each still costs about a step of its own: STEP_SECONDS is fitted on
        batched grids.)"""
        n_fit = max(1, n - round(0.2 * n))

        def cost(params: dict[str, Any], size: int) -> float:
            epochs = int(params["epochs"]) * (EARLY_STOP_SHARE if params.get("schedule", "early_stop") == "early_stop"
                                              else 1.0)
            width = int(params["width"])
            weights = self.weight_count(d, params) or (d + 1) * width + width * width + width
            steps = epochs * math.ceil(size / int(params["batch_size"]))
            hidden = width * (int(params.get("depth", getattr(self, "depth", 3))) - 1)
            return (steps * STEP_SECONDS + epochs * size * 6 * weights * FLOP_SECONDS
                    + epochs * size * hidden * ACTIVATION_SECONDS)

        return sum(cost(params, n_fit) for params in grid) + max((cost(params, n) for params in grid), default=0.0)

    @abc.abstractmethod
    def build(self, d: int, problem: Problem, params: dict[str, Any], generator: torch.Generator) -> nn.Module:
        """The initialised network for inputs of dimension ``d`` (on the CPU, from ``generator``)."""

    def hidden_weights(self, net: nn.Module) -> dict[str, torch.Tensor]:
        """The trained hidden weight matrices of ``net`` as ``{"layer1": W, "layer2": V, ...}``,
        whose ‖W − W(0)‖_F the model's diagnostics report; {} (the default) reports none."""
        return {}

    def train_network(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
                      problem: Problem, **val: Any) -> Outcome:
        """Build the network for ``params`` from ``rng`` and train it; ``val`` passes ``X_val``,
        ``y_val``, ``patience`` or ``on_epoch`` on to :func:`train`."""
        gen = torch_seed(rng)
        net = self.build(X.shape[1], problem, params, gen)
        start = snapshot(self.hidden_weights(net))
        out = train(net, X, y, problem, lr=float(params["lr"]), weight_decay=float(params["weight_decay"]),
                    batch_size=int(params["batch_size"]), epochs=int(params["epochs"]), generator=gen,
                    device=self.device, momentum=float(params.get("momentum", 0.0)),
                    schedule=params.get("schedule", "early_stop"), **val)
        out.model.weight_change = weight_change(start, self.hidden_weights(out.model.net))
        return out

    def _train(self, X, y, params, rng, problem, **val) -> Outcome:  # the name used before train_network
        return self.train_network(X, y, params, rng, problem, **val)

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> TrainedNet:
        return self._train(X, y, params, rng, problem).model

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        if self.batchable:  # the grid as one program per architecture; same results (plugins/learners/nets/batched.py)
            from .batched import fit_select_batched

            return fit_select_batched(self, X_train, y_train, X_val, y_val, grid, rng, problem)
        best = Selection(None, None)
        for params in grid:
            start = time.perf_counter()
            trial: dict[str, Any] = {"params": params}
            chosen = None
            try:
                out = self._train(X_train, y_train, params, rng, problem, X_val=X_val, y_val=y_val,
                                  patience=int(params["patience"]))
                if params.get("schedule", "early_stop") == "early_stop":
                    chosen = {**params, "epochs": out.best_epoch}  # refit for the early-stopped epoch count
                trial.update(status="ok", val_score=out.best_val, best_epoch=out.best_epoch)
            except Diverged as exc:
                trial.update(status="diverged", val_score=None, error=str(exc))
            trial["seconds"] = time.perf_counter() - start
            best.add(trial, chosen)
        return best
