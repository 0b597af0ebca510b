"""three_layer_alg1 against the pseudocode of Allen-Zhu, Li, Liang (NeurIPS 2019) Algorithm 1 /
arXiv v6 Algorithm 2, as /work/shared/PAPERS.md records it; every reference is computed here in
numpy (or in closed form), not by the learner's own code."""

import math

import numpy as np
import pytest
import torch

from harness import Problem
from plugins.learners.nets.three_layer_alg1 import Alg1Network, ThreeLayerAlg1, _SmoothedProduct, train_alg1
from plugins.learners.nets.torch_training import torch_seed

PROBLEM = Problem("regression", 5)


def sphere(n, seed, d=5):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def relu(z):
    return np.maximum(z, 0.0)


def F(net, X, W, V):
    """F(x; W, V) = A σ(V σ(W x + b1) + b2) in float64 numpy, from the network's frozen buffers."""
    b1, b2, A = (getattr(net, k).double().numpy() for k in ("b1", "b2", "A"))
    return relu(relu(X @ W.T + b1) @ V.T + b2) @ A.T


def params(**kw):
    base = {k: v[0] for k, v in ThreeLayerAlg1().grid_spec.items()}
    return {**base, "width": 32, "epochs": 6, "lr": 0.3, "eps_a": 0.3, **kw}


@pytest.fixture(scope="module")
def trained():
    """A small trained model: its net, training data and parameters."""
    X = sphere(120, 0)
    y = X[:, 0] * X[:, 1] + 0.5 * X[:, 2]
    p = params(output_draws=12, decay=0.05)
    model = ThreeLayerAlg1().fit(X, y, p, np.random.default_rng(3), PROBLEM)
    return model, X, y, p


def draws(net, n_draws):
    sign, pairs = net.output_draws(n_draws)
    return sign.double().numpy(), [(Wr.double().numpy(), Vr.double().numpy()) for Wr, Vr in pairs]


def output_weights(net, sign, W_rho, V_rho):
    """W(0) + W^ρ + Σ̂W_T and V(0) + V^ρ + V_TΣ̂."""
    W0, V0 = net.W0.double().numpy(), net.V0.double().numpy()
    W1, V1 = net.W1.detach().double().numpy(), net.V1.detach().double().numpy()
    return W0 + W_rho + sign[:, None] * W1, V0 + V_rho + V1 * sign[None, :]


def test_the_output_draw_is_the_one_with_the_lowest_training_loss(trained):
    model, X, y, p = trained
    net = model.net
    sign, pairs = draws(net, p["output_draws"])
    lam_T = (1 - p["decay"]) ** p["epochs"]
    y_std = (y - y.mean()) / y.std()  # the learner's regression loss is on standardised targets
    losses = [np.mean((lam_T * F(net, X, *output_weights(net, sign, *pair))[:, 0] - y_std) ** 2) for pair in pairs]
    assert len(set(np.round(losses, 6))) == len(losses)  # the draws differ, so the choice means something
    assert net.j_star == int(np.argmin(losses))
    np.testing.assert_allclose(net.draw_losses, losses, rtol=1e-4)
    assert np.all(np.isin(sign, [-1.0, 1.0])) and 0 < (sign > 0).mean() < 1  # one fixed Σ̂


def test_prediction_is_lambda_T_F_at_the_chosen_draw_not_an_average(trained):
    model, X, y, p = trained
    net = model.net
    sign, pairs = draws(net, p["output_draws"])
    lam_T = (1 - p["decay"]) ** p["epochs"]
    assert net.lam == pytest.approx(lam_T)
    X_new = sphere(200, 9)
    ref = lam_T * F(net, X_new, *output_weights(net, sign, *pairs[net.j_star]))[:, 0] * y.std() + y.mean()
    np.testing.assert_allclose(model.predict(X_new), ref, rtol=1e-4, atol=1e-5)
    average = np.mean([lam_T * F(net, X_new, *output_weights(net, sign, *pair))[:, 0] for pair in pairs], axis=0)
    assert not np.allclose(model.predict(X_new), average * y.std() + y.mean(), rtol=1e-3, atol=1e-4)


