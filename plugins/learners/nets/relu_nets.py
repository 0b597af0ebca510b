"""The fully connected ReLU networks of Allen-Zhu, Li, Liang (NeurIPS 2019, Fig. 1): their two
initialisations, which of their weights are trained, and the protocol preset of the paper.

Depth counts layers of weights: depth 2 is x → ReLU(W x + b1) → a, depth 3 is
x → ReLU(W x + b1) → ReLU(V · + b2) → a; every hidden layer has ``width`` units.

``init``:

- ``fan_in`` (ours): every weight Gaussian with variance 1/fan-in, every bias 0.
- ``paper`` (Fig. 1): a ~ N(0, 1); W, V, b1, b2 ~ N(0, 1/m), m = ``width`` — 1/m also for W,
  whose fan-in is d — so the output at initialisation is Θ(1). The output layer has no bias in
  the paper; ours is set to 0 (and trained only with ``train=all``, or with ``train=last`` and
  ``train_bias=true``).

``train``:

- ``all`` (ours): every weight and bias.
- ``hidden`` (Fig. 1's "3layer"/"2layer"): the hidden weights (W, V); the output layer stays at
  its random initialisation.
- ``last`` (Fig. 1's "3layer(last)"/"2layer(last)", the conjugate kernel): the output layer only;
  the hidden layers stay at their random initialisation.

``train_bias`` (default false) decides whether ``hidden`` and ``last`` also train the biases of
the layers they train; fixed biases are the theory's setting. ``all`` trains every bias anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness import BenchError, Problem

from .sgd_learner import SGDNetLearner
from .torch_training import init_fan_in, out_dim

if TYPE_CHECKING:  # torch is imported where a network is built: it costs `bench list` ~1 s
    import torch
    from torch import nn

INITS = ("fan_in", "paper")
TRAIN = ("all", "hidden", "last")

# Allen-Zhu, Li, Liang 2019, Fig. 1 (../shared/PAPERS.md): PyTorch SGD, momentum 0.9, mini-batch
# 50, 800 epochs with the lr divided by 10 at epoch 400, lr and weight decay each from
# {1, 2, 5}·10⁻ᵏ; panel (b)'s width m = 2000. The range of k is ours (the paper does not give it).
# With this init the hidden-weight NTK grows like m (a ~ N(0, 1) carries no 1/√m): its largest
# eigenvalue on a batch of 50 sin3 inputs is ≈ 14·m for 3 layers, so the linear stability edge of
# SGD with momentum 0.9 is lr ≈ 1.9·50/(14·m) ≈ 3.4e-3 at m = 2000, and the dynamics of f depend on
# lr·m. A scan at m = 200 (sin3, N = 800 + 2000 validation, the whole preset otherwise; relative
# validation MSE) found lr 0.01–0.02 best (≈ 0.010), 1e-3 at 0.027, 0.05 at 0.016, 0.1 at 0.18–0.44;
# weight decay 1e-6 … 5e-4 made no difference (0.010–0.014), 1e-3 a little, 1e-2 hurt (0.06–0.09).
# Scaled to m = 2000 (lr × 1/10; the same lr·weight decay shrinks the weights as much): lr
# 1e-3–2e-3 best, so lr k = 3, 4 (1e-4 … 5e-3: a decade below the optimum up to the stability
# edge), and weight decay k = 3 (1e-3 … 5e-3 ≙ 1e-4 … 5e-4 at m = 200: from negligible to the
# start of an effect). For another width m scale lr by 2000/m (-p lr=...).
LR_GRID = [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3]
WEIGHT_DECAY_GRID = [1e-3, 2e-3, 5e-3]
ALLEN_ZHU = {
    "init": ["paper"],
    "momentum": [0.9],
    "batch_size": [50],
    "epochs": [800],
    "schedule": ["step"],
    "width": [2000],
    "lr": LR_GRID,
    "weight_decay": WEIGHT_DECAY_GRID,
}


def relu_net(d: int, k: int, width: int, depth: int, init: str, generator: torch.Generator) -> nn.Sequential:
    """The initialised network (Linear, ReLU, ..., Linear) with ``depth`` layers of weights."""
    import torch
    from torch import nn

    dims = [d] + [width] * (depth - 1)
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(dims, dims[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    net = nn.Sequential(*layers, nn.Linear(width, k))
    if init == "fan_in":
        return init_fan_in(net, generator)
    if init != "paper":
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    *hidden, out = linear_layers(net)
    with torch.no_grad():
        for layer in hidden:
            layer.weight.normal_(0.0, width ** -0.5, generator=generator)
            layer.bias.normal_(0.0, width ** -0.5, generator=generator)
        out.weight.normal_(0.0, 1.0, generator=generator)
        out.bias.zero_()
    return net


def linear_layers(net: nn.Module) -> list[nn.Linear]:
    from torch import nn

    return [m for m in net.modules() if isinstance(m, nn.Linear)]


def trained_parameters(net: nn.Module, train: str, train_bias: bool) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of what ``train`` (with ``train_bias``) trains, in the network's order."""
    if train not in TRAIN:
        raise ValueError(f"train must be one of {', '.join(TRAIN)}, got {train!r}")
    *hidden, out = linear_layers(net)
    layers = {"all": [*hidden, out], "hidden": hidden, "last": [out]}[train]
    chosen = {id(layer.weight) for layer in layers}
    if train == "all" or train_bias:
        chosen |= {id(layer.bias) for layer in layers}
    return [(name, p) for name, p in net.named_parameters() if id(p) in chosen]


