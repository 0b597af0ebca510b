"""Paper claims, checked on stored results: HOLDS, FAILS or NOT SEPARABLE, with the numbers.

A suite declares its claims (:class:`Ordering`, :class:`Slope`); each is checked on the suite's
cells alone, one seed-level test score per (condition, learner, N, seed):

- ``Ordering(learners=[a, b, c])`` — "a < b < c in test error". Per condition and N, for each
  consecutive pair, the differences score(a) − score(b) paired by seed (a seed missing on either
  side is dropped and counted), their mean and 95% t-interval over the paired seeds. The pair
  HOLDS when the interval lies entirely below 0, FAILS entirely above, and is NOT SEPARABLE when
  it crosses 0 or fewer than 2 seeds pair up. The chain at an N FAILS if any pair fails, HOLDS if
  every pair holds, else it is NOT SEPARABLE.
- ``Slope(learner, x="n", at_most=0)`` — the least-squares slope of log score against log x (x = N,
  or a learner parameter such as the width of a sweep written as learner variants), over every
  seed-level point, with a 95% interval from its standard error and the t quantile on n − 2
  degrees of freedom. HOLDS when the interval lies on the claimed side of the threshold, FAILS
  when it lies on the other side, NOT SEPARABLE otherwise.

- ``Beats(learner=a, others=[b, c])`` — "a < b and a < c": the same paired check for each pair.
- ``Threshold(learner, at_most=0.05)`` — the mean score at the largest N (or ``n=``) over the seeds,
  with its 95% t-interval: HOLDS when the interval lies below ``at_most``, FAILS above it.

Checks run per condition: a task variant, with the suite's protocol conditions (e.g. "sin3,
σ = 0.1·std y"), and, for ``Ordering``/``Beats`` with ``per="width"``, per value of a learner
parameter ("sin3, width=256"); a verdict line with several conditions states each one.

A claim's overall status is FAILS if any of its checks fails, HOLDS if every check holds, else
NOT SEPARABLE; its summary line says where each status was found ("HOLDS at N ≥ 500; NOT
SEPARABLE at N = 250"). Intervals are per check, not adjusted for the number of checks.
"""

from __future__ import annotations

import abc
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

if TYPE_CHECKING:
    from .suites import Grid

HOLDS, FAILS, NOT_SEPARABLE = "HOLDS", "FAILS", "NOT SEPARABLE"
LEVEL = 0.95


@dataclass(frozen=True)
class Point:
    """One stored cell as a claim sees it; ``score`` is None unless the cell finished ok."""

    task: str
    condition: str  # how the task variant and protocol are named on the page ("sin3", "mixtures (k=4)")
    settings: dict[str, Any]  # task parameters and protocol options, for a claim's ``conditions``
    learner: str  # the learner's name
    label: str  # the learner variant's label (name plus overrides)
    fixed: dict[str, Any]  # the variant's single-valued parameters (its width in a width sweep)
    n: int
    seed: int
    score: float | None
    train_score: float | None = None  # the cell's training score (relative MSE or 0-1 error), for WidthNeeded
    diagnostics: dict[str, Any] = field(default_factory=dict)  # the cell's diagnostics, for Trend and Tracks
    grid: dict[str, Any] = field(default_factory=dict)  # the variant's candidate-list overrides, for its short label


@dataclass
class Check:
    """One interval and its verdict: a pair at one N, or a slope."""

    condition: str
    n: int | None  # None: across N (a slope against N)
    what: str  # "a − b", or "slope of log three_layer_sgd vs log N"
    count: int  # paired seeds, or points in the regression
    dropped: int  # seeds missing on one side, or points that could not be logged
    estimate: float | None  # mean difference, or slope
    lo: float | None
    hi: float | None
    status: str
    note: str = ""
    unit: str = "seed(s)"  # what ``count`` counts: paired seeds, or regression points


@dataclass
class ClaimResult:
    """What a claim came to on the stored results."""

    claim: "Claim"
    status: str
    summary: str
    checks: list[Check] = field(default_factory=list)
    grids: dict[str, str] = field(default_factory=dict)  # full label → the short label the checks show for it

    def line(self) -> str:
        """The one-line verdict: status, the claim as checked, and where each status was found."""
        return f"**{self.status}** — {self.claim.statement()}: {self.summary}"


@dataclass(frozen=True, kw_only=True)
class Claim(abc.ABC):
    """A paper's claim: ``text`` says it in words, ``source`` cites where the paper makes it.

    ``task`` limits the claim to one task of the suite (None: each of them); ``conditions``
    further to the variants whose task parameters and protocol options (``label_noise``,
    ``select_on``, ...) have these values. Each matching variant is checked on its own.
    """

    text: str
    source: str
    task: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)

    @abc.abstractmethod
    def statement(self) -> str:
        """The claim as the check reads it, e.g. ``a < b < c on sin3``."""

    @abc.abstractmethod
    def learner_refs(self) -> list[str]:
        """The learners (names, labels or selectors) the claim compares."""

    def check(self, grid: "Grid") -> None:
        """Raise ``ValueError`` when the claim names a task or learner the grid does not run."""
        names = {name for name, _ in grid.tasks}
        if self.task is not None and self.task not in names:
            raise ValueError(f"claim '{self.statement()}' names task '{self.task}', which suite "
                             f"'{grid.suite}' does not run at scale '{grid.scale}'")
        for ref in self.learner_refs():
            if not _grid_matches(ref, grid):
                raise ValueError(f"claim '{self.statement()}' names learner '{ref}', which suite "
                                 f"'{grid.suite}' does not run at scale '{grid.scale}' (it runs: "
                                 f"{', '.join(grid.labels)})")

    @abc.abstractmethod
    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        """Check the claim on ``points`` (the suite's stored cells)."""

    def _conditions(self, points: Iterable[Point]) -> dict[str, list[Point]]:
        out: dict[str, list[Point]] = defaultdict(list)
        for p in points:
            if self.task is not None and p.task != self.task:
                continue
            if any(p.settings.get(k) != v for k, v in self.conditions.items()):
                continue
            out[p.condition].append(p)
        return dict(out)  # in the order the suite plans them (its conditions, then its tasks)

    def _where(self) -> str:
        where = f" on {self.task}" if self.task else ""
        if self.conditions:
            where += " (" + ", ".join(f"{k}={v}" for k, v in sorted(self.conditions.items())) + ")"
        return where


