"""Tuning whose answer is never a silent grid edge: the axis grows past an edge winner up to the
learner's bound; what stays on an edge is recorded, marked on the leaderboard and warned about."""

import math

import numpy as np
import pytest

from harness import Learner, Search, Selection
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry


class Const:
    def __init__(self, v):
        self.v = v

    def predict(self, X):
        return np.full(len(X), self.v)


class Bowl(Learner):
    """Predicts mean(y) + 10 + |log10(lr / best)| + width/100: validation MSE grows with the offset
    (the 10 dwarfs any train/validation mean difference), so it is smallest at lr = best."""

    name = "bowl"
    parameters = {"lr": [0.01, 0.1], "width": [10, 20]}
    search = {"lr": Search(1e-6, 100.0)}
    best = 1.0

    def fit(self, X, y, params, rng, problem):
        return Const(float(np.mean(y)) + 10 + abs(math.log10(params["lr"] / self.best)) + 0.01 * params["width"])


@pytest.fixture(scope="module")
def sin3():
    return load_registry().tasks["sin3"]


def run(sin3, learner, n=60):
    record = run_cell(CellSpec(sin3, learner, n, 0, Protocol(n_test=100)))
    assert record["status"] == "ok", record["error"]
    return record


def tried(record, key):
    return sorted({t["params"][key] for t in record["selection"]})


def test_an_edge_winner_grows_its_axis_until_the_optimum_is_inside(sin3):
    record = run(sin3, Bowl())
    assert record["chosen_params"]["lr"] == pytest.approx(1.0)
    assert tried(record, "lr") == pytest.approx([0.01, 0.1, 1.0, 10.0])  # one step past the optimum
    # width is a tuned numeric axis the learner does not declare: its edge is reported, not grown
    assert record["edges"] == [{"param": "width", "side": "low", "value": 10,
                                "why": "not extended: the learner declares no search bound for it"}]


def test_the_declared_bound_stops_the_search_and_says_so(sin3):
    learner = Bowl().with_params(width=[10])
    learner.best = 1e6  # beyond the bound 100
    record = run(sin3, learner)
    assert record["chosen_params"]["lr"] == pytest.approx(100.0) and max(tried(record, "lr")) == pytest.approx(100)
    assert record["edges"] == [{"param": "lr", "side": "high", "value": pytest.approx(100.0),
                                "why": "at its search bound 100"}]


def test_downwards_too_and_zero_is_a_natural_end(sin3):
    learner = Bowl().with_params(width=[10])
    learner.best = 1e-4
    record = run(sin3, learner)
    assert record["chosen_params"]["lr"] == pytest.approx(1e-4) and record["edges"] == []
    learner = Bowl().with_params(width=[0, 10])  # 0 wins (the smallest), but nothing lies below 0
    learner.best = 0.1
    assert run(sin3, learner)["edges"] == []


class Capped(Learner):
    """Chooses its own epoch count inside the cap, as early stopping does; improves until 150."""

    name = "capped"
    parameters = {"epochs": [100]}
    search = {"epochs": Search(1, 1000, step=2, cap=True)}

    def fit(self, X, y, params, rng, problem):
        return Const(float(np.mean(y)) + abs(params["epochs"] - 150) / 100)

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem):
        out = Selection(None, None)
        for params in grid:
            epochs = min(params["epochs"], 150)
            out.add({"params": params, "status": "ok", "val_score": 1.0 / epochs}, {"epochs": epochs})
        return out


def test_a_cap_that_early_stopping_runs_into_is_doubled(sin3):
    record = run(sin3, Capped())
    assert tried(record, "epochs") == [100, 200] and record["chosen_params"] == {"epochs": 150}
    assert record["edges"] == []


