"""The statistics behind a verdict: paired t-intervals and tests, slopes with their intervals, the
rules that turn them into HOLDS / FAILS / EQUIVALENT / UNDERPOWERED / INCOMPLETE / NOT SEPARABLE,
Holm's correction across a claim's checks, and how checks combine.

A paired check (``a < b`` at one N) is decided on the differences d = a − b paired by seed:

- **HOLDS** / **FAILS**: the one-sided t-test of mean d < 0 (resp. > 0) rejects at level
  :data:`ALPHA` after Holm's step-down correction over the claim's paired checks. With one check
  this is exactly "the 95% t-interval lies below (above) 0", the interval the page shows.
- **EQUIVALENT**: two one-sided tests (TOST) against the claim's practical margin ±δ, δ =
  ``margin`` × the larger of the two mean errors, both reject at :data:`ALPHA` (Holm-corrected
  likewise): with one check, the 95% interval lies inside (−δ, δ).
- **UNDERPOWERED**: none of these; the check names how many paired seeds would resolve a
  difference of δ at the observed spread s of the differences — the smallest n whose half-width
  t₁₋α/ₘ,ₙ₋₁·s/√n is below δ, m the number of the claim's paired checks (Holm's strictest level;
  m = 1: the 95% half-width t₀.₉₇₅,ₙ₋₁·s/√n). Then, whatever the other checks' p-values, a true
  difference of δ would be HOLDS or FAILS and a true 0 EQUIVALENT. Fewer than 2 paired seeds is
  UNDERPOWERED too.
- **INCOMPLETE**: cells the suite plans for the check are not in the store yet (a run not yet
  done, or cut off): whatever its stored seeds say, the check waits for them. Its estimate and
  interval are those of the seeds stored so far; with 2 or more paired seeds its p-values count
  in Holm's family like any check's (with fewer it has none, as an UNDERPOWERED check of fewer).

Checks without a pair (a level, a slope) keep the interval rule: HOLDS / FAILS / NOT SEPARABLE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

HOLDS, FAILS, NOT_SEPARABLE = "HOLDS", "FAILS", "NOT SEPARABLE"
EQUIVALENT, UNDERPOWERED, INCOMPLETE = "EQUIVALENT", "UNDERPOWERED", "INCOMPLETE"
# How checks combine into one word (see combine): the first that occurs wins, HOLDS only when all hold.
PRECEDENCE = (FAILS, NOT_SEPARABLE, INCOMPLETE, UNDERPOWERED, EQUIVALENT, HOLDS)
# The order a verdict lists the words it found in: HOLDS first, then as they take precedence.
READING_ORDER = (HOLDS, *PRECEDENCE[:-1])

LEVEL = 0.95
ALPHA = (1 - LEVEL) / 2  # each one-sided test: with one check, the two-sided 95% interval's rule
MARGIN = 0.10  # a claim's default practical margin: 10% of the larger of the two mean errors
MAX_SEEDS_NAMED = 10_000  # seeds_needed past this reads "more than 10,000"


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
    # paired checks only: the margin ±δ, the one-sided p-values of the claimed side, the other side
    # and the equivalence (TOST), Holm-adjusted ones once the claim's family is known, and the
    # paired seeds that would resolve ±δ at the observed spread
    margin: float | None = None
    p_claim: float | None = None
    p_other: float | None = None
    p_equivalent: float | None = None
    holm: tuple[float, float, float] | None = None
    seeds_needed: int | None = None
    spread: float | None = None  # paired checks: the standard deviation of the differences (ddof 1)
    pair: tuple[str, str] | None = None  # the learner references (a, b) of ``a − b``
    absent: int = 0  # paired checks: the planned cells of either side not in the store yet


def t_interval(values: list[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and two-sided ``level`` t-interval of the mean (n − 1 degrees of freedom)."""
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    from scipy import stats  # lazily, like every heavy import on the CLI's start-up path

    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return mean, mean - half, mean + half


