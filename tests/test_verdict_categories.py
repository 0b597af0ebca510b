"""Verdicts that settle or say what would (issue #25, item 3): a paired check is HOLDS, FAILS,
EQUIVALENT (TOST inside the claim's margin) or UNDERPOWERED (with the seeds that would resolve the
margin), and a claim's checks are corrected by Holm. Checked against scipy's t-intervals and
statsmodels' Holm, never against the code itself."""

from __future__ import annotations

import gc
from dataclasses import replace
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from scipy import stats
from statsmodels.stats import multitest

from harness import Ordering
from harness.suites.claims import Point
from harness.suites.statistics import (ALPHA, EQUIVALENT, FAILS, HOLDS, INCOMPLETE, MAX_SEEDS_NAMED, UNDERPOWERED,
                                       combine, holm, holm_decide, paired, seeds_to_resolve)


def interval(d: np.ndarray) -> tuple[float, float]:
    return stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))


def multipletests(pvalues, method: str):
    """statsmodels' multipletests, without the full ``gc.collect()`` it runs on every call (0.1 s
    each inside a pytest process; it does not touch the result)."""
    with mock.patch.object(gc, "collect", lambda *args: 0):
        return multitest.multipletests(pvalues, method=method)


# hypothesis: its caches outside the checkout, no example database (nothing written into the checkout), a fixed budget of examples
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "conceptbench-hypothesis"))
FAST = settings(max_examples=60, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
P_VALUES = st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.025, 0.05, 1.0])), min_size=1,
                    max_size=20)


@FAST
@given(P_VALUES)
def test_holm_adjusts_as_statsmodels_does(p):
    """Any family of p-values, ties and zeros included: Holm's adjusted p-values are statsmodels'."""
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), rel=1e-12, abs=1e-15)


@FAST
@given(P_VALUES)
def test_holm_rejects_what_statsmodels_rejects_at_the_checks_level(p):
    assert [q < ALPHA for q in holm(p)] == list(multipletests_reject(p))


def multipletests_reject(p):
    """statsmodels' rejections at ALPHA (its rule is p_adjusted ≤ alpha; ours is < alpha: the
    two differ only on an adjusted p exactly at alpha, which these draws avoid)."""
    adjusted = multipletests(p, method="holm")[1]
    assume(all(abs(q - ALPHA) > 1e-12 for q in adjusted))
    return adjusted < ALPHA


SAMPLES = st.lists(st.floats(-1, 1, allow_subnormal=False), min_size=2, max_size=12)


@FAST
@given(SAMPLES, st.floats(0.5, 2), st.floats(0.01, 0.5))
def test_a_paired_check_is_scipys_interval_tests_and_tost(d, base, margin):
    """One paired check against scipy on any differences: its interval is ``ttest_1samp``'s 95%
    confidence interval and ``t.interval``'s; its p-values are ``ttest_1samp``'s one-sided ones
    against 0 and, for the TOST, against −δ and +δ; its verdict the interval rule (alone, no Holm)."""
    d = np.round(np.asarray(d), 6)
    assume(np.ptp(d) > 1e-6)  # scipy's t is undefined without spread (statistics.one_sided decides those)
    a = base + d
    b = np.full_like(d, base)
    check = paired("t", 100, "a", "b", dict(enumerate(a)), dict(enumerate(b)), margin=margin)
    diff = a - b
    ci = stats.ttest_1samp(diff, 0.0).confidence_interval(0.95)
    assert (check.lo, check.hi) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-12)
    assert (check.lo, check.hi) == pytest.approx(interval(diff), rel=1e-9, abs=1e-12)
    delta = margin * max(abs(a.mean()), abs(b.mean()))
    assert check.margin == pytest.approx(delta)
    assert check.p_claim == pytest.approx(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue)
    assert check.p_other == pytest.approx(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)
    tost = max(stats.ttest_1samp(diff, -delta, alternative="greater").pvalue,
               stats.ttest_1samp(diff, delta, alternative="less").pvalue)
    assert check.p_equivalent == pytest.approx(tost)
    lo, hi = ci.low, ci.high
    assume(min(abs(lo), abs(hi), abs(lo + delta), abs(hi - delta)) > 1e-9)  # not on a boundary
    expected = HOLDS if hi < 0 else FAILS if lo > 0 else EQUIVALENT if -delta < lo and hi < delta else UNDERPOWERED
    assert check.status == expected
    if expected == UNDERPOWERED:  # the seeds named: the first n whose scipy half-width is below δ
        s = diff.std(ddof=1)
        half = lambda k: stats.t.ppf(0.975, k - 1) * s / np.sqrt(k)  # noqa: E731
        n = check.seeds_needed
        assert n > MAX_SEEDS_NAMED or (half(n) < delta and (n == 2 or half(n - 1) >= delta))


