"""The statistics behind a verdict: paired t-intervals, slopes with their intervals, the rule
that turns an interval into HOLDS / FAILS / NOT SEPARABLE, and how checks combine."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

HOLDS, FAILS, NOT_SEPARABLE = "HOLDS", "FAILS", "NOT SEPARABLE"


LEVEL = 0.95


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


# How a claim's checks become its verdict, as every suite page states it (the code: decide and
# combine above, claims.headline for the words).
RULE = ("each check is **HOLDS** when its 95% interval lies entirely on the claimed side (a difference "
        "below 0, a slope or level past its threshold), **FAILS** when it lies entirely on the other side, "
        "and **NOT SEPARABLE** when it straddles the threshold or has too few seeds or points. At one N (and "
        "condition) a claim's checks combine: FAILS if any fails, HOLDS if all hold, else NOT SEPARABLE. A "
        "claim's verdict is one word when every check agrees; otherwise it says where each was found — "
        "\"HOLDS at N ≥ 500; NOT SEPARABLE below\" — and a FAILS names where, and in how many of the claim's "
        "checks, it failed (\"FAILS at sin3, N = 500: 1 of 18 checks\").")
