"""The batched grid (plugins/learners/nets/batched.py) against one-configuration-at-a-time training.

The reference is :func:`torch_training.train` — ``nn.Linear`` layers, ``torch.optim.SGD``,
``MultiStepLR``, one network at a time — which shares no training code with the batched program
(``vmap`` over stacked weights, the SGD update written out per row). Fixed seeds must give the
same trajectories up to float32 rounding: a batched matrix product sums in another order, so the
check is rtol 1e-5 on validation scores, training-loss curves and ‖W − W(0)‖, and 1e-4 on
predictions (a few dozen SGD steps amplify rounding a little), with equal early-stopped epochs,
statuses and chosen configuration. The halving schedule is checked against scikit-learn's own
``HalvingGridSearchCV``.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import BenchError, Problem
from harness.execution.registry import load_registry
from plugins.learners.nets import batched
from plugins.learners.nets.sgd_learner import SGDNetLearner
from plugins.learners.nets.torch_training import torch_seed

RTOL = 1e-5
RTOL_PRED = 1e-4


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def data(kind: str, n: int = 90, n_val: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + n_val, 4))
    if kind == "regression":
        y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 3.0  # an offset: standardisation is part of what is checked
        problem = Problem("regression", 4)
    else:
        y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.3)
        problem = Problem("classification", 4, 3)
    return X[:n], y[:n], X[n:], y[n:], problem


def learner(registry, name: str, **params):
    base = dict(width=[12], epochs=[8], patience=[2], batch_size=[16], lr=[0.03, 0.3], weight_decay=[0.0, 1e-2])
    return registry.learners[name].with_params(**{**base, **params})


def loop_fit_select(lrn, *args):
    """The one-configuration-at-a-time fit_select (the code path before batching)."""
    class Loop(type(lrn)):
        batchable = False
    twin = Loop(**lrn.overrides)
    return SGDNetLearner.fit_select(twin, *args)


def assert_same_selection(a, b):
    assert [t["status"] for t in a.trials] == [t["status"] for t in b.trials]
    for ta, tb in zip(a.trials, b.trials):
        assert ta["params"] == tb["params"]
        if ta["status"] == "ok":
            assert ta["best_epoch"] == tb["best_epoch"]
            np.testing.assert_allclose(ta["val_score"], tb["val_score"], rtol=RTOL)
        else:
            assert ta["error"] == tb["error"]
    assert a.best_params == b.best_params
    assert a.ranked() == b.ranked()


@pytest.mark.parametrize("name", ["two_layer_sgd", "three_layer_sgd"])
@pytest.mark.parametrize("train", ["all", "hidden", "last"])
@pytest.mark.parametrize("schedule", ["early_stop", "step"])
@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_batched_matches_loop(registry, name, train, schedule, kind):
    X, y, Xv, yv, problem = data(kind)
    lrn = learner(registry, name, train=[train], schedule=[schedule], momentum=[0.0, 0.9])
    grid = lrn.param_grid(None, len(X))
    assert lrn.batchable and len(grid) == 8
    fast = lrn.fit_select(X, y, Xv, yv, grid, np.random.default_rng(1), problem)
    slow = loop_fit_select(lrn, X, y, Xv, yv, grid, np.random.default_rng(1), problem)
    assert all(t["batched"] == 8 for t in fast.trials)  # one program for the whole grid
    assert_same_selection(fast, slow)


@pytest.mark.parametrize("name,kind,schedule", [("three_layer_sgd", "regression", "early_stop"),
                                                ("two_layer_sgd", "classification", "step"),
                                                ("three_layer_ntk", "regression", "early_stop"),
                                                ("two_layer_ntk", "classification", "early_stop")])
def test_models_and_diagnostics_match_train(registry, name, kind, schedule):
    """Each configuration's model as it leaves the program = train_network's: predictions, the
    per-epoch training loss and 0-1 error, ‖W − W(0)‖_F per layer (the finite NTK: vmap of its jvp)."""
    X, y, Xv, yv, problem = data(kind)
    lrn = learner(registry, name, schedule=[schedule], momentum=[0.0, 0.9])
    grid = lrn.param_grid(None, len(X))
    rng = np.random.default_rng(5)
    members = batched.train_batched(lrn, X, y, Xv, yv, grid, [torch_seed(rng) for _ in grid], problem)
    rng = np.random.default_rng(5)
    X_test = np.random.default_rng(9).normal(size=(40, 4))
    for params, member in zip(grid, members):
        alone = lrn.train_network(X, y, params, rng, problem, X_val=Xv, y_val=yv, patience=int(params["patience"]))
        got = member.result
        assert got.best_epoch == alone.best_epoch
        np.testing.assert_allclose(got.best_val, alone.best_val, rtol=RTOL)
        np.testing.assert_allclose(got.model.train_loss, alone.model.train_loss, rtol=RTOL)
        np.testing.assert_allclose(got.model.train_error, alone.model.train_error, rtol=RTOL)
        assert got.model.weight_change.keys() == alone.model.weight_change.keys() and alone.model.weight_change
        for key, value in alone.model.weight_change.items():
            np.testing.assert_allclose(got.model.weight_change[key], value, rtol=RTOL_PRED)
        if kind == "classification":
            np.testing.assert_allclose(got.model.outputs(X_test), alone.model.outputs(X_test), rtol=RTOL_PRED, atol=1e-5)
        else:
            np.testing.assert_allclose(got.model.predict(X_test), alone.model.predict(X_test), rtol=RTOL_PRED)


@pytest.mark.parametrize("kind,schedule,momentum", [("regression", "early_stop", [0.0]),
                                                    ("classification", "step", [0.0, 0.9]),
                                                    ("regression", "step", [0.9])])
def test_row_by_row_update_matches_loop(registry, monkeypatch, kind, schedule, momentum):
    """Large stacked weights are updated one row (configuration) at a time, a ReLU net's weight by
    one addmm_ of δᵀh into it or its momentum buffer; force that path on every parameter here
    (the tiny nets above take the broadcast one)."""
    monkeypatch.setattr(batched, "ROW_UPDATE", 1)
    X, y, Xv, yv, problem = data(kind)
    lrn = learner(registry, "three_layer_sgd", schedule=[schedule], momentum=momentum)
    grid = lrn.param_grid(None, len(X))
    fast = lrn.fit_select(X, y, Xv, yv, grid, np.random.default_rng(7), problem)
    assert_same_selection(fast, loop_fit_select(lrn, X, y, Xv, yv, grid, np.random.default_rng(7), problem))


def test_divergence_is_per_configuration(registry):
    """A configuration whose loss blows up leaves with the loop's message; the others go on."""
    X, y, Xv, yv, problem = data("regression")
    lrn = learner(registry, "three_layer_sgd", lr=[0.01, 30.0], weight_decay=[0.0])
    grid = lrn.param_grid(None, len(X))
    fast = lrn.fit_select(X, y, Xv, yv, grid, np.random.default_rng(2), problem)
    slow = loop_fit_select(lrn, X, y, Xv, yv, grid, np.random.default_rng(2), problem)
    assert [t["status"] for t in fast.trials] == ["ok", "diverged"]
    assert_same_selection(fast, slow)


