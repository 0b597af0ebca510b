"""Learner contract and the default hyper-parameter selection.

A learner declares its candidates benchopt-style, as a class attribute ``parameters`` mapping each
name to a list of values; the grid is their cartesian product (a one-element list is a fixed
setting). ``with_params`` replaces lists — that is how a suite or ``--param`` changes a learner,
and the replaced values are part of the learner's identity in the store.

A learner may also declare ``presets``: named sets of candidate lists (e.g. a paper's published
protocol) that ``bench run --preset NAME`` applies as if they were given with ``--param``
(explicit ``--param`` values still win); see :meth:`Learner.with_preset`.
"""

from __future__ import annotations

import abc
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import numpy as np

from harness.api.diagnostics import DATA_DIAGNOSTICS
from harness.api.errors import BenchError, Diverged
from harness.api.tasks import KINDS, Problem, Task


# The fixed cost of one fit in Learner.time_estimate's default: the fastest cells at N ≤ 100 in the
# committed store took 0.003–0.3 s over the built-in learners (sqlite3 leaderboards/store.sqlite
# "select learner, min(seconds) from cells where n <= 100 and status = 'ok' group by learner").
DEFAULT_FIT_SECONDS = 0.05


class Model(Protocol):
    """What ``Learner.fit`` returns: anything with ``predict(X)``.

    Optionally a model also has ``diagnostics() -> dict[str, float | int | None | list]``: how
    its training went (a training-loss curve, epochs to a loss threshold, how far the weights
    moved, ...). The harness calls it on the refit model of every cell and stores the result in
    the row's ``metrics`` under ``diagnostics`` (see :mod:`harness.api.diagnostics`), beside what
    the harness computes itself for the names in ``Learner.data_diagnostics``; values must be
    numbers, None or lists of numbers.
    """

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@dataclass
class Selection:
    """The outcome of hyper-parameter selection: the winner and every candidate tried."""

    best_params: dict[str, Any] | None
    best_score: float | None
    trials: list[dict[str, Any]] = field(default_factory=list)
    # (val_score, order, trial, what the learner chose for the refit or None) of every ok trial:
    # the winner's trial (whose params may differ from those refit, e.g. an epoch cap vs the
    # early-stopped epoch count) and the fallbacks if the winner's refit diverges
    _ok: list[tuple[float, int, dict[str, Any], dict[str, Any] | None]] = field(default_factory=list, repr=False)

    def add(self, trial: dict[str, Any], chosen: dict[str, Any] | None = None) -> None:
        """Record one trial (``params``, ``status``, ``val_score``, ...); an ``ok`` trial with the
        lowest score so far becomes the winner, refit with ``chosen`` (default: its params)."""
        self.trials.append(trial)
        if trial["status"] != "ok":
            return
        if chosen is not None:
            trial["refit"] = chosen  # what the learner chose inside the trial (e.g. early-stopped epochs)
        self._ok.append((trial["val_score"], len(self.trials), trial, chosen))
        if self.best_score is None or trial["val_score"] < self.best_score:
            self.best_params, self.best_score = _refit(trial, chosen), trial["val_score"]

    def merge(self, other: "Selection") -> None:
        """Add the trials of a further selection round (ties keep the earlier winner)."""
        chosen = {id(t): c for _, _, t, c in other._ok}
        for trial in other.trials:
            self.add(trial, chosen.get(id(trial)))

    @property
    def best_trial(self) -> dict[str, Any] | None:
        """The winning trial (as tried, before any change for the refit)."""
        ranked = sorted(self._ok, key=lambda t: (t[0], t[1]))
        return ranked[0][2] if ranked and self.best_params is not None else None

    def ranked(self) -> list[dict[str, Any]]:
        """Configurations to refit on all N, best first: the winner, then every other trial that
        trained finitely, by validation score (ties in the order tried)."""
        if self.best_params is None:
            return []
        out = [self.best_params]
        for _, _, trial, chosen in sorted(self._ok, key=lambda t: (t[0], t[1])):
            if _refit(trial, chosen) not in out:  # a configuration is refit at most once
                out.append(_refit(trial, chosen))
        return out

    def score_of(self, refit: dict[str, Any]) -> float | None:
        """The validation score of the best trial whose refit is ``refit``."""
        scores = [s for s, _, trial, chosen in self._ok if _refit(trial, chosen) == refit]
        return min(scores) if scores else None


