"""A plugin with tiny suites for the suite and verdict tests: a linear task, fast learners, and
the helpers that fill a store with chosen scores for a suite's planned cells."""

from __future__ import annotations

import re
from typing import Callable

from harness.protocol.cell import CellSpec

SOURCE = '''
import numpy as np
from harness import Learner, Ordering, Scale, Slope, Suite, Task, hookimpl


class Line(Task):
    name, kind, description = "line", "regression", "y = x1 + noise, x ~ N(0, I_2)"

    def __init__(self, noise=0.1):
        super().__init__(noise=noise)

    def sample(self, n, rng):
        X = rng.standard_normal((n, 2))
        return X, X[:, 0] + self.params["noise"] * rng.standard_normal(n)


class Affine:
    def __init__(self, w, b):
        self.w, self.b = w, b

    def predict(self, X):
        return X @ self.w + self.b


class Ridge(Learner):
    name, description = "ridge", "least squares with a ridge"
    parameters = {"alpha": [1e-3, 1.0], "width": [1]}

    def fit(self, X, y, params, rng, problem):
        A = X.T @ X + params["alpha"] * np.eye(X.shape[1])
        return Affine(np.linalg.solve(A, X.T @ y), 0.0)


class Mean(Ridge):
    name, description = "mean", "the training mean"

    def fit(self, X, y, params, rng, problem):
        return Affine(np.zeros(X.shape[1]), float(np.mean(y)))


# Learners whose scores the tests write into the store themselves.
class A(Ridge):
    name = "a"


class B(Ridge):
    name = "b"


class C(Ridge):
    name = "c"


ORDER = Ordering(learners=("ridge", "mean"), task="line", text="least squares beats the mean",
                 source="a textbook")

TOY_A = Suite(name="toy-a", description="ridge vs mean on a line", tasks={"line": {}},
              learners={"ridge": {}, "mean": {}}, ns=(20, 40), seeds=3, n_test=200,
              scales={"paper": Scale(ns=(20, 40, 80), seeds=4, learners={"ridge": {"alpha": [1e-3]}},
                                     note="seconds")},
              claims=(ORDER, Slope(learner="ridge", at_most=0.0, text="error falls with N", source="ibid.")),
              caveats=("toy learners",))
TOY_B = Suite(name="toy-b", description="the mean alone, noisier", tasks={"line": {"noise": 0.5}},
              learners={"mean": {}, "ridge": {}}, ns=(30,), seeds=2, n_test=100,
              claims=(Ordering(learners=("mean", "ridge"), text="the mean beats least squares",
                               source="nobody"),))
TOY_C = Suite(name="toy-c", description="ridge vs mean, also selected on the test set", tasks={"line": {}},
              learners={"ridge": {}, "mean": {}}, ns=(20, 40), seeds=3, n_test=200, compare_selection=True,
              claims=(ORDER,))
SYNTH = Suite(name="synth", description="scores written by the tests", tasks={"line": {}},
              learners={"a": {}, "b": {}, "c": {}, "ridge": [{"width": [1]}, {"width": [2]}, {"width": [4]}]},
              ns=(100, 200, 400), seeds=4, n_test=50,
              claims=(Ordering(learners=("a", "b", "c"), task="line", text="a < b < c", source="test"),
                      Slope(learner="a", at_most=0.0, text="a falls with N", source="test"),
                      Slope(learner="ridge", x="width", at_most=0.0, text="wider is better", source="test")))


@hookimpl
def register_tasks(register):
    register(Line())


@hookimpl
def register_learners(register):
    for cls in (Ridge, Mean, A, B, C):
        register(cls())


@hookimpl
def register_suites(register):
    for suite in (TOY_A, TOY_B, TOY_C, SYNTH):
        register(suite)
'''


