"""Claims about a sweep of a learner parameter or a diagnostic: the width a curve needs
(:class:`WidthNeeded`), a trend along a parameter (:class:`Trend`), and one quantity tracking
another (:class:`Tracks`). The pairwise and single-curve claims are in :mod:`.claims`."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

from harness.suites.claims import (Claim, ClaimResult, Point, _by_label, _grid_matches, _matches,
                                   _named_variant, _result, point_labels)
from harness.suites.statistics import NOT_SEPARABLE, Check, decide, slope, t_interval

if TYPE_CHECKING:
    from harness.suites.grid import Grid


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