def _refit(trial: dict[str, Any], chosen: dict[str, Any] | None) -> dict[str, Any]:
    return trial["params"] if chosen is None else chosen


def score(problem: Problem, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The selection score (lower is better): MSE for regression, 0-1 error for classification."""
    y_pred = np.asarray(y_pred)
    if y_pred.shape != y_true.shape:
        raise BenchError(f"predict returned shape {y_pred.shape}; expected {y_true.shape}")
    if problem.kind == "classification":
        return float(np.mean(y_pred != y_true))
    if not np.all(np.isfinite(y_pred)):
        raise Diverged("non-finite predictions")
    return float(np.mean((y_pred - y_true) ** 2))


class Learner(abc.ABC):
    """A learning method. Subclasses set the class attributes and implement :meth:`fit`."""

    name: str = ""
    description: str = ""
    version: str = "1"  # bump when results change for the same params
    supports: frozenset[str] = frozenset(KINDS)
    parameters: dict[str, list[Any]] = {}
    # Named sets of candidate lists, e.g. {"allen-zhu": {"momentum": [0.9], "epochs": [800]}}: every
    # key a parameter; `bench run --preset NAME` applies them (with_preset) before any --param.
    presets: dict[str, dict[str, list[Any]]] = {}
    # Parameters this learner used to have: {old name: one line saying what replaced it}, so an old
    # `--param old=...` gets that line instead of "no such parameter".
    renamed: dict[str, str] = {}
    uses_device = False  # True for learners that honour ``bench run --device`` (torch learners)
    # Numeric axes selection may extend past the grid when the winner sits on an edge, with their
    # bounds (see harness.api.search.Search); other numeric axes' edges are only reported.
    search: dict[str, Any] = {}
    discrete: frozenset[str] = frozenset()  # numeric parameters that are categories, not ordered axes
    # Diagnostics of the training set the harness computes for this learner's cells (names from
    # harness.api.diagnostics.DATA_DIAGNOSTICS, e.g. "arora_complexity" for two-layer ReLU networks).
    data_diagnostics: tuple[str, ...] = ()
    device = "cpu"

    def __init__(self, **overrides: list[Any]) -> None:
        self.overrides = {k: list(v) for k, v in overrides.items()}

    def on_device(self, device: str) -> "Learner":
        """A copy that trains on ``device`` (a torch device string). Not part of the learner's
        identity: the same method on another device is the same cell; the row records the device."""
        twin = type(self)(**self.overrides)
        twin.device = device
        return twin

    def with_params(self, **overrides: Any) -> "Learner":
        """A copy whose candidate lists for the given parameters are replaced."""
        unknown = sorted(set(overrides) - set(self.parameters))
        for key in unknown:
            if key in self.renamed:
                raise BenchError(f"learner '{self.name}': {self.renamed[key]}")
        if unknown:
            raise BenchError(
                f"learner '{self.name}' has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(sorted(self.parameters))}"
            )
        for key, values in overrides.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise BenchError(f"learner '{self.name}': {key} needs a non-empty list of candidates")
        twin = type(self)(**{**self.overrides, **{k: list(v) for k, v in overrides.items()}}).on_device(self.device)
        twin.check_params()
        return twin

    def with_preset(self, preset: str) -> "Learner":
        """A copy with the candidate lists of ``presets[preset]`` (on top of any overrides this
        learner already has; later ``with_params`` calls replace them in turn)."""
        if preset not in self.presets:
            known = ", ".join(sorted(self.presets)) or "none"
            raise BenchError(f"learner '{self.name}' has no preset {preset!r}; its presets: {known}")
        return self.with_params(**self.presets[preset])

    def check_params(self) -> None:
        """Raise :class:`BenchError` for candidate values this learner cannot use (called on
        every ``with_params`` copy, so a bad ``--param`` fails before any training)."""

    def require(self, key: str, ok: Callable[[Any], bool], what: str) -> None:
        """Check every candidate of parameter ``key`` with ``ok``; ``what`` describes a valid value."""
        bad = [v for v in self.grid_spec.get(key, []) if not _safe(ok, v)]
        if bad:
            # an example of a good value: a default candidate (the middle one) that passes the check
            good = [v for v in canonical(list(self.parameters.get(key, []))) if _safe(ok, v)]
            example = f"; e.g. -p {key}={_as_written(good[len(good) // 2])}" if good else ""
            raise BenchError(f"learner '{self.name}': {key} must be {what}, got {', '.join(map(repr, bad))}{example}")

    @property
    def grid_spec(self) -> dict[str, list[Any]]:
        """Candidate lists after overrides, each in canonical order (numbers ascending, then the
        rest by their JSON text; duplicates dropped), so the order a user lists candidates in
        changes neither a cell's identity nor its result."""
        return {k: canonical(v) for k, v in sorted({**self.parameters, **self.overrides}.items())}

    def param_grid(self, task: Task, n: int) -> list[dict[str, Any]]:
        """The configurations to select among for ``n`` samples of ``task``."""
        # scikit-learn's ParameterGrid order (keys sorted, the last varying fastest), written with
        # itertools: importing scikit-learn here delayed `bench run`'s plan line by ~1.5 s.
        spec = self.grid_spec
        return [dict(zip(spec, values)) for values in itertools.product(*spec.values())]

    def memory_estimate(self, n: int, d: int, params: dict[str, Any]) -> int:
        """Rough peak bytes this learner allocates to fit ``n`` points of dimension ``d`` with the
        configuration ``params`` and then predict (on those points and a test set of a few
        thousand), beyond the data the harness passes in.

        ``bench run`` takes the largest estimate over the grid at the largest N (its validation
        split and its refit), adds the harness's own data, and refuses before any training a
        run that the machine's available memory cannot hold (``--force`` skips the check). A
        factor of two either way is fine: the check is there to catch N² and N³ blow-ups. The
        default, 0, means unknown: then only the data is checked.
        """
        return 0

    def time_estimate(self, n: int, d: int, grid: list[dict[str, Any]]) -> float:
        """Rough seconds of one whole cell of ``n`` points of dimension ``d`` on this machine's
        CPU: selection over ``grid`` (the configurations :meth:`param_grid` gives, trained on the
        training part of the split), the refit of the winner on all ``n`` points and the
        predictions on the validation part and a test set of a few thousand points.

        ``bench run`` prints the sum over the run's cells, scheduled on its ``--jobs`` workers,
        before it trains; where the store holds timings of this learner it rescales the estimate
        by them (measured ÷ estimated at the nearest stored N), so the estimate's *shape* in n
        and the grid matters more than its constant. A run estimated over an hour asks for
        ``--yes``. A factor of two either way is fine; what the check catches is an N whose
        N² or N³ cost runs for hours. Not part of the learner's code fingerprint (editing it
        leaves stored cells current).

        The default is conservative, for a learner that says nothing: each configuration and the
        refit cost as much as a method quadratic in n (a kernel or nearest-neighbour method,
        10⁻⁹ s per pair of points) plus a linear pass and a fixed overhead.
        """
        per_fit = DEFAULT_FIT_SECONDS + 1e-7 * n * (d + 1) + 1e-9 * float(n) * n
        return (len(grid) + 1) * per_fit

    @abc.abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, params: dict[str, Any], rng: np.random.Generator,
            problem: Problem) -> Model:
        """Train on (X, y) with one configuration; deterministic given ``rng``.

        Raise :class:`harness.Diverged` when training blows up (NaN/inf).
        """

    def fit_select(self, X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray,
                   y_val: np.ndarray, grid: list[dict[str, Any]], rng: np.random.Generator,
                   problem: Problem) -> Selection:
        """Choose a configuration on (X_val, y_val). The default fits each one in turn.

        Override to train the whole grid at once, or to choose more than the grid holds (e.g.
        the number of epochs by early stopping): the returned ``best_params`` are what the
        harness refits on all N samples.
        """
        best = Selection(None, None)
        seeds = rng.integers(2**63, size=len(grid))
        for params, seed in zip(grid, seeds):
            start = time.perf_counter()
            trial: dict[str, Any] = {"params": params}
            try:
                model = self.fit(X_train, y_train, params, np.random.default_rng(seed), problem)
                trial["val_score"] = score(problem, y_val, model.predict(X_val))
                trial["status"] = "ok"
            except Diverged as exc:
                trial.update(status="diverged", val_score=None, error=str(exc))
            trial["seconds"] = time.perf_counter() - start
            best.add(trial)
        return best

    @property
    def identity(self) -> dict[str, Any]:
        """What makes two learners the same in the store: name, ``version`` and the *resolved*
        grid (every candidate list, defaults included), so a changed default grid is a new cell."""
        return {"name": self.name, "version": self.version, "grid": self.grid_spec}

    @property
    def label(self) -> str:
        """Short display name: the name, plus overrides when there are any."""
        return label(self.name, self.overrides)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.overrides})"


