"""Diagnostics recorded per cell beside the test metrics: how the refit trained, not how well it
generalises. They are stored in the row's ``metrics`` JSON under one key, ``diagnostics`` (a
flat dict of name → number, None, or list of numbers); ``bench show`` prints the main ones and
``bench show --format csv|json`` all of them as ``diag_<name>`` columns.

Two sources:

- the refit model, through an optional ``diagnostics()`` method (see :class:`harness.Model`);
  the torch SGD learners report their training curve (:func:`training_curve`) and how far their
  trained hidden weights moved from the initialisation (``weight_change``, ``weight_change_layer<i>``);
- the harness, for the names a learner lists in ``Learner.data_diagnostics``: properties of the
  training set computed before any training — today ``arora_complexity``
  (:func:`arora_complexity`, for the two-layer learners; only for N ≤ :data:`ARORA_MAX_N`).

Only the refit on all N is diagnosed: a cell with ``--select-on test`` has no refit and no
diagnostics.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from harness.api.errors import BenchError
from harness.api.tasks import KINDS, Problem

# Training-curve conventions (training_curve):
CURVE_POINTS = 50     # at most this many (log-spaced) epochs of the curve are stored
LOSS_THRESHOLD = 0.1  # regression: epochs until the training MSE is ≤ 0.1·Var(y) (relative MSE ≤ 0.1)
ERROR_THRESHOLD = 0.01  # classification: epochs until the 0-1 training error is ≤ 1%

# arora_complexity costs O(N³) time and one N × N float64 matrix (200 MB at 5000): computed for
# N up to this, left out above it.
ARORA_MAX_N = 5000
ARORA_JITTER = 1e-10  # relative ridge on H∞'s diagonal for the Cholesky solve (see arora_complexity)
_BLOCK = 512  # rows of H∞ built at a time, so the temporaries stay small beside the N × N result


def curve_epochs(epochs: int, points: int = CURVE_POINTS) -> list[int]:
    """The epochs (1-based) a curve of ``epochs`` epochs keeps: all of them up to ``points``,
    else ``points`` log-spaced ones (duplicates after rounding dropped), always the first and last."""
    if epochs <= points:
        return list(range(1, epochs + 1))
    return sorted({int(e) for e in np.rint(np.geomspace(1, epochs, points))})


def training_curve(kind: str, loss: Sequence[float], error: Sequence[float] | None = None,
                   points: int = CURVE_POINTS) -> dict[str, Any]:
    """Diagnostics of a training run from its per-epoch training loss (and 0-1 error).

    ``loss[e]`` is the training loss of epoch ``e + 1``: for regression the MSE divided by the
    training targets' variance (the MSE of standardised targets, i.e. the relative MSE), for
    classification the cross-entropy; ``error`` (required for classification) the 0-1 training
    error. Returns ``epochs_run``, the curve at :func:`curve_epochs` (``curve_epoch``,
    ``curve_train_loss`` and, for classification, ``curve_train_error``) and
    ``epochs_to_threshold``: the first epoch whose relative MSE is ≤ :data:`LOSS_THRESHOLD`
    (regression) or whose 0-1 error is ≤ :data:`ERROR_THRESHOLD` (classification), None if none.
    """
    if kind not in KINDS:
        raise BenchError(f"training_curve: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    loss = [float(v) for v in loss]
    if not loss:
        raise BenchError("training_curve: the loss curve is empty; pass one training loss per epoch")
    if kind == "classification":
        if error is None or len(error) != len(loss):
            raise BenchError("training_curve: classification needs the 0-1 training error of every epoch "
                             f"(error=...), as many values as loss ({len(loss)})")
        error = [float(v) for v in error]
    keep = curve_epochs(len(loss), points)
    watched, threshold = (error, ERROR_THRESHOLD) if kind == "classification" else (loss, LOSS_THRESHOLD)
    reached = next((e + 1 for e, v in enumerate(watched) if v <= threshold), None)
    out: dict[str, Any] = {"epochs_run": len(loss), "epochs_to_threshold": reached, "curve_epoch": keep,
                           "curve_train_loss": [loss[e - 1] for e in keep]}
    if error is not None and kind == "classification":
        out["curve_train_error"] = [error[e - 1] for e in keep]
    return out


def arora_kernel(X: np.ndarray) -> np.ndarray:
    """H∞ of Arora et al. (2019, eq. 3): the Gram matrix of the two-layer ReLU network's hidden
    layer at infinite width, H∞_ij = E_{w ~ N(0, I)} [x_iᵀx_j 1{wᵀx_i ≥ 0, wᵀx_j ≥ 0}]
    = x_iᵀx_j (π − θ_ij) / (2π), θ_ij the angle between x_i and x_j.

    For ‖x‖ = 1 (the paper's setting) θ_ij = arccos(x_iᵀx_j), the paper's formula. Other inputs
    are used as given: the expectation depends on them only through that angle, so this is the
    same H∞ without normalising x (it scales as ‖x_i‖‖x_j‖). A zero input has no angle: refused.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise BenchError(f"arora_kernel: X must be a non-empty 2-D array (n × d), got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1)
    if not np.all(norms > 0):
        raise BenchError(f"arora_kernel: input row {int(np.argmin(norms))} is zero; H∞ needs x ≠ 0 "
                         "(Arora et al. take ‖x‖ = 1)")
    n = len(X)
    H = np.empty((n, n))
    for s in range(0, n, _BLOCK):
        G = X[s:s + _BLOCK] @ X.T
        cos = np.clip(G / np.outer(norms[s:s + _BLOCK], norms), -1.0, 1.0)
        H[s:s + _BLOCK] = G * (np.pi - np.arccos(cos)) / (2 * np.pi)
    return H


def _targets(y: np.ndarray, problem: Problem | None) -> np.ndarray:
    """y as the columns of the measure: as given for regression; ±1 for two classes (class 1 is
    +1, the paper's labels); one-hot columns for more classes (one per network output)."""
    y = np.asarray(y)
    if problem is None or problem.kind == "regression":
        return np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    k = problem.n_classes or int(y.max()) + 1
    if k <= 2:
        return (2.0 * (y == 1) - 1.0)[:, None]
    return (y[:, None] == np.arange(k)[None, :]).astype(np.float64)


def arora_complexity(X: np.ndarray, y: np.ndarray, problem: Problem | None = None,
                     max_n: int = ARORA_MAX_N) -> float:
    """The complexity measure sqrt(2 yᵀ(H∞)⁻¹y / n) of Arora et al. (2019, Thm 5.1), which bounds
    the population loss of the two-layer ReLU network (first layer trained by GD, output fixed)
    and grows as labels get more random; ‖W(k) − W(0)‖_F ≤ sqrt(yᵀ(H∞)⁻¹y) + small (Lemma 5.3).

    y is used as given (the paper: |y| ≤ 1): regression targets unscaled; for classification
    (``problem``) two classes as ±1 and more classes as one-hot columns, summing yᵀ(H∞)⁻¹y over
    them. X as given: see :func:`arora_kernel` for inputs off the unit sphere.

    The solve is a Cholesky factorisation of H∞ + δI with δ = :data:`ARORA_JITTER`·tr(H∞)/n
    (H∞ is positive definite when no two inputs are parallel, Arora et al. Thm 3.1, but can be
    close to singular); if that still fails, δ grows tenfold, at most to 10⁻⁶·tr(H∞)/n. On the
    sphere H∞ is far from singular — λ_min/mean(diag) was 0.004–0.006 for n = 1000–3000 uniform
    points on S³ and 0.05 on S⁹ — and δ from 10⁻¹² to 10⁻⁸ moved the measure by < 10⁻⁶ relative.
    O(n³) time and one n × n matrix (n = 5000: 2 s, 200 MB): n above ``max_n`` is refused.
    """
    from scipy.linalg import LinAlgError, cho_factor, cho_solve  # lazily: `bench --help` stays light

    X = np.asarray(X)
    if len(X) != len(y):
        raise BenchError(f"arora_complexity: X has {len(X)} rows but y has {len(y)} labels")
    if len(X) > max_n:
        raise BenchError(f"arora_complexity: n = {len(X)} exceeds max_n = {max_n} (O(n³) time, n² memory); "
                         "pass a larger max_n to compute it anyway")
    Y = _targets(y, problem)
    n, jitter = len(X), ARORA_JITTER
    while True:
        H = arora_kernel(X)  # rebuilt on a retry: the factorisation overwrites it (one n × n matrix at a time)
        scale = float(np.trace(H)) / n
        H[np.diag_indices(n)] += jitter * scale
        try:
            # H.T: the same symmetric matrix in Fortran order, so LAPACK factorises it in place, no copy
            factor = cho_factor(H.T, lower=True, overwrite_a=True, check_finite=False)
            break
        except LinAlgError:
            if jitter >= 1e-6:
                raise BenchError("arora_complexity: H∞ is numerically singular even with a 1e-6 relative "
                                 "ridge (duplicate or parallel inputs?)") from None
            jitter *= 10
    quad = float(np.sum(Y * cho_solve(factor, Y, check_finite=False)))
    return math.sqrt(2.0 * max(quad, 0.0) / n)


def _arora(X: np.ndarray, y: np.ndarray, problem: Problem) -> float | None:
    return arora_complexity(X, y, problem) if len(X) <= ARORA_MAX_N else None


# What Learner.data_diagnostics may name: name → f(X, y, problem), None where it does not apply.
DATA_DIAGNOSTICS: dict[str, Callable[[np.ndarray, np.ndarray, Problem], Any]] = {"arora_complexity": _arora}


def data_diagnostics(names: Sequence[str], X: np.ndarray, y: np.ndarray, problem: Problem) -> dict[str, Any]:
    """The harness-computed diagnostics ``names`` of the training set (X, y); those that do not
    apply (e.g. N above a bound) are left out."""
    values = {name: DATA_DIAGNOSTICS[name](X, y, problem) for name in names}
    return {k: v for k, v in values.items() if v is not None}


def _valid(value: Any) -> bool:
    number = lambda v: v is None or (isinstance(v, (int, float, np.number)) and not isinstance(v, bool))  # noqa: E731
    return number(value) or (isinstance(value, (list, tuple)) and all(number(v) for v in value))


def collect(model: Any, computed: dict[str, Any], learner: str) -> dict[str, Any]:
    """The diagnostics of a cell: ``model.diagnostics()`` if the model has it, and the harness's
    ``computed`` ones; checked to be a dict of name → number, None or list of numbers."""
    method = getattr(model, "diagnostics", None)
    reported = method() if callable(method) else {}
    if not isinstance(reported, dict):
        raise BenchError(f"learner '{learner}': diagnostics() returned {type(reported).__name__}; "
                         "it must return a dict of name → number, None or list of numbers")
    bad = [k for k, v in reported.items() if not isinstance(k, str) or not _valid(v)]
    if bad:
        raise BenchError(f"learner '{learner}': diagnostics() value(s) for {', '.join(map(repr, bad))} are not "
                         "a number, None or a list of numbers; return only those")
    clash = sorted(set(reported) & set(computed))
    if clash:
        raise BenchError(f"learner '{learner}': diagnostics() reports {', '.join(clash)}, which the harness "
                         "computes itself; rename it")
    return {**{k: list(v) if isinstance(v, tuple) else v for k, v in reported.items()}, **computed}