def parse_ref(ref: str) -> tuple[str, dict[str, str]]:
    """A learner reference: a name, or ``name[key=value,...]`` selecting the variants whose
    single-valued parameters have those values (``three_layer_sgd[train=hidden]``)."""
    name, bracket, rest = ref.partition("[")
    if not bracket:
        return ref, {}
    if not rest.endswith("]") or "=" not in rest:
        raise ValueError(f"learner reference {ref!r}: write NAME or NAME[key=value,...]")
    return name, dict(part.strip().split("=", 1) for part in rest[:-1].split(","))


def _selects(ref: str, name: str, single: dict[str, Any]) -> bool:
    """Whether ``ref`` selects a learner ``name`` whose single-valued parameters are ``single``."""
    want, filters = parse_ref(ref)
    return want == name and all(k in single and str(single[k]) == v for k, v in filters.items())


def _grid_matches(ref: str, grid: "Grid") -> list[str]:
    """Labels of the grid's learner variants that ``ref`` names (by label, name or selector)."""
    if ref in grid.labels:
        return [ref]
    return [lab for lab, (n, ov) in zip(grid.labels, grid.learners)
            if _selects(ref, n, {k: v[0] for k, v in ov.items() if len(v) == 1})]


def _matches(ref: str, p: Point, by_label: bool) -> bool:
    return p.label == ref if by_label else _selects(ref, p.learner, p.fixed)


def point_labels(points: Iterable[Point]) -> dict[str, str]:
    """Each point's full label → its short label among the learner variants of ``points``
    (:func:`harness.learners.short_labels`); a point that does not carry its grid keeps its label."""
    from .learners import label, short_labels

    points = list(points)
    known = {p.label: (p.learner, p.grid) for p in points if label(p.learner, p.grid) == p.label}
    short = short_labels(known.values())
    return {p.label: short.get(p.label, p.label) for p in points}


def _variant_names(ref: str, points: list[Point], grids: dict[str, str]) -> dict[str, str]:
    """label → how a check names that variant of ``ref``: ``ref`` itself when it matches one
    variant, else ``ref`` with the fixed parameters that tell its variants apart
    (``two_layer_sgd[train=hidden] (width=256)``) rather than every parameter of the label; variants
    told apart only by candidate lists go by their short labels, recorded in ``grids`` (full → short)
    for the legend under the claim's table."""
    fixed = {p.label: p.fixed for p in points}
    if len(fixed) == 1:
        return {label: ref for label in fixed}
    keys = sorted({k for f in fixed.values() for k in f if len({repr(g.get(k)) for g in fixed.values()}) > 1})
    if not keys:  # told apart only by candidate lists: their short labels are the names
        short = point_labels(points)
        grids.update({label: short[label] for label in fixed if short[label] != label})
        return {label: short[label] for label in fixed}
    return {label: f"{ref} ({', '.join(f'{k}={f.get(k)}' for k in keys)})" for label, f in fixed.items()}


def _by_label(ref: str, points: list[Point]) -> bool:
    """A reference is a variant's label when some point carries it, else a learner's name."""
    return any(p.label == ref for p in points)


def _grid_variants(ref: str, grid: "Grid") -> list[tuple[str, dict[str, Any]]]:
    """(label, single-valued parameters) of the grid's learner variants that ``ref`` names."""
    labels = set(_grid_matches(ref, grid))
    return [(lab, {k: v[0] for k, v in ov.items() if len(v) == 1})
            for lab, (n, ov) in zip(grid.labels, grid.learners) if lab in labels]


