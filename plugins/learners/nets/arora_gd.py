"""The two-layer ReLU network of Arora, Du, Hu, Li, Wang (ICML 2019), trained as they train it:
full-batch gradient descent on the squared loss, first layer only, output weights fixed.

Network (§3.1): f(x) = (1/√m) Σ_r a_r σ(w_rᵀx), σ = ReLU, no biases, w_r(0) ~ N(0, κ²I),
a_r ~ unif{±1} fixed; only W = (w_1, ..., w_m) is trained, by GD on Φ(W) = ½ Σ_i (y_i − f(x_i))².
Experiments (App. A): m = 10,000, κ = 10⁻², learning rate η = 10⁻³ on that *summed* loss with
n = 10,000 training points, run until the training loss converges; y = ±1, ‖x‖ = 1.

Our parameterisation of the step: ``lr`` is the step on the *mean* loss ½·mean_i (y_i − f(x_i))²,
i.e. η·n, so that one value serves every N (GD on the sum with a fixed η speeds up with n:
u(k+1) − u(k) ≈ −η H∞ (u − y) and H∞'s eigenvalues grow like n). The paper's η = 10⁻³ at
n = 10,000 is ``lr`` = 10, the default. "Until the training loss converges" (the paper gives
no count) is ours: a fixed number of full-batch steps, ``epochs`` (one step per epoch), the same
for every label kind — a stopping rule on the loss's change ended random-label runs long before
true-label ones (at m = 1000, N = 200 digits2: 149 of 2000 steps), which would bias ‖W − W(0)‖ and
the loss at a fixed step, the quantities the suite compares.

Two-class problems: class 1 is y = +1 and class 0 is y = −1 (the paper's labels); the predicted
class is 1 where f(x) ≥ 0. Regression targets are used unscaled (the paper's |y| ≤ 1).

Hand-written rather than via :mod:`torch_training` because that trainer uses cross-entropy with
one output per class and mini-batches; the paper's setting is one output, squared loss, full
batch and fixed ±1/√m output weights — a few lines of torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness import (BenchError, Diverged, Learner, Problem, Selection, hookimpl, is_int, is_number,
                     report_epoch, training_checkpoint, training_curve)

PREDICT_ROWS = 4096


def _targets(y: np.ndarray, problem: Problem) -> np.ndarray:
    """±1 for two classes (class 1 ↦ +1), the values themselves for regression."""
    if problem.kind == "classification":
        return 2.0 * (np.asarray(y) == 1) - 1.0
    return np.asarray(y, dtype=np.float64)


@dataclass
class AroraNet:
    """A trained network: hidden weights W (m × d), fixed output signs a, the device they live on;
    the per-step training loss and 0-1 error, and ‖W − W(0)‖_F."""

    W: Any
    a: Any
    problem: Problem
    device: str = "cpu"
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    moved: float = 0.0

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """f(x) for each row of X (float64 numpy)."""
        import torch

        m = self.W.shape[0]
        Xt = torch.as_tensor(np.asarray(X), dtype=self.W.dtype)
        out = []
        with torch.no_grad():
            for i in range(0, len(Xt), PREDICT_ROWS):
                h = torch.relu(Xt[i:i + PREDICT_ROWS].to(self.device) @ self.W.T)
                out.append((h @ self.a / m ** 0.5).cpu())
        return torch.cat(out).double().numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        f = self.outputs(X)
        if self.problem.kind == "classification":
            return (f >= 0).astype(np.int64)
        return f

    def diagnostics(self) -> dict[str, Any]:
        """The training curve (per step, before its update: loss ½·mean (y − f)² and 0-1 error;
        :func:`harness.training_curve`)
        and ``weight_change`` = ‖W − W(0)‖_F (Arora et al. Lemma 5.3 bound it by sqrt(yᵀ(H∞)⁻¹y))."""
        kind = self.problem.kind
        curve = training_curve(kind, self.train_loss, self.train_error if kind == "classification" else None)
        return {**curve, "weight_change": self.moved}


class AroraGD(Learner):
    """Arora et al.'s two-layer network and full-batch GD (see the module docstring for every
    constant). One configuration: there is nothing to select, so the cell is not trained on its
    validation split (``fit_select`` returns the configuration untried); the refit on all N is
    the run."""

    name = "arora_gd"
    description = ("Arora et al. 2019: 2-layer ReLU, output ±1 fixed, W ~ N(0, κ²I), full-batch GD on "
                   "the squared loss (m = 10,000, κ = 0.01, lr 10 = η·n)")
    version = "1"
    uses_device = True
    data_diagnostics = ("arora_complexity",)
    parameters = {
        "width": [10000],   # m (App. A)
        "kappa": [0.01],    # κ (App. A)
        "lr": [10.0],       # η·n: 10⁻³ × 10,000 (App. A)
        "epochs": [10000],  # full-batch steps (ours: the paper says "until the loss converges")
    }

    def check_params(self) -> None:
        for key in ("width", "epochs"):
            self.require(key, is_int(1), "a positive integer")
        for key in ("kappa", "lr"):
            self.require(key, is_number(0.0, lo_open=True), "a positive number")

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float32 bytes: W, W(0) and its gradient (3·m·d), the n × m activations and their mask
        (two blocks), and predict's PREDICT_ROWS × m block."""
        m = int(params["width"])
        return 4 * (3 * m * d + 2 * n * m + PREDICT_ROWS * m + n * d)

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """Full-batch steps: epochs × n × m at 10⁻⁸ s, fitted to the committed store's cells at
        m = 10⁴, 10⁴ steps, N = 250 (251 s on digits2, d = 64; 269 s on linear_sign, d = 10: the
        n × m activations dominate, not d). One configuration is only refit; several are each
        trained on the 80 % split first."""
        def fit(params: dict[str, Any], size: int) -> float:
            return 1e-8 * int(params["epochs"]) * size * int(params["width"])
        selection = sum(fit(p, max(1, n - round(0.2 * n))) for p in grid) if len(grid) > 1 else 0.0
        return selection + max((fit(p, n) for p in grid), default=0.0)

    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> AroraNet:
        import torch

        if problem.kind == "classification" and problem.n_classes != 2:
            raise BenchError(f"arora_gd: needs two classes (labels ±1, Arora et al. §3.1); this task has "
                             f"{problem.n_classes} — use a two-class task such as digits2")
        m, kappa, lr = int(params["width"]), float(params["kappa"]), float(params["lr"])
        epochs = int(params["epochs"])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        # drawn on the CPU from the cell's seed, then moved: the same network on any device
        W = (torch.randn(m, X.shape[1], generator=gen, dtype=torch.float32) * kappa).to(self.device)
        a = (torch.randint(0, 2, (m,), generator=gen) * 2 - 1).to(torch.float32).to(self.device)
        W0 = W.clone()
        Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.device)
        yt = torch.as_tensor(_targets(y, problem), dtype=torch.float32, device=self.device)
        n, scale = len(Xt), m ** -0.5
        net = AroraNet(W, a, problem, self.device)
        ckpt = training_checkpoint("gd", {"n": n, "width": m, "kappa": kappa, "lr": lr, "epochs": epochs})
        done = 0
        if (saved := ckpt.restore()) is not None:
            done = int(saved["epoch"])
            W.copy_(saved["W"])
            net.train_loss, net.train_error = list(saved["train_loss"]), list(saved["train_error"])

        def state() -> dict[str, Any]:
            return {"W": W, "train_loss": net.train_loss, "train_error": net.train_error}

        with torch.no_grad():
            for epoch in range(done + 1, epochs + 1):
                pre = Xt @ W.T                       # n × m
                f = torch.relu(pre) @ a * scale      # n
                r = f - yt
                loss = 0.5 * float(torch.mean(r * r))
                if not np.isfinite(loss):
                    raise Diverged(f"training loss became {loss} at step {epoch} (lr={lr:g})")
                net.train_loss.append(loss)
                if problem.kind == "classification":
                    net.train_error.append(float(torch.mean(((f >= 0) != (yt > 0)).float())))
                # ∂(½ mean r²)/∂w_r = (1/n)(a_r/√m) Σ_i r_i 1{w_rᵀx_i ≥ 0} x_i
                grad = (((pre >= 0).float() * r[:, None]).T @ Xt) * (a[:, None] * scale / n)
                W -= lr * grad
                report_epoch(epoch, epochs)
                if epoch < epochs and ckpt.due():
                    ckpt.save(state(), epoch, epochs)
        if done < epochs:
            ckpt.finish(state, epochs, epochs)
        net.moved = float(torch.linalg.norm((W - W0).double()))
        return net

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem) -> Selection:
        """Several configurations (a user's ``-p lr=1,10``): each trained on the split and scored
        on validation, as usual. One configuration: returned untried, with no validation score."""
        if len(grid) > 1:
            return super().fit_select(X_train, y_train, X_val, y_val, grid, rng, problem)
        best = Selection(None, None)
        best.add({"params": grid[0], "status": "ok", "val_score": None, "seconds": 0.0,
                  "note": "one configuration: nothing to select, not trained on the split"})
        return best


@hookimpl
def register_learners(register):
    register(AroraGD())
