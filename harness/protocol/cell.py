"""One cell of the benchmark grid — (task, learner, N, seed) — run under the fair protocol.

1. Draw the nested training set (first N points of the seed's stream) and the fixed test set.
2. Split the N points into train / validation; the learner selects its configuration there.
3. Refit the chosen configuration on all N points; score it on the test set, which no learner
   method ever receives. The refit model's diagnostics (harness.api.diagnostics) go with the metrics.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import learners, tasks
from harness.api.checkpoints import cell_checkpoints
from harness.api.diagnostics import collect, data_diagnostics
from harness.api.errors import BenchError, Diverged, one_line
from harness.api.learners import Learner, score
from harness.api.tasks import Problem, Task
from harness.protocol import data, edges
from harness.protocol.data import (corrupt_labels, fixed_test_set, gaussian_label_noise, stable_int, task_rng,
                                   training_set, zou_gu)
from harness.protocol.edges import refine
from harness.protocol.fingerprint import code_fingerprint, fingerprint_functions

STATUSES = ("ok", "diverged", "failed", "timeout")
SELECT_ON = ("validation", "test")


@dataclass(frozen=True)
class Protocol:
    """Evaluation settings shared by every cell of a run (part of each cell's identity)."""

    n_test: int = 5000
    val_fraction: float = 0.2
    label_noise: float = 0.0  # fraction of training labels replaced (see data.corrupt_labels)
    # additive Gaussian noise on regression training labels, std label_sigma · std y
    # (see data.gaussian_label_noise; std y from data.label_scale); the test set stays clean
    label_sigma: float = 0.0
    zou_gu_mu: float | None = None  # map inputs to ||x|| = 1 with x_d = mu (see data.zou_gu)
    # corrupt the test labels too, the same fraction label_noise (Arora et al. 2019, App. A: "train
    # and test alike"); our default keeps the test set clean (see data.corrupt_labels)
    corrupt_test: bool = False
    # "validation" (ours) or "test": train every configuration on all N and report the best test
    # score, as Allen-Zhu, Li & Liang (2019, §7) report their figures — optimistic, and labelled so.
    select_on: str = "validation"

    def check(self) -> None:
        if not (isinstance(self.n_test, int) and self.n_test > 0):
            raise BenchError(f"--n-test must be a positive integer, got {self.n_test!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise BenchError(f"--val-fraction must lie strictly between 0 and 1, got {self.val_fraction!r}")
        if not 0.0 <= self.label_noise <= 1.0:
            raise BenchError(f"--label-noise must lie in [0, 1], got {self.label_noise!r}")
        if not (isinstance(self.label_sigma, (int, float)) and 0.0 <= self.label_sigma < float("inf")):
            raise BenchError(f"--label-sigma must be a finite number ≥ 0 (a multiple of std y, e.g. 0.1), "
                             f"got {self.label_sigma!r}")
        if not isinstance(self.corrupt_test, bool):
            raise BenchError(f"--corrupt-test is a switch (true or false), got {self.corrupt_test!r}")
        if self.zou_gu_mu is not None and not 0.0 < self.zou_gu_mu < 1.0:
            raise BenchError(f"--zou-gu-mu must lie strictly between 0 and 1, got {self.zou_gu_mu!r}")
        if self.select_on not in SELECT_ON:
            raise BenchError(f"--select-on must be one of {', '.join(SELECT_ON)}, got {self.select_on!r}")

    @property
    def input_transform(self) -> str | None:
        return None if self.zou_gu_mu is None else f"zou_gu(mu={self.zou_gu_mu:g})"

    def check_task(self, task: Task) -> None:
        """Raise :class:`BenchError` when this protocol cannot run on ``task`` (before any training)."""
        if self.label_sigma and task.kind != "regression":
            raise BenchError(f"--label-sigma adds Gaussian noise to regression labels; task '{task.name}' is "
                             f"{task.kind} — use --label-noise P (a fraction of random labels) instead")

    def min_n(self) -> int:
        """Smallest N that leaves at least one training and one validation point."""
        return 2


@dataclass(frozen=True)
class CellSpec:
    """Everything needed to run one cell, picklable for worker processes."""

    task: Task
    learner: Learner
    n: int
    seed: int
    protocol: Protocol
    provenance: tuple[tuple[str, str], ...] = ()  # (key, value) pairs recorded with the row
    # (folder, minutes): checkpoint the cell's training into folder/<cell_id> every so many minutes
    # (harness.api.checkpoints); not part of the identity, like the provenance
    checkpoints: tuple[str, float] | None = None

    @property
    def code(self) -> dict[str, str]:
        """Fingerprints of the code this cell runs (see :mod:`harness.protocol.fingerprint`); recorded with
        the row, not part of the identity, so a stored cell whose code changed is found and
        reported as stale rather than silently missed or reused."""
        return {"learner_code": code_fingerprint(self.learner), "task_code": code_fingerprint(self.task),
                "harness_code": harness_fingerprint()}

    @property
    def key(self) -> dict[str, Any]:
        return {
            "task": self.task.identity,
            "learner": self.learner.identity,
            "n": self.n,
            "seed": self.seed,
            "protocol": {"n_test": self.protocol.n_test, "val_fraction": self.protocol.val_fraction,
                         **({"label_noise": self.protocol.label_noise} if self.protocol.label_noise else {}),
                         **({"label_sigma": self.protocol.label_sigma} if self.protocol.label_sigma else {}),
                         **({"corrupt_test": True} if self.protocol.corrupt_test else {}),
                         **({"input_transform": self.protocol.input_transform}
                            if self.protocol.input_transform else {}),
                         **({"select_on": self.protocol.select_on} if self.protocol.select_on != "validation" else {})},
        }

    @property
    def cell_id(self) -> str:
        blob = json.dumps(self.key, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def describe(self) -> str:
        return f"{self.task.name} · {self.learner.label} · N={self.n} · seed {self.seed}"


def split_indices(n: int, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation split of ``range(n)``; both parts non-empty for n >= 2."""
    n_val = min(max(1, int(round(val_fraction * n))), n - 1)
    perm = rng.permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def test_metrics(problem: Problem, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[str, dict[str, float]]:
    """Primary metric name and all test metrics: relative MSE (MSE / Var y) or 0-1 error."""
    if problem.kind == "classification":
        err = score(problem, y_true, y_pred)
        return "error", {"error": err}
    mse = score(problem, y_true, y_pred)
    var = float(np.var(y_true))
    return "rel_mse", {"mse": mse, "rel_mse": mse / var if var > 0 else float("nan")}


def _set_threads(threads: int | None, torch_learner: bool = False) -> None:
    # Workers × threads must not exceed the cores, for torch's intra-op pool and for every BLAS
    # and OpenMP pool alike (numpy's and scipy's OpenBLAS, torch's and scikit-learn's libgomp).
    # threadpoolctl (a scikit-learn dependency) caps the pools loaded now, numpy's and scipy's
    # loaded first; the variables cap the ones a learner loads later (each reads them when it is
    # loaded). Torch when a learner loaded it or is a torch learner (``uses_device``), which
    # imports torch only inside fit: runs without torch learners stay torch-free.
    # The caps hold for the rest of the process: a worker's cells.
    if not threads:
        return
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    threadpool_limits(limits=threads)
    if torch_learner and "torch" not in sys.modules:
        import torch  # noqa: F401
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class CellTimeout(BaseException):
    """Raised inside a cell that outlives ``--cell-timeout`` (a BaseException, so that a
    plugin's ``except Exception`` cannot swallow it)."""


@contextmanager
def _deadline(seconds: float | None):
    """Raise :class:`CellTimeout` in this (main) thread after ``seconds`` of wall time."""
    if not seconds:
        yield
        return

    def expire(signum, frame):
        raise CellTimeout(f"exceeded --cell-timeout of {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cell_record(spec: CellSpec) -> dict[str, Any]:
    """The store record of ``spec`` before it runs: its identity and provenance, status
    ``failed`` with no scores (what a cell whose worker died is stored as)."""
    task, learner, n, seed = spec.task, spec.learner, spec.n, spec.seed
    return {
        "cell_id": spec.cell_id, "task": task.name, "task_params": task.params, "task_version": task.version,
        "learner": learner.name, "learner_params": learner.overrides, "learner_version": learner.version,
        "learner_grid": learner.grid_spec, **spec.code,
        "n": n, "seed": seed, "n_test": spec.protocol.n_test, "val_fraction": spec.protocol.val_fraction,
        "label_noise": spec.protocol.label_noise, "label_sigma": spec.protocol.label_sigma,
        "corrupt_test": int(spec.protocol.corrupt_test),
        "input_transform": spec.protocol.input_transform,
        "select_on": spec.protocol.select_on,
        "status": "failed", "metric": None, "test_score": None, "train_score": None, "val_score": None,
        "metrics": {}, "chosen_params": None, "selection": [], "error": None,
        "host": socket.gethostname(), **dict(spec.provenance),
    }


def run_cell(spec: CellSpec, threads: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """Run one cell and return its store record; never raises for a learner or task failure.

    ``timeout`` (seconds) stops the cell and records it as ``timeout``; it relies on SIGALRM,
    so it applies where cells run in a process's main thread (in-process and joblib workers).
    """
    _set_threads(threads, spec.learner.uses_device)
    record = cell_record(spec)
    start, before = time.perf_counter(), 0.0
    try:
        with _deadline(timeout), _checkpointed(spec) as cell:
            before = 0.0 if cell is None else cell.before  # a resumed cell's time before the cut
            _run(spec, record)
    except CellTimeout as exc:
        record.update(status="timeout", error=str(exc))
    except Diverged as exc:
        record.update(status="diverged", error=one_line(exc))
    except Exception as exc:  # recorded, not raised: one bad cell never stops the run
        record.update(status="failed", error=one_line(exc))
    record["seconds"] = before + time.perf_counter() - start
    return record


def checkpoint_folder(spec: CellSpec) -> Path | None:
    """Where ``spec``'s checkpoints go (None: not checkpointed)."""
    return None if spec.checkpoints is None else Path(spec.checkpoints[0]) / spec.cell_id


def checkpoint_identity(spec: CellSpec) -> dict[str, Any]:
    """What a checkpoint of ``spec`` must have been written for to be resumed: the cell's key (task,
    learner grid, N, seed, protocol) and its code fingerprints."""
    return {"key": spec.key, "code": spec.code}


def _checkpointed(spec: CellSpec):
    if spec.checkpoints is None:
        return nullcontext()
    return cell_checkpoints(checkpoint_folder(spec), checkpoint_identity(spec), spec.checkpoints[1],
                            spec.describe())


def _run(spec: CellSpec, record: dict[str, Any]) -> None:
    """The protocol itself; fills ``record`` in place."""
    task, learner, n, seed = spec.task, spec.learner, spec.n, spec.seed
    X, y = training_set(task, seed, n)
    X_test, y_test = fixed_test_set(task, seed, spec.protocol.n_test)
    record["n_test"] = len(y_test)  # a finite dataset has its own test-set size
    y = corrupt_labels(task, seed, y, spec.protocol.label_noise)  # training labels ...
    if spec.protocol.corrupt_test:  # ... and, as Arora et al. do, the test labels (streams of their own)
        y_test = corrupt_labels(task, seed, y_test, spec.protocol.label_noise, stream="test-noise")
    y = gaussian_label_noise(task, seed, y, spec.protocol.label_sigma)  # likewise
    if spec.protocol.zou_gu_mu is not None:
        X, X_test = zou_gu(X, spec.protocol.zou_gu_mu), zou_gu(X_test, spec.protocol.zou_gu_mu)
    problem = Problem(task.kind, X.shape[1], task.n_classes)
    if spec.protocol.select_on == "test":
        _select_on_test(spec, record, X, y, X_test, y_test, problem)
        return
    computed = data_diagnostics(learner.data_diagnostics, X, y, problem)  # before training: fails early
    tr, va = split_indices(n, spec.protocol.val_fraction, task_rng(task, seed, "split", n))
    rng, grid = _rng_and_grid(spec)
    selection, edges = refine(learner, learner.fit_select(X[tr], y[tr], X[va], y[va], grid, rng, problem),
                              lambda more: learner.fit_select(X[tr], y[tr], X[va], y[va], more, rng, problem))
    record["selection"] = selection.trials
    record["edges"] = [e.record() for e in edges]
    record["val_score"] = selection.best_score
    if selection.best_params is None:
        record.update(status="diverged", error="every configuration diverged during selection")
        return
    # Refit on all N, best validated configuration first; one whose refit diverges gives way to
    # the next best, so a single unlucky refit does not throw away a cell that trained finitely.
    refit_failures = []
    for params in selection.ranked():
        try:
            model = learner.fit(X, y, params, rng, problem)
            metric, metrics = test_metrics(problem, y_test, model.predict(X_test))
            _, train = test_metrics(problem, y, model.predict(X))
            exploded(problem, train)
        except Diverged as exc:
            refit_failures.append({"params": params, "error": one_line(exc)})
            continue
        metrics.update({f"train_{k}": v for k, v in train.items()})
        diagnostics = collect(model, computed, learner.name)
        if diagnostics:
            metrics["diagnostics"] = diagnostics
        record.update(status="ok", chosen_params=params, metric=metric, test_score=metrics[metric],
                      train_score=train[metric], metrics=metrics, refit_failures=refit_failures,
                      val_score=selection.score_of(params) if refit_failures else selection.best_score)
        return
    record.update(status="diverged", refit_failures=refit_failures,
                  error=f"the refit on all N diverged for every one of the {len(refit_failures)} "
                        f"configuration(s) that trained finitely on the validation split")


# A refit whose relative training MSE exceeds this fits its own training set 1000 times worse than
# their mean does: it diverged without reaching inf/NaN (seen: a finite-width NTK refit at lr 0.02,
# half the lr that diverged outright, ending at relative training MSE 4.5e7 on teacher3, N = 250).
EXPLODED = 1e3


def exploded(problem: Problem, train: dict[str, float]) -> None:
    """Raise :class:`Diverged` when a regression refit's relative training MSE is above
    :data:`EXPLODED` (classification errors are bounded by 1 and never explode)."""
    if problem.kind == "regression" and train.get("rel_mse", 0.0) > EXPLODED:
        raise Diverged(f"the refit's relative training MSE is {train['rel_mse']:.3g} (> {EXPLODED:g}: "
                       f"it fits its training set worse than their mean by that factor)")


def _rng_and_grid(spec: CellSpec) -> tuple[np.random.Generator, list[dict[str, Any]]]:
    learner, task = spec.learner, spec.task
    rng = np.random.default_rng([stable_int(learner.identity), stable_int(task.identity), spec.seed, spec.n])
    grid = learner.param_grid(task, spec.n)
    if not grid:
        raise BenchError(f"learner '{learner.name}' returned an empty parameter grid for N={spec.n}")
    return rng, grid


def _select_on_test(spec: CellSpec, record: dict[str, Any], X: np.ndarray, y: np.ndarray,
                    X_test: np.ndarray, y_test: np.ndarray, problem: Problem) -> None:
    """The paper's way: every configuration trains on all N and the best *test* score is the
    result (no refit: the score reported is the one the choice was made on)."""
    rng, grid = _rng_and_grid(spec)
    learner = spec.learner
    selection, edges = refine(learner, learner.fit_select(X, y, X_test, y_test, grid, rng, problem),
                              lambda more: learner.fit_select(X, y, X_test, y_test, more, rng, problem))
    record["selection"] = selection.trials
    record["edges"] = [e.record() for e in edges]
    if selection.best_params is None:
        record.update(status="diverged", error="every configuration diverged")
        return
    if problem.kind == "classification":
        metric, metrics = "error", {"error": selection.best_score}
    else:
        var = float(np.var(y_test))
        metric, metrics = "rel_mse", {"mse": selection.best_score,
                                      "rel_mse": selection.best_score / var if var > 0 else float("nan")}
    record.update(status="ok", chosen_params=selection.best_params, metric=metric, test_score=metrics[metric],
                  val_score=selection.best_score, metrics=metrics)


@lru_cache(maxsize=1)
def harness_fingerprint() -> str:
    """``protocol+<hash>`` of the code of the functions that define the protocol (the list below).
    Not the package version: a release that changes only the CLI or the pages leaves results
    current. A function that moves keeps its hash; one added to the list changes it."""
    return fingerprint_functions([
        _run, exploded, _rng_and_grid, _select_on_test, split_indices, test_metrics,
        learners.Learner.fit_select, learners.Learner.param_grid, learners.Learner.grid_spec.fget,
        learners.canonical, learners.Selection, learners._refit, learners.score, edges.edges,
        edges._next, edges.refine, data.training_set, data.fixed_test_set, data._finite_split,
        data.corrupt_labels, data.gaussian_label_noise, data.label_scale, data.zou_gu, data.task_rng,
        data.stable_int, data.checked_sample, data.checked_sample_arrays, tasks.FiniteTask.sample,
    ], "protocol")