def paired(condition: str, n: int, a: str, b: str, scores_a: dict[int, float], scores_b: dict[int, float],
           margin: float = MARGIN, absent: tuple[set[int], set[int]] = (set(), set())) -> Check:
    """The check of ``a < b`` at one N: differences paired by seed, their mean, 95% t-interval and
    one-sided tests (see the module docstring); its status before Holm's correction, which
    :func:`holm_decide` applies across a claim's checks. ``absent``: the seeds of each side whose
    planned cell is not in the store yet (the check is then INCOMPLETE)."""
    seeds = sorted(set(scores_a) & set(scores_b))
    waiting = absent[0] | absent[1]
    dropped = len((set(scores_a) ^ set(scores_b)) - waiting)
    what = f"{a} − {b}"
    missing = len(absent[0]) + len(absent[1])
    note = "; ".join(filter(None, [
        f"{missing} planned cell(s) not in the store yet (seed(s) {_seeds(waiting)}): run the suite to add them"
        if missing else "",
        f"{dropped} seed(s) with a result on one side only — a failed cell, or a seed added for another check "
        f"— left out" if dropped else ""]))
    means = [float(np.mean([s[k] for k in seeds])) for s in (scores_a, scores_b)] if seeds else [0.0, 0.0]
    delta = margin * max(abs(means[0]), abs(means[1]))
    if len(seeds) < 2:
        mean = float(np.mean([scores_a[s] - scores_b[s] for s in seeds])) if seeds else None
        return Check(condition, n, what, len(seeds), dropped, mean, None, None,
                     INCOMPLETE if missing else UNDERPOWERED,
                     "; ".join(filter(None, ["fewer than 2 paired seeds", note])), margin=delta, pair=(a, b),
                     absent=missing)
    d = np.array([scores_a[s] - scores_b[s] for s in seeds], dtype=float)
    mean, lo, hi = t_interval(list(d))
    p_claim, p_other, p_equivalent = one_sided(d, delta)
    check = Check(condition, n, what, len(seeds), dropped, mean, lo, hi, UNDERPOWERED, note, margin=delta,
                  p_claim=p_claim, p_other=p_other, p_equivalent=p_equivalent, spread=float(d.std(ddof=1)),
                  pair=(a, b), absent=missing)
    return holm_decide([check])[0]  # decides it alone, and names its seeds


def _seeds(seeds: set[int]) -> str:
    """``0–2``, ``0, 2`` or ``4``: a set of seeds in few characters."""
    s = sorted(seeds)
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}–{s[-1]}"
    return ", ".join(map(str, s))


def one_sided(d: np.ndarray, delta: float) -> tuple[float, float, float]:
    """(p of mean d < 0, p of mean d > 0, TOST p of |mean d| < δ) from one-sample t-tests: for
    differences that are all equal the t statistic is infinite or undefined, decided here by the
    sign (scipy returns NaN)."""
    from scipy import stats  # lazily

    if np.ptp(d) == 0:  # no spread: the mean is known exactly
        m = float(d[0])
        return (0.0 if m < 0 else 1.0), (0.0 if m > 0 else 1.0), (0.0 if abs(m) < delta else 1.0)
    p_claim = float(stats.ttest_1samp(d, 0.0, alternative="less").pvalue)
    p_other = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue)
    if delta <= 0:
        return p_claim, p_other, 1.0
    p_equivalent = max(float(stats.ttest_1samp(d, -delta, alternative="greater").pvalue),
                       float(stats.ttest_1samp(d, delta, alternative="less").pvalue))
    return p_claim, p_other, p_equivalent


