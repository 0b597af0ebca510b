"""Mini-batch SGD for small torch networks, shared by the SGD learners.

Regression targets are standardised with the training mean and std (and predictions mapped
back), so one learning-rate grid serves targets of any scale; classification uses one output per
class, cross-entropy, and argmax prediction. Networks are initialised on the CPU from the cell's
seed and then moved to the learner's device, so a seed gives the same initial network anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from harness import Diverged, Problem, report_epoch, training_checkpoint, training_curve

if TYPE_CHECKING:  # torch is imported where a network is built or run: it costs `bench list` ~1 s
    import torch
    from torch import nn


# TrainedNet.predict runs the network on this many points at a time.
PREDICT_ROWS = 4096


def data_bytes(n: int, d: int) -> int:
    """The training data as tensors: X and y in float32 and the epoch's int64 permutation."""
    return n * (4 * d + 4 + 8)


SCHEDULES = ("early_stop", "step")


def out_dim(problem: Problem) -> int:
    return problem.n_classes if problem.kind == "classification" else 1


def init_fan_in(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Gaussian weights with variance 1/fan-in, zero biases (drawn from ``generator`` only)."""
    import torch
    from torch import nn

    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                layer.weight.normal_(0.0, layer.in_features ** -0.5, generator=generator)
                layer.bias.zero_()
    return net


def torch_seed(rng: np.random.Generator) -> torch.Generator:
    import torch

    return torch.Generator().manual_seed(int(rng.integers(2**62)))


@dataclass
class TrainedNet:
    """A trained network wrapped to the harness Model interface (numpy in, numpy out)."""

    net: nn.Module
    problem: Problem
    y_mean: float = 0.0
    y_std: float = 1.0
    device: str = "cpu"
    # Per epoch, for diagnostics(): the mean mini-batch training loss as SGD saw it during the
    # epoch (relative MSE — the MSE of standardised targets — or cross-entropy) and, for
    # classification, the mini-batch 0-1 error; and ‖W − W0‖_F of the trained hidden weights.
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    weight_change: dict[str, float] = field(default_factory=dict)

    def diagnostics(self) -> dict[str, Any]:
        """The training curve and epochs to threshold (:func:`harness.training_curve`) and
        ``weight_change`` (total) / ``weight_change_layer<i>`` (‖W_i − W_i(0)‖_F)."""
        curve = training_curve(self.problem.kind, self.train_loss, self.train_error) if self.train_loss else {}
        return {**curve, **self.weight_change}

    def outputs(self, X: np.ndarray) -> torch.Tensor:
        """The network's raw outputs (logits, or standardised regression values) on the CPU."""
        import torch

        self.net.eval()
        Xt = torch.as_tensor(X, dtype=torch.float32)
        with torch.no_grad():
            return torch.cat([self.net(Xt[i:i + PREDICT_ROWS].to(self.device)).cpu()
                              for i in range(0, len(Xt), PREDICT_ROWS)])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._decode(self.outputs(X))

    def record_epoch(self, fit: torch.Tensor, n: int) -> None:
        """Record an epoch's training loss and 0-1 error from their sums over its ``n`` samples."""
        loss, wrong = (fit / n).tolist()
        self.train_loss.append(loss)
        if self.problem.kind == "classification":
            self.train_error.append(wrong)

    def _decode(self, out: torch.Tensor) -> np.ndarray:
        if self.problem.kind == "classification":
            return out.argmax(dim=1).numpy()
        return out[:, 0].double().numpy() * self.y_std + self.y_mean

    def validate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(loss, score) on (X, y): the loss early stopping follows — cross-entropy for
        classification, whose 0-1 error moves in steps too coarse to stop on; the MSE for
        regression — and the harness's selection score (0-1 error or MSE)."""
        import torch
        from torch import nn

        out = self.outputs(X)
        pred = self._decode(out)
        if self.problem.kind == "classification":
            loss = float(nn.functional.cross_entropy(out, torch.as_tensor(y, dtype=torch.long)))
            if not np.isfinite(loss):
                raise Diverged("non-finite validation loss")
            return loss, float(np.mean(pred != y))
        if not np.all(np.isfinite(pred)):
            raise Diverged("non-finite validation predictions")
        mse = float(np.mean((pred - y) ** 2))
        return mse, mse


class EarlyStopping:
    """After each epoch (or round) on validation data: the epoch of lowest validation loss is the
    best, training stops ``patience`` epochs after it, and the selection score reported is the
    one at the best epoch. Shared by :func:`train` and Algorithm 1's loop."""

    def __init__(self, model: TrainedNet, X_val: np.ndarray, y_val: np.ndarray, patience: int | None,
                 epochs: int) -> None:
        self.model, self.X_val, self.y_val, self.patience = model, X_val, y_val, patience
        self.best_epoch, self.best_loss, self.best_score, self.since_best = epochs, None, None, 0

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of it (:mod:`harness`'s training checkpoints)."""
        return {"best_epoch": self.best_epoch, "best_loss": self.best_loss, "best_score": self.best_score,
                "since_best": self.since_best}

    def load(self, state: dict[str, Any]) -> None:
        self.best_epoch, self.best_loss = state["best_epoch"], state["best_loss"]
        self.best_score, self.since_best = state["best_score"], state["since_best"]

    def update(self, epoch: int, where: str = "") -> bool:
        """Score ``epoch``; True when training should stop. Raises :class:`Diverged` with ``where``."""
        try:
            loss, score = self.model.validate(self.X_val, self.y_val)
        except Diverged as exc:
            raise Diverged(f"{exc} in {where or f'epoch {epoch}'}") from None
        if self.best_loss is None or loss < self.best_loss:
            self.best_epoch, self.best_loss, self.best_score, self.since_best = epoch, loss, score, 0
            return False
        self.since_best += 1
        return self.patience is not None and self.since_best >= self.patience


@dataclass
class Outcome:
    model: TrainedNet
    best_epoch: int
    best_val: float | None


def train(net: nn.Module, X: np.ndarray, y: np.ndarray, problem: Problem, *, lr: float,
          weight_decay: float, batch_size: int, epochs: int, generator: torch.Generator,
          X_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
          patience: int | None = None, device: str = "cpu", momentum: float = 0.0,
          schedule: str = "early_stop",
          on_epoch: Callable[[int, torch.optim.Optimizer, Any], None] | None = None) -> Outcome:
    """SGD (``torch.optim.SGD``, with ``momentum`` and ``weight_decay``) on the parameters that
    require gradients for ``epochs`` epochs.

    ``schedule``:

    - ``"early_stop"`` (ours, the default): a constant learning rate; with validation data the
      validation error is measured after every epoch, training stops after ``patience`` epochs
      without improvement, and the best epoch is reported.
    - ``"step"`` (Allen-Zhu, Li, Liang 2019, Fig. 1): the learning rate is divided by 10 after
      ``epochs // 2`` epochs (``torch.optim.lr_scheduler.MultiStepLR``; 800 epochs: epochs 1–400
      at lr, 401–800 at lr/10) and training always runs all ``epochs``; validation data, if given,
      is scored once, after the last epoch.

    ``on_epoch(epoch, optimizer, scheduler)`` is called after each epoch's updates (``epoch``
    counts from 1; ``scheduler`` is None without a schedule) and before the scheduler steps, so
    ``optimizer.param_groups[0]["lr"]`` is the rate that epoch used — a window for tests.

    A network may define ``penalty()`` (a regulariser added to every mini-batch loss) and
    ``end_epoch()`` (called after each epoch), as Algorithm 1's network does.

    With validation data, early stopping follows the validation *loss* (:class:`EarlyStopping`).
    Raises :class:`Diverged` when the loss or the validation predictions become non-finite.
    """
    import torch
    from torch import nn

    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
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
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    step = schedule == "step"
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[epochs // 2], gamma=0.1) if step else None
    n = len(Xt)
    penalty, end_epoch = getattr(net, "penalty", None), getattr(net, "end_epoch", None)
    stopper = None if X_val is None else EarlyStopping(model, X_val, y_val, patience, epochs)
    # A net with end_epoch() may keep state outside its tensors, which a checkpoint would miss.
    ckpt = training_checkpoint("sgd", None if end_epoch is not None else {
        "n": n, "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size, "epochs": epochs,
        "momentum": momentum, "schedule": schedule, "patience": patience, "validated": X_val is not None})
    done, finished = 0, False
    if end_epoch is None and (saved := ckpt.restore()) is not None:
        done, finished = _load_state(saved, net, opt, sched, generator, model, stopper)

    def state() -> dict[str, Any]:
        return {"net": net.state_dict(), "opt": opt.state_dict(), "sched": None if sched is None else sched.state_dict(),
                "generator": generator.get_state(), "train_loss": model.train_loss,
                "train_error": model.train_error, "stopper": None if stopper is None else stopper.state()}

    epoch = done
    for epoch in range(done + 1, (done if finished else epochs) + 1):
        net.train()
        total = torch.zeros((), device=device)
        fit = torch.zeros(2, device=device)  # Σ loss × batch size, Σ misclassified: the diagnostics' curve
        perm = torch.randperm(n, generator=generator).to(device)  # drawn on the CPU: same order anywhere
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            out = net(Xt[idx])
            loss = loss_fn(out, yt[idx])
            fit[0] += loss.detach() * len(idx)
            if classification:
                fit[1] += (out.detach().argmax(dim=1) != yt[idx]).sum()
            if penalty is not None:
                loss = loss + penalty()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        if not torch.isfinite(total):
            raise Diverged(f"loss became {total.item()} in epoch {epoch} (lr={lr})")
        model.record_epoch(fit, n)
        if end_epoch is not None:
            end_epoch()
        report_epoch(epoch, epochs)
        if on_epoch is not None:
            on_epoch(epoch, opt, sched)
        if sched is not None:
            sched.step()
        if not (stopper is None or (step and epoch < epochs)) and stopper.update(epoch, f"epoch {epoch} (lr={lr})"):
            break
        if epoch < epochs and ckpt.due():
            ckpt.save(state(), epoch, epochs)
    if end_epoch is None and not finished:
        ckpt.finish(state, epoch, epochs)
    if stopper is None:
        return Outcome(model, epochs, None)
    return Outcome(model, stopper.best_epoch, stopper.best_score)


def _load_state(saved: dict[str, Any], net: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                generator: torch.Generator, model: TrainedNet, stopper: EarlyStopping | None) -> tuple[int, bool]:
    """Restore :func:`train`'s state from a checkpoint; (epochs done, whether training had finished)."""
    net.load_state_dict(saved["net"])
    opt.load_state_dict(saved["opt"])
    if sched is not None:
        sched.load_state_dict(saved["sched"])
    generator.set_state(saved["generator"])
    model.train_loss, model.train_error = list(saved["train_loss"]), list(saved["train_error"])
    if stopper is not None:
        stopper.load(saved["stopper"])
    return int(saved["epoch"]), bool(saved["finished"])


def snapshot(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU copies of ``weights`` (the initialisation, for :func:`weight_change`)."""
    return {k: w.detach().cpu().clone() for k, w in weights.items()}


def weight_change(start: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> dict[str, float]:
    """``weight_change_<name>`` = ‖W − W(0)‖_F per matrix and ``weight_change`` = the Frobenius
    norm over all of them (the square root of the sum of squares); {} without weights."""
    if not weights:
        return {}
    import torch

    per = {k: float(torch.linalg.norm(w.detach().cpu().double() - start[k].double())) for k, w in weights.items()}
    return {"weight_change": math.sqrt(sum(v * v for v in per.values())),
            **{f"weight_change_{k}": v for k, v in per.items()}}