def test_grid_of_two_architectures(registry):
    """Widths split the grid into two programs; seeds are still drawn in grid order."""
    X, y, Xv, yv, problem = data("regression")
    lrn = learner(registry, "two_layer_sgd", width=[6, 10])
    grid = lrn.param_grid(None, len(X))
    fast = lrn.fit_select(X, y, Xv, yv, grid, np.random.default_rng(3), problem)
    assert sorted(t["batched"] for t in fast.trials) == [4] * 8
    assert_same_selection(fast, loop_fit_select(lrn, X, y, Xv, yv, grid, np.random.default_rng(3), problem))


def test_algorithm1_stays_a_loop(registry):
    assert not registry.learners["three_layer_alg1"].batchable
    assert registry.learners["three_layer_sgd"].batchable and registry.learners["three_layer_ntk"].batchable


@pytest.mark.parametrize("n_configs,epochs", [(2, 100), (3, 100), (8, 100), (8, 37), (18, 800), (5, 800)])
def test_halving_schedule_is_scikit_learns(n_configs, epochs):
    """(epoch, keep) per budget = HalvingGridSearchCV's n_resources_ and n_candidates_ for
    factor 2, min_resources="exhaust", with epochs as the resource."""
    from sklearn.dummy import DummyRegressor
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X = np.zeros((epochs + 10, 1))
    search = HalvingGridSearchCV(DummyRegressor(strategy="constant"), {"constant": list(range(n_configs))},
                                 factor=2, min_resources="exhaust", max_resources=epochs, cv=2, scoring="neg_mean_squared_error",
                                 aggressive_elimination=False).fit(X, np.zeros(len(X)))
    expected = [(r, c) for r, c in zip(search.n_resources_, search.n_candidates_[1:]) if r < epochs]
    assert batched.halving_rungs(n_configs, epochs) == expected


