"""The fair protocol of one cell: what the learner sees, how selection and failures are recorded."""

import numpy as np
import pytest

from harness import Diverged, Learner
from harness.protocol.cell import CellSpec, Protocol, run_cell
from harness.execution.registry import load_registry
from harness.protocol.data import fixed_test_set, training_set


@pytest.fixture(scope="module")
def sin3():
    return load_registry().tasks["sin3"]


class Mean:
    def __init__(self, value):
        self.value = value

    def predict(self, X):
        return np.full(len(X), self.value)


class Spy(Learner):
    """Predicts a constant; records every array handed to fit and fit_select."""

    name = "spy"
    parameters = {"shift": [0.0, 1.0, 5.0]}
    seen: list = []

    def fit(self, X, y, params, rng, problem):
        Spy.seen.append(X.copy())
        return Mean(float(np.mean(y)) + params["shift"])

    def fit_select(self, X_train, y_train, X_val, y_val, grid, rng, problem):
        Spy.seen.extend([X_train.copy(), X_val.copy()])
        return super().fit_select(X_train, y_train, X_val, y_val, grid, rng, problem)


def rows(X):
    return {r.tobytes() for r in X}


def test_learner_sees_only_the_n_training_points_never_the_test_set(sin3):
    Spy.seen = []
    spec = CellSpec(sin3, Spy(), n=60, seed=2, protocol=Protocol(n_test=500, val_fraction=0.25))
    record = run_cell(spec)
    assert record["status"] == "ok", record["error"]
    X_n, _ = training_set(sin3, 2, 60)
    X_test, _ = fixed_test_set(sin3, 2, 500)
    X_train, X_val = Spy.seen[0], Spy.seen[1]
    assert len(X_val) == 15 and len(X_train) == 45
    assert rows(X_train) | rows(X_val) == rows(X_n) and not rows(X_train) & rows(X_val)
    for X in Spy.seen:
        assert rows(X) <= rows(X_n)
        assert not rows(X) & rows(X_test)
    # the refit uses all N points
    assert rows(Spy.seen[-1]) == rows(X_n)


def test_selection_picks_the_best_validation_score_and_records_every_trial(sin3):
    record = run_cell(CellSpec(sin3, Spy(), n=200, seed=0, protocol=Protocol(n_test=2000)))
    assert record["chosen_params"] == {"shift": 0.0}  # the mean beats a shifted mean
    assert [t["params"]["shift"] for t in record["selection"]] == [0.0, 1.0, 5.0]
    scores = [t["val_score"] for t in record["selection"]]
    assert scores[0] < scores[1] < scores[2]
    # a constant predictor's relative test MSE is ~1 (MSE of the mean / Var y)
    assert record["metric"] == "rel_mse"
    assert record["test_score"] == pytest.approx(1.0, abs=0.05)
    assert record["metrics"]["mse"] == pytest.approx(record["test_score"] * np.var(fixed_test_set(sin3, 0, 2000)[1]))


class Fragile(Spy):
    name = "fragile"
    parameters = {"shift": [0.0, 1.0], "mode": ["ok"]}

    def fit(self, X, y, params, rng, problem):
        if params["mode"] == "raise":
            raise RuntimeError("boom\nsecond line")
        if params["mode"] == "diverge" or params["shift"] == 0.0:
            raise Diverged("loss became nan")
        return Mean(float(np.mean(y)) + params["shift"])


def test_diverged_configurations_are_skipped_in_selection(sin3):
    record = run_cell(CellSpec(sin3, Fragile(), n=50, seed=0, protocol=Protocol(n_test=100)))
    assert record["status"] == "ok"
    assert record["chosen_params"]["shift"] == 1.0
    assert [t["status"] for t in record["selection"]] == ["diverged", "ok"]


def test_all_diverged_is_recorded_as_diverged(sin3):
    record = run_cell(CellSpec(sin3, Fragile(mode=["diverge"]), n=50, seed=0, protocol=Protocol(n_test=100)))
    assert record["status"] == "diverged" and record["test_score"] is None


def test_a_raising_learner_is_recorded_as_failed_with_one_line(sin3):
    record = run_cell(CellSpec(sin3, Fragile(mode=["raise"]), n=50, seed=0, protocol=Protocol(n_test=100)))
    assert record["status"] == "failed"
    assert record["error"] == "RuntimeError: boom"


def test_cell_identity_depends_on_everything_that_changes_the_result(sin3):
    base = CellSpec(sin3, Spy(), 100, 0, Protocol())
    variants = [CellSpec(sin3, Spy(), 200, 0, Protocol()), CellSpec(sin3, Spy(), 100, 1, Protocol()),
                CellSpec(sin3, Spy(shift=[2.0]), 100, 0, Protocol()), CellSpec(sin3, Spy(), 100, 0, Protocol(n_test=10))]
    ids = {base.cell_id, *(v.cell_id for v in variants)}
    assert len(ids) == 5
    assert CellSpec(sin3, Spy(), 100, 0, Protocol()).cell_id == base.cell_id


def test_a_refit_that_explodes_without_reaching_inf_falls_back_to_the_next_best(tmp_path):
    """A refit fitting its own training set 1000× worse than their mean (relative training MSE
    above harness.protocol.cell.EXPLODED) diverged, even with finite numbers: the next-best configuration
    is refit instead, and the fallback is recorded."""
    import numpy as np

    from harness import Learner
    from harness.protocol.cell import EXPLODED, Protocol, run_cell
    from harness.execution.registry import load_registry
    from harness.execution.runner import plan

    class Blows(Learner):
        name = "blows"
        parameters = {"scale": [1.0, 2.0]}

        def fit(self, X, y, params, rng, problem):
            mean, n_fit = float(np.mean(y)), len(y)
            blow = params["scale"] == 1.0 and n_fit > 100  # fine on the validation split, explodes on all N

            class Model:
                def predict(self, Z):
                    return np.full(len(Z), mean + (1e4 * np.std(y) if blow else 0.0))
            return Model()

    task = load_registry().tasks["sin3"]
    spec = plan([task], [Blows()], [120], [0], Protocol(n_test=200))[0]
    record = run_cell(spec)
    assert record["status"] == "ok" and record["chosen_params"] == {"scale": 2.0}
    assert len(record["refit_failures"]) == 1 and record["refit_failures"][0]["params"] == {"scale": 1.0}
    assert "relative training MSE" in record["refit_failures"][0]["error"] and EXPLODED == 1e3
    assert record["train_score"] == pytest.approx(1.0, rel=1e-9)  # the mean predictor
