"""Three-layer ReLU network trained by mini-batch SGD — the "3-layer" curve of Allen-Zhu, Li,
Liang (NeurIPS 2019, Fig. 1): SGD, mini-batch 50, learning rate and weight decay tuned."""

from __future__ import annotations

from typing import Any

from torch import nn

from harness import Problem, hookimpl

from .torch_training import SGDNetLearner, init_fan_in, out_dim


class ThreeLayerSGD(SGDNetLearner):
    """x → ReLU(W1 x + b1) → ReLU(W2 · + b2) → a; Gaussian 1/fan-in init, zero biases; epochs
    chosen by early stopping (see :class:`SGDNetLearner`)."""

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

    def weight_count(self, d: int, params: dict[str, Any]) -> int:
        width = int(params["width"])
        return (d + 1) * width + (width + 1) * width + width + 1

    def build(self, d: int, problem: Problem, params: dict[str, Any], generator) -> nn.Module:
        width = int(params["width"])
        return init_fan_in(nn.Sequential(
            nn.Linear(d, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, out_dim(problem)),
        ), generator)


@hookimpl
def register_learners(register):
    register(ThreeLayerSGD())