@dataclass(frozen=True, kw_only=True)
class _Pairwise(Claim):
    """A claim made of pairs "a < b in test error", each checked per condition and N by the
    differences paired by seed. ``per`` (a learner parameter, e.g. ``"width"`` or ``"epochs"``)
    checks the pairs once per value of it: a reference then names one variant per value (a
    learner without that parameter, e.g. a kernel beside a width sweep, is in every group), and
    the condition names the value (``sin3, width=256``)."""

    per: str | None = None

    @abc.abstractmethod
    def pairs(self) -> list[tuple[str, str]]:
        """The (a, b) pairs, each claimed as a < b."""

    def _where(self) -> str:
        return super()._where() + (f", per {self.per}" if self.per else "")

    def check(self, grid: "Grid") -> None:
        super().check(grid)
        for ref in self.learner_refs():
            variants = _grid_variants(ref, grid)
            groups: dict[str, list[str]] = defaultdict(list)
            for lab, single in variants:
                groups[str(single.get(self.per, "")) if self.per else ""].append(lab)
            crowded = next((labs for labs in groups.values() if len(labs) > 1), None)
            if crowded:
                per = f" per {self.per}" if self.per else ""
                raise ValueError(f"claim '{self.statement()}': suite '{grid.suite}' runs {len(crowded)} "
                                 f"variants of '{ref}'{per}; name one by its label ({', '.join(crowded)}) "
                                 f"or by NAME[key=value]" + ("" if self.per else ", or check one per value with per="))

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        refs = self.learner_refs()
        checks = []
        groups = self._conditions(points)
        for condition, pts in groups.items():
            ref_label = {ref: _by_label(ref, pts) for ref in refs}
            mine = {ref: [p for p in pts if _matches(ref, p, ref_label[ref]) and p.score is not None] for ref in refs}
            values = [None]
            if self.per:
                values = sorted({p.fixed[self.per] for ps in mine.values() for p in ps if self.per in p.fixed},
                                key=lambda v: (str(type(v)), v)) or [None]
            for value in values:
                scores: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)  # (ref, N) → seed → score
                for ref, ps in mine.items():
                    for p in ps:
                        if value is None or self.per not in p.fixed or p.fixed[self.per] == value:
                            scores[(ref, p.n)][p.seed] = p.score
                where = condition if value is None else f"{condition}, {self.per}={value}"
                for n in sorted({p.n for p in pts}):
                    for a, b in self.pairs():
                        checks.append(paired(where, n, a, b, scores[(a, n)], scores[(b, n)]))
        return _result(self, checks, by_n=True, named=_named(groups))


@dataclass(frozen=True, kw_only=True)
class Ordering(_Pairwise):
    """``learners[0] < learners[1] < ...`` in test error, at every N (see the module docstring).

    Name each learner by its name, or, when the suite runs several variants of it, by its
    variant's label (``two_layer_sgd (width=100)``) or a selector of its fixed parameters
    (``three_layer_sgd[train=hidden]``, ``three_layer_sgd[train=hidden,width=256]``); or give
    ``per="width"`` to check the chain once per width.
    """

    learners: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "learners", tuple(self.learners))
        if len(self.learners) < 2:
            raise ValueError("an Ordering needs at least two learners")

    def statement(self) -> str:
        return " < ".join(self.learners) + self._where()

    def learner_refs(self) -> list[str]:
        return list(self.learners)

    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.learners, self.learners[1:]))


@dataclass(frozen=True, kw_only=True)
class Beats(_Pairwise):
    """``learner`` < each of ``others`` in test error, at every N: one paired check per other
    learner (e.g. a network against every kernel); it HOLDS at an N when every pair holds."""

    learner: str
    others: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "others", tuple(self.others))
        if not self.others or self.learner in self.others:
            raise ValueError("Beats needs at least one other learner, and not the learner itself")

    def statement(self) -> str:
        return f"{self.learner} < each of {', '.join(self.others)}" + self._where()

    def learner_refs(self) -> list[str]:
        return [self.learner, *self.others]

    def pairs(self) -> list[tuple[str, str]]:
        return [(self.learner, o) for o in self.others]


@dataclass(frozen=True, kw_only=True)
class Threshold(Claim):
    """The mean test score of ``learner`` at N = ``n`` (default: the suite's largest N) lies below
    ``at_most``: per condition and learner variant, the mean over seeds and its 95% t-interval;
    HOLDS when the interval lies below ``at_most``, FAILS above, else NOT SEPARABLE."""

    learner: str
    at_most: float
    n: int | None = None

    def statement(self) -> str:
        at = "the largest N" if self.n is None else f"N = {self.n}"
        return f"mean {self.learner} error at {at} < {self.at_most:g}" + self._where()

    def learner_refs(self) -> list[str]:
        return [self.learner]

    def check(self, grid: "Grid") -> None:
        super().check(grid)
        if self.n is not None and self.n not in grid.ns:
            raise ValueError(f"claim '{self.statement()}': suite '{grid.suite}' does not run N = {self.n} at "
                             f"scale '{grid.scale}' (its N: {', '.join(map(str, grid.ns))})")

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        checks, grids = [], {}
        groups = self._conditions(points)
        for condition, pts in groups.items():
            by_label = _by_label(self.learner, pts)
            mine = [p for p in pts if _matches(self.learner, p, by_label)]
            if not mine:
                continue
            n = max(p.n for p in pts) if self.n is None else self.n
            names = _variant_names(self.learner, mine, grids)
            for lab in sorted(names):
                scores = {p.seed: p.score for p in mine if p.label == lab and p.n == n and p.score is not None}
                checks.append(level(condition, n, f"mean {names[lab]}", scores, self.at_most))
        return _result(self, checks, by_n=True, named=_named(groups), grids=grids)


