"""Diagnostics per cell (issue #13), each against a reference written here: H∞ against its defining
expectation by Monte Carlo and against closed forms, the complexity measure against a direct
numpy solve and its known behaviour under random labels, the training curve and ‖W − W0‖_F
against SGD steps taken by hand in numpy, and a real cell through `bench run` / `bench show`."""

import json
import math

import numpy as np
import pytest
import torch

from harness import BenchError, Learner, Problem, arora_complexity, arora_kernel, training_curve
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.api.learners import validate_learner
from harness.execution.registry import load_registry
from harness.storage.store import Store
from harness.protocol.data import training_set
from plugins.learners.nets.torch_training import torch_seed

REGRESSION = Problem("regression", 5)


@pytest.fixture(scope="module")
def reg():
    return load_registry()


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sphere(rng, n, d):
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# --- H∞ and the complexity measure -------------------------------------------------------------

def test_arora_kernel_is_the_expectation_over_random_first_layer_weights():
    """H∞_ij = E_w~N(0,I)[x_iᵀx_j 1{wᵀx_i ≥ 0} 1{wᵀx_j ≥ 0}] (Arora et al. 2019, §3), estimated
    with 400,000 draws of w — for unit inputs and for inputs off the sphere alike."""
    rng = np.random.default_rng(0)
    X = np.vstack([sphere(rng, 4, 3), 2.5 * sphere(rng, 2, 3)])
    X[1] = -0.9 * X[0] + 0.1 * X[1]  # a nearly opposite pair: θ close to π
    w = rng.standard_normal((400_000, 3))
    on = (w @ X.T >= 0).astype(np.float64)
    mc = (X @ X.T) * (on.T @ on) / len(w)
    assert np.allclose(arora_kernel(X), mc, atol=4e-3 * np.max(np.abs(X @ X.T)))


def test_arora_kernel_closed_forms():
    """The paper's eq. 3 on unit vectors at angles 0, π/2, π/3, π; and orthonormal inputs give I/2."""
    e = np.eye(3)
    u = np.array([0.5, math.sqrt(3) / 2, 0.0])  # at π/3 from e₀
    H = arora_kernel(np.vstack([e[0], e[1], u, -e[0]]))
    assert H[0, 0] == pytest.approx(0.5) and H[0, 1] == pytest.approx(0.0)
    assert H[0, 2] == pytest.approx(0.5 * (math.pi - math.pi / 3) / (2 * math.pi))
    assert H[0, 3] == pytest.approx(0.0, abs=1e-15)  # opposite: never both active
    assert np.allclose(arora_kernel(e), 0.5 * np.eye(3))


def test_complexity_matches_a_direct_numpy_solve():
    rng = np.random.default_rng(1)
    X, y = sphere(rng, 40, 6), rng.uniform(-1, 1, 40)
    H = np.array([[xi @ xj * (math.pi - math.acos(np.clip(xi @ xj, -1, 1))) / (2 * math.pi) for xj in X] for xi in X])
    expected = math.sqrt(2 * y @ np.linalg.solve(H, y) / len(y))
    assert arora_complexity(X, y) == pytest.approx(expected, rel=1e-7)


def test_complexity_closed_form_on_orthonormal_inputs_and_its_scaling_off_the_sphere():
    """Orthonormal x: H∞ = I/2, so sqrt(2·2‖y‖²/n) = 2 for ±1 labels. H∞ scales as ‖x_i‖‖x_j‖, so
    inputs scaled by c (off the sphere, used as given) divide the measure by c."""
    y = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
    assert arora_complexity(np.eye(5), y) == pytest.approx(2.0)
    rng = np.random.default_rng(2)
    X, y = sphere(rng, 60, 8), rng.choice([-1.0, 1.0], 60)
    assert arora_complexity(3.0 * X, y) == pytest.approx(arora_complexity(X, y) / 3.0, rel=1e-6)


