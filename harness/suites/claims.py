"""Paper claims, checked on stored results: HOLDS, FAILS, EQUIVALENT, UNDERPOWERED, INCOMPLETE or
NOT SEPARABLE, with the numbers (the statistics and the rule: :mod:`.statistics`; the sweep claims
WidthNeeded, Trend, Tracks: :mod:`.sweeps`).

A suite declares its claims (:class:`Ordering`, :class:`Slope`); each is checked on the suite's
cells alone, one seed-level test score per (condition, learner, N, seed):

- ``Ordering(learners=[a, b, c])`` — "a < b < c in test error". Per condition and N, for each
  consecutive pair, the differences score(a) − score(b) paired by seed (a seed missing on either
  side is dropped and counted), their mean, 95% t-interval and one-sided tests, Holm-corrected over
  the claim's pairs: HOLDS, FAILS, EQUIVALENT or UNDERPOWERED (:func:`.statistics.paired`), and
  INCOMPLETE while cells the suite plans for the pair are not in the store yet. The chain at an N
  FAILS if any pair fails, HOLDS if every pair holds, else the first other word by
  :data:`.statistics.PRECEDENCE`.
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
the first other word that occurs (:func:`.statistics.combine`); its summary line says where each
status was found ("HOLDS at N ≥ 500; UNDERPOWERED at N = 250"). Intervals are per check (95%);
the paired checks' decisions are Holm-corrected across the claim's paired checks.
"""

from __future__ import annotations

import abc
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from harness.suites.statistics import (FAILS, HOLDS, MARGIN, NOT_SEPARABLE, READING_ORDER, Check, combine,
                                       holm_decide, level, paired, slope)

if TYPE_CHECKING:
    from harness.suites.grid import Grid


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
    stored: bool = True  # False: a cell the suite plans that is not in the store yet (see Claim.reads_absent)


@dataclass
class ClaimResult:
    """What a claim came to on the stored results."""

    claim: "Claim"
    status: str  # the strict combination of every check (statistics.combine): one word
    summary: str
    checks: list[Check] = field(default_factory=list)
    grids: dict[str, str] = field(default_factory=dict)  # full label → the short label the checks show for it
    # the verdict as the page heads it (:func:`headline`): ``status`` when every check agrees, else
    # where each status was found ("HOLDS at N ≥ 500; NOT SEPARABLE below", "FAILS at …: 1 of 18 checks")
    verdict: str = ""

    def detail(self) -> str:
        """Where each status was found (the summary), or "" when the headline already says it: the
        summary repeats it, or one condition's checks hold at some N and are not separable at the rest."""
        verdict = self.verdict or self.status
        said = verdict != self.status and len({c.condition for c in self.checks}) <= 1 and \
            all(c.status != FAILS for c in self.checks)
        return "" if said or self.summary == verdict else self.summary

    def line(self, curves: dict[str, str] | None = None) -> str:
        """The one-line verdict: the headline, the claim as checked (its learners by the paper's
        curve names, ``curves``: name → selector) and, when it adds to the headline, where each
        status was found."""
        detail = self.detail()
        return (f"**{self.verdict or self.status}** — {with_curve_names(self.claim.statement(), curves or {})}"
                + (f": {with_curve_names(detail, curves or {})}" if detail else ""))


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
    # Whether evaluate() is also given the planned cells not in the store yet (points with
    # stored=False), to call its checks INCOMPLETE; claims without it see stored cells only.
    reads_absent: ClassVar[bool] = False

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


def select(ref: str, points: list[Point]) -> list[Point]:
    """The points of the learner (variant) ``ref`` names — a name, a label or a selector — as a
    claim reads it."""
    by_label = _by_label(ref, points)
    return [p for p in points if _matches(ref, p, by_label)]


