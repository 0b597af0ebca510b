"""Allen-Zhu, Li, Liang (2019) Fig. 1's networks as options of the SGD learners, the finite-width NTK
learners and the `allen-zhu` preset — each against a reference written here: the initialisation
read back from the network, hand-derived variances and infinite-width limits, a hand-written
network differentiated by finite differences, the optimiser's own state."""

import numpy as np
import pytest
import torch

from conftest import one_line_error
from harness import BenchError, Problem, Task
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from plugins.learners.kernels import arccos
from plugins.learners.nets.torch_training import torch_seed

REGRESSION = Problem("regression", 4)


@pytest.fixture(scope="module")
def reg():
    return load_registry()


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These networks are tiny: with two threads on shared cores, torch's thread synchronisation
    made them 10–25× slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def unit_rows(rng, n, d=4):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def target(X):
    return X[:, 0] + 0.5 * X[:, 1] * X[:, 2]


def params_of(learner, **fixed):
    """One configuration: the first candidate of every list, then ``fixed``."""
    return {**{k: v[0] for k, v in learner.grid_spec.items()}, **fixed}


def state(net):
    return {name: p.detach().clone() for name, p in net.named_parameters()}


def linears(net):
    return [m for m in net.modules() if isinstance(m, torch.nn.Linear)]


def fit_from_init(learner, params, n=120, seed=1):
    """(network at initialisation, trained network) for the same rng — the learner draws its init
    from the rng exactly as ``build`` does here."""
    X = unit_rows(np.random.default_rng(0), n)
    start = learner.build(4, REGRESSION, params, torch_seed(np.random.default_rng(seed)))
    model = learner.fit(X, target(X), params, np.random.default_rng(seed), REGRESSION)
    return start, model.net


# --- train = hidden / last -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["two_layer_sgd", "three_layer_sgd"])
@pytest.mark.parametrize("init", ["fan_in", "paper"])
def test_train_hidden_leaves_the_output_layer_bit_identical(reg, name, init):
    learner = reg.learners[name]
    # momentum and weight decay would move any parameter the optimiser holds, even with no gradient
    params = params_of(learner, width=32, init=init, train="hidden", lr=1e-3 if init == "paper" else 0.05,
                       weight_decay=1e-2, momentum=0.9, epochs=3)
    start, net = fit_from_init(learner, params)
    *hidden_start, out_start = linears(start)
    *hidden, out = linears(net)
    assert torch.equal(out.weight, out_start.weight) and torch.equal(out.bias, out_start.bias)
    for layer, layer_start in zip(hidden, hidden_start):
        assert not torch.allclose(layer.weight, layer_start.weight)  # hidden weights trained
        assert torch.equal(layer.bias, layer_start.bias)  # biases fixed (train_bias=false)


@pytest.mark.parametrize("name", ["two_layer_sgd", "three_layer_sgd"])
def test_train_bias_also_trains_the_hidden_biases(reg, name):
    learner = reg.learners[name]
    params = params_of(learner, width=32, init="paper", train="hidden", train_bias=True, lr=1e-3, epochs=3)
    start, net = fit_from_init(learner, params)
    for layer, layer_start in zip(linears(net)[:-1], linears(start)[:-1]):
        assert not torch.allclose(layer.bias, layer_start.bias)
    assert torch.equal(linears(net)[-1].weight, linears(start)[-1].weight)


@pytest.mark.parametrize("name", ["two_layer_sgd", "three_layer_sgd"])
@pytest.mark.parametrize("init", ["fan_in", "paper"])
def test_train_last_leaves_the_hidden_layers_bit_identical(reg, name, init):
    learner = reg.learners[name]
    params = params_of(learner, width=32, init=init, train="last", lr=1e-3 if init == "paper" else 0.05,
                       weight_decay=1e-2, momentum=0.9, epochs=3)
    start, net = fit_from_init(learner, params)
    *hidden_start, out_start = linears(start)
    *hidden, out = linears(net)
    for layer, layer_start in zip(hidden, hidden_start):
        assert torch.equal(layer.weight, layer_start.weight) and torch.equal(layer.bias, layer_start.bias)
    assert not torch.allclose(out.weight, out_start.weight)  # the output layer is trained
    assert torch.equal(out.bias, out_start.bias)  # its bias only with train_bias=true