def test_halving_drops_the_worst_by_validation_loss(registry):
    """At the first budget r the halved configurations are the worst by best validation loss up to
    r — taken from train() run alone for r epochs (regression: the score is the loss); the
    survivors' results equal those of the run without halving (same trajectories)."""
    X, y, Xv, yv, problem = data("regression", n=120)
    lrn = learner(registry, "three_layer_sgd", epochs=[16], patience=[16], lr=[0.003, 0.01, 0.03, 0.1],
                  weight_decay=[0.0, 1e-2])
    grid = lrn.param_grid(None, len(X))
    rungs = batched.halving_rungs(len(grid), 16)
    assert rungs == [(2, 4), (4, 2), (8, 1)]
    halved = lrn.with_params(halving=[True])
    grid_h = halved.param_grid(None, len(X))
    on = halved.fit_select(X, y, Xv, yv, grid_h, np.random.default_rng(4), problem)
    off = lrn.fit_select(X, y, Xv, yv, grid, np.random.default_rng(4), problem)
    rng = np.random.default_rng(4)
    at_r = [lrn.train_network(X, y, {**p, "epochs": 2}, rng, problem, X_val=Xv, y_val=yv, patience=16).best_val
            for p in grid]
    worst_first = set(np.argsort(at_r, kind="stable")[4:])
    assert {i for i, t in enumerate(on.trials) if t.get("halved_at") == 2} == worst_first
    for t_on, t_off in zip(on.trials, off.trials):
        if "halved_at" not in t_on:  # trained to the end: the run without halving's result
            assert t_on["best_epoch"] == t_off["best_epoch"]
            np.testing.assert_allclose(t_on["val_score"], t_off["val_score"], rtol=RTOL)
        else:  # early stopping: its best epoch so far, a valid refit, never better than a survivor's
            assert t_on["status"] == "ok" and t_on["best_epoch"] <= t_on["halved_at"]
    assert sum("halved_at" not in t for t in on.trials) == 1
    assert "halved_at" not in on.best_trial  # regression: a halved config's best loss was already beaten


def test_halving_under_the_step_schedule(registry):
    """With the step schedule a halved configuration has not had its lr drop: it is recorded as
    'halved' (not a refit candidate); the survivors end as without halving."""
    X, y, Xv, yv, problem = data("classification")
    lrn = learner(registry, "two_layer_sgd", schedule=["step"], epochs=[12])
    on = lrn.with_params(halving=[True]).fit_select(X, y, Xv, yv, lrn.with_params(halving=[True]).param_grid(None, 90),
                                                    np.random.default_rng(6), problem)
    off = lrn.fit_select(X, y, Xv, yv, lrn.param_grid(None, 90), np.random.default_rng(6), problem)
    statuses = [t["status"] for t in on.trials]
    assert statuses.count("halved") == 3 and statuses.count("ok") == 1
    for t_on, t_off in zip(on.trials, off.trials):
        if t_on["status"] == "ok":
            np.testing.assert_allclose(t_on["val_score"], t_off["val_score"], rtol=RTOL)
        else:
            assert t_on["error"].startswith(f"halved at epoch {t_on['halved_at']} (validation loss")


def test_halving_option_errors_and_identity(registry):
    base = registry.learners["three_layer_sgd"]
    with pytest.raises(BenchError, match="halving takes one value per run"):
        base.with_params(halving=[False, True])
    with pytest.raises(BenchError, match="halving must be true or false"):
        base.with_params(halving=["yes"])
    with pytest.raises(BenchError, match="no parameter 'halving'"):
        registry.learners["three_layer_alg1"].with_params(halving=[True])
    # off (the default) is the cell it was before the option existed; on is another cell
    assert "halving" not in base.identity["grid"] and "halving" not in base.with_params(halving=[False]).identity["grid"]
    assert base.with_params(halving=[True]).identity["grid"]["halving"] == [True]


def test_schedule_factors_follow_multisteplr():
    """lr/10 from epoch epochs//2 + 1 on (epoch 401 of 800), as the step schedule documents."""
    factors = batched.schedule_factors("step", 800)
    assert factors[:400] == [1.0] * 400 and all(abs(f - 0.1) < 1e-15 for f in factors[400:])
    assert batched.schedule_factors("early_stop", 3) == [1.0, 1.0, 1.0]


def test_architecture_groups_all_but_the_sgd_hyper_parameters():
    same = batched.architecture({"lr": 1, "weight_decay": 0, "momentum": 0, "width": 3})
    assert same == batched.architecture({"lr": 2, "weight_decay": 1e-4, "momentum": 0.9, "width": 3})
    assert same != batched.architecture({"lr": 1, "weight_decay": 0, "momentum": 0, "width": 4})