# Suites whose protocol conditions are axes (issue #13), beside the toy suites: a learner without a
# width ("kern", like a kernel beside a width sweep) and claims checked per condition and width.
CONDITIONS_SOURCE = '''
from harness import Beats, Ordering, Scale, Suite, Threshold, hookimpl
from toysuites import Ridge


class Kern(Ridge):
    name = "kern"
    parameters = {"alpha": [1.0]}


COND = Suite(name="cond", description="scores written by the tests, per label-noise condition",
             tasks={"line": {}}, learners={"a": {}, "b": {}, "c": {}, "ridge": [{"width": [1]}, {"width": [2]}],
                                           "kern": {}},
             ns=(100, 200), seeds=4, n_test=50, conditions={"label_sigma": (0.0, 0.1, 0.5)},
             scales={"paper": Scale(ns=(100,), conditions={"label_noise": (0.0, 0.5)})},
             claims=(Ordering(learners=("a", "b", "c"), task="line", text="a < b < c", source="test"),
                     Ordering(learners=("ridge", "kern"), per="width", text="ridge < kern per width", source="test"),
                     Beats(learner="a", others=("b", "c", "kern"), text="a beats the rest", source="test"),
                     Threshold(learner="ridge", at_most=0.15, text="ridge is good at the largest N", source="test"),
                     Ordering(learners=("b", "a"), conditions={"label_sigma": 0.5}, text="b < a when noisy",
                              source="test")))


COND_C = Suite(name="cond-c", description="ridge vs mean per σ, also selected on the test set", tasks={"line": {}},
               learners={"ridge": {}, "mean": {}}, ns=(20,), seeds=3, n_test=100, compare_selection=True,
               conditions={"label_sigma": (0.0, 0.5)},
               claims=(Ordering(learners=("ridge", "mean"), text="least squares beats the mean", source="test"),))


@hookimpl
def register_learners(register):
    register(Kern())


@hookimpl
def register_suites(register):
    register(COND)
    register(COND_C)
'''


def install_conditions(fake_plugin, monkeypatch) -> None:
    """Install the toy plugin and ``condsuites`` beside it (the suite ``cond``)."""
    fake_plugin("toysuites", SOURCE)
    fake_plugin("condsuites", CONDITIONS_SOURCE)
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,toysuites,condsuites")


def install(fake_plugin, monkeypatch) -> None:
    """Install the plugin as ``toysuites``, alone (no built-ins: faster, and nothing else to plan)."""
    fake_plugin("toysuites", SOURCE)
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,toysuites")


def record(spec: CellSpec, score: float | None, seconds: float = 1.5) -> dict:
    """The store row of ``spec`` with test score ``score`` (None: a failed cell)."""
    ok = score is not None
    return {"cell_id": spec.cell_id, "task": spec.task.name, "task_params": spec.task.params,
            "task_version": spec.task.version, "learner": spec.learner.name,
            "learner_params": spec.learner.overrides, "learner_version": spec.learner.version,
            "learner_grid": spec.learner.grid_spec, **spec.code, "n": spec.n, "seed": spec.seed,
            "n_test": spec.protocol.n_test, "val_fraction": spec.protocol.val_fraction,
            "label_noise": spec.protocol.label_noise, "label_sigma": spec.protocol.label_sigma,
            "input_transform": None, "select_on": "validation", "status": "ok" if ok else "failed",
            "metric": "rel_mse" if ok else None, "test_score": score, "chosen_params": {"alpha": 1.0} if ok else None,
            "error": None if ok else "RuntimeError: boom", "seconds": seconds}


def fill(store, cells: list[CellSpec], score: Callable[[CellSpec], float | None | str]) -> None:
    """Write a row for each cell: ``score(spec)`` gives its score, None for a failed cell, or
    "skip" for a cell left out of the store."""
    for spec in cells:
        s = score(spec)
        if s != "skip":
            store.put(record(spec, s))


def section(md: str, heading: str) -> str:
    """The text under the Markdown heading that starts with ``heading``, up to the next heading."""
    match = re.search(rf"^#+ {re.escape(heading)}[^\n]*\n(.*?)(?=^#+ |\Z)", md, re.S | re.M)
    assert match, f"no heading {heading!r} in:\n{md}"
    return match.group(1)


def table(md: str) -> list[dict[str, str]]:
    """The first pipe table in ``md`` as a list of {header: cell} rows."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]