def canonical(values: list[Any]) -> list[Any]:
    """``values`` without duplicates, numbers first in ascending order, then the rest by JSON text."""
    def key(v: Any) -> tuple:
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool):
            return (0, float(v), "")
        return (1, 0.0, json.dumps(v, sort_keys=True, default=str))

    unique = {key(v): v for v in values}
    return [unique[k] for k in sorted(unique)]


def _value_text(values: Any) -> str:
    """One parameter's candidate list as labels write it: ``0.01/0.1`` (a lone value: itself)."""
    return "/".join(map(str, canonical(values if isinstance(values, list) else [values])))


def grid_text(overrides: dict[str, list[Any]]) -> str:
    """A learner variant's whole grid in one line: ``epochs=60, lr=0.01/0.1, width=500``."""
    return ", ".join(f"{k}={_value_text(v)}" for k, v in sorted(overrides.items()))


def label(name: str, overrides: dict[str, list[Any]]) -> str:
    """A learner variant's full label, its identity on pages: the name plus its whole grid,
    ``two_layer_sgd (lr=0.01/0.1, width=100)``. Claims name variants by it and the leaderboards
    group rows by it; pages *show* :func:`short_labels` instead."""
    if not overrides:
        return name
    return f"{name} ({grid_text(overrides)})"


