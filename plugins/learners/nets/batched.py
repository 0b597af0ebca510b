"""Train a whole grid of one network as one tensor program (issue #14, item 1).

Configurations that share their architecture — everything but ``lr``, ``weight_decay`` and
``momentum`` — are trained together: every parameter of the C networks is stacked into one
tensor [C, ...] and the forward pass is ``torch.func.vmap`` over ``torch.func.functional_call``
of the very module the learner builds, so one batched matrix product per layer serves all C
configurations (and any module works: the ReLU nets and the linearised finite NTK alike).

Each configuration keeps everything it has when trained alone by :func:`torch_training.train`:

- its own ``torch.Generator``, drawn from the selection's ``rng`` in grid order (as the loop
  does), which gives the same initialisation (the learner's own ``build``) and the same
  per-epoch ``torch.randperm``, so its mini-batches are the ones it sees alone;
- its own SGD state: momentum buffers and weight decay exactly as ``torch.optim.SGD`` applies
  them, the learning rate of its schedule (``torch.optim.lr_scheduler.MultiStepLR`` for
  ``step``);
- its own early stopping (:class:`torch_training.EarlyStopping`, the same object the loop uses),
  its own divergence check, and the same diagnostics (per-epoch training loss and 0-1 error,
  ‖W − W(0)‖_F). A configuration that stops, diverges or is halved leaves the program: its rows
  are dropped from every stacked tensor, so the others run on without it.

Batched and one-at-a-time training agree to float32 rounding, not bit for bit (a batched matrix
product sums in another order): ``tests/test_batched.py`` checks validation losses, chosen
epochs and predictions at rtol 1e-4 on a few dozen SGD steps.

**Successive halving** (``halving=true``): the configurations still training are ranked by their
best validation loss at epoch budgets r, 2r, 4r, …, and only the best ⌈C/2^(i+1)⌉ after the
i-th budget go on. The schedule is scikit-learn's ``HalvingGridSearchCV`` with ``factor=2`` and
``min_resources="exhaust"``: 1 + ⌊log₂ C⌋ iterations, r = ⌊epochs / 2^(iterations − 1)⌋, so the
last iteration may use all ``epochs``. The loop is written here because neither library fits
one batched program: ``HalvingGridSearchCV`` fits a separate estimator per candidate and
resource level (it would retrain each from scratch at r, 2r, 4r …), and optuna's
``SuccessiveHalvingPruner`` prunes one trial at a time as it reports, in its own process loop.

Just over 500 lines: the stacked networks, their SGD step and the halving schedule are one
program (the schedule decides which stacked members each step updates).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from harness import Diverged, Problem, Selection, report_epoch, training_checkpoint

from .torch_training import (PREDICT_ROWS, SCHEDULES, EarlyStopping, Outcome, TrainedNet, snapshot, torch_seed,
                             weight_change)

# The hyper-parameters that may differ inside one batched program; every other parameter
# (width, init, train, epochs, batch size, ...) changes the network or the loop, so it splits the grid.
PER_CONFIG = ("lr", "weight_decay", "momentum")
HALVING_FACTOR = 2  # "drop the worse half" at each budget


def architecture(params: dict[str, Any]) -> tuple:
    """The key that groups a grid into batched programs: every parameter but :data:`PER_CONFIG`."""
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in PER_CONFIG))


def halving_rungs(n_configs: int, epochs: int, factor: int = HALVING_FACTOR) -> list[tuple[int, int]]:
    """``[(epoch, keep), ...]``: after ``epoch`` only the best ``keep`` configurations go on.

    scikit-learn's ``HalvingGridSearchCV`` schedule with ``min_resources="exhaust"``: 1 + ⌊log_f C⌋
    iterations; iteration i runs ⌈C/f^i⌉ candidates up to r·f^i epochs, r = ⌊epochs / f^(n−1)⌋ ≥ 1.
    """
    n_iterations = 1
    while factor ** n_iterations <= n_configs:  # 1 + floor(log_f C) without float logarithms
        n_iterations += 1
    r = max(1, epochs // factor ** (n_iterations - 1))
    rungs = []
    for i in range(n_iterations - 1):
        epoch, keep = r * factor ** i, math.ceil(n_configs / factor ** (i + 1))
        if epoch < epochs:
            rungs.append((epoch, keep))
    return rungs


def schedule_factors(schedule: str, epochs: int) -> list[float]:
    """The learning-rate multiplier of each epoch (1-based, index 0 is epoch 1), read off
    ``MultiStepLR`` itself on a dummy optimiser so the batched schedule is torch's."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if schedule == "early_stop":
        return [1.0] * epochs
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(dummy, milestones=[epochs // 2], gamma=0.1)
    factors = []
    for _ in range(epochs):
        factors.append(dummy.param_groups[0]["lr"])
        dummy.step()
        sched.step()
    return factors


@dataclass
class _Member:
    """One configuration inside the program: its net (written back when it leaves), generator,
    model (diagnostics, decoding), early stopping and what happened to it."""

    params: dict[str, Any]
    net: nn.Module
    generator: torch.Generator
    model: TrainedNet
    stopper: EarlyStopping
    start: dict[str, torch.Tensor]
    val_out: torch.Tensor | None = None  # this epoch's validation outputs, from the batched pass
    result: Outcome | Diverged | None = None  # None while training, and when halved under ``step``
    halved_at: int | None = None
    note: str = ""


class _Scored(TrainedNet):
    """The member's model as :class:`EarlyStopping` sees it: ``validate`` (TrainedNet's own)
    scores the outputs the batched pass computed for this member instead of running a network."""

    def __init__(self, member: _Member) -> None:
        model = member.model
        super().__init__(model.net, model.problem, model.y_mean, model.y_std, model.device)
        self.member = member

    def outputs(self, X: np.ndarray) -> torch.Tensor:
        return self.member.val_out


def train_batched(learner: Any, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray,
                  grid: list[dict[str, Any]], generators: list[torch.Generator], problem: Problem,
                  halving: bool = False) -> list[_Member]:
    """Train every configuration of ``grid`` (one architecture) with its generator as one program.

    Returns the members in grid order; each has ``result``: an :class:`Outcome` (its model is the
    network as it left the program, like :func:`train`'s) or the :class:`Diverged` it raised.
    """
    first = grid[0]
    if any(architecture(p) != architecture(first) for p in grid):
        raise ValueError("train_batched needs configurations that differ only in " + ", ".join(PER_CONFIG))
    device = learner.device
    epochs, batch_size = int(first["epochs"]), int(first["batch_size"])
    patience = int(first["patience"])
    schedule = first.get("schedule", "early_stop")
    step = schedule == "step"
    factors = schedule_factors(schedule, epochs)
    classification = problem.kind == "classification"

    # The data as train() prepares it.
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    if classification:
        yt = torch.as_tensor(y, dtype=torch.long, device=device)
        y_mean, y_std = 0.0, 1.0
    else:
        y_mean, y_std = float(np.mean(y)), float(np.std(y)) or 1.0
        yt = torch.as_tensor((y - y_mean) / y_std, dtype=torch.float32, device=device)[:, None]
    Xv = torch.as_tensor(X_val, dtype=torch.float32, device=device)
    n = len(Xt)

    members: list[_Member] = []
    for params, gen in zip(grid, generators):
        net = learner.build(X.shape[1], problem, params, gen)  # the init, from the generator, as alone
        if getattr(net, "penalty", None) is not None or getattr(net, "end_epoch", None) is not None:
            raise TypeError(f"{type(net).__name__} has penalty()/end_epoch(): train it with train()")
        model = TrainedNet(net.to(device), problem, y_mean, y_std, device)
        member = _Member(params, net, gen, model, None, snapshot(learner.hidden_weights(net)))  # type: ignore[arg-type]
        member.stopper = EarlyStopping(_Scored(member), X_val, y_val, patience, epochs)
        members.append(member)

    base = members[0].net
    trained = [name for name, p in base.named_parameters() if p.requires_grad]
    buffer_names = [name for name, _ in base.named_buffers()]

    def stack(get) -> dict[str, torch.Tensor]:
        return {name: torch.stack([get(m)[name].detach() for m in members]) for name in get(members[0])}

    params_t = stack(lambda m: dict(m.net.named_parameters()))
    buffers_t = stack(lambda m: dict(m.net.named_buffers())) if buffer_names else {}
    for name in trained:
        params_t[name].requires_grad_(True)
    momentum_buf: dict[str, torch.Tensor | None] = {name: None for name in trained}

    def per_config(key: str, default: float) -> torch.Tensor:
        return torch.tensor([float(m.params.get(key, default)) for m in members], dtype=torch.float64)

    lr_all, wd_all, mom_all = per_config("lr", 0.0), per_config("weight_decay", 0.0), per_config("momentum", 0.0)
    active = list(range(len(members)))  # indices into members of the rows of the stacked tensors

    def forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    def batched_forward(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor,
                        saved: list | None = None) -> torch.Tensor:
        """[C, b, k] outputs for inputs [C, b, d], or [b, d] shared by every configuration; a ReLU
        net appends (layer, input, output) of each linear layer to ``saved``."""
        if plan is None:
            return vmap(forward, in_dims=(0, 0, 0 if x.dim() == 3 else None))(p, b, x)
        h = x if x.dim() == 3 else x.expand(len(active), *x.shape)
        for layer in plan:
            if layer is None:
                h = torch.relu(h)
                continue
            z = torch.baddbmm(p[layer + ".bias"][:, None, :], h, p[layer + ".weight"].transpose(1, 2))
            if saved is not None:
                saved.append((layer, h, z))
            h = z
        return h

    plan = _sequential_plan(base)

    def shaped(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return values.to(device=device, dtype=like.dtype).view(-1, *([1] * (like.dim() - 1)))

    @torch.no_grad()
    def validation_outputs() -> torch.Tensor:
        """[C_active, n_val, k] raw outputs on the validation part, PREDICT_ROWS points over all
        configurations at a time (the activations one network's predict holds)."""
        rows = max(1, PREDICT_ROWS // len(active))
        return torch.cat([batched_forward(params_t, buffers_t, Xv[i:i + rows]).cpu()
                          for i in range(0, len(Xv), rows)], dim=1)

    def leave(rows: list[int]) -> None:
        """Write the leaving members' weights back into their own nets and drop their rows."""
        nonlocal params_t, buffers_t
        if not rows:
            return
        with torch.no_grad():
            for row in rows:
                net = members[active[row]].net
                for name, p in net.named_parameters():
                    p.copy_(params_t[name][row])
                for name, b in net.named_buffers():
                    b.copy_(buffers_t[name][row])
                if isinstance(members[active[row]].result, Outcome):  # ‖W − W(0)‖ of what it trained
                    members[active[row]].result.model.weight_change = weight_change(
                        members[active[row]].start, learner.hidden_weights(net))
        keep = [r for r in range(len(active)) if r not in set(rows)]
        index = torch.tensor(keep, dtype=torch.long, device=device)
        params_t = {k: v.detach().index_select(0, index).requires_grad_(k in trained) for k, v in params_t.items()}
        buffers_t = {k: v.index_select(0, index) for k, v in buffers_t.items()}
        for k, v in momentum_buf.items():
            momentum_buf[k] = None if v is None else v.index_select(0, index)
        active[:] = [active[r] for r in keep]

    def finish(member: _Member, result: Outcome | Diverged) -> None:
        member.result = result  # its weights go back into its net, and ‖W − W(0)‖ is taken, in leave()

    rungs = dict(halving_rungs(len(members), epochs)) if halving else {}
    in_iteration = list(range(len(members)))  # the current halving iteration's candidates

    def state() -> dict[str, Any]:
        """The program as a checkpoint keeps it: the stacked rows still training, and per member
        its generator, curve, early stopping, outcome and (once it left) its own net."""
        return {"active": list(active), "in_iteration": list(in_iteration), "params": params_t, "buffers": buffers_t,
                "momentum": {k: v for k, v in momentum_buf.items() if v is not None},
                "members": [_member_state(m, i in active) for i, m in enumerate(members)]}

    ckpt = training_checkpoint("sgd-batched", {"grid": grid, "n": n, "n_val": len(Xv), "halving": halving})
    done = 0
    if (restored := ckpt.restore()) is not None:
        done = int(restored["epoch"])
        active[:], in_iteration = list(restored["active"]), list(restored["in_iteration"])
        params_t = {k: v.to(device).requires_grad_(k in trained) for k, v in restored["params"].items()}
        buffers_t = {k: v.to(device) for k, v in restored["buffers"].items()}
        momentum_buf.update({name: (restored["momentum"][name].to(device) if name in restored["momentum"] else None)
                             for name in trained})
        for member, kept in zip(members, restored["members"]):
            _load_member(member, kept)
    epoch = done
    for epoch in range(done + 1, epochs + 1):
        if not active:
            break
        C = len(active)
        index = torch.tensor(active)
        lr = lr_all[index] * factors[epoch - 1]  # float64, as torch computes a scheduled lr
        # Weight decay and momentum only where some configuration has them (torch skips them at
        # 0, and with μ = 0 the buffer is g itself).
        decay, momentum = bool(wd_all[index].any()), bool(mom_all[index].any())
        hyper = _Hyper((-lr).tolist(), wd_all[index].tolist(), mom_all[index].tolist(),
                       *(shaped(v, params_t[trained[0]]).view(-1) for v in (-lr, wd_all[index], mom_all[index])))
        perms = torch.stack([torch.randperm(n, generator=members[i].generator) for i in active]).to(device)
        fit = torch.zeros(C, 2, device=device)
        total = torch.zeros(C, device=device)
        for i in range(0, n, batch_size):
            idx = perms[:, i:i + batch_size]
            saved: list[tuple[str, torch.Tensor, torch.Tensor]] = []  # (layer, its input, its output z)
            out = batched_forward(params_t, buffers_t, Xt[idx], saved)  # [C, b, k]
            target = yt[idx]
            if classification:
                k = out.shape[-1]
                losses = nn.functional.cross_entropy(out.reshape(-1, k), target.reshape(-1),
                                                     reduction="none").view(C, -1).mean(dim=1)
                fit[:, 1] += (out.detach().argmax(dim=2) != target).sum(dim=1)
            else:
                losses = ((out - target) ** 2).mean(dim=(1, 2))
            fit[:, 0] += losses.detach() * idx.shape[1]
            # torch.optim.SGD (torch/optim/sgd.py, _single_tensor_sgd: dampening 0, no Nesterov)
            # takes one lr, weight decay and momentum per parameter group; here each row of a
            # stacked tensor is a configuration with its own, so the same update is written out
            # per row: g += wd·p; buf = g, then buf = μ·buf + g; p -= lr·buf.
            if plan is None:
                grads = torch.autograd.grad(losses.sum(), [params_t[k] for k in trained])
                with torch.no_grad():
                    for name, g in zip(trained, grads):
                        _sgd_step(params_t[name], g, momentum_buf, name, hyper, decay, momentum)
            else:
                # A ReLU net: autograd gives each trained layer's output gradient δ = ∂L/∂z, and
                # the weight gradient δᵀh is formed here, so a large weight is updated by one
                # addmm_ per configuration into the weight (or momentum buffer) itself, while
                # it is in cache, instead of a [C, out, in] gradient written and read back.
                layers = [entry for entry in saved if entry[0] + ".weight" in trained or entry[0] + ".bias" in trained]
                deltas = torch.autograd.grad(losses.sum(), [z for _, _, z in layers])
                with torch.no_grad():
                    for (layer, h, _), delta in zip(layers, deltas):
                        if layer + ".weight" in trained:
                            _weight_step(params_t[layer + ".weight"], delta, h.detach(), momentum_buf,
                                         layer + ".weight", hyper, decay, momentum)
                        if layer + ".bias" in trained:
                            _sgd_step(params_t[layer + ".bias"], delta.sum(dim=1), momentum_buf, layer + ".bias",
                                      hyper, decay, momentum)
            total += losses.detach()

        leaving: list[int] = []
        finite = torch.isfinite(total).tolist()
        for row, i in enumerate(active):
            member = members[i]
            if not finite[row]:
                finish(member, Diverged(f"loss became {total[row].item()} in epoch {epoch} "
                                        f"(lr={float(member.params['lr'])})"))
                leaving.append(row)
            else:
                member.model.record_epoch(fit[row].cpu(), n)
        report_epoch(epoch, epochs)  # the progress display: one program is one fit
        alive = [row for row in range(C) if row not in leaving]
        scored = (not step) or epoch == epochs or epoch in rungs
        if scored and alive:
            outs = validation_outputs()
            current: dict[int, float] = {}
            for row in alive:
                member = members[active[row]]
                member.val_out = outs[row]
                try:
                    if step and epoch < epochs:  # a halving budget: scored, but the schedule goes on
                        current[row] = _Scored(member).validate(X_val, y_val)[0]
                    elif member.stopper.update(epoch, f"epoch {epoch} (lr={float(member.params['lr'])})"):
                        finish(member, Outcome(member.model, member.stopper.best_epoch, member.stopper.best_score))
                        leaving.append(row)
                except Diverged as exc:
                    if step and epoch < epochs:
                        exc = Diverged(f"{exc} in epoch {epoch} (lr={float(member.params['lr'])})")
                    finish(member, exc)
                    leaving.append(row)
                member.val_out = None
            if epoch in rungs:
                halved, in_iteration = _halve(members, active, in_iteration, current, rungs[epoch], epoch,
                                              leaving, step)
                leaving += halved
        leave(sorted(set(leaving)))
        if active and epoch < epochs and ckpt.due():
            ckpt.save(state(), epoch, epochs)
    if restored is not None and restored["finished"]:
        return members
    for row, i in enumerate(active):  # ran all epochs
        member = members[i]
        finish(member, Outcome(member.model, member.stopper.best_epoch, member.stopper.best_score))
    leave(list(range(len(active))))
    ckpt.finish(state, epoch, epochs)
    return members


def _member_state(member: _Member, training: bool) -> dict[str, Any]:
    result = member.result
    return {"generator": member.generator.get_state(), "train_loss": member.model.train_loss,
            "train_error": member.model.train_error, "stopper": member.stopper.state(),
            "result": (None if result is None else {"diverged": str(result)} if isinstance(result, Diverged)
                       else {"best_epoch": result.best_epoch, "best_val": result.best_val}),
            "halved_at": member.halved_at, "note": member.note, "weight_change": member.model.weight_change,
            "net": None if training else member.net.state_dict()}  # a member in training lives in the stacked rows


def _load_member(member: _Member, kept: dict[str, Any]) -> None:
    member.generator.set_state(kept["generator"])
    member.model.train_loss, member.model.train_error = list(kept["train_loss"]), list(kept["train_error"])
    member.stopper.load(kept["stopper"])
    result = kept["result"]
    member.result = (None if result is None else Diverged(result["diverged"]) if "diverged" in result
                     else Outcome(member.model, result["best_epoch"], result["best_val"]))
    member.halved_at, member.note = kept["halved_at"], kept["note"]
    member.model.weight_change = dict(kept["weight_change"])
    if kept["net"] is not None:
        member.net.load_state_dict(kept["net"])


# Rows of at least this many entries are updated one configuration at a time with torch's own
# scalar-alpha ops: a stacked width-1000 weight (8 × 4 MB) updated as a whole with per-row factors
# ran at a third of the speed (broadcast operands, out of cache); small rows are updated at once.
ROW_UPDATE = 1 << 16


@dataclass
class _Hyper:
    """This epoch's per-configuration −lr, weight decay and momentum, as Python floats (for row
    updates) and as tensors [C] (for broadcast updates)."""

    neg_lr: list[float]
    wd: list[float]
    mom: list[float]
    neg_lr_t: torch.Tensor
    wd_t: torch.Tensor
    mom_t: torch.Tensor


def _sgd_step(p: torch.Tensor, g: torch.Tensor, buffers: dict[str, torch.Tensor | None], name: str,
              hyper: _Hyper, decay: bool, momentum: bool) -> None:
    """One SGD step of every row of the stacked parameter ``p`` with its gradient ``g`` (modified)."""
    if decay:
        _rows(g, p, hyper.wd, hyper.wd_t)  # g += wd·p
    if momentum:
        buf = buffers[name]
        if buf is None:  # torch: the first step's buffer is the gradient itself
            buffers[name] = buf = g.clone()
        elif p[0].numel() >= ROW_UPDATE:
            for row, mu in enumerate(hyper.mom):
                buf[row].mul_(mu).add_(g[row])
        else:
            buf.mul_(hyper.mom_t.view(-1, *([1] * (p.dim() - 1)))).add_(g)
        g = buf
    _rows(p, g, hyper.neg_lr, hyper.neg_lr_t)  # p -= lr·g


def _weight_step(W: torch.Tensor, delta: torch.Tensor, h: torch.Tensor, buffers: dict[str, torch.Tensor | None],
                 name: str, hyper: _Hyper, decay: bool, momentum: bool) -> None:
    """The SGD step of a stacked weight W [C, out, in] whose gradient is δᵀh (δ [C, b, out],
    h [C, b, in]): per configuration, W −= lr·wd·W, then one ``addmm_`` W −= lr·δᵀh into W — the
    same step as torch's g = δᵀh + wd·W, W −= lr·g — or, with momentum, into the buffer. Small
    weights go through :func:`_sgd_step` with the gradient formed at once."""
    if W[0].numel() < ROW_UPDATE:
        _sgd_step(W, torch.bmm(delta.transpose(1, 2), h), buffers, name, hyper, decay, momentum)
        return
    if not momentum:
        for row, (neg_lr, wd) in enumerate(zip(hyper.neg_lr, hyper.wd)):
            if decay:  # not addmm_'s beta = 1 − lr·wd: in float32 it would round lr·wd ≈ 1e-6 by ~2 %
                W[row].add_(W[row], alpha=neg_lr * wd)
            W[row].addmm_(delta[row].T, h[row], alpha=neg_lr)
        return
    buf = buffers[name]
    if buf is None:  # torch: the first step's buffer is the gradient itself
        buffers[name] = buf = torch.bmm(delta.transpose(1, 2), h)
        if decay:
            _rows(buf, W, hyper.wd, hyper.wd_t)
    else:
        for row, mu in enumerate(hyper.mom):
            buf[row].addmm_(delta[row].T, h[row], beta=mu)
            if decay:
                buf[row].add_(W[row], alpha=hyper.wd[row])
    _rows(W, buf, hyper.neg_lr, hyper.neg_lr_t)


def _rows(out: torch.Tensor, other: torch.Tensor, alpha: list[float], alpha_t: torch.Tensor) -> None:
    """out[c] += alpha[c] · other[c] for every row c: torch's ``add_(other, alpha=...)`` per row
    for large rows, one broadcast ``addcmul_`` for small ones."""
    if out[0].numel() >= ROW_UPDATE:
        for row, a in enumerate(alpha):
            out[row].add_(other[row], alpha=a)
    else:
        out.addcmul_(other, alpha_t.view(-1, *([1] * (out.dim() - 1))))


def _sequential_plan(net: nn.Module) -> list[str | None] | None:
    """For an ``nn.Sequential`` of ``nn.Linear`` (with bias) and ``nn.ReLU`` — the ReLU nets — the
    layers' names in order (None for a ReLU), so the forward pass is one ``torch.baddbmm`` per
    layer: ``vmap`` of ``functional_call`` computes the same but its per-call overhead was most of
    a two-layer width-1000 step. None for any other module (``vmap`` then)."""
    if not isinstance(net, nn.Sequential):
        return None
    plan: list[str | None] = []
    for name, layer in net.named_children():
        if isinstance(layer, nn.Linear) and layer.bias is not None:
            plan.append(name)
        elif isinstance(layer, nn.ReLU):
            plan.append(None)
        else:
            return None
    return plan


def _halve(members: list[_Member], active: list[int], in_iteration: list[int], current: dict[int, float],
           keep: int, epoch: int, leaving: list[int], step: bool) -> tuple[list[int], list[int]]:
    """The rows of ``active`` halved at this budget, and the next iteration's candidates (indices
    into ``members``): of this iteration's candidates that have not diverged, the ``keep`` of
    lowest validation loss go on — the best so far with early stopping, this epoch's with the step
    schedule; configurations that stopped early compete with theirs, and leave no slot free."""
    row_of = {i: row for row, i in enumerate(active)}

    def loss(i: int) -> float:
        if step and row_of.get(i) in current:
            return current[row_of[i]]
        best = members[i].stopper.best_loss
        return math.inf if best is None else best

    running = [i for i in in_iteration if not isinstance(members[i].result, Diverged)]
    ranked = sorted(running, key=lambda i: (loss(i), i))  # ties: grid order, as selection breaks them
    out = []
    for i in ranked[keep:]:
        if i in row_of and row_of[i] not in leaving:
            member = members[i]
            member.halved_at = epoch
            if step:  # scored before its lr drop: not a result of the schedule it would be refit with
                member.note = f"halved at epoch {epoch} (validation loss {loss(i):.4g})"
            else:  # early stopping's best epoch so far is a valid refit, as for a configuration that stopped
                member.result = Outcome(member.model, member.stopper.best_epoch, member.stopper.best_score)
            out.append(row_of[i])
    return out, ranked[:keep]


def fit_select_batched(learner: Any, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                       y_val: np.ndarray, grid: list[dict[str, Any]], rng: np.random.Generator,
                       problem: Problem) -> Selection:
    """:meth:`SGDNetLearner.fit_select` as batched programs, one per architecture in ``grid``.

    The generators are drawn from ``rng`` in grid order (one per configuration, as the loop's
    ``torch_seed`` calls do), and trials are recorded in grid order, so the selection — winner,
    ties, fallbacks — is the loop's.
    """
    generators = [torch_seed(rng) for _ in grid]
    groups: dict[tuple, list[int]] = {}
    for i, params in enumerate(grid):
        groups.setdefault(architecture(params), []).append(i)
    results: dict[int, tuple[_Member, float, int]] = {}
    for rows in groups.values():
        start = time.perf_counter()
        halving = bool(grid[rows[0]].get("halving", False))
        members = train_batched(learner, X_train, y_train, X_val, y_val, [grid[i] for i in rows],
                                [generators[i] for i in rows], problem, halving=halving)
        seconds = (time.perf_counter() - start) / len(rows)  # one program: its time, shared out
        for i, member in zip(rows, members):
            results[i] = (member, seconds, len(rows))
    best = Selection(None, None)
    for i, params in enumerate(grid):
        member, seconds, size = results[i]
        trial: dict[str, Any] = {"params": params}
        chosen = None
        if isinstance(member.result, Outcome):
            if params.get("schedule", "early_stop") == "early_stop":
                chosen = {**params, "epochs": member.result.best_epoch}
            trial.update(status="ok", val_score=member.result.best_val, best_epoch=member.result.best_epoch)
        elif member.halved_at is not None:
            trial.update(status="halved", val_score=None, error=member.note)
        else:
            trial.update(status="diverged", val_score=None, error=str(member.result))
        if member.halved_at is not None:
            trial["halved_at"] = member.halved_at
        trial.update(seconds=seconds, batched=size)
        best.add(trial, chosen)
    return best
