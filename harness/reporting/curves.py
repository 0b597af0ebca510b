"""Stored rows grouped the way pages show them: one :class:`Curve` per learner variant, one
:class:`Variant` (a table and its plot) per task variant and protocol, and the short label
each curve is shown by."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from harness.api.learners import label, short_labels
from harness.api.tasks import Task
from harness.protocol.data import corrupt_labels, fixed_test_set


# The exponent b of error ≈ a·N^b is fitted only on means at or above this floor. A relative MSE
# of 1e-4 is an RMS error of 1% of std y: below it the error of a converged learner is set by its
# optimiser's stopping point, float32 rounding in the networks and the ridge's smallest α (1e-14
# per point), not by N — the stored quick suite's kernel_ridge curve on sin3 rises from 4e-6 to
# 2e-5 as N grows, an exponent of +2.27 that says nothing about learning. It applies to relative
# MSE only: a 0-1 error is a count of test mistakes, exact down to one mistake in the whole test
# set (1/(seeds·n_test), which can lie below 1e-4), so only its zeros (no logarithm) are left out.
EXPONENT_FLOOR = 1e-4


@dataclass
class Curve:
    """One learner's results on one task variant: scores and seconds per N, over seeds. ``label``
    is the variant's full label (its identity); ``learner`` and ``params`` (its candidate-list
    overrides) let a page show it by its short label (:func:`shown_labels`)."""

    label: str
    learner: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    scores: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    score_seeds: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))  # the seed of each score
    counts: Counter = field(default_factory=Counter)  # rows per N, any status
    seconds: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    chosen: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    stale: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))  # N → reasons
    # N → parameter → one (value, why) per ok row (seed) whose selection ended on an edge of what
    # was tried on that parameter, whatever the row chose otherwise: the chosen table aggregates
    # the seeds of an N into one row, and must say an edge was hit if any seed hit one
    edges: dict[int, dict[str, list[tuple[Any, str]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    # parameter → every candidate its cells' grids held: a parameter with one is fixed, not tuned
    candidates: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # N → one (epochs, cap, patience) per ok row whose epochs early stopping chose: the epochs the
    # chosen configuration trained and the cap it trained under (:func:`early_stopped`)
    trained: dict[int, list[tuple[int, int | None, int]]] = field(default_factory=lambda: defaultdict(list))

    def tuned(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """The part of ``chosen`` that selection decided: parameters with several candidates, or
        a value the edge search found outside the grid. The rest is the learner's fixed grid."""
        return {k: v for k, v in chosen.items()
                if len(self.candidates.get(k, ())) != 1 or json.dumps(v) not in self.candidates[k]}

    def mean(self, n: int) -> float | None:
        return float(np.mean(self.scores[n])) if self.scores.get(n) else None

    def std(self, n: int) -> float | None:
        return float(np.std(self.scores[n])) if self.scores.get(n) else None

    def below_floor(self, floor: float = EXPONENT_FLOOR) -> list[int]:
        """The N whose mean score lies below ``floor``, or is 0 (no logarithm): left out of :meth:`exponent`."""
        return [n for n in sorted(self.scores) if (m := self.mean(n)) is not None and (m < floor or m <= 0)]

    def exponent(self, floor: float = EXPONENT_FLOOR) -> float | None:
        """Least-squares slope of log(mean score) against log N over the N whose mean is positive
        and at least ``floor`` (:data:`EXPONENT_FLOOR` for a relative MSE; pages pass 0 for a 0-1
        error, whose smallest non-zero mean is a count of test mistakes); None when fewer than two
        such N remain."""
        pts = [(n, self.mean(n)) for n in sorted(self.scores)]
        pts = [(n, m) for n, m in pts if m is not None and m >= floor and m > 0]
        if len(pts) < 2:
            return None
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        return float(np.polyfit(x, y, 1)[0])