def test_edge_marks_reach_the_leaderboard_and_the_run_summary(bench, tmp_path, fake_plugin):
    fake_plugin("cb_bowl", """
        import math
        import numpy as np
        from harness import Learner, hookimpl

        class Const:
            def __init__(self, v): self.v = v
            def predict(self, X): return np.full(len(X), self.v)

        class Edgy(Learner):
            name = "edgy"
            parameters = {"width": [10, 20]}  # 10 always wins; no search bound declared
            def fit(self, X, y, params, rng, problem):
                return Const(float(np.mean(y)) + 10 + 0.01 * params["width"])

        @hookimpl
        def register_learners(register):
            register(Edgy())
    """)
    code, out, err = bench("run", "-t", "sin3", "-l", "edgy", "--ns", "30,40", "--seeds", "2", "--n-test", "50",
                           "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert code == 0, err
    assert err.count("edgy: chosen on the edge of what was tried in 4 cell(s): width (low") == 1, err[-600:]
    page = (tmp_path / "lb" / "sin3.md").read_text()
    assert "width=10 (edge)" in page and "not extended" in page


@pytest.mark.parametrize("learner, overrides", [
    ("kernel_ridge", {"kernel": ["rbf"]}),
    ("ntk", {"depth": [2]}),
    ("random_features", {"width": [50, 100]}),
    ("three_layer_sgd", {"width": [16], "epochs": [3], "patience": [2]}),
])
def test_no_built_in_learner_leaves_a_chosen_value_on_an_edge_without_saying_so(sin3, learner, overrides):
    record = run(sin3, load_registry().learners[learner].with_params(**overrides), n=80)
    trial = next(t for t in record["selection"] if t["status"] == "ok"
                 and all(t["params"][k] == v for k, v in record["chosen_params"].items() if k != "epochs"))
    marked = {e["param"] for e in record["edges"]}
    for key, value in trial["params"].items():
        values = tried(record, key)
        numeric = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numeric) >= 2 and value in (min(numeric), max(numeric)) and value != 0 and key != "depth":
            assert key in marked, (key, value, values)


class FixedLength(Capped):
    """Trains for exactly its epochs (a fixed schedule): it chooses nothing inside the cap."""

    name = "fixed_length"

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem):
        out = Selection(None, None)
        for params in grid:
            out.add({"params": params, "status": "ok", "val_score": 1.0 / params["epochs"]})
        return out


def test_a_fixed_training_length_is_not_an_edge(sin3):
    record = run(sin3, FixedLength())
    assert tried(record, "epochs") == [100] and record["edges"] == []


def test_extended_values_are_round_numbers(sin3):
    learner = Bowl().with_params(width=[10], lr=[1e-10, 1e-9])
    learner.best, learner.search = 1e-13, {"lr": Search(1e-20, 100.0)}
    assert 1e-12 in tried(run(sin3, learner), "lr")  # not 1.0000000000000002e-12


class FixedLengthBowl(Bowl):
    """A fixed training length (no choice inside the epoch cap) and an lr axis that grows: after
    the lr round wins, the epoch count must still not count as an edge (it did, and was doubled)."""

    name = "fixed_length_bowl"
    parameters = {"lr": [0.01, 0.1], "width": [10], "epochs": [60]}
    search = {"lr": Search(1e-6, 100.0), "epochs": Search(1, 1000, step=2, cap=True)}


def test_merged_rounds_do_not_make_a_fixed_length_an_edge(sin3):
    record = run(sin3, FixedLengthBowl())
    assert record["chosen_params"]["lr"] == pytest.approx(1.0)  # an lr round won …
    assert tried(record, "epochs") == [60] and record["edges"] == []  # … and epochs stayed as declared


def test_a_fallback_refit_reports_its_own_validation_score_and_each_config_is_refit_once():
    sel = Selection(None, None)
    for lr, score in ((0.1, 0.5), (0.3, 0.2), (0.1, 0.5)):
        sel.add({"params": {"lr": lr}, "status": "ok", "val_score": score})
    assert sel.ranked() == [{"lr": 0.3}, {"lr": 0.1}]
    assert sel.score_of({"lr": 0.1}) == 0.5
