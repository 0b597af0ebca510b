"""Zou & Gu's deep setting: the deep_sgd learner (initialisation, what is trained, interpolation),
the WidthNeeded claim on synthetic stores whose answer is known, and the zou-gu-deep suite's plan."""

import math
import re

import numpy as np
import pytest
import torch

from conftest import one_line_error
from harness import Problem, Task, WidthNeeded
from harness.reporting import suite_pages
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from harness.storage.store import Store
from harness.protocol.data import zou_gu
from harness.suites.claims import Point
from harness.suites.statistics import FAILS, HOLDS, NOT_SEPARABLE
from plugins.learners.nets.deep_sgd import DeepSGD, zou_gu_net
from plugins.learners.nets.torch_training import torch_seed
from suite_plugin import record, section, table

# t(0.975, 2), from a printed table of Student's t quantiles: the 95% interval over 3 seeds.
T_975_2 = 4.302653


def sphere(n, d, mu, seed=0):
    """n points with ‖x‖ = 1 and x_d = mu (Zou & Gu's data), Gaussian directions."""
    return zou_gu(np.random.default_rng(seed).standard_normal((n, d - 1)), mu)


# --- the learner -------------------------------------------------------------------------------

def test_the_network_has_l_hidden_layers_with_the_stated_initial_variances():
    m, d, k = 2000, 5, 10  # k outputs: 20,000 output weights, so their variance is measured to ~1%
    net = zou_gu_net(d, k, m, 3, torch.Generator().manual_seed(0))
    linears = [layer for layer in net if isinstance(layer, torch.nn.Linear)]
    assert [tuple(layer.weight.shape) for layer in linears] == [(m, d), (m, m), (m, m), (k, m)]
    assert sum(isinstance(layer, torch.nn.ReLU) for layer in net) == 3  # one per hidden layer
    for layer in linears[:3]:  # N(0, 2/m), the fan-out m also for W_1 (He, as in the paper)
        w = layer.weight.detach().double()
        assert float(w.mean()) == pytest.approx(0.0, abs=0.05 * math.sqrt(2 / m))
        assert float(w.var()) == pytest.approx(2 / m, rel=0.05)
    assert float(linears[3].weight.detach().double().var()) == pytest.approx(1.0, rel=0.05)  # v ~ N(0, 1)
    assert all(float(layer.bias.abs().max()) == 0.0 for layer in linears)  # no biases


@torch.no_grad()
def test_the_initialisation_keeps_the_hidden_norms_at_one():
    """He's closed form: E‖σ(W h)‖² = ‖h‖² for W ~ N(0, 2/m), so E‖h_l‖² = ‖x‖² = 1 in every layer.
    One net fluctuates by ~√(5/m) per layer, so the mean is over 200 independent nets of width
    256 (standard error ≈ 2% after three layers)."""
    x = torch.as_tensor(sphere(1, 5, 0.5), dtype=torch.float32)
    norms = []
    for seed in range(200):
        h, per_layer = x, []
        for layer in zou_gu_net(5, 1, 256, 3, torch.Generator().manual_seed(seed))[:-1]:
            h = layer(h)
            if isinstance(layer, torch.nn.ReLU):
                per_layer.append(float((h ** 2).sum()))
        norms.append(per_layer)
    assert np.mean(norms, axis=0) == pytest.approx([1.0, 1.0, 1.0], rel=0.1)


@pytest.mark.parametrize("depth", [1, 3, 5])
def test_depth_counts_hidden_layers(depth):
    net = zou_gu_net(4, 1, 16, depth, torch.Generator().manual_seed(1))
    assert sum(isinstance(layer, torch.nn.ReLU) for layer in net) == depth
    trained = [name for name, p in net.named_parameters() if p.requires_grad]
    assert len(trained) == depth and all(name.endswith("weight") for name in trained)