def test_random_labels_have_larger_complexity_than_a_linear_target():
    """Arora et al. (2019, §5–6, Fig. 2): linear functions are learnable with a small measure;
    labels independent of x are not, and the measure grows with the fraction p of random labels."""
    rng = np.random.default_rng(3)
    n, d = 200, 10
    X = sphere(rng, n, d)
    beta = sphere(rng, 1, d)[0]
    linear = X @ beta / np.sqrt(np.mean((X @ beta) ** 2))  # unit RMS, like ±1 labels
    assert arora_complexity(X, linear) < 0.25 * arora_complexity(X, rng.choice([-1.0, 1.0], n))
    two = Problem("classification", d, 2)
    clean = (X @ beta > 0).astype(int)
    values = []
    for p in (0.0, 0.5, 1.0):
        draws = []
        for seed in range(3):
            r = np.random.default_rng(seed)
            y = clean.copy()
            hit = r.random(n) < p
            y[hit] = r.integers(0, 2, hit.sum())
            draws.append(arora_complexity(X, y, two))
        values.append(np.mean(draws))
    assert values[0] < values[1] < values[2]


def test_complexity_labels_two_classes_as_plus_minus_one_and_more_as_one_hot():
    rng = np.random.default_rng(4)
    X, y = sphere(rng, 30, 5), rng.integers(0, 3, 30)
    two = y % 2
    assert arora_complexity(X, two, Problem("classification", 5, 2)) == pytest.approx(arora_complexity(X, 2.0 * two - 1.0))
    onehot = np.eye(3)[y]
    total = sum(arora_complexity(X, onehot[:, c]) ** 2 for c in range(3))  # the squares add over the columns
    assert arora_complexity(X, y, Problem("classification", 5, 3)) == pytest.approx(math.sqrt(total))


@pytest.mark.parametrize("call, words", [
    (lambda: arora_complexity(np.zeros((3, 2)), np.ones(3)), "input row 0 is zero"),
    (lambda: arora_complexity(np.eye(3), np.ones(2)), "3 rows but y has 2 labels"),
    (lambda: arora_complexity(np.eye(3), np.ones(3), max_n=2), "exceeds max_n = 2"),
    (lambda: arora_kernel(np.ones(3)), "2-D array"),
    (lambda: training_curve("ranking", [1.0]), "kind must be one of"),
    (lambda: training_curve("regression", []), "empty"),
    (lambda: training_curve("classification", [1.0, 0.5]), "0-1 training error of every epoch"),
])
def test_bad_input_is_one_line(call, words):
    with pytest.raises(BenchError, match=words) as info:
        call()
    assert "\n" not in str(info.value)


# --- the training curve ------------------------------------------------------------------------

