"""Stored rows grouped the way pages show them: one :class:`Curve` per learner variant, one
:class:`Variant` (a table and its plot) per task variant and protocol, and the short label
each curve is shown by."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from harness.api.learners import label, short_labels


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
            curve.seconds[n].append(r["seconds"])
            chosen = json.dumps(r["chosen_params"], sort_keys=True)
            curve.chosen[n][chosen] += 1
            for k, values in (r.get("learner_grid") or {}).items():
                curve.candidates[k].update(json.dumps(v) for v in values)
            for e in r.get("edges") or []:
                curve.edges[n][e["param"]].append((e.get("value"), e.get("why") or "still improving"))
    out: dict[str, list[Variant]] = defaultdict(list)
    for v in variants.values():
        out[v.task].append(v)
    return out


def shown_labels(v: Variant) -> dict[str, str]:
    """Each curve's full label → the short label its table, plot and legend show
    (:func:`harness.api.learners.short_labels` over the variant's learners); a curve that does not say
    its learner keeps its full label."""
    short = short_labels((c.learner, c.params) for c in v.curves.values() if c.learner)
    return {c.label: short.get(c.label, c.label) if c.learner else c.label for c in v.curves.values()}