def test_sgd_trains_every_hidden_layer_and_leaves_the_output_and_biases_bit_identical():
    learner = DeepSGD().with_params(width=[64], epochs=[3], batch_size=[8])
    params = learner.param_grid(None, 40)[0]
    X = sphere(40, 5, 0.5)
    y = np.random.default_rng(1).standard_normal(40)
    problem = Problem("regression", 5, None)
    start = learner.build(5, problem, params, torch_seed(np.random.default_rng(7)))  # the draws fit() makes
    seen = []

    def watch(epoch, opt, sched):
        seen.append((epoch, opt.param_groups[0]["lr"], len(opt.param_groups[0]["params"])))

    model = learner.train_network(X, y, params, np.random.default_rng(7), problem, on_epoch=watch).model
    # every epoch runs (no early stopping), at the step lr / width, on the L = 3 hidden weight matrices
    assert seen == [(e, pytest.approx(2.0 / 64), 3) for e in (1, 2, 3)]
    before, after = dict(start.named_parameters()), dict(model.net.named_parameters())
    *hidden, out = [name for name in before if name.endswith("weight")]
    assert torch.equal(before[out], after[out])  # the output layer is fixed
    assert all(torch.equal(before[n], after[n]) for n in before if n.endswith("bias"))
    assert all(not torch.equal(before[n], after[n]) for n in hidden)  # every hidden layer moved
    assert set(model.diagnostics()) >= {"weight_change_layer1", "weight_change_layer2", "weight_change_layer3"}


def test_a_wide_net_interpolates_a_few_points_with_any_labels():
    """Over-parameterised (S)GD reaches zero training loss on n distinct points whatever the labels
    (Zou & Gu's theorem; Du et al. 2019 for two layers) — here 10 points, random labels, width 512."""
    X, y = sphere(10, 5, 0.5, seed=2), np.random.default_rng(3).standard_normal(10)
    learner = DeepSGD().with_params(width=[512], epochs=[300], batch_size=[10], lr=[1.0])
    model = learner.fit(X, y, learner.param_grid(None, 10)[0], np.random.default_rng(0),
                        Problem("regression", 5, None))
    assert np.mean((model.predict(X) - y) ** 2) / np.var(y) < 1e-3


class Caps(Task):
    """Three classes around orthogonal directions, mapped to Zou & Gu's sphere by the protocol."""
    name, kind, n_classes, description = "caps", "classification", 3, "three separated Gaussian blobs"

    def sample(self, n, rng):
        y = rng.integers(3, size=n)
        return 3.0 * np.eye(3)[y] + 0.5 * rng.standard_normal((n, 3)), y


def test_a_cell_classifies_separated_classes_on_zou_gu_inputs():
    learner = DeepSGD().with_params(width=[64], epochs=[60])
    rec = run_cell(CellSpec(Caps(), learner, n=200, seed=0, protocol=Protocol(n_test=500, zou_gu_mu=0.5)))
    assert rec["status"] == "ok", rec["error"]
    assert rec["metric"] == "error" and rec["train_score"] < 0.05 and rec["test_score"] < 0.05
    assert rec["input_transform"] == "zou_gu(mu=0.5)" and rec["val_score"] is None


def test_a_single_configuration_is_not_trained_on_the_validation_split():
    learner = DeepSGD()
    X, y = sphere(20, 5, 0.5), np.ones(20)
    selection = learner.fit_select(X[:16], y[:16], X[16:], y[16:], learner.param_grid(None, 20),
                                   np.random.default_rng(0), Problem("regression", 5, None))
    assert selection.best_params == learner.param_grid(None, 20)[0] and selection.best_score is None
    assert selection.trials[0]["seconds"] == 0.0


def test_several_step_sizes_are_selected_on_validation_after_the_last_epoch():
    learner = DeepSGD().with_params(width=[32], epochs=[2], lr=[1e-6, 2.0])
    X, y = sphere(60, 5, 0.5), np.sin(3 * sphere(60, 5, 0.5)[:, 0])
    selection = learner.fit_select(X[:48], y[:48], X[48:], y[48:], learner.param_grid(None, 60),
                                   np.random.default_rng(0), Problem("regression", 5, None))
    assert [t["status"] for t in selection.trials] == ["ok", "ok"]
    assert selection.best_params["lr"] == 2.0  # lr 1e-6 leaves the network at its initialisation
    assert selection.best_params["epochs"] == 2  # a fixed schedule: the epochs are not chosen