# Beyond this many parameters that vary between variants of one learner, the search for the fewest
# that tell them apart (2^k subsets) stops being cheap; all of them are shown instead.
_MAX_SEARCHED_KEYS = 12


def short_labels(variants: Iterable[tuple[str, dict[str, list[Any]]]]) -> dict[str, str]:
    """Short names for the learner variants of one table: full :func:`label` → short label.

    A short label is the learner's name, followed — only when the table has several variants of
    that learner — by the fewest parameters that tell those variants apart, in the claims'
    selector form: ``three_layer_sgd[train=hidden,width=500]`` (a candidate list as in the full
    label, ``lr=0.01/0.1``; a parameter a variant does not override is left out of its brackets).
    Among equally few parameters, fixed ones (one value) win over candidate lists, then the
    alphabetically first. A learner with one variant in the table is just its name.

    Two different grids never get the same short label: the parameters are chosen so that their
    written values differ between every two variants of a learner, and two variants whose written
    grids agree everywhere have one full label, hence are one row already.
    """
    grids: dict[str, tuple[str, dict[str, list[Any]]]] = {}
    for name, overrides in variants:
        grids.setdefault(label(name, overrides), (name, dict(overrides or {})))
    by_name: dict[str, list[str]] = {}
    for full, (name, _) in grids.items():
        by_name.setdefault(name, []).append(full)
    out: dict[str, str] = {}
    for name, fulls in by_name.items():
        if len(fulls) == 1:
            out[fulls[0]] = name
            continue
        # written value of each parameter per variant (None: not overridden there)
        text = {f: {k: _value_text(v) for k, v in grids[f][1].items()} for f in fulls}
        varying = sorted(k for k in {k for t in text.values() for k in t}
                         if len({t.get(k) for t in text.values()}) > 1)
        keys = _fewest_keys(varying, text, fulls, grids)
        for f in fulls:
            shown = [f"{k}={text[f][k]}" for k in keys if k in text[f]]
            out[f] = f"{name}[{','.join(shown)}]" if shown else name
    return out