def test_output_draws_follow_table_1s_smoothing_scales():
    m = 256
    net = Alg1Network(4, 1, m, eps_a=0.1, smoothing_w=1.0, smoothing_v=1.0, generator=torch.Generator().manual_seed(0))
    sign, pairs = draws(net, 3)
    assert np.all(np.isin(sign, [-1.0, 1.0]))
    for W_rho, V_rho in pairs:  # Table 1: σ_w = m^−(1−0.01), σ_v = m^−(1/2+0.01)
        assert W_rho.std() == pytest.approx(m ** -0.99, rel=0.1)
        assert V_rho.std() == pytest.approx(m ** -0.51, rel=0.02)
    scaled = Alg1Network(4, 1, m, eps_a=0.1, smoothing_w=2.0, smoothing_v=0.5,
                         generator=torch.Generator().manual_seed(0))
    W_rho, V_rho = draws(scaled, 1)[1][0]
    assert W_rho.std() == pytest.approx(2.0 * m ** -0.99, rel=0.1)
    assert V_rho.std() == pytest.approx(0.5 * m ** -0.51, rel=0.02)


def test_lambda_starts_at_1_and_decays_by_1_minus_decay_after_each_round_of_T_w_steps():
    X = sphere(130, 1)
    y = X[:, 0]
    net = Alg1Network(5, 1, 16, eps_a=0.3, smoothing_w=1.0, smoothing_v=1.0, generator=torch.Generator().manual_seed(2))
    seen = []
    forward = net.forward

    def recording(x):
        if net.training:
            seen.append(net.lam)
        return forward(x)

    net.forward = recording
    train_alg1(net, X, y, PROBLEM, lr=0.1, sgd_noise=0.0, lambda_v=0.0, lambda_w=0.0, decay=0.2, output_draws=2,
               batch_size=50, epochs=4, generator=torch.Generator().manual_seed(0))
    T_w = math.ceil(130 / 50)  # one round = one pass over the data
    expected = [0.8 ** t for t in range(4) for _ in range(T_w)]
    np.testing.assert_allclose(seen, expected)
    assert net.lam == pytest.approx(0.8 ** 4)  # λ_T, used for the prediction


def test_noisy_sgd_adds_gaussian_noise_of_norm_sgd_noise_per_step():
    """With A = 0 the loss does not depend on W′, V′ and R = 0, so the gradient is exactly zero
    and all that moves them is the perturbation lr·ξ, ξ ~ N(0, s²/D · I) over the D = m·d + m²
    trained entries: after k steps each entry is N(0, k·lr²·s²/D)."""
    X = sphere(100, 2)
    m, d = 64, 5
    net = Alg1Network(d, 1, m, eps_a=0.3, smoothing_w=1.0, smoothing_v=1.0, generator=torch.Generator().manual_seed(4))
    net.A.zero_()
    lr, s, epochs = 1e-3, 2.0, 3
    train_alg1(net, X, X[:, 0], PROBLEM, lr=lr, sgd_noise=s, lambda_v=0.0, lambda_w=0.0, decay=0.0, output_draws=1,
               batch_size=25, epochs=epochs, generator=torch.Generator().manual_seed(0))
    k = epochs * 4  # ⌈100 / 25⌉ steps per round
    std = lr * s * math.sqrt(k / (m * d + m * m))
    V1, W1 = net.V1.detach().double().numpy(), net.W1.detach().double().numpy()
    assert V1.std() == pytest.approx(std, rel=0.05)  # 4096 entries
    assert W1.std() == pytest.approx(std, rel=0.2)  # 320 entries
    assert abs(V1.mean()) < 4 * std / math.sqrt(V1.size)
    quiet = Alg1Network(d, 1, m, eps_a=0.3, smoothing_w=1.0, smoothing_v=1.0,
                        generator=torch.Generator().manual_seed(4))
    quiet.A.zero_()
    train_alg1(quiet, X, X[:, 0], PROBLEM, lr=lr, sgd_noise=0.0, lambda_v=0.0, lambda_w=0.0, decay=0.0,
               output_draws=1, batch_size=25, epochs=epochs, generator=torch.Generator().manual_seed(0))
    assert not quiet.V1.detach().any() and not quiet.W1.detach().any()