def test_one_check_decides_by_its_95_percent_interval():
    """Alone (no correction), HOLDS ⇔ the 95% t-interval (scipy) lies below 0, FAILS ⇔ above, and
    EQUIVALENT ⇔ it lies inside ±δ, δ = 10% of the larger mean: on many random pairs."""
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(150):
        k = int(rng.integers(2, 9))
        a = rng.uniform(0.5, 1.5) + rng.normal(0, rng.uniform(0.001, 0.3), k)
        b = a + rng.normal(rng.uniform(-0.3, 0.3), rng.uniform(0.001, 0.3), k)
        check = paired("t", 100, "a", "b", dict(enumerate(a)), dict(enumerate(b)))
        lo, hi = interval(a - b)
        delta = 0.1 * max(abs(a.mean()), abs(b.mean()))
        expected = (HOLDS if hi < 0 else FAILS if lo > 0 else EQUIVALENT if -delta < lo and hi < delta
                    else UNDERPOWERED)
        assert check.status == expected, (a, b)
        assert (check.lo, check.hi) == pytest.approx((lo, hi))
        seen.add(check.status)
    assert seen == {HOLDS, FAILS, EQUIVALENT, UNDERPOWERED}


def test_the_tost_p_value_is_scipys_two_one_sided_tests():
    rng = np.random.default_rng(2)
    a, b = 1 + rng.normal(0, 0.01, 6), 1 + rng.normal(0, 0.01, 6)
    check = paired("t", 100, "a", "b", dict(enumerate(a)), dict(enumerate(b)))
    d, delta = a - b, 0.1 * max(a.mean(), b.mean())
    lower = stats.ttest_1samp(d, -delta, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, delta, alternative="less").pvalue
    assert check.p_equivalent == pytest.approx(max(lower, upper)) and check.status == EQUIVALENT
    assert check.margin == pytest.approx(delta)


def test_underpowered_names_the_seeds_whose_interval_would_resolve_the_margin():
    rng = np.random.default_rng(3)
    for _ in range(50):
        s, delta = rng.uniform(0.01, 1), rng.uniform(0.01, 1)
        n = seeds_to_resolve(s, delta)
        if n > 100:
            continue
        half = lambda k: stats.t.ppf(0.975, k - 1) * s / np.sqrt(k)  # noqa: E731
        assert half(n) < delta and (n == 2 or half(n - 1) >= delta)
    assert seeds_to_resolve(1.0, 1e-6) == MAX_SEEDS_NAMED + 1 and seeds_to_resolve(0.0, 0.1) == 2
    a, b = {0: 1.0, 1: 1.2, 2: 0.9}, {0: 1.1, 1: 0.95, 2: 1.05}  # overlapping, spread ≫ 10%
    check = paired("t", 100, "a", "b", a, b)
    d = np.array([a[k] - b[k] for k in a])
    assert check.status == UNDERPOWERED and check.seeds_needed == seeds_to_resolve(d.std(ddof=1), 0.1 * 1.05)
    lone = paired("t", 100, "a", "b", {0: 1.0}, {0: 2.0})
    assert lone.status == UNDERPOWERED and "fewer than 2 paired seeds" in lone.note


