"""Mini-batch SGD for small torch networks, shared by the SGD learners.

Regression targets are standardised with the training mean and std (and predictions mapped
back), so one learning-rate grid serves targets of any scale; classification uses one output per
class, cross-entropy, and argmax prediction. Networks are initialised on the CPU from the cell's
seed and then moved to the learner's device, so a seed gives the same initial network anywhere.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from harness import Diverged, Learner, Problem, Search, Selection, is_int, is_number


# TrainedNet.predict runs the network on this many points at a time.
PREDICT_ROWS = 4096


def data_bytes(n: int, d: int) -> int:
    """The training data as tensors: X and y in float32 and the epoch's int64 permutation."""
    return n * (4 * d + 4 + 8)


def out_dim(problem: Problem) -> int:
    return problem.n_classes if problem.kind == "classification" else 1


def init_fan_in(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Gaussian weights with variance 1/fan-in, zero biases (drawn from ``generator`` only)."""
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, layer.in_features ** -0.5, generator=generator)
                layer.bias.zero_()
    return net


def torch_seed(rng: np.random.Generator) -> torch.Generator:
    return torch.Generator().manual_seed(int(rng.integers(2**62)))


@dataclass
class TrainedNet:
    """A trained network wrapped to the harness Model interface (numpy in, numpy out)."""

    net: nn.Module
    problem: Problem
    y_mean: float = 0.0
    y_std: float = 1.0
    device: str = "cpu"

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        self.net.eval()
        Xt = torch.as_tensor(X, dtype=torch.float32)
        out = torch.cat([self.net(Xt[i:i + PREDICT_ROWS].to(self.device)).cpu()
                         for i in range(0, len(Xt), PREDICT_ROWS)])
        if self.problem.kind == "classification":
            return out.argmax(dim=1).numpy()
        return out[:, 0].double().numpy() * self.y_std + self.y_mean


@dataclass
class Outcome:
    model: TrainedNet
    best_epoch: int
    best_val: float | None


def train(net: nn.Module, X: np.ndarray, y: np.ndarray, problem: Problem, *, lr: float,
          weight_decay: float, batch_size: int, epochs: int, generator: torch.Generator,
          X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
          patience: int | None = None, device: str = "cpu") -> Outcome:
    """SGD on the parameters that require gradients for ``epochs`` epochs; with validation data,
    stop early and report the best epoch.

    A network may define ``penalty()`` (a regulariser added to every mini-batch loss) and
    ``end_epoch()`` (called after each epoch), as Algorithm 1's network does.

    Raises :class:`Diverged` when the loss or the validation predictions become non-finite.
    """
    classification = problem.kind == "classification"
    net = net.to(device)
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    if classification:
        yt = torch.as_tensor(y, dtype=torch.long, device=device)
        loss_fn = nn.CrossEntropyLoss()
        y_mean, y_std = 0.0, 1.0
    else:
        y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        yt = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32, device=device)[:, None]
        loss_fn = nn.MSELoss()
    model = TrainedNet(net, problem, y_mean, y_std, device)
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    n = len(Xt)
    penalty, end_epoch = getattr(net, "penalty", None), getattr(net, "end_epoch", None)
    best_epoch, best_val, since_best = epochs, None, 0
    for epoch in range(1, epochs + 1):
        net.train()
        total = torch.zeros((), device=device)
        perm = torch.randperm(n, generator=generator).to(device)  # drawn on the CPU: same order anywhere
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = loss_fn(net(Xt[idx]), yt[idx])
            if penalty is not None:
                loss = loss + penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        if not torch.isfinite(total):
            raise Diverged(f"loss became {total.item()} in epoch {epoch} (lr={lr})")
        if end_epoch is not None:
            end_epoch()
        if X_val is None:
            continue
        pred = model.predict(X_val)
        if classification:
            val = float(np.mean(pred != y_val))
        elif np.all(np.isfinite(pred)):
            val = float(np.mean((pred - y_val) ** 2))
        else:
            raise Diverged(f"non-finite validation predictions in epoch {epoch} (lr={lr})")
        if best_val is None or val < best_val:
            best_epoch, best_val, since_best = epoch, val, 0
        else:
            since_best += 1
            if patience is not None and since_best >= patience:
                break
    return Outcome(model, best_epoch, best_val)


class SGDNetLearner(Learner):
    """A torch network trained by :func:`train`; subclasses implement :meth:`build`.

    Parameters every subclass declares: ``width``, ``lr``, ``weight_decay``, ``batch_size``,
    ``epochs`` and ``patience``. Selection picks the number of epochs by early stopping on the
    validation part (at most ``epochs``, stopping after ``patience`` epochs without improvement);
    the chosen configuration is then retrained on all N samples for that many epochs.
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

    def weight_count(self, d: int, params: dict[str, Any]) -> int:
        """Entries of the network's weights and biases for inputs of dimension ``d`` and one
        output (0: unknown; the estimate then counts activations and data only)."""
        return 0

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float32 bytes: the weights and their gradients (plain SGD keeps no optimiser state),
        predict's activations for PREDICT_ROWS points (two width-wide blocks alive at once; a
        mini-batch's activations are far smaller) and the data as tensors.

        Checked against the peak RSS of real sin3 cells (one configuration, 2 epochs, 5000 test
        points, one thread): three_layer_sgd width 1000, N = 2000 and 4000 measured 42 and 55 MiB,
        this gives 39 MiB; width 4000, N = 2000 measured 280 MiB, this gives 247 MiB;
        two_layer_sgd width 1000 measured 37 and 44 MiB, this gives 31 MiB.
        """
        floats = 2 * self.weight_count(d, params) + 2 * PREDICT_ROWS * int(params["width"])
        return 4 * floats + data_bytes(n, d)

    @abc.abstractmethod
    def build(self, d: int, problem: Problem, params: dict[str, Any], generator: torch.Generator) -> nn.Module:
        """The initialised network for inputs of dimension ``d`` (on the CPU, from ``generator``)."""

    def _train(self, X, y, params, rng, problem, **val) -> Outcome:
        gen = torch_seed(rng)
        net = self.build(X.shape[1], problem, params, gen)
        return train(net, X, y, problem, lr=float(params["lr"]), weight_decay=float(params["weight_decay"]),
                     batch_size=int(params["batch_size"]), epochs=int(params["epochs"]), generator=gen,
                     device=self.device, **val)

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> TrainedNet:
        return self._train(X, y, params, rng, problem).model

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        best = Selection(None, None)
        for params in grid:
            start = time.perf_counter()
            trial: dict[str, Any] = {"params": params}
            chosen = None
            try:
                out = self._train(X_train, y_train, params, rng, problem, X_val=X_val, y_val=y_val,
                                  patience=int(params["patience"]))
                chosen = {**params, "epochs": out.best_epoch}  # refit for the early-stopped epoch count
                trial.update(status="ok", val_score=out.best_val, best_epoch=out.best_epoch)
            except Diverged as exc:
                trial.update(status="diverged", val_score=None, error=str(exc))
            trial["seconds"] = time.perf_counter() - start
            best.add(trial, chosen)
        return best