def test_train_all_is_todays_default_and_trains_every_parameter(reg):
    learner = reg.learners["three_layer_sgd"]
    assert {k: learner.grid_spec[k] for k in ("init", "train", "momentum", "schedule")} == {
        "init": ["fan_in"], "train": ["all"], "momentum": [0.0], "schedule": ["early_stop"]}
    start, net = fit_from_init(learner, params_of(learner, width=16, epochs=2))
    before, after = state(start), state(net)
    assert all(not torch.equal(before[k], after[k]) for k in before)


# --- init = paper --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, depth", [("two_layer_sgd", 2), ("three_layer_sgd", 3)])
def test_paper_init_draws_every_hidden_weight_and_bias_with_variance_1_over_m(reg, name, depth):
    """a ~ N(0, 1); W, V, b1, b2 ~ N(0, 1/m) with m the width (PAPERS.md, Fig. 1) — not 1/fan-in."""
    learner, m = reg.learners[name], 2000
    nets = [learner.build(4, REGRESSION, params_of(learner, width=m, init="paper"),
                          torch_seed(np.random.default_rng(seed))) for seed in range(3)]
    layers = [linears(net) for net in nets]  # vectors pooled over 3 draws: 6000 values each
    for i in range(depth - 1):
        for part in ("weight", "bias"):
            values = torch.cat([getattr(ls[i], part).detach().double().reshape(-1) for ls in layers]).numpy()
            assert values.var() == pytest.approx(1 / m, rel=0.05), (i, part)
            assert abs(values.mean()) < 4 * np.sqrt(1 / m / values.size)
    a = torch.cat([ls[-1].weight.detach().double().reshape(-1) for ls in layers]).numpy()
    assert a.var() == pytest.approx(1.0, rel=0.05)
    assert all(not ls[-1].bias.detach().any() for ls in layers)  # no output bias in the paper: 0


@pytest.mark.parametrize("name", ["two_layer_sgd", "three_layer_sgd"])
def test_paper_init_output_is_order_one_at_every_width(reg, name):
    """For ‖x‖ = 1 the pre-activations are N(0, 2/m) (layer 1: ‖x‖² + 1 over m) and, for 3 layers,
    N(0, (E relu(h1)²·m + 1)/m) = N(0, 2/m); so E f(x)² = m · E a² · E relu(h)² = m · 1 · 1/m = 1,
    whatever the width (with 1/fan-in init and a ~ N(0, 1/m) it would be O(1/m))."""
    learner = reg.learners[name]
    x = torch.as_tensor(unit_rows(np.random.default_rng(3), 1), dtype=torch.float32)
    for m in (50, 400):
        with torch.no_grad():
            outs = [float(learner.build(4, REGRESSION, params_of(learner, width=m, init="paper"),
                                        torch_seed(np.random.default_rng(seed)))(x)) for seed in range(400)]
        assert np.mean(np.square(outs)) == pytest.approx(1.0, rel=0.2), m


# --- momentum and the step schedule --------------------------------------------------------------

def test_allen_zhu_preset_uses_momentum_and_divides_the_lr_by_10_at_epoch_400(reg):
    learner = reg.learners["three_layer_sgd"].with_preset("allen-zhu").with_params(width=[8], lr=[1e-3])
    params = params_of(learner)
    assert (params["momentum"], params["epochs"], params["schedule"], params["batch_size"]) == (0.9, 800, "step", 50)
    seen = {}

    def hook(epoch, opt, sched):  # epoch counts from 1: epoch e is the paper's (0-based) epoch e − 1
        group = opt.param_groups[0]
        seen[epoch - 1] = group["lr"]
        if epoch - 1 in (399, 400):
            assert group["momentum"] == 0.9 and group["weight_decay"] == params["weight_decay"]
            trained = [p for g in opt.param_groups for p in g["params"]]
            assert trained and all(opt.state[p]["momentum_buffer"] is not None for p in trained)

    X = unit_rows(np.random.default_rng(0), 20)  # 20 points, batch 50: one step per epoch
    out = learner.train_network(X, target(X), params, np.random.default_rng(0), REGRESSION, on_epoch=hook)
    assert len(seen) == 800 and out.best_epoch == 800
    assert seen[0] == seen[399] == 1e-3
    assert seen[400] == pytest.approx(1e-4, rel=1e-12) and seen[799] == pytest.approx(1e-4, rel=1e-12)


