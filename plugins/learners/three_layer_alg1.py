"""Allen-Zhu, Li, Liang (NeurIPS 2019), Algorithm 1 — SGD for three-layer networks, second
variant (4.2): trained perturbations W′, V′ on top of a fixed random initialisation, with
smoothing noise, random sign flips, the paper's regulariser and λ-weight decay.

The learner network (paper, Section 4)::

    out_r(x) = Σ_i a_{r,i} σ(n_i(x) + b2_i),   n_i(x) = Σ_j v_{i,j} σ(⟨w_j, x⟩ + b1_j)

with A, b1, b2, W⁽⁰⁾, V⁽⁰⁾ fixed at their random initialisation and only W′ (m1 × d) and
V′ (m2 × m1) trained, starting from zero. At every SGD step the network is evaluated at

    W = W⁽⁰⁾ + W^ρ + √λ_t · Σ W′,    V = V⁽⁰⁾ + V^ρ + √λ_t · V′ Σ

with fresh smoothing noise W^ρ, V^ρ and a fresh random diagonal sign matrix Σ (m1 × m1): the
signs cancel the first-order terms in expectation and leave the second-order (quadratic) part
the paper's analysis relies on. The objective adds R(√λ_t W′, √λ_t V′) with
R(W′, V′) = λ_v ‖V′‖_F² + λ_w ‖W′‖_{2,4}⁴ (‖W′‖_{2,4}⁴ = Σ_j ‖w′_j‖⁴), and after each outer
iteration the weight decay λ_{t+1} = (1 − decay) · λ_t shrinks the trained perturbation.

Constants this implementation had to pick (the paper states them only up to polynomial factors):

- Initialisation, as in the paper: w_j ~ N(0, I/m1), b1 ~ N(0, 1/m1), v_{i,j} ~ N(0, 1/m2),
  b2 ~ N(0, 1/m2), a_{r,i} ~ N(0, ε_a²) with ``eps_a`` = 0.1 (small, so that the random network
  contributes little to the output; targets are standardised to unit variance).
- m1 = m2 = ``width``.
- Smoothing: W^ρ ~ N(0, (ρ²)/m1) and V^ρ ~ N(0, ρ²/m2) entrywise, i.e. ρ = ``smoothing`` times
  the initialisation's scale, with ρ = 0.1. One draw of (W^ρ, V^ρ, Σ) per mini-batch (the
  paper's SGD samples one per step).
- λ_w = λ_v = ``reg``, tuned over {1e-4, 1e-2}; ``decay`` = 0.01 per epoch (an outer iteration
  is one epoch here; the paper decays by (1 − η) per outer iteration of T_w inner steps).
- Mini-batch 50 and learning rate tuned over {0.3, 1, 2}, as in the paper's experiments; the
  number of epochs (at most 200, patience 20) is chosen by early stopping on the validation
  part, like the other SGD learners. Starting from W′ = V′ = 0 with the first-order terms
  randomised away, training has to leave a saddle through the quadratic term and is slower than
  plain SGD (measured on sin3, width 128, N = 800: relative MSE 0.50 after 185 epochs, where
  ``three_layer_sgd`` reaches 0.04); lr = 3 diverged there, and ε_a = 1 diverged at lr = 0.3
  (the curvature grows with ε_a²).
- Prediction averages the network over ``eval_draws`` = 8 fixed draws of (W^ρ, V^ρ, Σ). The
  paper bounds the risk in expectation over one draw; for a convex loss, the averaged prediction
  does at least as well.
- Regression uses the squared loss on standardised targets; classification, cross-entropy on
  one output per class (the paper allows any convex Lipschitz loss).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from harness import Problem, hookimpl, is_int, is_number

from .torch_training import PREDICT_ROWS, SGDNetLearner, data_bytes, out_dim


class Alg1Network(nn.Module):
    """The learner network of variant (4.2); ``forward`` draws the smoothing noise and signs."""

    def __init__(self, d: int, k: int, width: int, eps_a: float, smoothing: float, reg: float, decay: float,
                 eval_draws: int, generator: torch.Generator) -> None:
        super().__init__()
        m1 = m2 = width

        def gauss(*shape: int, std: float) -> torch.Tensor:
            return torch.randn(*shape, generator=generator) * std

        self.register_buffer("W0", gauss(m1, d, std=m1 ** -0.5))
        self.register_buffer("b1", gauss(m1, std=m1 ** -0.5))
        self.register_buffer("V0", gauss(m2, m1, std=m2 ** -0.5))
        self.register_buffer("b2", gauss(m2, std=m2 ** -0.5))
        self.register_buffer("A", gauss(k, m2, std=eps_a))
        self.W1 = nn.Parameter(torch.zeros(m1, d))   # W′
        self.V1 = nn.Parameter(torch.zeros(m2, m1))  # V′
        self.rho_w, self.rho_v = smoothing * m1 ** -0.5, smoothing * m2 ** -0.5
        self.reg, self.decay, self.lam, self.eval_draws = reg, decay, 1.0, eval_draws
        self.seeds = [int(s) for s in torch.randint(2**62, (2,), generator=generator)]  # train, eval noise
        self._train_gen: torch.Generator | None = None

    def _generator(self, seed: int) -> torch.Generator:
        return torch.Generator(device=self.W0.device).manual_seed(seed)

    def _draw(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The effective weights (W, V) for one draw of (Σ, W^ρ, V^ρ)."""
        W0, V0 = self.W0, self.V0
        sign = torch.randint(0, 2, (W0.shape[0],), generator=gen, device=W0.device) * 2.0 - 1.0
        W_rho = torch.randn(W0.shape, generator=gen, device=W0.device) * self.rho_w
        V_rho = torch.randn(V0.shape, generator=gen, device=W0.device) * self.rho_v
        s = self.lam ** 0.5
        W = W0 + W_rho + s * sign[:, None] * self.W1
        V = V0 + V_rho + s * self.V1 * sign[None, :]
        return W, V

    def _out(self, x: torch.Tensor, W: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
        h = torch.relu(x @ W.T + self.b1)
        return torch.relu(h @ V.T + self.b2) @ self.A.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            if self._train_gen is None or self._train_gen.device != self.W0.device:
                self._train_gen = self._generator(self.seeds[0])
            return self._out(x, *self._draw(self._train_gen))
        gen = self._generator(self.seeds[1])  # the same draws for every call: deterministic predictions
        return sum(self._out(x, *self._draw(gen)) for _ in range(self.eval_draws)) / self.eval_draws

    def penalty(self) -> torch.Tensor:
        """R(√λ W′, √λ V′) = λ_v λ ‖V′‖_F² + λ_w λ² Σ_j ‖w′_j‖⁴."""
        lam = self.lam
        return self.reg * (lam * self.V1.pow(2).sum() + lam ** 2 * self.W1.pow(2).sum(dim=1).pow(2).sum())

    def end_epoch(self) -> None:
        self.lam *= 1.0 - self.decay


class ThreeLayerAlg1(SGDNetLearner):
    """Algorithm 1 of Allen-Zhu, Li, Liang, variant (4.2); every constant is listed in this
    module's docstring."""

    name = "three_layer_alg1"
    description = "Allen-Zhu–Li–Liang Algorithm 1 (4.2): trained W′, V′ on a fixed random init, smoothing, sign flips"
    parameters = {
        "width": [1000],
        "lr": [0.3, 1.0, 2.0],
        "reg": [1e-4, 1e-2],
        "decay": [0.01],
        "eps_a": [0.1],
        "smoothing": [0.1],
        "eval_draws": [8],
        "weight_decay": [0.0],  # no plain L2: the paper's regulariser and λ-decay replace it
        "batch_size": [50],
        "epochs": [200],
        "patience": [20],
    }

    def check_params(self) -> None:
        super().check_params()
        self.require("eval_draws", is_int(1), "a positive integer")
        self.require("reg", is_number(0.0), "a number ≥ 0")
        self.require("decay", is_number(0.0, 1.0), "a number in [0, 1)")
        self.require("eps_a", is_number(0.0, lo_open=True), "a positive number")
        self.require("smoothing", is_number(0.0), "a number ≥ 0")

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """float32 bytes, counted in width × width blocks: W⁽⁰⁾… and V⁽⁰⁾, V′ and its gradient,
        and every step's (and every prediction draw's) fresh V^ρ, effective V and the
        intermediates autograd keeps — about 20 of them at the peak (measured) — plus predict's
        activations (three PREDICT_ROWS × width blocks) and the data as tensors.

        Peak RSS of real sin3 cells (one configuration, 2 epochs, 5000 test points, one thread):
        width 1000, N = 4000 measured 125 MiB, this gives 123 MiB; width 2000, N = 2000 measured
        420 MiB, this gives 399 MiB.
        """
        m = int(params["width"])
        return 4 * (20 * m * m + 4 * m * d + 3 * PREDICT_ROWS * m) + data_bytes(n, d)

    def build(self, d: int, problem: Problem, params: dict[str, Any], generator) -> nn.Module:
        return Alg1Network(d, out_dim(problem), int(params["width"]), float(params["eps_a"]),
                           float(params["smoothing"]), float(params["reg"]), float(params["decay"]),
                           int(params["eval_draws"]), generator)


@hookimpl
def register_learners(register):
    register(ThreeLayerAlg1())