def test_a_training_step_evaluates_each_sample_at_its_own_sign_diagonal():
    """Without smoothing, sample b's training output is λ F(x_b; W(0) + Σ_b W′, V(0) + V′Σ_b)
    for its own sign diagonal Σ_b (the first draw of the step's generator)."""
    net = Alg1Network(5, 1, 24, eps_a=0.5, smoothing_w=0.0, smoothing_v=0.0, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        net.W1.normal_(0, 0.3, generator=torch.Generator().manual_seed(6))
        net.V1.normal_(0, 0.3, generator=torch.Generator().manual_seed(7))
    net.lam = 0.7
    X = sphere(40, 3)
    net.train()
    out = net(torch.as_tensor(X, dtype=torch.float32)).detach().double().numpy()[:, 0]
    S = net.draw_signs(net.generator(0), len(X)).double().numpy()
    assert np.all(np.isin(S, [-1.0, 1.0])) and len({tuple(s) for s in S}) == len(X)
    zeros = (np.zeros(net.W0.shape), np.zeros(net.V0.shape))
    ref = [0.7 * F(net, X[b:b + 1], *output_weights(net, S[b], *zeros))[0, 0] for b in range(len(X))]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)


def test_per_sample_smoothing_of_V_has_the_moments_of_an_explicit_gaussian_matrix():
    """For V^ρ ~ N(0, σ²) entrywise and fixed h, δ: ζ = V^ρ h and g = V^ρᵀ δ satisfy
    E[ζ_k g_l] = σ² δ_k h_l, Cov(g) = σ²‖δ‖² I, Var(ζ_k) = σ²‖h‖²."""
    m, reps, sigma = 6, 100_000, 0.3
    rng = np.random.default_rng(0)
    h1, d1 = rng.standard_normal(m), rng.standard_normal(m)
    h = torch.tensor(np.tile(h1, (reps, 1)), requires_grad=True)
    zeta = _SmoothedProduct.apply(h, sigma, torch.Generator().manual_seed(1))
    zeta.backward(torch.tensor(np.tile(d1, (reps, 1))))
    Z, G = zeta.detach().numpy(), h.grad.numpy()
    se = math.sqrt(2 / reps) * sigma ** 2  # ≈ the standard error of a second moment, per unit of scale
    np.testing.assert_allclose(Z.T @ G / reps, sigma ** 2 * np.outer(d1, h1),
                               atol=5 * se * np.linalg.norm(h1) * np.linalg.norm(d1))
    np.testing.assert_allclose(np.cov(G.T), sigma ** 2 * d1 @ d1 * np.eye(m), atol=5 * se * d1 @ d1)
    np.testing.assert_allclose(Z.var(axis=0), sigma ** 2 * h1 @ h1, rtol=0.02)


def test_alg1_trains_only_the_perturbations_with_the_papers_regulariser_and_decay():
    learner = ThreeLayerAlg1()
    p = params(width=64, epochs=7, decay=0.1, lambda_v=1e-2, lambda_w=3e-2)
    start = learner.build(5, PROBLEM, p, torch_seed(np.random.default_rng(1)))
    X = sphere(200, 0)
    model = learner.fit(X, X[:, 0] * X[:, 1], p, np.random.default_rng(1), PROBLEM)
    net = model.net
    assert {name for name, q in net.named_parameters() if q.requires_grad} == {"W1", "V1"}  # W′, V′ only
    for frozen in ("W0", "b1", "V0", "b2", "A"):  # the random initialisation stays fixed
        assert torch.equal(getattr(net, frozen), getattr(start, frozen))
    assert float(start.W0.std()) == pytest.approx(64 ** -0.5, rel=0.05)  # w_j ~ N(0, I/m1)
    assert float(start.V0.std()) == pytest.approx(64 ** -0.5, rel=0.05)  # v_ij ~ N(0, 1/m2)
    assert float(start.A.std()) == pytest.approx(p["eps_a"], rel=0.3)  # a_ri ~ N(0, ε_a²)
    assert not start.W1.detach().any() and net.W1.detach().any()  # W′ starts at 0 and moves
    assert net.lam == pytest.approx(0.9 ** 7)  # λ_T = (1 − decay)^T after T = 7 rounds
    W1, V1 = net.W1.detach().double().numpy(), net.V1.detach().double().numpy()
    lam = net.lam  # R(√λ W′, √λ V′) with R(W, V) = λ_v‖V‖_F² + λ_w Σ_j ‖w_j‖⁴
    expected = 1e-2 * np.sum((np.sqrt(lam) * V1) ** 2) + 3e-2 * np.sum(np.sum((np.sqrt(lam) * W1) ** 2, axis=1) ** 2)
    assert float(net.penalty(1e-2, 3e-2).detach()) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(model.predict(X[:50]), model.predict(X[:50]))  # one fixed output draw