def _fewest_keys(varying: list[str], text: dict[str, dict[str, str]], fulls: list[str],
                 grids: dict[str, tuple[str, dict[str, list[Any]]]]) -> tuple[str, ...]:
    """The smallest subset of ``varying`` whose written values differ between every two variants
    (ties: fewest candidate lists, then alphabetical); all of ``varying`` when it is too long to search."""
    if len(varying) > _MAX_SEARCHED_KEYS:
        return tuple(varying)
    listed = {k for f in fulls for k, v in grids[f][1].items() if isinstance(v, list) and len(canonical(v)) > 1}
    for size in range(1, len(varying) + 1):
        fits = [keys for keys in itertools.combinations(varying, size)
                if len({tuple(text[f].get(k) for k in keys) for f in fulls}) == len(fulls)]
        if fits:
            return min(fits, key=lambda keys: (sum(k in listed for k in keys), keys))
    return tuple(varying)  # unreachable for distinct full labels: every varying key together tells them apart


def _as_written(value: Any) -> str:
    """A candidate as ``--param`` takes it back: true/false, a list in brackets without spaces."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(map(_as_written, value)) + "]"
    return str(value)


def _safe(ok: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(ok(value))
    except (TypeError, ValueError):
        return False


def is_int(lo: int) -> Callable[[Any], bool]:
    """A check for integers ≥ ``lo`` (bools excluded)."""
    return lambda v: isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= lo


def is_number(lo: float, hi: float = float("inf"), lo_open: bool = False) -> Callable[[Any], bool]:
    """A check for real numbers in [lo, hi) — (lo, hi) with ``lo_open``."""
    def ok(v: Any) -> bool:
        return (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                and (v > lo if lo_open else v >= lo) and v < hi)
    return ok


def validate_learner(learner: object) -> None:
    """Raise ``ValueError`` saying how ``learner`` breaks the Learner contract."""
    if not isinstance(learner, Learner):
        raise ValueError(f"registered {type(learner).__name__}, which is not a harness.Learner")
    if not learner.name or not isinstance(learner.name, str):
        raise ValueError(f"{type(learner).__name__} has no name")
    if not set(learner.supports) <= set(KINDS) or not learner.supports:
        raise ValueError(f"learner '{learner.name}' supports {set(learner.supports)}; expected a subset of {KINDS}")
    for key, values in {**learner.parameters, **learner.overrides}.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"learner '{learner.name}': parameters[{key!r}] must be a non-empty list")
    try:
        learner.check_params()
    except BenchError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(learner.data_diagnostics, str) or not isinstance(learner.data_diagnostics, (tuple, list)):
        raise ValueError(f"learner '{learner.name}': data_diagnostics must be a tuple of names, "
                         f"e.g. ('arora_complexity',), got {learner.data_diagnostics!r}")
    unknown = sorted(set(learner.data_diagnostics) - set(DATA_DIAGNOSTICS))
    if unknown:
        raise ValueError(f"learner '{learner.name}': data_diagnostics names unknown {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(DATA_DIAGNOSTICS))}")
    if not isinstance(learner.presets, dict):
        raise ValueError(f"learner '{learner.name}': presets must be a dict of name → {{parameter: candidates}}")
    for preset, lists in learner.presets.items():
        try:
            if not isinstance(lists, dict):
                raise BenchError("it is not a dict of parameter → candidate list")
            learner.with_preset(preset)
        except BenchError as exc:
            raise ValueError(f"learner '{learner.name}': preset {preset!r} is unusable: {exc}") from None