@pytest.mark.parametrize("param, words", [
    ("depth=0", "learner 'deep_sgd': depth must be a positive integer, got 0"),
    ("depth=2,3", "learner 'deep_sgd': depth takes one value per run, got 2, 3"),
    ("schedule=cosine", "schedule must be fixed or early_stop or step, got 'cosine'"),
    ("lr=-1", "lr must be a positive number (the step size times the width), got -1"),
])
def test_bad_options_are_one_line_before_training(bench, param, words):
    code, _, err = bench("run", "-t", "sin3", "-l", "deep_sgd", "--zou-gu-mu", "0.5", "--ns", "20", "-p", param)
    assert code != 0 and words in one_line_error(err)
    assert "[1/" not in err


def test_memory_estimate_counts_every_layer():
    learner = DeepSGD()
    small = learner.memory_estimate(100, 5, {"width": 100, "depth": 3})
    deeper = learner.memory_estimate(100, 5, {"width": 100, "depth": 5})
    # two more m × m layers: their weights, gradients and momentum buffers, float32
    assert deeper - small == 4 * 3 * 2 * (100 + 1) * 100


# --- the claim ---------------------------------------------------------------------------------

WIDTHS, NS, SEEDS = (8, 16, 32, 64, 128, 256), (50, 100, 200, 400), (0, 1, 2)


def points(needed, learner="deep_sgd", failed=()):
    """Points of a width sweep where (N, seed) reaches training loss 1e-3 from width
    ``needed(N, seed)`` on (None: never) and 0.5 below it; (N, seed, width) in ``failed`` did not finish."""
    out = []
    for n in NS:
        for s in SEEDS:
            m_star = needed(n, s)
            for m in WIDTHS:
                train = None if (n, s, m) in failed else 1e-3 if m_star is not None and m >= m_star else 0.5
                out.append(Point("sin3", "sin3", {"zou_gu_mu": 0.5}, learner, f"{learner} (width={m})",
                                 {"width": m, "depth": 3}, n, s, 0.3, train))
    return out


def claim(**bound):
    return WidthNeeded(learner="deep_sgd", threshold=0.01, text="t", source="s", **(bound or {"at_least": 0.0}))


def grows(n, s):
    """m* = 16·N/50 (slope 1), except seed 2 at N = 400: 256 (its slope 1.3)."""
    return 256 if (n, s) == (400, 2) else 16 * n // 50


def test_a_width_needed_that_grows_like_n_gives_its_slope_with_a_t_interval_over_seeds():
    result = claim().evaluate(points(grows))
    (check,) = result.checks
    # by hand: slopes 1, 1 and 1.3 (log2 m* = 4, 5, 6, 8 at log2 steps 0–3: Σxy/Σx² = 6.5/5);
    # mean 1.1, sd √0.03, half-width t(0.975, 2)·sd/√3
    half = T_975_2 * math.sqrt(0.03) / math.sqrt(3)
    assert check.estimate == pytest.approx(1.1) and check.count == 3
    assert (check.lo, check.hi) == pytest.approx((1.1 - half, 1.1 + half), rel=1e-5)
    assert result.status == check.status == HOLDS
    assert "N=50: 16, 16, 16; N=100: 32, 32, 32; N=200: 64, 64, 64; N=400: 128, 128, 256" in check.note
    assert claim(at_most=0.5).evaluate(points(grows)).status == FAILS
    assert claim(at_most=8.0).evaluate(points(grows)).status == HOLDS


def test_a_constant_width_needed_does_not_grow():
    flat = points(lambda n, s: 32)
    check = claim().evaluate(flat).checks[0]
    assert (check.estimate, check.lo, check.hi) == (0.0, 0.0, 0.0)
    assert check.status == NOT_SEPARABLE  # slope 0 is not > 0
    assert claim(at_least=0.5).evaluate(flat).status == FAILS