def set_trainable(net: nn.Module, train: str, train_bias: bool) -> nn.Module:
    """Freeze every parameter that ``train`` (with ``train_bias``) leaves at its initialisation."""
    chosen = {id(p) for _, p in trained_parameters(net, train, train_bias)}
    for p in net.parameters():
        p.requires_grad_(id(p) in chosen)
    return net


def _one_value(learner: SGDNetLearner, key: str, why: str) -> None:
    values = learner.grid_spec.get(key, [])
    if len(values) > 1:
        raise BenchError(f"learner '{learner.name}': {key} takes one value per run, got "
                         f"{', '.join(map(str, values))} — {why}; run once per value")


class ReLUNetLearner(SGDNetLearner):
    """A :func:`relu_net` of ``depth`` layers of weights, trained by :func:`torch_training.train`.

    ``train`` and ``init`` are axes of Fig. 1 (separate curves), not hyper-parameters to select
    on validation: each takes one value per run (a list of several is refused).
    """

    depth: int = 3

    def check_params(self) -> None:
        super().check_params()
        self.require("init", lambda v: v in INITS, " or ".join(INITS))
        self.require("train", lambda v: v in TRAIN, " or ".join(TRAIN))
        self.require("train_bias", lambda v: isinstance(v, bool), "true or false")
        why = "it selects a different network (a separate curve), not a hyper-parameter to tune"
        for key in ("init", "train"):
            _one_value(self, key, why)
        _one_value(self, "schedule", "early stopping and the step schedule select differently")

    def weight_count(self, d: int, params: dict[str, Any]) -> int:
        width = int(params["width"])
        return (d + 1) * width + (self.depth - 2) * (width + 1) * width + width + 1

    def build(self, d: int, problem: Problem, params: dict[str, Any], generator) -> nn.Module:
        net = relu_net(d, out_dim(problem), int(params["width"]), self.depth, params["init"], generator)
        return set_trainable(net, params["train"], bool(params["train_bias"]))

    def hidden_weights(self, net: nn.Module) -> dict[str, torch.Tensor]:
        """The hidden layers' weight matrices that are trained (none with ``train=last``)."""
        *hidden, _ = linear_layers(net)
        return {f"layer{i}": layer.weight for i, layer in enumerate(hidden, 1) if layer.weight.requires_grad}
