"""Three-layer ReLU network trained by mini-batch SGD — the "3-layer" curve of Allen-Zhu, Li,
Liang (NeurIPS 2019, Fig. 1): SGD, mini-batch 50, learning rate and weight decay tuned."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from torch import nn

from harness import Diverged, Learner, Problem, Selection, hookimpl

from .torch_training import init_fan_in, out_dim, torch_seed, train


class ThreeLayerSGD(Learner):
    """x → ReLU(W1 x + b1) → ReLU(W2 · + b2) → a; Gaussian 1/fan-in init, zero biases.

    The number of epochs is chosen by early stopping on the validation part (at most ``epochs``,
    stopping after ``patience`` epochs without improvement), then the chosen configuration is
    retrained on all N samples for that many epochs.
    """

    name = "three_layer_sgd"
    description = "3-layer ReLU net (width m, m), SGD batch 50, lr × weight decay tuned, early stopping"
    parameters = {
        "width": [1000],
        "lr": [0.01, 0.03, 0.1, 0.3],
        "weight_decay": [0.0, 1e-4],
        "batch_size": [50],
        "epochs": [100],
        "patience": [10],
    }

    def build(self, d: int, problem: Problem, width: int, generator) -> nn.Module:
        return init_fan_in(nn.Sequential(
            nn.Linear(d, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, out_dim(problem)),
        ), generator)

    def _train(self, X, y, params, rng, problem, **val):
        gen = torch_seed(rng)
        net = self.build(X.shape[1], problem, int(params["width"]), gen)
        return train(net, X, y, problem, lr=float(params["lr"]), weight_decay=float(params["weight_decay"]),
                     batch_size=int(params["batch_size"]), epochs=int(params["epochs"]), generator=gen, **val)

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem):
        return self._train(X, y, params, rng, problem).model

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        best = Selection(None, None)
        for params in grid:
            start = time.perf_counter()
            trial: dict[str, Any] = {"params": params}
            try:
                out = self._train(X_train, y_train, params, rng, problem, X_val=X_val, y_val=y_val,
                                  patience=int(params["patience"]))
                chosen = {**params, "epochs": out.best_epoch}
                trial.update(status="ok", val_score=out.best_val, best_epoch=out.best_epoch)
                if best.best_score is None or out.best_val < best.best_score:
                    best.best_params, best.best_score = chosen, out.best_val
            except Diverged as exc:
                trial.update(status="diverged", val_score=None, error=str(exc))
            trial["seconds"] = time.perf_counter() - start
            best.trials.append(trial)
        return best


@hookimpl
def register_learners(register):
    register(ThreeLayerSGD())