def test_a_width_never_reached_is_reported_as_beyond_the_sweep_not_as_a_number():
    result = claim().evaluate(points(lambda n, s: None if n == 400 else grows(n, s)))
    (check,) = result.checks
    assert result.status == NOT_SEPARABLE and check.estimate is None and check.lo is None
    assert "N=400: > 256, > 256, > 256" in check.note and "widen the sweep" in check.note
    assert "> 256" in result.line()
    # nor is a width already reached at the smallest width of the sweep
    check = claim().evaluate(points(lambda n, s: 8)).checks[0]
    assert check.status == NOT_SEPARABLE and "N=50: ≤ 8, ≤ 8, ≤ 8" in check.note


def test_a_cell_that_did_not_finish_counts_as_not_reaching_and_other_learners_are_ignored():
    failed = {(n, s, 16) for n in NS for s in SEEDS}  # width 16 diverged everywhere
    pts = points(lambda n, s: 16, failed=failed) + points(lambda n, s: 8, learner="other")
    check = claim().evaluate(pts).checks[0]
    assert "N=50: 32, 32, 32" in check.note and "12 cell(s) without a training score" in check.note


def test_claim_arguments_are_checked():
    with pytest.raises(ValueError, match="exactly one of at_most= and at_least="):
        WidthNeeded(learner="deep_sgd", threshold=0.01, text="t", source="s")
    with pytest.raises(ValueError, match="positive training loss"):
        WidthNeeded(learner="deep_sgd", threshold=0.0, at_least=0.0, text="t", source="s")
    grid = load_registry().suites["zou-gu-deep"].at()
    with pytest.raises(ValueError, match="runs one variant"):
        claim().check(grid.__class__(**{**grid.__dict__, "learners": grid.learners[:1]}))
    with pytest.raises(ValueError, match="has one N"):
        claim().check(grid.__class__(**{**grid.__dict__, "ns": (50,)}))


# --- the suite ---------------------------------------------------------------------------------

def test_the_suite_plans_a_width_sweep_on_zou_gu_inputs_without_training():
    reg = load_registry()
    suite = reg.suites["zou-gu-deep"]
    small = suite_pages.cells(reg, suite.at())
    assert len(small) == 7 * 4 * 3  # widths × N × seeds, one task
    assert {c.protocol.zou_gu_mu for c in small} == {0.5}
    assert sorted({c.learner.grid_spec["width"][0] for c in small}) == [4, 8, 16, 32, 64, 128, 256]
    assert {c.learner.grid_spec["depth"][0] for c in small} == {3}
    assert sorted({c.n for c in small}) == [50, 100, 200, 400]
    assert len(suite_pages.cells(reg, suite.at("paper"))) == 10 * 6 * 3


def test_the_suites_verdict_reads_the_stored_training_scores(bench, tmp_path):
    """The real suite's cells written with known training scores (no training): verdict.md says
    what the claim computes, with the m* table."""
    reg = load_registry()
    cells = suite_pages.cells(reg, reg.suites["zou-gu-deep"].at())
    store = Store(tmp_path / "store.sqlite")  # the bench fixture's store
    for spec in cells:
        m = spec.learner.grid_spec["width"][0]
        train = 1e-3 if m >= grows(spec.n, spec.seed) else 0.2
        store.put({**record(spec, 0.3), "train_score": train, "input_transform": spec.protocol.input_transform})
    code, _, err = bench("leaderboard", "--suite", "zou-gu-deep", "--out", str(tmp_path / "lb"))
    assert code == 0, err
    md = (tmp_path / "lb" / "zou-gu-deep" / "verdict.md").read_text()
    lines = re.findall(r"^\d\. \*\*(\S+)\*\*", section(md, "Verdicts"), re.M)
    assert lines == [HOLDS, HOLDS]  # slope 1.1 [0.67, 1.53]: ≥ 0 and ≤ 8
    (row,) = table(section(md, "Claim 1:"))
    assert row["estimate"] == "+1.1" and row["seeds / points"] == "3"
    assert "N=400: 128, 128, 256" in row["verdict"]
    assert "astronomically beyond any machine" in section(md, "Caveats")
    # the page says that these checks read training scores, once for the two claims
    assert md.count("whose cell's *training* score") == 1