def test_training_curve_threshold_and_log_spaced_downsampling():
    epochs = np.arange(1, 801)
    out = training_curve("regression", 1.0 / epochs)  # relative MSE 1/e: ≤ 0.1 first at epoch 10
    assert out["epochs_run"] == 800 and out["epochs_to_threshold"] == 10
    kept = out["curve_epoch"]
    assert len(kept) <= 50 and kept[0] == 1 and kept[-1] == 800 and kept == sorted(set(kept))
    assert out["curve_train_loss"] == pytest.approx([1.0 / e for e in kept])
    ratios = np.diff(np.log(kept[len(kept) // 2:]))  # log-spaced where rounding does not merge them
    assert np.allclose(ratios, np.log(800) / 49, rtol=0.15)
    short = training_curve("regression", [1.0, 0.5, 0.2])
    assert short["curve_epoch"] == [1, 2, 3] and short["epochs_to_threshold"] is None


def test_training_curve_classification_thresholds_the_error_not_the_loss():
    loss = [2.0, 1.0, 0.5, 0.05, 0.04]
    error = [0.5, 0.2, 0.01, 0.0, 0.0]
    out = training_curve("classification", loss, error)
    assert out["epochs_to_threshold"] == 3 and out["curve_train_error"] == error and out["curve_train_loss"] == loss


# --- the SGD learners against SGD steps taken by hand ------------------------------------------

def config(learner, **fixed):
    return {**{k: v[0] for k, v in learner.grid_spec.items()}, **fixed}


def relu(z):
    return np.maximum(z, 0.0)


def weights(net):
    return [(m.weight.detach().double().numpy().copy(), m.bias.detach().double().numpy().copy())
            for m in net.modules() if isinstance(m, torch.nn.Linear)]


def data(n=40, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = sphere(rng, n, d)
    return X, X[:, 0] + 2.0 * X[:, 1] * X[:, 2] + 0.3


def test_two_layer_hidden_curve_and_weight_change_match_two_hand_computed_gd_steps(reg):
    """Full batch (batch = N), train=hidden: each epoch is one GD step on W of the mean squared loss
    of the standardised targets; the epoch's loss is the loss before that step."""
    learner = reg.get("learner", "two_layer_sgd")
    X, y = data()
    params = config(learner, width=16, train="hidden", lr=0.3, weight_decay=0.0, batch_size=len(X), epochs=2)
    (W, b), (a, c) = weights(learner.build(5, REGRESSION, params, torch_seed(np.random.default_rng(7))))
    ys = (y - y.mean()) / y.std()
    W0, losses = W.copy(), []
    for _ in range(2):
        z = X @ W.T + b
        r = relu(z) @ a[0] + c[0] - ys
        losses.append(np.mean(r ** 2))
        W = W - 0.3 * (((2 / len(X)) * r[:, None] * (z > 0) * a[0][None, :]).T @ X)
    diag = learner.fit(X, y, params, np.random.default_rng(7), REGRESSION).diagnostics()
    assert diag["curve_epoch"] == [1, 2] and diag["epochs_run"] == 2
    assert diag["curve_train_loss"] == pytest.approx(losses, rel=1e-5)
    assert diag["weight_change_layer1"] == pytest.approx(np.linalg.norm(W - W0), rel=1e-4)
    assert diag["weight_change"] == pytest.approx(diag["weight_change_layer1"])
    assert diag["epochs_to_threshold"] is None  # loss ≈ 1 after two steps, far above 0.1


def test_three_layer_all_weight_change_per_layer_matches_one_hand_backprop_step(reg):
    learner = reg.get("learner", "three_layer_sgd")
    X, y = data(seed=1)
    params = config(learner, width=12, lr=0.2, weight_decay=0.0, batch_size=len(X), epochs=1)
    (W, b1), (V, b2), (a, c) = weights(learner.build(5, REGRESSION, params, torch_seed(np.random.default_rng(3))))
    ys = (y - y.mean()) / y.std()
    z1 = X @ W.T + b1
    z2 = relu(z1) @ V.T + b2
    r = relu(z2) @ a[0] + c[0] - ys
    dz2 = (2 / len(X)) * r[:, None] * a[0][None, :] * (z2 > 0)
    dz1 = (dz2 @ V) * (z1 > 0)
    dW, dV = dz1.T @ X, dz2.T @ relu(z1)
    diag = learner.fit(X, y, params, np.random.default_rng(3), REGRESSION).diagnostics()
    assert diag["curve_train_loss"] == pytest.approx([np.mean(r ** 2)], rel=1e-5)
    assert diag["weight_change_layer1"] == pytest.approx(0.2 * np.linalg.norm(dW), rel=1e-4)
    assert diag["weight_change_layer2"] == pytest.approx(0.2 * np.linalg.norm(dV), rel=1e-4)
    assert diag["weight_change"] == pytest.approx(0.2 * math.hypot(np.linalg.norm(dW), np.linalg.norm(dV)), rel=1e-4)


def test_classification_curve_records_cross_entropy_and_error_and_nothing_for_untrained_hidden(reg):
    learner = reg.get("learner", "two_layer_sgd")
    rng = np.random.default_rng(5)
    X = sphere(rng, 60, 5)
    y = np.argmax(X[:, :3], axis=1)
    problem = Problem("classification", 5, 3)
    params = config(learner, width=16, train="hidden", lr=0.5, weight_decay=0.0, batch_size=60, epochs=2)
    (W, b), (A, c) = weights(learner.build(5, problem, params, torch_seed(np.random.default_rng(2))))
    W0, losses, errors = W.copy(), [], []
    for _ in range(2):
        z = X @ W.T + b
        logits = relu(z) @ A.T + c
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        losses.append(-np.mean(np.log(p[np.arange(60), y])))
        errors.append(np.mean(logits.argmax(axis=1) != y))
        W = W - 0.5 * ((((p - np.eye(3)[y]) / 60) @ A * (z > 0)).T @ X)
    diag = learner.fit(X, y, params, np.random.default_rng(2), problem).diagnostics()
    assert diag["curve_train_loss"] == pytest.approx(losses, rel=1e-5)
    assert diag["curve_train_error"] == pytest.approx(errors)
    assert diag["weight_change"] == pytest.approx(np.linalg.norm(W - W0), rel=1e-4)
    last = learner.fit(X, y, {**params, "train": "last"}, np.random.default_rng(2), problem).diagnostics()
    assert "curve_train_loss" in last and not any(k.startswith("weight_change") for k in last)


def test_finite_ntk_first_step_moves_the_weights_as_the_network_does(reg):
    """At θ₀ the linearised network has the network's output and gradient, so its first GD step
    is the network's (Lee et al. 2019): the same hand-computed ΔW as for two_layer_sgd."""
    learner = reg.get("learner", "two_layer_ntk")
    X, y = data(seed=2)
    params = config(learner, width=16, lr=0.3, weight_decay=0.0, batch_size=len(X), epochs=1)
    (W, b), (a, c) = weights(learner.build(5, REGRESSION, params, torch_seed(np.random.default_rng(4))).net)
    ys = (y - y.mean()) / y.std()
    z = X @ W.T + b
    r = relu(z) @ a[0] + c[0] - ys
    step = 0.3 * (((2 / len(X)) * r[:, None] * (z > 0) * a[0][None, :]).T @ X)
    diag = learner.fit(X, y, params, np.random.default_rng(4), REGRESSION).diagnostics()
    assert diag["weight_change_layer1"] == pytest.approx(np.linalg.norm(step), rel=1e-4)
    assert diag["curve_train_loss"] == pytest.approx([np.mean(r ** 2)], rel=1e-5)


def test_alg1_reports_the_trained_increments_and_its_rounds(reg):
    learner = reg.get("learner", "three_layer_alg1")
    X, y = data(n=60, seed=3)
    params = config(learner, width=16, lr=0.1, epochs=4, output_draws=2)
    model = learner.fit(X, y, params, np.random.default_rng(0), REGRESSION)
    diag = model.diagnostics()
    W1, V1 = (p.detach().double().numpy() for p in (model.net.W1, model.net.V1))
    assert diag["curve_epoch"] == [1, 2, 3, 4] and len(diag["curve_train_loss"]) == 4
    assert diag["weight_change_layer1"] == pytest.approx(np.linalg.norm(W1)) and np.linalg.norm(W1) > 0
    assert diag["weight_change_layer2"] == pytest.approx(np.linalg.norm(V1)) and np.linalg.norm(V1) > 0


# --- cells, the store and bench show -----------------------------------------------------------

TINY = ["-t", "sin3", "--n", "100", "--seeds", "1", "--n-test", "200", "--jobs", "1", "--no-leaderboard"]


def test_a_real_two_layer_cell_stores_its_diagnostics_and_bench_show_prints_them(bench, tmp_path):
    code, _, err = bench("run", *TINY, "-l", "two_layer_sgd", "-p", "width=32", "-p", "lr=0.1",
                         "-p", "weight_decay=0", "-p", "epochs=5")
    assert code == 0, err
    code, _, err = bench("run", *TINY, "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0",
                         "-p", "alpha_per_n=1e-3")
    assert code == 0, err
    rows = {r["learner"]: r for r in Store(tmp_path / "store.sqlite").rows()}
    assert "diagnostics" not in rows["kernel_ridge"]["metrics"]  # no diagnostics(): nothing stored
    diag = rows["two_layer_sgd"]["metrics"]["diagnostics"]
    epochs = rows["two_layer_sgd"]["chosen_params"]["epochs"]
    assert diag["epochs_run"] == epochs and diag["curve_epoch"] == list(range(1, epochs + 1))
    assert len(diag["curve_train_loss"]) == epochs and all(v > 0 for v in diag["curve_train_loss"])
    assert "epochs_to_threshold" in diag and diag["weight_change"] > 0
    X, y = training_set(load_registry().get("task", "sin3"), 0, 100)
    assert diag["arora_complexity"] == pytest.approx(arora_complexity(X, y))

    code, out, _ = bench("show", "--verbose")  # the diagnostics under each cell's line
    assert code == 0
    line = next(l for l in out.splitlines() if l.lstrip().startswith("diagnostics:"))
    first = diag["epochs_to_threshold"]
    assert f"epochs→thr {'–' if first is None else first}/{epochs}" in line
    assert f"‖W−W0‖ {diag['weight_change']:.3g}" in line and f"complexity {diag['arora_complexity']:.3g}" in line
    code, out, _ = bench("show", "-l", "kernel_ridge", "--verbose")
    assert code == 0 and "complexity" not in out and "kernel_ridge" in out  # no empty diagnostics line

    code, out, _ = bench("show", "--format", "json")
    record = next(r for r in json.loads(out) if r["learner"] == "two_layer_sgd")
    assert record["diag_curve_train_loss"] == diag["curve_train_loss"] and "metric_diagnostics" not in record
    assert record["diag_weight_change_layer1"] == diag["weight_change_layer1"]
    code, out, _ = bench("show", "--format", "csv")
    assert "diag_curve_epoch" in out.splitlines()[0] and json.dumps(diag["curve_epoch"]) in out


def test_bench_show_lists_the_chosen_values_on_an_edge(bench, tmp_path):
    """Of two width candidates the winner is always on an edge, and random_features' width is not
    extended, so it stays there; bench show names it."""
    code, _, err = bench("run", *TINY, "-l", "random_features", "-p", "width=20,40", "-p", "ridge_per_n=1e-3")
    assert code == 0, err
    row = Store(tmp_path / "store.sqlite").rows()[0]
    width = row["chosen_params"]["width"]
    assert row["edges"] == [{"param": "width", "side": "high" if width == 40 else "low", "value": width,
                             "why": "not extended: the learner declares no search bound for it"}]
    code, out, _ = bench("show", "--verbose")
    assert code == 0 and f"on an edge of the grid: width={width} ({row['edges'][0]['side']})" in out


class _Reporting(Learner):
    name = "reporting"
    parameters = {"c": [0.0]}

    def __init__(self, report=None, **overrides):
        super().__init__(**overrides)
        self.report = report

    def fit(self, X, y, params, rng, problem):
        report = self.report

        class Model:
            def predict(self, X):
                return np.full(len(X), float(np.mean(y)))

            def diagnostics(self):
                return report

        return Model()


def test_a_plugin_models_diagnostics_are_stored_and_bad_ones_fail_the_cell_in_one_line(reg):
    task = reg.get("task", "sin3")
    ok = run_cell(CellSpec(task, _Reporting({"steps": 3, "curve": [1.0, 0.5], "none": None}), 30, 0, Protocol(n_test=50)))
    assert ok["status"] == "ok" and ok["metrics"]["diagnostics"] == {"steps": 3, "curve": [1.0, 0.5], "none": None}
    for report, words in [("fast", "returned str"), ({"note": "fast"}, "'note' are not a number"),
                          ({"arora_complexity": 1.0}, None)]:
        learner = _Reporting(report)
        if words is None:  # a name the harness computes, for a learner that asks the harness for it
            learner.data_diagnostics = ("arora_complexity",)
            words = "which the harness computes itself"
        bad = run_cell(CellSpec(task, learner, 30, 0, Protocol(n_test=50)))
        assert bad["status"] == "failed" and words in bad["error"] and "'reporting'" in bad["error"]
        assert "\n" not in bad["error"]


def test_unknown_data_diagnostics_are_refused_when_the_plugin_loads():
    learner = _Reporting()
    learner.data_diagnostics = ("vc_dimension",)
    with pytest.raises(ValueError, match="data_diagnostics names unknown vc_dimension; known: arora_complexity"):
        validate_learner(learner)
    learner.data_diagnostics = "arora_complexity"  # a string, not a tuple of names
    with pytest.raises(ValueError, match=r"must be a tuple of names, e.g. \('arora_complexity',\)"):
        validate_learner(learner)


def test_the_complexity_is_computed_before_training_and_skipped_above_its_bound(reg, monkeypatch):
    """A cell with a zero input fails before selection trains anything; above ARORA_MAX_N the
    measure is left out, the cell runs."""
    from harness.api import diagnostics

    class Zero(type(reg.get("task", "sin3"))):
        def sample(self, n, rng):
            X, y = super().sample(n, rng)
            X[0] = 0.0
            return X, y

    trained = []

    class Spy(_Reporting):
        data_diagnostics = ("arora_complexity",)

        def fit_select(self, *args):
            trained.append(1)
            return super().fit_select(*args)

    bad = run_cell(CellSpec(Zero(), Spy({}), 30, 0, Protocol(n_test=50)))
    assert bad["status"] == "failed" and "input row" in bad["error"] and not trained
    monkeypatch.setattr(diagnostics, "ARORA_MAX_N", 20)
    ok = run_cell(CellSpec(reg.get("task", "sin3"), Spy({}), 30, 0, Protocol(n_test=50)))
    assert ok["status"] == "ok" and "diagnostics" not in ok["metrics"] and trained