@dataclass(frozen=True, kw_only=True)
class Slope(Claim):
    """The slope of log test score against log ``x`` lies at most ``at_most`` (or at least
    ``at_least``); give exactly one. ``x="n"`` fits the learner's learning curve over N (one
    slope per variant of the learner); any other ``x`` is a learner parameter that the suite
    varies across variants of ``learner`` (a width sweep), fitted at each N. ``log_score=False``
    fits the score itself against log ``x`` (a 0-1 error that reaches 0 cannot be logged)."""

    learner: str
    x: str = "n"
    at_most: float | None = None
    at_least: float | None = None
    log_score: bool = True

    def __post_init__(self) -> None:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("a Slope needs exactly one of at_most= and at_least=")

    @property
    def threshold(self) -> tuple[str, float]:
        return ("≤", self.at_most) if self.at_most is not None else ("≥", self.at_least)

    def statement(self) -> str:
        op, value = self.threshold
        x = "N" if self.x == "n" else self.x
        log = "log " if self.log_score else ""
        return f"slope of {log}{self.learner} error vs log {x} {op} {value:g}" + self._where()

    def learner_refs(self) -> list[str]:
        return [self.learner]

    def check(self, grid: "Grid") -> None:
        super().check(grid)
        if self.x != "n":
            variants = _grid_matches(self.learner, grid)
            if len(variants) < 2:
                raise ValueError(f"claim '{self.statement()}': suite '{grid.suite}' runs one variant of "
                                 f"'{self.learner}' at scale '{grid.scale}'; a slope against {self.x} needs several")

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        op, threshold = self.threshold
        log = "log " if self.log_score else ""
        checks, grids = [], {}
        groups = self._conditions(points)
        for condition, pts in groups.items():
            if self.x == "n":
                by_label = _by_label(self.learner, pts)
                mine = [p for p in pts if _matches(self.learner, p, by_label)]
                names = _variant_names(self.learner, mine, grids)
                for lab in sorted(names):
                    xy = [(p.n, p.score) for p in mine if p.label == lab and p.score is not None]
                    checks.append(slope(condition, None, f"slope of {log}{names[lab]} vs log N", xy, op, threshold,
                                        self.log_score))
            else:
                mine = [p for p in pts if _matches(self.learner, p, False) and self.x in p.fixed]
                for n in sorted({p.n for p in mine}):
                    xy = [(p.fixed[self.x], p.score) for p in mine if p.n == n and p.score is not None]
                    checks.append(slope(condition, n, f"slope of {log}{self.learner} vs log {self.x}", xy, op,
                                        threshold, self.log_score))
        return _result(self, checks, by_n=self.x != "n", named=_named(groups), grids=grids)