def point_labels(points: Iterable[Point]) -> dict[str, str]:
    """Each point's full label → its short label among the learner variants of ``points``
    (:func:`harness.api.learners.short_labels`); a point that does not carry its grid keeps its label."""
    from harness.api.learners import label, short_labels

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
    # the practical margin of EQUIVALENT: this share of the larger of the two mean errors at a check
    margin: float = MARGIN
    reads_absent: ClassVar[bool] = True

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

    def points_of(self, check: Check, points: Iterable[Point]) -> list[Point]:
        """The points (cells) behind one of this claim's checks: both learners of its pair at its
        condition (and ``per`` value) and N — the cells ``--until-decided`` gives another seed."""
        if check.pair is None:
            return []
        pts = [p for group in self._conditions(points).values() for p in group
               if p.n == check.n and (check.condition == p.condition or check.condition.startswith(p.condition + ", "))]
        value = check.condition.rsplit(f", {self.per}=", 1)[1] if self.per and f", {self.per}=" in check.condition \
            else None
        return [p for ref in check.pair for p in select(ref, pts)
                if value is None or self.per not in p.fixed or str(p.fixed[self.per]) == value]

    def evaluate(self, points: Iterable[Point]) -> ClaimResult:
        refs = self.learner_refs()
        checks = []
        groups = self._conditions(points)
        for condition, pts in groups.items():
            ref_label = {ref: _by_label(ref, pts) for ref in refs}
            mine = {ref: [p for p in pts if _matches(ref, p, ref_label[ref]) and p.score is not None] for ref in refs}
            waiting = {ref: [p for p in pts if not p.stored and _matches(ref, p, ref_label[ref])] for ref in refs}
            values = [None]
            if self.per:
                values = sorted({p.fixed[self.per] for ps in mine.values() for p in ps if self.per in p.fixed},
                                key=lambda v: (str(type(v)), v)) or [None]
            for value in values:
                def in_group(p: Point) -> bool:  # the points of this ``per`` value (and any without it)
                    return value is None or self.per not in p.fixed or p.fixed[self.per] == value

                scores: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)  # (ref, N) → seed → score
                absent: dict[tuple[str, int], set[int]] = defaultdict(set)  # (ref, N) → seeds not stored yet
                for ref in refs:
                    for p in filter(in_group, mine[ref]):
                        scores[(ref, p.n)][p.seed] = p.score
                    for p in filter(in_group, waiting[ref]):
                        absent[(ref, p.n)].add(p.seed)
                where = condition if value is None else f"{condition}, {self.per}={value}"
                for n in sorted({p.n for p in pts}):
                    for a, b in self.pairs():
                        checks.append(paired(where, n, a, b, scores[(a, n)], scores[(b, n)], self.margin,
                                             (absent[(a, n)], absent[(b, n)])))
        return _result(self, holm_decide(checks), by_n=True, named=_named(groups))


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
    for status in READING_ORDER:
        ns = [n for n, s in per_n.items() if s == status]
        if ns:
            parts.append(f"{status} at {where_ns(ns, list(per_n))}")
    return "; ".join(parts)


