"""The data of a cell, drawn from a task by the harness: one fixed test set per (task, seed), and
training sets nested across N (the first N points of one long stream), label noise and the
Zou-Gu input map. A task itself only draws i.i.d. points (:class:`harness.Task`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from harness.api.errors import BenchError
from harness.api.tasks import FiniteTask, Task

# The training stream is drawn in chunks of this many points, each from its own seed, so the
# first N points never depend on how many points a run asks for in total.
CHUNK = 1024


def stable_int(*parts: Any) -> int:
    """A 64-bit integer that depends only on ``parts`` (not on Python's hash seed)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little")


def task_rng(task: Task, seed: int, *stream: Any) -> np.random.Generator:
    """The generator for one named stream of one task identity and seed."""
    return np.random.default_rng([stable_int(task.identity), seed, *(stable_int(s) for s in stream)])


def checked_sample(task: Task, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Call ``task.sample`` and check what comes back against the task contract."""
    out = task.sample(n, rng)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise BenchError(f"task '{task.name}' sample({n}) must return a tuple (X, y), got {type(out).__name__}")
    return checked_sample_arrays(task, *out, n)


def checked_sample_arrays(task: Task, X: np.ndarray, y: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Check (X, y) of ``n`` points against the task contract; return them as arrays."""
    where = f"task '{task.name}' sample({n})"
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or X.shape[0] != n:
        raise BenchError(f"{where} returned X of shape {X.shape}; expected ({n}, d)")
    if y.shape != (n,):
        raise BenchError(f"{where} returned y of shape {y.shape}; expected ({n},)")
    if not np.issubdtype(X.dtype, np.floating) or not np.all(np.isfinite(X)):
        raise BenchError(f"{where} returned X that is not finite floats (NaN, inf or dtype {X.dtype})")
    if task.kind == "classification":
        k = task.n_classes
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k:
            raise BenchError(f"{where} returned labels that are not integers in 0..{k - 1}")
    elif not np.issubdtype(y.dtype, np.floating) or not np.all(np.isfinite(y)):
        raise BenchError(f"{where} returned y that is not finite floats (NaN, inf or dtype {y.dtype})")
    return X, y


def _finite_split(task: FiniteTask, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = task.load()
    checked = checked_sample_arrays(task, X, y, len(X))
    return (*checked, task_rng(task, seed, "permutation").permutation(len(X)))


def training_set(task: Task, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` points of the task's training stream for ``seed`` (nested across n)."""
    if isinstance(task, FiniteTask):
        X, y, perm = _finite_split(task, seed)
        available = len(X) - task.test_size
        if n > available:
            raise BenchError(f"task '{task.name}' has {available} training points (after its "
                             f"{task.test_size}-point test set); N={n} is too large")
        idx = perm[task.test_size:task.test_size + n]
        return X[idx], y[idx]
    parts = []
    for chunk in range(-(-n // CHUNK)):
        parts.append(checked_sample(task, CHUNK, task_rng(task, seed, "train", chunk)))
    X = np.concatenate([p[0] for p in parts])[:n]
    y = np.concatenate([p[1] for p in parts])[:n]
    return X, y


def fixed_test_set(task: Task, seed: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed test set for (task, seed): an independent draw, never seen by ``fit``.

    A :class:`FiniteTask` uses its own ``test_size`` points, disjoint from its training stream.
    """
    if isinstance(task, FiniteTask):
        X, y, perm = _finite_split(task, seed)
        return X[perm[:task.test_size]], y[perm[:task.test_size]]
    return checked_sample(task, n_test, task_rng(task, seed, "test"))


def corrupt_labels(task: Task, seed: int, y: np.ndarray, fraction: float, stream: str = "noise") -> np.ndarray:
    """Replace a ``fraction`` of training labels by labels independent of x (nested across N).

    ``stream`` names the seed's random streams (``"noise"`` for training labels; the test set's,
    with ``--corrupt-test``, use ``"test-noise"``, independent of them).

    Point i is corrupted when its own uniform draw is below ``fraction``, so the corrupted points
    of a smaller N are exactly those of a larger one. Classification: a uniformly random class
    (which may equal the true one, as in Arora et al.'s random labels). Regression: the label of an
    independent draw from the task (same marginal, independent of x).
    """
    if fraction <= 0:
        return y
    n = len(y)
    chunks = range(-(-n // CHUNK))
    u = np.concatenate([task_rng(task, seed, stream, c).random(CHUNK) for c in chunks])[:n]
    if task.kind == "classification":
        new = np.concatenate([task_rng(task, seed, f"{stream}-class", c).integers(task.n_classes, size=CHUNK)
                              for c in chunks])[:n].astype(y.dtype)
    elif isinstance(task, FiniteTask):
        pool = task.load()[1]
        new = pool[task_rng(task, seed, f"{stream}-label").integers(len(pool), size=n)]
    else:
        new = np.concatenate([checked_sample(task, CHUNK, task_rng(task, seed, f"{stream}-label", c))[1]
                              for c in chunks])[:n]
    return np.where(u < fraction, new, y)


# std y for --label-sigma is estimated once per task identity on this many points of a stream of
# its own (not a seed's test set), so σ is the same absolute noise level in every cell of a
# condition, whatever the seed or --n-test; its relative sampling error is ≈ 1/√(2·20000) ≈ 0.5%.
LABEL_SCALE_POINTS = 20_000


def label_scale(task: Task) -> float:
    """std y of a regression task: over a finite task's whole pool, else over
    :data:`LABEL_SCALE_POINTS` draws from a ``"label-scale"`` stream of the task's identity alone
    (no seed: independent of every seed's training and test streams, and the same for all)."""
    key = json.dumps(task.identity, sort_keys=True, default=str)
    if key not in _LABEL_SCALES:
        if isinstance(task, FiniteTask):
            y = checked_sample_arrays(task, *task.load(), len(task.load()[0]))[1]
        else:
            streams = (np.random.default_rng([stable_int(task.identity), stable_int("label-scale"), c])
                       for c in range(-(-LABEL_SCALE_POINTS // CHUNK)))
            y = np.concatenate([checked_sample(task, CHUNK, rng)[1] for rng in streams])[:LABEL_SCALE_POINTS]
        _LABEL_SCALES[key] = float(np.std(y))
    return _LABEL_SCALES[key]


_LABEL_SCALES: dict[str, float] = {}  # by task identity: a cell's task is rebuilt in each worker


def gaussian_label_noise(task: Task, seed: int, y: np.ndarray, sigma: float) -> np.ndarray:
    """Training labels plus N(0, (σ·std y)²) noise, σ = ``sigma`` a multiple of :func:`label_scale`.

    Regression only (a :class:`BenchError` for classification). Point i's noise is the i-th
    standard normal of the seed's ``"label-sigma"`` stream (drawn in chunks, like the training
    stream), so the noise of a smaller N is exactly the start of a larger one's: nested across N.
    """
    if sigma <= 0:
        return y
    if task.kind != "regression":
        raise BenchError(f"--label-sigma adds Gaussian noise to regression labels; task '{task.name}' is "
                         f"{task.kind} — use --label-noise P (a fraction of random labels) instead")
    n = len(y)
    z = np.concatenate([task_rng(task, seed, "label-sigma", c).standard_normal(CHUNK)
                        for c in range(-(-n // CHUNK))])[:n]
    return y + sigma * label_scale(task) * z


def zou_gu(X: np.ndarray, mu: float) -> np.ndarray:
    """Zou & Gu's data normalisation: x ↦ [√(1−μ²)·x/‖x‖, μ], so ‖x‖ = 1 and x_d = μ."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    scaled = np.sqrt(1.0 - mu ** 2) * X / np.where(norms > 0, norms, 1.0)
    return np.hstack([scaled, np.full((len(X), 1), mu, dtype=X.dtype)])