@dataclass
class Variant:
    """A task with fixed parameters and protocol: one table and one plot."""

    task: str
    params: dict[str, Any]
    protocol: dict[str, Any]
    metric: str | None = None
    curves: dict[str, Curve] = field(default_factory=dict)
    seeds: set[int] = field(default_factory=set)
    # seed → the 0-1 error of predicting the majority class of that seed's test labels (a
    # classification variant; :func:`majority_errors` fills it on first use, {} where it cannot)
    majority: dict[int, float] | None = None

    @property
    def ns(self) -> list[int]:
        return sorted({n for c in self.curves.values() for n in c.counts})

    @property
    def key(self) -> str:
        blob = json.dumps([self.params, self.protocol], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


def collect(rows: Iterable[dict[str, Any]],
            stale: Callable[[dict[str, Any]], list[str]] | None = None) -> dict[str, list[Variant]]:
    """Group store rows by task → variant → learner curve.

    Where several stored rows stand for one (variant, learner label, N, seed) — a cell re-run
    after its default grid or version changed has a new identity but the same label — only the
    newest counts. ``stale(row)`` says why a row's code has changed since it ran (see
    :func:`harness.execution.runner.staleness`); such rows are marked.
    """
    newest: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        protocol = {"n_test": r["n_test"], "val_fraction": r["val_fraction"], "task_version": r["task_version"],
                    "label_noise": r.get("label_noise") or 0.0, "input_transform": r.get("input_transform"),
                    "select_on": r.get("select_on") or "validation",
                    **({"label_sigma": r["label_sigma"]} if r.get("label_sigma") else {}),  # absent: old keys
                    **({"corrupt_test": True} if r.get("corrupt_test") else {})}
        slot = (r["task"], json.dumps(r["task_params"], sort_keys=True, default=str),
                json.dumps(protocol, sort_keys=True), label(r["learner"], r["learner_params"]), r["n"], r["seed"])
        if slot not in newest or r["created_at"] >= newest[slot]["created_at"]:
            newest[slot] = dict(r, _protocol=protocol)
    variants: dict[tuple, Variant] = {}
    for (task, params_key, protocol_key, name, n, seed), r in sorted(newest.items(), key=lambda kv: kv[0]):
        v = variants.setdefault((task, params_key, protocol_key), Variant(task, r["task_params"], r["_protocol"]))
        curve = v.curves.setdefault(name, Curve(name, r["learner"], r["learner_params"] or {}))
        curve.counts[n] += 1
        v.seeds.add(seed)
        if stale is not None:
            curve.stale[n].update(stale(r))
        if r["status"] == "ok":
            v.metric = v.metric or r["metric"]
            curve.scores[n].append(r["test_score"])
            curve.score_seeds[n].append(seed)
            curve.seconds[n].append(r["seconds"])
            chosen = json.dumps(r["chosen_params"], sort_keys=True)
            curve.chosen[n][chosen] += 1
            for k, values in (r.get("learner_grid") or {}).items():
                curve.candidates[k].update(json.dumps(v) for v in values)
            for e in r.get("edges") or []:
                curve.edges[n][e["param"]].append((e.get("value"), e.get("why") or "still improving"))
            if (run := early_stopped(r["chosen_params"], r.get("selection"))) is not None:
                curve.trained[n].append(run)
    out: dict[str, list[Variant]] = defaultdict(list)
    for v in variants.values():
        out[v.task].append(v)
    return out


def early_stopped(chosen: Mapping[str, Any] | None,
                  trials: Iterable[Mapping[str, Any]] | None) -> tuple[int, int | None, int] | None:
    """(epochs, cap, patience) of a row whose epochs early stopping chose (None for any other
    row): ``chosen["epochs"]`` is the best validation epoch of the winning trial, and the cap is
    that trial's own ``epochs``, as the row's selection recorded it — the grid's, or the larger one
    the edge search re-ran the winner with. Where several trials of the chosen configuration reached
    that epoch (a re-run with a larger cap retraces the first), the largest cap is the one that
    shows whether training went on improving. None as cap: no recorded trial matches."""
    chosen = dict(chosen or {})
    epochs, patience = chosen.pop("epochs", None), chosen.get("patience")
    if chosen.get("schedule", "early_stop") != "early_stop" or not isinstance(epochs, int) \
            or not isinstance(patience, int):
        return None
    caps = [t["params"]["epochs"] for t in trials or ()
            if t.get("best_epoch") == epochs and isinstance(t.get("params"), Mapping)
            and {k: v for k, v in t["params"].items() if k != "epochs"} == chosen]
    return epochs, max(caps, default=None), patience


def shown_labels(v: Variant) -> dict[str, str]:
    """Each curve's full label → the short label its table, plot and legend show
    (:func:`harness.api.learners.short_labels` over the variant's learners); a curve that does not say
    its learner keeps its full label."""
    short = short_labels((c.learner, c.params) for c in v.curves.values() if c.learner)
    return {c.label: short.get(c.label, c.label) if c.learner else c.label for c in v.curves.values()}


# The majority-class error of a seed's test labels, by task identity, seed, test-set size and the
# label noise of corrupted test labels: the same test set serves every N and learner of a variant,
# and every page of a build (a test set of 5000 points takes milliseconds to redraw, not nothing).
_MAJORITY: dict[str, float] = {}
_INSTALLED: dict[str, Mapping[str, Task]] = {}


def installed_tasks() -> Mapping[str, Task]:
    """The installed tasks (``Registry.tasks``), loaded once per process: what pages built
    without a registry redraw test labels from."""
    if "tasks" not in _INSTALLED:
        from harness.execution.registry import load_registry  # reporting sits above execution
        _INSTALLED["tasks"] = load_registry().tasks
    return _INSTALLED["tasks"]


class MajorityErrors:
    """The 0-1 error of always predicting the majority class of a cell's test labels — the
    classification counterpart of the mean predictor's relative MSE of 1, which the store does not
    keep. The test labels are redrawn as :func:`harness.protocol.cell._run` draws them, without
    training anything (as :class:`harness.reporting.export.ValidationLabels` redraws validation
    labels): the fixed test set of (task, seed) (``fixed_test_set``; a finite task's own
    ``test_size`` points), then, for a variant run with ``corrupt_test``, its labels corrupted at
    the variant's label-noise fraction on the ``"test-noise"`` stream, as the cell scored them.
    The majority class is that of each seed's own test labels (the error is
    1 − (count of the most frequent class) / n_test)."""

    def __init__(self, tasks: Mapping[str, Task] | None = None) -> None:
        self._tasks = tasks  # by name (Registry.tasks); None: the installed ones

    @property
    def tasks(self) -> Mapping[str, Task]:
        return installed_tasks() if self._tasks is None else self._tasks

    def of(self, v: Variant) -> dict[int, float]:
        """seed → majority-class error of each of ``v``'s seeds; {} when ``v`` is not a 0-1 error
        variant, or its test labels cannot be had exactly: its task not installed, at another
        version than the rows', a parameter it no longer takes, its data unavailable, or a
        redrawn test set whose size is not the rows' (its data changed since)."""
        task = self.tasks.get(v.task) if v.metric == "error" else None
        if task is None or task.kind != "classification" or str(task.version) != str(v.protocol.get("task_version")):
            return {}
        n_test = v.protocol["n_test"]
        noise = (v.protocol.get("label_noise") or 0.0) if v.protocol.get("corrupt_test") else 0.0
        try:
            task = task.with_params(**(v.params or {}))
            return {seed: self.error(task, seed, n_test, noise) for seed in sorted(v.seeds)}
        except Exception:  # a dataset not downloaded, a changed task, ...: no mark rather than a guess
            return {}

    @staticmethod
    def error(task: Task, seed: int, n_test: int, noise: float = 0.0) -> float:
        """The majority-class error of the test labels of (``task``, ``seed``), corrupted at
        ``noise`` on the ``"test-noise"`` stream when it is not 0 (cached)."""
        key = json.dumps([task.identity, seed, n_test, noise], sort_keys=True, default=str)
        if key not in _MAJORITY:
            _, y = fixed_test_set(task, seed, n_test)
            if len(y) != n_test:
                raise ValueError(f"the redrawn test set has {len(y)} points, the rows {n_test}")
            y = corrupt_labels(task, seed, y, noise, stream="test-noise")
            _MAJORITY[key] = float(len(y) - np.bincount(y).max()) / len(y)  # exactly a 0-1 error's k / n
        return _MAJORITY[key]


def majority_errors(v: Variant, tasks: Mapping[str, Task] | None = None) -> dict[int, float]:
    """``v.majority``, filled by :class:`MajorityErrors` over ``tasks`` (default: the installed
    ones) the first time it is asked for."""
    if v.majority is None:
        v.majority = MajorityErrors(tasks).of(v) if v.metric == "error" else {}
    return v.majority


def majority_error(v: Variant, curve: Curve, n: int) -> float | None:
    """The majority-class error a cell's mean compares with: its mean over the seeds the cell's
    mean is over (None when a seed's is unknown, or the cell has no ok seed)."""
    errors, seeds = majority_errors(v), curve.score_seeds.get(n) or []
    if not seeds or any(s not in errors for s in seeds):
        return None
    return float(np.mean([errors[s] for s in seeds]))
