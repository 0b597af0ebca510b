"""Two-layer ReLU network trained by mini-batch SGD — the "2-layer" curve of Allen-Zhu, Li, Liang
(2019, Fig. 1) and the setting of Li & Liang (2018) and Arora et al. (2019)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness import Problem, hookimpl

from .torch_training import SGDNetLearner, init_fan_in, out_dim


class TwoLayerSGD(SGDNetLearner):
    """x → ReLU(W x + b) → a, Gaussian 1/fan-in init, zero biases, same protocol as
    ``three_layer_sgd``.

    ``train_output=False`` is the network the theory analyses: the output weights are fixed at
    random signs ±1/√m (the 1/√m of f = (1/√m) Σ_r a_r σ(w_rᵀx), a_r ∈ {±1}) and only the hidden
    layer is trained.
    """

    name = "two_layer_sgd"
    description = "2-layer ReLU net (width m), SGD batch 50, lr × weight decay tuned; option: fixed ±1 output"
    parameters = {
        "width": [1000],
        "train_output": [True],
        "lr": [0.01, 0.03, 0.1, 0.3],
        "weight_decay": [0.0, 1e-4],
        "batch_size": [50],
        "epochs": [100],
        "patience": [10],
    }

    def check_params(self) -> None:
        super().check_params()
        self.require("train_output", lambda v: isinstance(v, bool), "true or false")

    def weight_count(self, d: int, params: dict[str, Any]) -> int:
        width = int(params["width"])
        return (d + 1) * width + width + 1

    def build(self, d: int, problem: Problem, params: dict[str, Any], generator) -> nn.Module:
        width = int(params["width"])
        net = init_fan_in(nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, out_dim(problem))),
                          generator)
        if not params["train_output"]:
            out = net[2]
            with torch.no_grad():
                signs = torch.randint(0, 2, out.weight.shape, generator=generator) * 2.0 - 1.0
                out.weight.copy_(signs * width ** -0.5)
            out.weight.requires_grad_(False)
            out.bias.requires_grad_(False)
        return net


@hookimpl
def register_learners(register):
    register(TwoLayerSGD())