def t_interval(values: list[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and two-sided ``level`` t-interval of the mean (n − 1 degrees of freedom)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    from scipy import stats  # lazily, like every heavy import on the CLI's start-up path

    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def paired(condition: str, n: int, a: str, b: str, scores_a: dict[int, float], scores_b: dict[int, float]) -> Check:
    """The check of ``a < b`` at one N: differences paired by seed, their mean and t-interval."""
    seeds = sorted(set(scores_a) & set(scores_b))
    dropped = len(set(scores_a) ^ set(scores_b))
    what = f"{a} − {b}"
    note = f"{dropped} seed(s) with a result on one side only, left out" if dropped else ""
    if len(seeds) < 2:
        mean = float(np.mean([scores_a[s] - scores_b[s] for s in seeds])) if seeds else None
        return Check(condition, n, what, len(seeds), dropped, mean, None, None, NOT_SEPARABLE,
                     "; ".join(filter(None, ["fewer than 2 paired seeds", note])))
    mean, lo, hi = t_interval([scores_a[s] - scores_b[s] for s in seeds])
    return Check(condition, n, what, len(seeds), dropped, mean, lo, hi, decide(lo, hi, "≤", 0.0), note)


def level(condition: str, n: int, what: str, scores: dict[int, float], at_most: float) -> Check:
    """The check of "the mean score lies below ``at_most``": mean over seeds and its t-interval."""
    if len(scores) < 2:
        mean = float(np.mean(list(scores.values()))) if scores else None
        return Check(condition, n, what, len(scores), 0, mean, None, None, NOT_SEPARABLE, "fewer than 2 seeds")
    mean, lo, hi = t_interval(list(scores.values()))  # equal scores (e.g. no error at all): [mean, mean]
    return Check(condition, n, what, len(scores), 0, mean, lo, hi, decide(lo, hi, "≤", at_most))


def slope(condition: str, n: int | None, what: str, xy: list[tuple[float, float]], op: str,
          threshold: float, log_y: bool = True) -> Check:
    """The check of a log-log slope (``log_y=False``: y against log x) against ``threshold``
    (``op``: "≤" or "≥")."""
    ok = [(x, y) for x, y in xy if x > 0 and (y > 0 or not log_y)]
    dropped = len(xy) - len(ok)
    note = f"{dropped} point(s) ≤ 0 cannot be logged, left out" if dropped else ""
    if len(ok) < 3 or len({x for x, _ in ok}) < 2:
        return Check(condition, n, what, len(ok), dropped, None, None, None, NOT_SEPARABLE,
                     "; ".join(filter(None, [note, "fewer than 3 points at 2 distinct x"])), "point(s)")
    from scipy import stats  # lazily

    ys = np.array([y for _, y in ok], dtype=float)
    if np.ptp(ys) == 0:  # every score equal (e.g. no error anywhere): flat, exactly (scipy gives NaN)
        return Check(condition, n, what, len(ok), dropped, 0.0, 0.0, 0.0, decide(0.0, 0.0, op, threshold),
                     "; ".join(filter(None, [note, "every score equal"])), "point(s)")
    fit = stats.linregress(np.log([x for x, _ in ok]), np.log(ys) if log_y else ys)
    half = float(stats.t.ppf(0.5 + LEVEL / 2, len(ok) - 2) * fit.stderr)
    lo, hi = float(fit.slope) - half, float(fit.slope) + half
    return Check(condition, n, what, len(ok), dropped, float(fit.slope), lo, hi, decide(lo, hi, op, threshold), note,
                 "point(s)")


def decide(lo: float, hi: float, op: str, threshold: float) -> str:
    """HOLDS when [lo, hi] lies strictly on the claimed side of ``threshold`` (``op`` "≤": below),
    FAILS when strictly on the other side, else NOT SEPARABLE."""
    below, above = hi < threshold, lo > threshold
    if op == "≥":
        below, above = above, below
    return HOLDS if below else FAILS if above else NOT_SEPARABLE


def combine(statuses: Iterable[str]) -> str:
    """FAILS if any fails, HOLDS if all hold (and there is one), else NOT SEPARABLE."""
    statuses = list(statuses)
    if FAILS in statuses:
        return FAILS
    return HOLDS if statuses and all(s == HOLDS for s in statuses) else NOT_SEPARABLE


def where_ns(ns: list[int], all_ns: list[int]) -> str:
    """``N ≥ 500``, ``N ≤ 250``, ``N = 250`` or ``N ∈ {250, 1000}`` for the Ns ``ns`` among ``all_ns``."""
    ns, all_ns = sorted(ns), sorted(all_ns)
    if len(ns) == 1:
        return f"N = {ns[0]}"
    if ns == all_ns:
        return "every N"
    if ns == all_ns[-len(ns):]:
        return f"N ≥ {ns[0]}"
    if ns == all_ns[:len(ns)]:
        return f"N ≤ {ns[-1]}"
    return "N ∈ {" + ", ".join(map(str, ns)) + "}"


def _summary(checks: list[Check], by_n: bool) -> str:
    if not checks:
        return "no stored results to check"
    if not by_n:
        return "; ".join(f"{c.what} = {fmt(c.estimate)} [{fmt(c.lo)}, {fmt(c.hi)}]: {c.status}"
                         if c.lo is not None else f"{c.what}: {c.status} ({c.note})" for c in checks)
    per_n = {n: combine(c.status for c in checks if c.n == n) for n in sorted({c.n for c in checks})}
    parts = []
    for status in (HOLDS, FAILS, NOT_SEPARABLE):
        ns = [n for n, s in per_n.items() if s == status]
        if ns:
            parts.append(f"{status} at {where_ns(ns, list(per_n))}")
    return "; ".join(parts)


def _named(groups: dict[str, list[Point]]) -> bool:
    """Whether a verdict line must name its condition(s): a condition is more than the task's name
    (a protocol condition such as σ), even when the store holds only one of them so far."""
    return any(condition != pts[0].task for condition, pts in groups.items() if pts)


def _result(claim: Claim, checks: list[Check], by_n: bool, named: bool = False,
            grids: dict[str, str] | None = None) -> ClaimResult:
    conditions = list(dict.fromkeys(c.condition for c in checks))
    if len(conditions) > 1 or (named and conditions):
        summary = "; ".join(f"{cond}: {_summary([c for c in checks if c.condition == cond], by_n)}"
                            for cond in conditions)
    else:
        summary = _summary(checks, by_n)
    return ClaimResult(claim, combine(c.status for c in checks), summary, checks, dict(sorted((grids or {}).items())))


def fmt(x: float | None) -> str:
    """Numbers on verdict pages: 3 significant digits, sign always shown."""
    return "—" if x is None else f"{x:+.3g}"


def checks_table(result: ClaimResult) -> list[list[str]]:
    """Rows of the table under a claim's verdict line: one per check."""
    rows = []
    for c in result.checks:
        interval = "—" if c.lo is None else f"[{fmt(c.lo)}, {fmt(c.hi)}]"
        rows.append([c.condition, "all" if c.n is None else str(c.n), c.what, str(c.count), fmt(c.estimate), interval,
                     c.status + (f" ({c.note})" if c.note else "")])
    return rows


CHECK_HEADERS = ["condition", "N", "check", "seeds / points", "estimate", "95% interval", "verdict"]


def to_json(result: ClaimResult) -> dict[str, Any]:
    """A claim's result as plain data (written beside verdict.md, read by the index)."""
    return {"status": result.status, "statement": result.claim.statement(), "summary": result.summary,
            "text": result.claim.text, "source": result.claim.source, "line": result.line(),
            "checks": [json.loads(json.dumps(c.__dict__)) for c in result.checks]}


def _width(w: float) -> str:
    return f"{w:g}"


@dataclass(frozen=True, kw_only=True)
class WidthNeeded(Claim):
    """How the width a network needs to reach a small *training* loss grows with N.

    For each condition, N and seed, m*(N) is the smallest value of ``x`` (a learner parameter the
    suite varies across variants of ``learner``: the width) whose cell's training score — relative
    training MSE for regression, training 0-1 error for classification — is ≤ ``threshold``. Per
    seed, the least-squares slope of log m* against log N (:func:`slope`, over that seed's Ns);
    then the mean of the seeds' slopes and its 95% t-interval over the seeds (:func:`t_interval`),
    decided against ``at_most`` or ``at_least`` (give exactly one) as for :class:`Slope`.

    Censored widths are not numbers: where no width of the sweep reaches the threshold, m* is
    "> largest width"; where the smallest already does, it is "≤ smallest width". A seed with a
    censored m* at any N gives no slope, and the check is then NOT SEPARABLE (no estimate), its
    note saying where — the sweep did not bracket the width needed, so widen it rather than read a
    number into it. The same with fewer than 2 seeds with a slope. The resolution of m* is the
    sweep's own step (a factor of 2 between neighbours in a doubling sweep); the interval covers
    the spread over seeds, not that rounding. A cell that did not finish ok (diverged, failed) has
    no training score: it counts as not reaching the threshold, and the note counts such cells; a
    cell not stored is absent from its (N, seed)'s sweep.
    """

    learner: str
    threshold: float
    x: str = "width"
    at_most: float | None = None
    at_least: float | None = None

    def __post_init__(self) -> None:
        if (self.at_most is None) == (self.at_least is None):
            raise ValueError("a WidthNeeded needs exactly one of at_most= and at_least=")
        if not self.threshold > 0:
            raise ValueError(f"a WidthNeeded threshold must be a positive training loss, got {self.threshold!r}")

    @property
    def bound(self) -> tuple[str, float]:
        return ("≤", self.at_most) if self.at_most is not None else ("≥", self.at_least)

    def statement(self) -> str:
        op, value = self.bound
        return (f"slope of log m* vs log N {op} {value:g}, m* = the smallest {self.x} of {self.learner} "
                f"with training loss ≤ {self.threshold:g}" + self._where())

    def learner_refs(self) -> list[str]:
        return [self.learner]

    @property
    def method(self) -> str:
        """How this claim's checks are computed, for the verdict page (it reads training scores)."""
        return (f"m* (the width needed) is the smallest {self.x} of the sweep whose cell's *training* score "
                "(relative training MSE, or training 0-1 error) is ≤ the threshold, per N and seed; \"> w\" when "
                f"no {self.x} reaches it, \"≤ w\" when the smallest already does (then no slope is computed: NOT "
                "SEPARABLE). Its slope is fitted per seed (least squares of log m* on log N), and the interval is "
                "the 95% t-interval of the mean over the seeds' slopes.")

    def check(self, grid: "Grid") -> None:
        super().check(grid)
        if len(_grid_matches(self.learner, grid)) < 2:
            raise ValueError(f"claim '{self.statement()}': suite '{grid.suite}' runs one variant of "
                             f"'{self.learner}' at scale '{grid.scale}'; the width needed needs a sweep of {self.x}")
        if len(grid.ns) < 2:
            raise ValueError(f"claim '{self.statement()}': suite '{grid.suite}' has one N at scale '{grid.scale}'; "
                             f"a trend in N needs several")

    def needed(self, points: Iterable[Point]) -> dict[int, dict[int, tuple[str, float | None]]]:
        """N → seed → (m* as shown, m* as a number or None when censored), over the sweep."""
        runs: dict[tuple[int, int], list[Point]] = defaultdict(list)
        for p in points:
            if _matches(self.learner, p, False) and self.x in p.fixed:
                runs[(p.n, p.seed)].append(p)
        out: dict[int, dict[int, tuple[str, float | None]]] = defaultdict(dict)
        for (n, seed), pts in sorted(runs.items()):
            widths = sorted(float(p.fixed[self.x]) for p in pts)
            reached = sorted(float(p.fixed[self.x]) for p in pts
                             if p.train_score is not None and p.train_score <= self.threshold)
            if not reached:
                out[n][seed] = (f"> {_width(widths[-1])}", None)
            elif reached[0] == widths[0]:
                out[n][seed] = (f"≤ {_width(widths[0])}", None)
            else:
                out[n][seed] = (_width(reached[0]), reached[0])
        return dict(out)

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        op, bound = self.bound
        what = "slope of log m* vs log N"
        checks = []
        for condition, pts in self._conditions(points).items():
            table = self.needed(pts)
            seeds = sorted({s for row in table.values() for s in row})
            shown = "; ".join(f"N={n}: " + ", ".join(table[n].get(s, ("—", None))[0] for s in seeds)
                              for n in sorted(table))
            missing = sum(1 for p in pts if _matches(self.learner, p, False) and p.train_score is None)
            notes = [f"m* per N (seeds {', '.join(map(str, seeds))}): {shown}"]
            if missing:
                notes.append(f"{missing} cell(s) without a training score (not ok) count as not reaching it")
            censored = sorted({(n, s) for n, row in table.items() for s, (_, m) in row.items() if m is None})
            if censored:
                where = ", ".join(f"N={n} seed {s}" for n, s in censored)
                notes.insert(0, f"m* lies outside the {self.x}s swept at {where}: widen the sweep")
                checks.append(Check(condition, None, what, len(seeds), len(censored), None, None, None,
                                    NOT_SEPARABLE, "; ".join(notes), "seed(s)"))
                continue
            slopes = []
            for s in seeds:
                fit = slope(condition, None, what, [(n, table[n][s][1]) for n in table if s in table[n]], op, bound)
                if fit.estimate is not None:
                    slopes.append(fit.estimate)
            if len(slopes) < 2:
                notes.insert(0, "fewer than 2 seeds with m* at 3 or more N")
                checks.append(Check(condition, None, what, len(slopes), len(seeds) - len(slopes),
                                    slopes[0] if slopes else None, None, None, NOT_SEPARABLE, "; ".join(notes),
                                    "seed(s)"))
                continue
            mean, lo, hi = t_interval(slopes)
            checks.append(Check(condition, None, what, len(slopes), len(seeds) - len(slopes), mean, lo, hi,
                                decide(lo, hi, op, bound), "; ".join(notes), "seed(s)"))
        return _result(self, checks, by_n=False)


# --- claims across a protocol condition (Arora et al. 2019: random labels) ----------------------

def point_value(p: Point, metric: str) -> float | None:
    """The number ``metric`` names for one cell: ``test_score`` or ``train_score``; ``train_loss@E``,
    the stored training-loss curve at epoch E (its last stored epoch ≤ E; None when the run stopped
    earlier or has no curve); else the diagnostic of that name (``weight_change``,
    ``arora_complexity``, ``epochs_to_threshold``, ...). None when the cell has no such number."""
    if metric == "test_score":
        return p.score
    if metric == "train_score":
        return p.train_score
    if p.score is None:  # a cell that did not finish ok has no diagnostics worth reading
        return None
    if metric.startswith("train_loss@"):
        epoch = int(metric.split("@", 1)[1])
        epochs, losses = p.diagnostics.get("curve_epoch") or [], p.diagnostics.get("curve_train_loss") or []
        if not epochs or p.diagnostics.get("epochs_run", epochs[-1]) < epoch:
            return None
        kept = [loss for e, loss in zip(epochs, losses) if e <= epoch]
        return float(kept[-1]) if kept else None
    value = p.diagnostics.get(metric)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_metric(claim: Claim, metric: str) -> None:
    if metric.startswith("train_loss@"):
        epoch = metric.split("@", 1)[1]
        if not epoch.isdigit() or int(epoch) < 1:
            raise ValueError(f"claim '{claim.statement()}': write train_loss@E with E a positive epoch, e.g. "
                             f"train_loss@100; got {metric!r}")


def _check_axis(claim: Claim, grid: "Grid", axis: str, at_least: int) -> None:
    values = {c.get(axis) for c in grid.conditions if axis in c}
    if len(values) < at_least:
        raise ValueError(f"claim '{claim.statement()}': suite '{grid.suite}' varies {axis} over "
                         f"{len(values)} value(s) at scale '{grid.scale}'; the claim needs at least {at_least} "
                         f"(conditions={{'{axis}': (...)}})")


def _across(claim: Claim, points: Iterable[Point], learner: str, axis: str) -> dict[tuple[str, str, int], list[Point]]:
    """The points of ``learner`` grouped by (task variant, learner variant, N), across every value
    of ``axis``: the claim's unit of check. A variant is named by its task, numbered when the
    suite runs several variants of one task."""
    groups: dict[tuple, list[Point]] = defaultdict(list)
    pts = [p for p in points if (claim.task is None or p.task == claim.task)
           and all(p.settings.get(k) == v for k, v in claim.conditions.items())]
    by_label = _by_label(learner, pts)
    for p in pts:
        if _matches(learner, p, by_label) and axis in p.settings:
            rest = json.dumps({k: v for k, v in p.settings.items() if k != axis}, sort_keys=True, default=str)
            groups[(p.task, rest, p.label, p.n)].append(p)
    variants: dict[str, list[str]] = defaultdict(list)
    for task, rest, _, _ in groups:
        if rest not in variants[task]:
            variants[task].append(rest)
    out: dict[tuple[str, str, int], list[Point]] = {}
    for (task, rest, label, n), ps in groups.items():
        name = task if len(variants[task]) == 1 else f"{task} (variant {variants[task].index(rest) + 1})"
        out[(name, label, n)] = ps
    return out


def _named_variant(name: str, label: str, short: dict[str, str], ref: str, grids: dict[str, str]) -> str:
    """A check's condition across an axis: the task variant ``name``, plus the learner variant's
    short label unless that is the claim's own reference (recorded in ``grids`` for the legend)."""
    if ref in (label, short[label]):
        return name
    if short[label] != label:
        grids[label] = short[label]
    return f"{name}, {short[label]}"


def _per_seed(ps: list[Point], axis: str, metric: str) -> dict[int, list[tuple[float, float]]]:
    """seed → [(value of ``axis``, value of ``metric``)] over the cells that have both."""
    out: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for p in ps:
        v = point_value(p, metric)
        if v is not None and isinstance(p.settings.get(axis), (int, float)):
            out[p.seed].append((float(p.settings[axis]), v))
    return dict(out)


def _over_seeds(where: str, n: int, what: str, per_seed: dict[int, float | None], op: str, note: str) -> Check:
    """Mean of per-seed estimates and its 95% t-interval over the seeds, decided against 0."""
    got = {s: v for s, v in per_seed.items() if v is not None}
    dropped = len(per_seed) - len(got)
    notes = [note] + ([f"{dropped} seed(s) without an estimate"] if dropped else [])
    if len(got) < 2:
        mean = float(np.mean(list(got.values()))) if got else None
        return Check(where, n, what, len(got), dropped, mean, None, None, NOT_SEPARABLE,
                     "; ".join(filter(None, ["fewer than 2 seeds with an estimate", *notes])))
    mean, lo, hi = t_interval(list(got.values()))
    return Check(where, n, what, len(got), dropped, mean, lo, hi, decide(lo, hi, op, 0.0), "; ".join(filter(None, notes)))


@dataclass(frozen=True, kw_only=True)
class Trend(Claim):
    """``metric`` of ``learner`` grows (``op="increasing"``) or shrinks (``"decreasing"``) as the
    protocol condition ``axis`` (default ``label_noise``, the fraction p of random labels) grows.

    ``metric``: ``test_score``, ``train_score``, ``train_loss@E`` (the training loss at epoch E,
    from the stored curve) or a diagnostic (``weight_change``, ``arora_complexity``,
    ``epochs_to_threshold``; see :func:`point_value`). Per task variant, learner variant and N: per
    seed, the least-squares slope of the metric against the axis value over that seed's cells;
    then the mean of the seeds' slopes and its 95% t-interval over the seeds. HOLDS when the
    interval lies on the claimed side of 0, FAILS on the other, else NOT SEPARABLE (also with
    fewer than 2 seeds that have a slope, i.e. cells at 2 or more values of the axis).
    """

    learner: str
    metric: str
    axis: str = "label_noise"
    op: str = "increasing"

    def __post_init__(self) -> None:
        if self.op not in ("increasing", "decreasing"):
            raise ValueError(f"a Trend's op must be 'increasing' or 'decreasing', got {self.op!r}")

    def statement(self) -> str:
        return f"{self.metric} of {self.learner} is {self.op} in {self.axis}" + self._where()

    def learner_refs(self) -> list[str]:
        return [self.learner]

    def check(self, grid: "Grid") -> None:
        super().check(grid)
        _check_metric(self, self.metric)
        _check_axis(self, grid, self.axis, 2)

    @property
    def method(self) -> str:
        """How this claim's checks are computed, for the verdict page."""
        return (f"A trend in {self.axis} is the least-squares slope of the quantity against {self.axis}, fitted "
                "per seed over that seed's cells; the interval is the 95% t-interval of the mean over the seeds' "
                "slopes (HOLDS: entirely on the claimed side of 0).")

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        op = "≥" if self.op == "increasing" else "≤"
        checks, grids = [], {}
        points = list(points)
        short = point_labels(points)
        for (name, label, n), ps in _across(self, points, self.learner, self.axis).items():
            per_seed = _per_seed(ps, self.axis, self.metric)
            slopes: dict[int, float | None] = {}
            for seed, xy in sorted(per_seed.items()):
                xs, ys = np.array([x for x, _ in xy]), np.array([y for _, y in xy])
                slopes[seed] = float(np.polyfit(xs, ys, 1)[0]) if len(set(xs)) >= 2 else None
            shown = [f"{x:g}: {np.mean([y for xy in per_seed.values() for xx, y in xy if xx == x]):.3g}"
                     for x in sorted({x for xy in per_seed.values() for x, _ in xy})]
            note = f"mean {self.metric} per {self.axis}: " + ", ".join(shown) if shown else ""
            where = _named_variant(name, label, short, self.learner, grids)
            checks.append(_over_seeds(where, n, f"slope of {self.metric} vs {self.axis}", slopes, op, note))
        return _result(self, checks, by_n=True, named=True, grids=grids)


@dataclass(frozen=True, kw_only=True)
class Tracks(Claim):
    """``metric`` of ``learner`` tracks ``target`` across the values of the condition ``axis``:
    Arora et al.'s "the complexity measure tracks the test error" as labels are randomised.

    Per task variant, learner variant and N: per seed, the Pearson correlation of ``metric`` and
    ``target`` over that seed's cells (one per value of ``axis``; at least 3 distinct values and
    neither constant, else that seed has no correlation); then the mean correlation over the seeds
    and its 95% t-interval. HOLDS when the interval lies above 0, FAILS below, else NOT SEPARABLE.
    Metric names as for :class:`Trend`.
    """

    learner: str
    metric: str = "arora_complexity"
    target: str = "test_score"
    axis: str = "label_noise"

    def statement(self) -> str:
        return f"{self.metric} of {self.learner} tracks its {self.target} across {self.axis}" + self._where()

    def learner_refs(self) -> list[str]:
        return [self.learner]

    def check(self, grid: "Grid") -> None:
        super().check(grid)
        _check_metric(self, self.metric)
        _check_metric(self, self.target)
        _check_axis(self, grid, self.axis, 3)

    @property
    def method(self) -> str:
        """How this claim's checks are computed, for the verdict page."""
        return (f"Tracking is the Pearson correlation of the two quantities across the values of {self.axis}, per "
                "seed (at least 3 values); the interval is the 95% t-interval of the mean over the seeds' "
                "correlations (HOLDS: entirely above 0).")

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        checks, grids = [], {}
        points = list(points)
        short = point_labels(points)
        for (name, label, n), ps in _across(self, points, self.learner, self.axis).items():
            xs, ys = _per_seed(ps, self.axis, self.metric), _per_seed(ps, self.axis, self.target)
            corr: dict[int, float | None] = {}
            for seed in sorted(set(xs) | set(ys)):
                a, b = dict(xs.get(seed, [])), dict(ys.get(seed, []))
                keys = sorted(set(a) & set(b))
                u, v = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
                ok = len(keys) >= 3 and np.ptp(u) > 0 and np.ptp(v) > 0
                corr[seed] = float(np.corrcoef(u, v)[0, 1]) if ok else None
            where = _named_variant(name, label, short, self.learner, grids)
            checks.append(_over_seeds(where, n, f"correlation of {self.metric} and {self.target} across {self.axis}",
                                      corr, "≥", ""))
        return _result(self, checks, by_n=True, named=True, grids=grids)
