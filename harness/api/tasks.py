"""The task contract: :class:`Task` (a distribution over labelled points), :class:`FiniteTask`
(a fixed dataset) and :class:`Problem` (what a learner is told about the task).

A task only knows how to draw i.i.d. points (:meth:`Task.sample`). The harness owns every split
(:mod:`harness.protocol.data`): one fixed test set per (task, seed), and training sets that are
*nested* across N — the first N points of one long stream — so that learning curves compare like
with like.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.api.errors import BenchError

KINDS = ("regression", "classification")


class Task(abc.ABC):
    """A distribution over labelled points.

    Subclasses set the class attributes and implement :meth:`sample`. Constructor keyword
    arguments are the task's parameters (part of its identity in the store); ``__init__`` only
    stores them, scikit-learn style, and :meth:`check_params` validates them.
    """

    name: str = ""
    kind: str = "regression"  # "regression" | "classification"
    description: str = ""
    n_classes: int | None = None  # classification only
    version: str = "1"  # bump when sample() changes for the same params

    def __init__(self, **params: Any) -> None:
        self.params = dict(params)

    def check_params(self) -> None:
        """Raise :class:`BenchError` naming a parameter that is out of range."""

    def with_params(self, **overrides: Any) -> "Task":
        """A copy of this task with some parameters replaced (validated)."""
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise BenchError(
                f"task '{self.name}' has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(sorted(self.params)) or '(none)'}"
            )
        task = type(self)(**{**self.params, **overrides})
        task.check_params()
        return task

    @abc.abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` i.i.d. points: ``X`` of shape (n, d) and ``y`` of shape (n,).

        Regression labels are floats; classification labels are ints in ``0 .. n_classes-1``.
        Use only ``rng`` for randomness.
        """

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two tasks the same in the store: name, version and parameters."""
        return {"name": self.name, "version": self.version, "params": self.params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{type(self).__name__}({args})"


class FiniteTask(Task):
    """A task backed by a fixed dataset (real data). Subclasses implement :meth:`load`.

    The harness permutes the pool once per seed: the first ``test_size`` points are the test set
    and the training stream is the rest, in that order (so training sets stay nested). N cannot
    exceed ``size - test_size``.
    """

    test_size: int = 500

    @abc.abstractmethod
    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole dataset, ``X`` of shape (size, d) and ``y`` of shape (size,)."""

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` distinct points drawn at random from the dataset."""
        X, y = self.load()
        if n > len(X):
            raise BenchError(f"task '{self.name}' holds only {len(X)} points; asked for {n}")
        idx = rng.permutation(len(X))[:n]
        return X[idx], y[idx]


@dataclass(frozen=True)
class Problem:
    """What a learner is told about the task besides the data."""

    kind: str
    d: int
    n_classes: int | None = None


def validate_task(task: object) -> None:
    """Raise ``ValueError`` saying how ``task`` breaks the Task contract."""
    if not isinstance(task, Task):
        raise ValueError(f"registered {type(task).__name__!s}, which is not a harness.Task")
    if not task.name or not isinstance(task.name, str):
        raise ValueError(f"{type(task).__name__} has no name")
    if task.kind not in KINDS:
        raise ValueError(f"task '{task.name}' has kind {task.kind!r}; expected one of {KINDS}")
    if task.kind == "classification" and not (isinstance(task.n_classes, int) and task.n_classes >= 2):
        raise ValueError(f"classification task '{task.name}' must set n_classes >= 2")
    task.check_params()