def headline(checks: list[Check], by_n: bool) -> str:
    """A claim's verdict in a few words that never contradict its checks (the rule, as pages
    state it, is :data:`harness.suites.statistics.RULE`):

    - every check agrees: that word (``HOLDS``);
    - a check fails: ``FAILS at <where>: k of M checks`` — where (condition and N) and how many of
      the claim's checks failed, so that a FAILS resting on one check out of 18 says so;
    - else some hold and some cannot be separated; where the checks at each N (and condition)
      combine to one word everywhere, that word (the chain a < b < c is NOT SEPARABLE at an N
      where a < b holds and b < c does not separate). By N with one pattern in every condition:
      ``HOLDS at N ≥ 500; NOT SEPARABLE below`` (``above`` for a lower range, the other N by name
      otherwise), with ``in every condition`` when there are several; else how many places
      (a condition, and an N where checks are by N) hold: ``HOLDS at 4 of 9 (condition, N); NOT
      SEPARABLE at the other 5``.
    """
    statuses = [c.status for c in checks]
    if not statuses:
        return NOT_SEPARABLE
    if len(set(statuses)) == 1:
        return statuses[0]
    if FAILS in statuses:
        failed = [c for c in checks if c.status == FAILS]
        places = []
        for cond in dict.fromkeys(c.condition for c in failed):  # per condition, the N it failed at
            ns = sorted({c.n for c in failed if c.condition == cond and c.n is not None})
            all_ns = sorted({c.n for c in checks if c.condition == cond and c.n is not None})
            places.append(cond + (f", {where_ns(ns, all_ns)}" if ns else ""))
        where = " and ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
        return f"{FAILS} at {where}: {len(failed)} of {len(checks)} checks"
    # no FAILS: per place, the checks combine as at one N
    conditions = list(dict.fromkeys(c.condition for c in checks))
    per = {cond: {n: combine(c.status for c in checks if c.condition == cond and c.n == n)
                  for n in sorted({c.n for c in checks if c.condition == cond and c.n is not None})}
           for cond in conditions}
    if by_n and all(per.values()):  # (checks without an N are read per condition, below)
        combined = {st for p in per.values() for st in p.values()}
        if len(combined) == 1:  # e.g. one pair of a chain holds at every N, the other never separates
            return combined.pop()
        patterns = {_pattern(p) for p in per.values()}
        every = " in every condition" if len(conditions) > 1 else ""
        if len(patterns) == 1:
            pattern = next(iter(per.values()))
            ns = list(pattern)
            words = [w for w in READING_ORDER if w in pattern.values()]
            held = [n for n, st in pattern.items() if st == HOLDS]
            if len(words) == 2 and held:  # "HOLDS at N ≥ 500; UNDERPOWERED below"
                other = "below" if held == ns[-len(held):] else "above" if held == ns[:len(held)] else \
                    f"at {where_ns([n for n in ns if n not in held], ns)}"
                return f"{HOLDS} at {where_ns(held, ns)}; {words[1]} {other}{every}"
            return "; ".join(f"{w} at {where_ns([n for n in ns if pattern[n] == w], ns)}" for w in words) + every
        places = [(cond, n) for cond, p in per.items() for n in p]
        return _counted([per[cond][n] for cond, n in places], "(condition, N)")
    per_condition = {cond: combine(c.status for c in checks if c.condition == cond) for cond in conditions}
    if len(set(per_condition.values())) == 1:
        return next(iter(per_condition.values()))
    if len(conditions) > 1 and len(conditions) <= 6:
        words = [w for w in READING_ORDER if w in per_condition.values()]
        return "; ".join(f"{w} on {', '.join(c for c in conditions if per_condition[c] == w)}" for w in words)
    return _counted(statuses, "checks")


def _counted(statuses: list[str], unit: str) -> str:
    """``HOLDS at 4 of 9 (condition, N); UNDERPOWERED at 3; EQUIVALENT at 2``: how many places (or
    checks) each word was found at."""
    words = [w for w in READING_ORDER if w in statuses]
    first, rest = words[0], words[1:]
    return "; ".join([f"{first} at {statuses.count(first)} of {len(statuses)} {unit}",
                      *(f"{w} at {statuses.count(w)}" for w in rest)])


def _pattern(pattern: dict[Any, str]) -> str:
    """A per-N pattern of statuses as a hashable key (to tell whether every condition shares it)."""
    return repr(sorted(pattern.items()))


def with_curve_names(text: str, curves: dict[str, str]) -> str:
    """``text`` with every learner selector that ``curves`` (name → selector) names replaced by its
    name: the paper's own curve names on a page (``3layer < 2layer < 3layer(NTK)``). A selector is
    replaced only where it stands as a whole reference — ``ntk`` inside ``three_layer_ntk`` is not
    the learner ``ntk`` — and the longest first, so that a name never replaces part of another."""
    for name, selector in sorted(curves.items(), key=lambda kv: -len(kv[1])):
        text = re.sub(rf"(?<![\w\[=,.-]){re.escape(selector)}(?![\w\[])", lambda _: name, text)
    return text


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
    return ClaimResult(claim, combine(c.status for c in checks), summary, checks, dict(sorted((grids or {}).items())),
                       headline(checks, by_n))


def fmt(x: float | None) -> str:
    """Numbers on verdict pages: 3 significant digits, sign always shown."""
    return "—" if x is None else f"{x:+.3g}"


# --- claims across a protocol condition (Arora et al. 2019: random labels) ----------------------


def _named_variant(name: str, label: str, short: dict[str, str], ref: str, grids: dict[str, str]) -> str:
    """A check's condition across an axis: the task variant ``name``, plus the learner variant's
    short label unless that is the claim's own reference (recorded in ``grids`` for the legend)."""
    if ref in (label, short[label]):
        return name
    if short[label] != label:
        grids[label] = short[label]
    return f"{name}, {short[label]}"