def seeds_to_resolve(spread: float, delta: float, family: int = 1) -> int | None:
    """The smallest number of paired seeds n ≥ 2 whose t half-width t₁₋α/ₘ,ₙ₋₁·s/√n lies below
    ``delta`` at spread s, α = :data:`ALPHA` and m = ``family`` (the checks Holm corrects together:
    α/m is the strictest level Holm may ask of one of them; m = 1 is the 95% half-width
    t₀.₉₇₅,ₙ₋₁·s/√n). None when δ is 0; :data:`MAX_SEEDS_NAMED` + 1 past that many."""
    from scipy import stats  # lazily

    if delta <= 0:
        return None
    if spread == 0:
        return 2
    # vectorised quantile calls (a loop was 0.1 s a check), the first 63 n before the rest: the
    # half-width falls with n, so the first n that qualifies is the answer
    for ns in (np.arange(2, 65), np.arange(65, MAX_SEEDS_NAMED + 1)):
        ok = stats.t.ppf(1 - ALPHA / family, ns - 1) * spread / np.sqrt(ns) < delta
        if ok.any():
            return int(ns[np.argmax(ok)])
    return MAX_SEEDS_NAMED + 1


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979): sorted ascending, the i-th (from 0) is
    multiplied by m − i, made monotone, capped at 1. (Written out: scipy has no Holm, and this is
    five lines; tests compare it with statsmodels' ``multipletests(method="holm")``.)"""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def holm_decide(checks: list[Check], alpha: float = ALPHA) -> list[Check]:
    """The paired checks of one claim decided together: each family of one-sided p-values (the
    claimed side, the other side, equivalence) Holm-adjusted over the checks that have them, then
    HOLDS / FAILS / EQUIVALENT where the adjusted p is below ``alpha``, else UNDERPOWERED; the seeds
    each names are at Holm's strictest level for that many checks (:func:`seeds_to_resolve`); a
    check with planned cells not yet stored stays INCOMPLETE. Checks without p-values (too few
    seeds, or not paired) are returned as they are."""
    tested = [c for c in checks if c.p_claim is not None]
    if not tested:
        return checks
    families = [holm([getattr(c, key) for c in tested]) for key in ("p_claim", "p_other", "p_equivalent")]
    for c, p_claim, p_other, p_equivalent in zip(tested, *families):
        c.holm = (p_claim, p_other, p_equivalent)
        if c.spread is not None and c.margin is not None:
            c.seeds_needed = seeds_to_resolve(c.spread, c.margin, len(tested))
        c.status = (INCOMPLETE if c.absent else HOLDS if p_claim < alpha else FAILS if p_other < alpha else
                    EQUIVALENT if p_equivalent < alpha else UNDERPOWERED)
    return checks


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
    """One word for checks at one place: FAILS if any fails, HOLDS if all hold (and there is one);
    else NOT SEPARABLE, INCOMPLETE, UNDERPOWERED or EQUIVALENT, the first of these that occurs (so
    a chain a < b < c whose a < b holds and whose b, c are equivalent is EQUIVALENT there)."""
    statuses = list(statuses)
    if not statuses:
        return UNDERPOWERED
    return next(s for s in PRECEDENCE if s in statuses)


# How a claim's checks become its verdict, as every suite page states it (the code: paired,
# holm_decide, decide and combine above, claims.headline for the words).
RULE = ("a check of \"a < b\" at one N uses the test errors paired by seed: it **HOLDS** when the one-sided "
        "t-test of a − b < 0 rejects at 2.5% after **Holm's correction** over the claim's paired checks (with one "
        "check: its 95% interval lies below 0), **FAILS** when the test of a − b > 0 does, is **EQUIVALENT** when "
        "two one-sided tests put a − b inside the claim's practical margin ±δ (δ = 10% of the larger mean error "
        "unless the claim states another; with one check: the 95% interval lies inside ±δ), Holm-corrected "
        "likewise, and is **UNDERPOWERED** otherwise — it then names the paired seeds that would resolve a "
        "difference of δ at the observed spread s: the smallest n with t(1 − 0.025/m, n − 1)·s/√n < δ, m the "
        "claim's paired checks (Holm's strictest level; `bench run --suite NAME --until-decided` adds seeds). A paired "
        "check whose planned cells are not all in the store yet is **INCOMPLETE**, whatever its stored seeds say "
        "(its numbers are those of the seeds stored so far). A check of a level or a slope is "
        "HOLDS or FAILS when its 95% interval lies on one side of its threshold, else **NOT SEPARABLE**. At one N "
        "(and condition) a claim's checks combine: FAILS if any fails, HOLDS if all hold, else the first of NOT "
        "SEPARABLE, INCOMPLETE, UNDERPOWERED, EQUIVALENT that occurs. A claim's verdict is one word when every place agrees; "
        "otherwise it says where each was found — \"HOLDS at N ≥ 500; UNDERPOWERED below\" — and a FAILS names "
        "where, and in how many of the claim's checks, it failed (\"FAILS at sin3, N = 500: 1 of 18 checks\").")
