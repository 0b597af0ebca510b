"""Mini-batch SGD for small torch networks, shared by the SGD learners.

Regression targets are standardised with the training mean and std (and predictions mapped
back), so one learning-rate grid serves targets of any scale; classification uses one output per
class, cross-entropy, and argmax prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness import Diverged, Problem


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

    @torch.no_grad()
    def predict(self, X: np.ndarray) -> np.ndarray:
        self.net.eval()
        Xt = torch.as_tensor(X, dtype=torch.float32)
        out = torch.cat([self.net(Xt[i:i + 4096]) for i in range(0, len(Xt), 4096)])
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
          patience: int | None = None) -> Outcome:
    """SGD for ``epochs`` epochs; with validation data, stop early and report the best epoch.

    Raises :class:`Diverged` when the loss or the validation predictions become non-finite.
    """
    classification = problem.kind == "classification"
    Xt = torch.as_tensor(X, dtype=torch.float32)
    if classification:
        yt = torch.as_tensor(y, dtype=torch.long)
        loss_fn = nn.CrossEntropyLoss()
        y_mean, y_std = 0.0, 1.0
    else:
        y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        yt = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32)[:, None]
        loss_fn = nn.MSELoss()
    model = TrainedNet(net, problem, y_mean, y_std)
    opt = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(Xt)
    best_epoch, best_val, since_best = epochs, None, 0
    for epoch in range(1, epochs + 1):
        net.train()
        total = torch.zeros(())
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = loss_fn(net(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        if not torch.isfinite(total):
            raise Diverged(f"loss became {total.item()} in epoch {epoch} (lr={lr})")
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