def test_holm_can_take_a_check_below_its_raw_level_back_to_undecided():
    """Three checks whose one-sided p-values are 0.001, 0.012 and 0.02: each alone HOLDS (p < 2.5%),
    together Holm keeps only the first two (0.003, 0.024 < 0.025; 0.02 × 1 after them is monotone:
    0.024), as statsmodels says."""
    rng = np.random.default_rng(4)
    checks, raw = [], []
    for target in (0.001, 0.012, 0.02):
        d = rng.normal(0, 1, 5)
        d = (d - d.mean()) / d.std(ddof=1)  # mean 0, sd 1: then shift to the t giving the one-sided p
        t = stats.t.ppf(target, 4)
        d = d + t / np.sqrt(5)
        a = {i: 1.0 + x for i, x in enumerate(d)}
        b = {i: 1.0 for i in range(5)}
        checks.append(paired("t", 100 * (len(checks) + 1), "a", "b", a, b, margin=0.0))
        raw.append(stats.ttest_1samp(d, 0.0, alternative="less").pvalue)
    assert raw == pytest.approx([0.001, 0.012, 0.02], rel=1e-6)
    assert [c.status for c in checks] == [HOLDS] * 3  # each alone
    decided = holm_decide(checks)
    adjusted = multipletests(raw, method="holm")[1]
    assert [c.holm[0] for c in decided] == pytest.approx(list(adjusted))
    assert [c.status for c in decided] == [HOLDS if p < ALPHA else UNDERPOWERED for p in adjusted]


def point(learner: str, n: int, seed: int, score: float) -> Point:
    return Point("t", "t", {}, learner, learner, {}, n, seed, score)


def test_an_ordering_claim_is_corrected_across_its_checks_and_states_a_margin():
    rng = np.random.default_rng(5)
    pts = []
    for n in (100, 200, 400):
        for seed in range(4):
            base = 1 + rng.normal(0, 0.001)
            pts += [point("a", n, seed, base * 0.5), point("b", n, seed, base * (1 + rng.normal(0, 0.002))),
                    point("c", n, seed, base * 2)]
    result = Ordering(learners=("a", "b", "c"), text="t", source="s", margin=0.05).evaluate(pts)
    by = {(c.what, c.n): c for c in result.checks}
    assert all(by[("b − c", n)].status == HOLDS for n in (100, 200, 400))
    assert all(by[("a − b", n)].status == HOLDS for n in (100, 200, 400))
    raw = [c.p_claim for c in result.checks]
    assert [c.holm[0] for c in result.checks] == pytest.approx(list(multipletests(raw, method="holm")[1]))
    same = [point(x, 100, s, 1.0 + 0.001 * ((s * 7 + ord(x)) % 3)) for x in "ab" for s in range(5)]
    eq = Ordering(learners=("a", "b"), text="t", source="s").evaluate(same)
    assert eq.status == EQUIVALENT and eq.checks[0].margin == pytest.approx(0.1 * max(
        np.mean([p.score for p in same if p.learner == x]) for x in "ab"))


def test_underpowered_checks_of_a_claim_name_seeds_at_holms_strictest_level():
    """Within a claim of m paired checks the seeds named are the smallest n whose half-width at
    scipy's t quantile 1 − 0.025/m is below δ (Holm may ask that level of any one check), so that
    a difference of δ is resolved whatever the other checks show; m = 1 is the 95% interval's."""
    rng = np.random.default_rng(6)
    pts = []
    for n in (100, 200, 400):
        for seed in range(3):
            base = 1 + rng.normal(0, 0.05)
            pts += [point("a", n, seed, base), point("b", n, seed, base + rng.normal(0, 0.2)),
                    point("c", n, seed, base + rng.normal(0, 0.3))]
    result = Ordering(learners=("a", "b", "c"), text="t", source="s").evaluate(pts)
    m = len(result.checks)
    assert m == 6
    named = 0
    for check in result.checks:
        x, y = check.pair
        by = {(p.learner, p.seed): p.score for p in pts if p.n == check.n}
        d = np.array([by[(x, s)] - by[(y, s)] for s in range(3)])
        s = d.std(ddof=1)
        half = lambda k: stats.t.ppf(1 - 0.025 / m, k - 1) * s / np.sqrt(k)  # noqa: E731
        expected = next(k for k in range(2, 10_000) if half(k) < check.margin)
        assert check.seeds_needed == expected
        named += check.status == UNDERPOWERED
    assert named >= 3


