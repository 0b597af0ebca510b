"""The finite-width NTK — the "3layer(NTK)" curve of Allen-Zhu, Li, Liang (NeurIPS 2019, Fig. 1):
the network of :mod:`relu_nets`, linearised around its random initialisation θ₀ with respect to
its hidden weights θ only, at the network's own width, and trained by the same SGD:

    f_lin(x; θ) = f(x; θ₀) + ∇_θ f(x; θ₀) · (θ − θ₀)

(Lee et al. 2019, "Wide neural networks of any depth evolve as linear models under gradient
descent", arXiv 1902.06720). θ is W (depth 2) or W, V (depth 3), plus the hidden biases with
``train_bias=true``; the output layer a and everything outside θ stay at θ₀. The forward pass is
one Jacobian-vector product (``torch.func.jvp`` through ``torch.func.functional_call`` of the
very network the SGD learners build), so no Jacobian is ever formed. SGD acts on θ exactly as on the network's weights (weight decay
pulls θ towards 0, not towards θ₀).

Depth is fixed per registered learner (``two_layer_ntk``, ``three_layer_ntk``) — it is an axis of
the figure, a separate curve, not a hyper-parameter. Options and presets are those of the SGD
learners, except ``train`` (always the hidden weights). Our default linearises the biases too
(``train_bias=true``: with the fan-in init they start at 0 and a bias-free 2-layer kernel cannot
fit sin3); the ``allen-zhu`` preset linearises the hidden weights only, as in the paper.

The infinite-width NTK, by kernel regression, is the separate learner ``ntk``.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any

from harness import Problem, hookimpl

from .relu_nets import ALLEN_ZHU, ReLUNetLearner, relu_net, trained_parameters
from .torch_training import out_dim

if TYPE_CHECKING:
    import torch
    from torch import nn


@functools.cache
def _linearised_class() -> type:
    """:class:`Linearised`, defined on first use: an ``nn.Module`` subclass needs torch, which
    costs `bench list` ~1 s, and listing learners only reads their names and grids."""
    import torch
    from torch import nn
    from torch.func import functional_call, jvp

    class Linearised(nn.Module):
        """``net`` linearised in the parameters named ``names`` around their current values θ₀.

        The trainable parameters ``theta`` start at θ₀; every parameter of ``net`` is frozen.
        """

        def __init__(self, net: nn.Module, names: list[str]) -> None:
            super().__init__()
            current = dict(net.named_parameters())
            self.net, self.names = net, list(names)
            for p in net.parameters():
                p.requires_grad_(False)
            for i, name in enumerate(self.names):
                self.register_buffer(f"theta0_{i}", current[name].detach().clone())
            self.theta = nn.ParameterList([nn.Parameter(current[name].detach().clone()) for name in self.names])

        def theta0(self) -> tuple[torch.Tensor, ...]:
            return tuple(getattr(self, f"theta0_{i}") for i in range(len(self.names)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            theta0 = self.theta0()

            def f(*params: torch.Tensor) -> torch.Tensor:
                return functional_call(self.net, dict(zip(self.names, params)), (x,))

            with warnings.catch_warnings():  # torch's first jvp scripts its decompositions with a deprecated API
                warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=DeprecationWarning)
                out, change = jvp(f, theta0, tuple(t - t0 for t, t0 in zip(self.theta, theta0)))
            return out + change

    Linearised.__qualname__ = "Linearised"  # found by name through __getattr__, e.g. by pickle
    return Linearised


def __getattr__(name: str) -> Any:
    """``finite_ntk.Linearised`` (PEP 562), defined by :func:`_linearised_class` on first use."""
    if name == "Linearised":
        return _linearised_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LinearisedLearner(ReLUNetLearner):
    """:class:`Linearised` :func:`relu_net` of ``depth`` layers, trained by :func:`train`."""

    parameters = {
        "width": [1000],
        "init": ["fan_in"],
        "train_bias": [True],
        "lr": [0.01, 0.03, 0.1, 0.3],
        "weight_decay": [0.0, 1e-4],
        "momentum": [0.0],
        "schedule": ["early_stop"],
        "batch_size": [50],
        "epochs": [100],
        "patience": [10],
        "halving": [False],  # successive halving of the grid (plugins/learners/nets/batched.py)
    }
    presets = {"allen-zhu": {**ALLEN_ZHU, "train_bias": [False]}}

    def build(self, d: int, problem: Problem, params: dict[str, Any], generator) -> nn.Module:
        net = relu_net(d, out_dim(problem), int(params["width"]), self.depth, params["init"], generator)
        return _linearised_class()(net, [name for name, _ in trained_parameters(net, "hidden", bool(params["train_bias"]))])

    def hidden_weights(self, net: nn.Module) -> dict[str, torch.Tensor]:
        """The linearised hidden weight matrices θ (their θ − θ₀ is the weights' move), biases aside."""
        weights = [t for name, t in zip(net.names, net.theta) if name.endswith("weight")]
        return {f"layer{i}": t for i, t in enumerate(weights, 1)}


class ThreeLayerNTK(LinearisedLearner):
    name = "three_layer_ntk"
    description = ("finite-width NTK: the 3-layer net linearised at its init in its hidden weights, SGD "
                   "batch 50, lr × weight decay tuned")
    depth = 3


class TwoLayerNTK(LinearisedLearner):
    name = "two_layer_ntk"
    description = ("finite-width NTK: the 2-layer net linearised at its init in its hidden weights, SGD "
                   "batch 50, lr × weight decay tuned")
    depth = 2
    data_diagnostics = ("arora_complexity",)  # Arora et al. 2019's measure for the two-layer ReLU net


@hookimpl
def register_learners(register):
    register(ThreeLayerNTK())
    register(TwoLayerNTK())