def test_our_default_protocol_has_no_momentum_and_a_constant_lr(reg):
    learner = reg.learners["two_layer_sgd"]
    seen = []
    X = unit_rows(np.random.default_rng(0), 20)
    learner.train_network(X, target(X), params_of(learner, width=8, epochs=5), np.random.default_rng(0),
                          REGRESSION, on_epoch=lambda e, opt, sched: seen.append(
                              (opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"], sched)))
    assert seen == [(0.01, 0.0, None)] * 5


def test_step_schedule_selects_lr_at_the_final_epoch_and_refits_for_all_epochs(reg):
    learner = reg.learners["two_layer_sgd"].with_params(width=[16], epochs=[6], schedule=["step"],
                                                         lr=[0.01, 0.05], patience=[1])
    rng = np.random.default_rng(0)
    X, X_val = unit_rows(rng, 60), unit_rows(rng, 30)
    sel = learner.fit_select(X, target(X), X_val, target(X_val), learner.param_grid(None, 60), rng, REGRESSION)
    assert [t["best_epoch"] for t in sel.trials] == [6] * 4  # no early stop, whatever the patience
    assert sel.best_params["epochs"] == 6


# --- the finite-width NTK ------------------------------------------------------------------------

def hand_network(X, W, b1, V, b2, a):
    """The 3-layer ReLU network a·relu(V relu(W x + b1) + b2), float64, written out here."""
    h = np.maximum(X @ W.T + b1, 0.0)
    return np.maximum(h @ V.T + b2, 0.0) @ a.T


def test_ntk_learner_predicts_the_first_order_taylor_expansion_around_the_init(reg):
    learner = reg.learners["three_layer_ntk"]
    params = params_of(learner, width=48, init="paper", train_bias=False, lr=1e-3, momentum=0.9,
                       weight_decay=1e-3, epochs=20)
    start, lin = fit_from_init(learner, params)
    numpy = lambda t: t.detach().double().numpy()  # noqa: E731
    W0, b1, V0, b2, a = (numpy(p) for p in (start.net[0].weight, start.net[0].bias, start.net[2].weight,
                                            start.net[2].bias, start.net[4].weight))
    W, V = (numpy(p) for p in lin.theta)  # the trained hidden weights θ
    dW, dV = W - W0, V - V0
    assert np.abs(dW).max() > 1e-3 and np.abs(dV).max() > 1e-3  # training moved θ
    for p, p0 in zip(lin.net.parameters(), start.net.parameters()):
        assert torch.equal(p, p0)  # a, the biases and θ₀ stay at the initialisation
    X = unit_rows(np.random.default_rng(7), 50)
    eps = 1e-6  # f(θ₀ + εΔ) − f(θ₀ − εΔ) ≈ 2ε ∇f(θ₀)·Δ (central difference)
    f0 = hand_network(X, W0, b1, V0, b2, a)
    slope = (hand_network(X, W0 + eps * dW, b1, V0 + eps * dV, b2, a)
             - hand_network(X, W0 - eps * dW, b1, V0 - eps * dV, b2, a)) / (2 * eps)
    with torch.no_grad():
        ours = lin(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(ours, f0 + slope, rtol=1e-4, atol=1e-4 * np.abs(f0 + slope).max())
    moved = hand_network(X, W, b1, V, b2, a)  # the network itself at θ is not what it predicts
    assert np.abs(moved - (f0 + slope)).max() > 1e-2 * np.abs(slope).max()


def moments(c):
    """(Λ, Ḋ) = (E relu(u) relu(v), E 1[u > 0] 1[v > 0]) for a Gram matrix c of Gaussians (u, v)."""
    s = np.diag(c)
    norm = np.sqrt(np.outer(s, s))
    theta = np.arccos(np.clip(c / norm, -1, 1))
    return norm * (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2 * np.pi), (np.pi - theta) / (2 * np.pi)


def infinite_width_hidden_ntk(X, depth):
    """lim_{m→∞} Θ(x, x')/m for the paper's init and θ = the hidden weights (no biases).

    Layer 1: h₁ = W x + b₁ = g₁/√m with Cov g₁ = x·x' + 1. Layer 2: h₂ = V relu(h₁) + b₂ = g₂/√m with
    Cov g₂ = Λ₁ + 1, Λ₁ = E relu(g₁) relu(g₁'). f = a·relu(h₂), a ~ N(0, 1). Then
      ∂f/∂V_ij = a_i 1[h₂ᵢ > 0] relu(h₁)_j  → Σ_ij … = (Σ_i a_i² 1 1') (Σ_j relu(h₁)_j relu(h₁')_j) → m Ḋ₂ Λ₁
      ∂f/∂W_jk = δ_j 1[h₁ⱼ > 0] x_k, δ_j = Σ_i a_i V_ij 1[h₂ᵢ > 0] → m (x·x') Ḋ₁ Ḋ₂
    with Ḋ = E 1[u > 0] 1[v > 0] = (π − θ)/(2π) and Λ = √(st)(sin θ + (π − θ) cos θ)/(2π) for
    Gaussians of covariance [[s, c], [c, t]], θ = arccos(c/√(st)). Depth 2: m (x·x') Ḋ₁."""
    lam1, dot1 = moments(X @ X.T + 1)
    if depth == 2:
        return (X @ X.T) * dot1
    _, dot2 = moments(lam1 + 1)
    return dot2 * (lam1 + (X @ X.T) * dot1)


def test_the_hidden_weight_limit_matches_arccos_ntk_rescaled():
    """arccos.ntk trains every layer with He scaling and β² = 1/2. Including the hidden biases here
    adds Ḋ₂(1 + Ḋ₁) to the limit above; since ReLU moments are homogeneous, our g₁, g₂ are exactly
    2 × arccos's Σ¹, Σ² (same angles), so that limit is 2 (arccos.ntk − Λ²), Λ² being arccos's
    output-layer part (the one layer that is not trained here)."""
    X = unit_rows(np.random.default_rng(1), 10)
    lam1, dot1 = moments(0.5 * X @ X.T + 0.5)  # arccos's Σ¹ with β² = 1/2
    lam2, dot2 = moments(lam1 + 0.5)  # its Σ² = (1 − β²)·2Λ¹ + β²
    with_biases = infinite_width_hidden_ntk(X, 3) + dot2 * (1 + dot1)
    np.testing.assert_allclose(with_biases, 2 * (arccos.ntk(X, X, 3, 0.5) - lam2), rtol=1e-7)


@pytest.mark.slow  # 1-4 s; the default run stays under 2 minutes (the path is covered by faster tests)
def test_empirical_hidden_weight_ntk_approaches_its_limit_like_one_over_root_m(reg):
    learner = reg.learners["three_layer_ntk"]
    X = unit_rows(np.random.default_rng(5), 8)
    limit = infinite_width_hidden_ntk(X, 3)
    errors = []
    for m in (100, 400, 1600):
        gaps = []
        for seed in range(6):
            lin = learner.build(4, REGRESSION, params_of(learner, width=m, init="paper", train_bias=False),
                                torch_seed(np.random.default_rng(seed)))
            grads = [torch.autograd.grad(lin(x[None])[0, 0], list(lin.theta))
                     for x in torch.as_tensor(X, dtype=torch.float32)]
            assert [g.shape for g in grads[0]] == [(m, 4), (m, m)]  # θ = W, V only
            gram = sum(G @ G.T for G in (torch.stack([g[i].reshape(-1) for g in grads]) for i in range(2)))
            gaps.append(np.linalg.norm(gram.double().numpy() / m - limit) / np.linalg.norm(limit))
        errors.append(np.mean(gaps))
    slope = np.polyfit(np.log([100, 400, 1600]), np.log(errors), 1)[0]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.15, errors
    assert -0.8 < slope < -0.3, (errors, slope)  # 1/√m: −0.5


class Linear(Task):
    name, kind, description = "linear", "regression", "y = x1 + 0.5 x2 on the unit sphere"

    def sample(self, n, rng):
        X = unit_rows(rng, n, 5)
        return X, X[:, 0] + 0.5 * X[:, 1]


@pytest.mark.slow  # 6 s; the finite NTKs are also checked against the network's Taylor expansion and in test_batched
@pytest.mark.parametrize("name", ["two_layer_ntk", "three_layer_ntk"])
def test_ntk_learners_fit_a_linear_target(reg, name):
    learner = reg.learners[name].with_params(width=[64], epochs=[60], lr=[0.1, 0.3], weight_decay=[0.0])
    record = run_cell(CellSpec(Linear(), learner, n=300, seed=0, protocol=Protocol(n_test=500)))
    assert record["status"] == "ok", record["error"]
    assert record["test_score"] < 0.05


# --- options, presets and the command line -------------------------------------------------------

def test_train_and_init_are_axes_not_hyper_parameters(reg):
    with pytest.raises(BenchError, match="train takes one value per run"):
        reg.learners["three_layer_sgd"].with_params(train=["hidden", "last"])
    with pytest.raises(BenchError, match="init takes one value per run"):
        reg.learners["three_layer_ntk"].with_params(init=["paper", "fan_in"])
    with pytest.raises(BenchError, match="train must be all or hidden or last"):
        reg.learners["two_layer_sgd"].with_params(train=["output"])
    assert reg.learners["three_layer_ntk"].depth == 3 and reg.learners["two_layer_ntk"].depth == 2
    assert "depth" not in reg.learners["three_layer_ntk"].parameters


def test_the_old_train_output_option_says_what_replaced_it(reg, bench):
    with pytest.raises(BenchError, match="train_output was replaced by train.*train=hidden"):
        reg.learners["two_layer_sgd"].with_params(train_output=[False])
    code, _, err = bench("run", "-t", "sin3", "-l", "two_layer_sgd", "-p", "train_output=false")
    assert code == 2 and "train=hidden" in one_line_error(err)


def test_preset_is_applied_explicit_params_win_and_others_keep_their_grids(bench):
    code, out, err = bench("run", "-t", "sin3", "-l", "three_layer_sgd", "-l", "kernel_ridge", "--preset", "allen-zhu",
                           "-p", "width=8", "-p", "epochs=4", "-p", "lr=1e-3", "-p", "weight_decay=1e-4",
                           "--ns", "40", "--seeds", "1", "--n-test", "100", "--jobs", "1", "--no-leaderboard")
    assert code == 0, err
    assert ("preset allen-zhu: applied to three_layer_sgd; kernel_ridge declare(s) no such preset and keep their "
            "own grids") in err
    code, out, _ = bench("show", "--verbose")  # each cell's line, then its details (chosen: ...)
    cells = out.split("\nsin3 ")
    line = " ".join(next(c for c in cells if c.lstrip().startswith("three_layer_sgd")).split())
    for shown in ("init=paper", "momentum=0.9", "schedule=step", "train=hidden", "batch_size=50", "width=8",
                  "epochs=4", "lr=0.001"):
        assert shown in line, line
    assert "init=paper" not in next(c for c in cells if c.lstrip().startswith("kernel_ridge"))


def test_unknown_preset_is_a_one_line_error_and_bench_list_shows_presets(bench):
    code, _, err = bench("run", "-t", "sin3", "-l", "three_layer_sgd", "--preset", "allen-zu")
    assert code == 2 and "did you mean 'allen-zhu'" in one_line_error(err)
    code, _, err = bench("run", "-t", "sin3", "-l", "kernel_ridge", "--preset", "allen-zhu")
    assert code == 2 and "no selected learner (kernel_ridge) declares preset 'allen-zhu'" in one_line_error(err)
    code, out, _ = bench("list")
    presets = out.split("Presets")[1]
    for name in ("three_layer_sgd", "two_layer_sgd", "three_layer_ntk", "two_layer_ntk"):
        assert f"allen-zhu  {name}" in presets
    assert "init=paper" in presets and "epochs=800" in presets and "momentum=0.9" in presets