def test_an_underpowered_check_with_enough_seeds_says_its_estimate_lies_between_0_and_the_margin():
    from harness.reporting.verdicts import checks_table
    from harness.suites.claims import ClaimResult
    from harness.suites.statistics import Check

    claim = Ordering(learners=("a", "b"), text="t", source="s")
    short = Check("t", 100, "a − b", 3, 0, 0.05, -0.01, 0.11, UNDERPOWERED, margin=0.1, seeds_needed=8)
    enough = Check("t", 200, "a − b", 9, 0, 0.05, -0.01, 0.11, UNDERPOWERED, margin=0.1, seeds_needed=8)
    rows = checks_table(ClaimResult(claim, UNDERPOWERED, "", [short, enough]))
    assert rows[0][-1] == "UNDERPOWERED (≈ 8 paired seeds would resolve ±0.1)"
    assert rows[1][-1] == ("UNDERPOWERED (9 paired seeds resolve ±0.1 at this spread, but the estimate lies between 0 "
                           "and the margin)")


def test_a_check_whose_planned_cells_are_not_all_stored_is_incomplete_whatever_its_seeds_say():
    a, b = {0: 0.10, 1: 0.11, 2: 0.12}, {0: 0.50, 1: 0.52, 2: 0.55}  # alone: a clear a < b
    assert paired("x", 100, "a", "b", a, b).status == HOLDS
    c = paired("x", 100, "a", "b", a, b, absent=(set(), {3, 4}))
    d = np.array([a[s] - b[s] for s in range(3)])
    assert c.status == INCOMPLETE and c.absent == 2 and c.dropped == 0 and c.count == 3
    assert (c.lo, c.hi) == pytest.approx(interval(d))  # the numbers of the seeds stored so far
    assert c.note == "2 planned cell(s) not in the store yet (seed(s) 3, 4): run the suite to add them"
    # in Holm's family as if complete: the other check's adjusted p is statsmodels' over both
    other = paired("x", 200, "a", "b", {0: 0.1, 1: 0.3, 2: 0.2}, {0: 0.4, 1: 0.35, 2: 0.5})
    holm_decide([c, other])
    assert c.status == INCOMPLETE
    assert other.holm[0] == pytest.approx(multipletests([c.p_claim, other.p_claim], method="holm")[1][1])
    # no seed stored on one side yet: fewer than 2 paired seeds, still INCOMPLETE rather than UNDERPOWERED
    assert paired("x", 100, "a", "b", a, {}, absent=(set(), {0, 1, 2})).status == INCOMPLETE
    # a claim at an N where one learner has not run: INCOMPLETE there, and the claim says so
    pts = [point(x, n, s, base) for n in (100, 200) for s in range(3) for x, base in (("a", 0.1 + 0.01 * s),
                                                                                     ("b", 0.5 + 0.02 * s))]
    pts = [p for p in pts if not (p.learner == "b" and p.n == 200)]
    pts += [replace(point("b", 200, s, 0.0), score=None, stored=False) for s in range(3)]
    result = Ordering(learners=("a", "b"), text="t", source="s").evaluate(pts)
    assert [c.status for c in result.checks] == [HOLDS, INCOMPLETE]
    assert result.verdict == "HOLDS at N = 100; INCOMPLETE above"
    assert combine([HOLDS, INCOMPLETE, UNDERPOWERED]) == INCOMPLETE and combine([FAILS, INCOMPLETE]) == FAILS
