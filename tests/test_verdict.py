"""Claims checked on synthetic stores whose answer is known: the verdict lines, and every
interval on verdict.md against scipy.stats computed here from the store's own rows."""

import re
import sqlite3

import numpy as np
import pytest
from scipy import stats

from harness import Ordering, Slope, suiteboard
from harness.registry import load_registry
from harness.runner import plan
from harness.store import Store
from suite_plugin import fill, install, section, table

BASE = {"a": 0.1, "b": 0.2, "c": 0.4}


def wobble(spec, size=0.02):
    """A small, fixed, seed- and N-dependent factor around 1."""
    return 1 + size * np.sin(1.7 * spec.seed + spec.n)


@pytest.fixture
def synth(fake_plugin, monkeypatch, tmp_path, bench):
    """``verdict(score)`` fills the store with ``score(spec)`` for every cell of suite ``synth``
    and returns its verdict.md, rebuilt by `bench leaderboard --suite synth`."""
    install(fake_plugin, monkeypatch)
    reg = load_registry()
    assert not reg.problems
    cells = suiteboard.cells(reg, reg.suites["synth"].at())
    store = Store(tmp_path / "store.sqlite")  # the bench fixture's store

    def verdict(score):
        fill(store, cells, score)
        code, out, err = bench("leaderboard", "--suite", "synth", "--out", str(tmp_path / "lb"))
        assert code == 0, err
        return (tmp_path / "lb" / "synth" / "verdict.md").read_text()

    verdict.store, verdict.cells, verdict.db = store, cells, tmp_path / "store.sqlite"
    return verdict


def scores(db, learner, n, label=None):
    """seed → test score of the ok rows of ``learner`` at ``n``, read with plain SQL."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seed, test_score, learner_params FROM cells WHERE learner=? AND n=? AND status='ok'",
                       (learner, n)).fetchall()
    return {seed: s for seed, s, params in rows if label is None or label in params}


def number(text):
    return float(text.replace("−", "-"))


def interval(text):
    lo, hi = re.fullmatch(r"\[(\S+), (\S+)\]", text).groups()
    return number(lo), number(hi)


def close(shown, exact):
    return shown == pytest.approx(exact, rel=6e-3, abs=1e-12)  # pages show 3 significant digits


def claim_rows(md, i):
    return table(section(md, f"Claim {i}:"))


def verdict_line(md, i):
    lines = section(md, "Verdicts").splitlines()
    return next(line for line in lines if line.startswith(f"{i}. "))


def check_pairs_against_scipy(md, db):
    """Every pair row of claim 1 equals scipy's paired t-interval over the store's seeds."""
    rows = claim_rows(md, 1)
    assert len(rows) == 3 * 2  # 3 Ns × 2 consecutive pairs
    for row in rows:
        a, b = row["check"].split(" − ")
        sa, sb = scores(db, a, int(row["N"])), scores(db, b, int(row["N"]))
        seeds = sorted(set(sa) & set(sb))
        assert row["seeds / points"] == str(len(seeds))
        d = np.array([sa[s] - sb[s] for s in seeds])
        assert close(number(row["estimate"]), d.mean())
        if len(seeds) >= 2:
            lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
            shown = interval(row["95% interval"])
            assert close(shown[0], lo) and close(shown[1], hi)
    return rows


def test_a_clear_ordering_holds_at_every_n_with_scipys_intervals(synth):
    md = synth(lambda s: BASE.get(s.learner.name, 0.3) * wobble(s))
    rows = check_pairs_against_scipy(md, synth.db)
    assert all(r["verdict"] == "HOLDS" for r in rows)
    line = verdict_line(md, 1)
    assert line.startswith("1. **HOLDS** — a < b < c on line: HOLDS at every N.")
    assert "At N = 400: a − b = " in line and "4 seed(s)" in line  # the numbers behind it


def test_a_reversed_ordering_fails(synth):
    md = synth(lambda s: BASE.get({"a": "c", "c": "a"}.get(s.learner.name, s.learner.name), 0.3) * wobble(s))
    rows = check_pairs_against_scipy(md, synth.db)
    assert all(r["verdict"] == "FAILS" for r in rows)
    assert verdict_line(md, 1).startswith("1. **FAILS** — a < b < c on line: FAILS at every N")


def test_overlapping_scores_are_not_separable(synth):
    # a − b alternates in sign over the seeds: its interval crosses 0 at every N
    md = synth(lambda s: BASE.get(s.learner.name, 0.3) * wobble(s)
               + (0.1 * (-1) ** s.seed if s.learner.name == "a" else 0.0))
    rows = check_pairs_against_scipy(md, synth.db)
    assert {r["verdict"] for r in rows if r["check"] == "a − b"} == {"NOT SEPARABLE"}
    assert {r["verdict"] for r in rows if r["check"] == "b − c"} == {"HOLDS"}
    assert verdict_line(md, 1).startswith("1. **NOT SEPARABLE** — a < b < c on line: NOT SEPARABLE at every N")


def test_per_n_summary_and_fewer_than_two_paired_seeds(synth):
    def score(s):
        if s.learner.name == "b" and s.n == 400 and s.seed > 0:
            return None if s.seed == 1 else "skip"  # failed, or never stored: one seed left
        if s.learner.name == "a" and s.n == 100:
            return BASE["b"] + 0.1 * (-1) ** s.seed  # overlapping at the smallest N
        return BASE.get(s.learner.name, 0.3) * wobble(s)

    md = synth(score)
    rows = check_pairs_against_scipy(md, synth.db)
    at_400 = {r["check"]: r for r in rows if r["N"] == "400"}
    for pair in ("a − b", "b − c"):
        assert at_400[pair]["seeds / points"] == "1"
        assert at_400[pair]["verdict"].startswith("NOT SEPARABLE (fewer than 2 paired seeds; 3 seed(s) with a "
                                                  "result on one side only, left out)")
    assert verdict_line(md, 1).startswith(
        "1. **NOT SEPARABLE** — a < b < c on line: HOLDS at N = 200; NOT SEPARABLE at N ∈ {100, 400}.")


def test_slopes_against_n_and_width_equal_scipys_linregress(synth):
    def score(s):
        noise = np.exp(0.1 * np.sin(3.1 * s.seed + s.n))
        if s.learner.name == "a":
            return 3.0 * s.n ** -0.5 * noise
        if s.learner.name == "ridge":
            return 0.5 * s.learner.grid_spec["width"][0] ** -1.0 * noise
        return BASE[s.learner.name]

    md = synth(score)
    con = sqlite3.connect(synth.db)
    pts = con.execute("SELECT n, test_score FROM cells WHERE learner='a'").fetchall()
    fit = stats.linregress(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]))
    half = stats.t.ppf(0.975, len(pts) - 2) * fit.stderr
    (row,) = claim_rows(md, 2)
    assert row["N"] == "all" and row["seeds / points"] == "12" and row["verdict"] == "HOLDS"
    assert close(number(row["estimate"]), fit.slope) and fit.slope == pytest.approx(-0.5, abs=0.05)
    lo, hi = interval(row["95% interval"])
    assert close(lo, fit.slope - half) and close(hi, fit.slope + half)
    assert "**HOLDS** — slope of log a error vs log N ≤ 0: slope of log a vs log N = -0.5" in verdict_line(md, 2)

    rows = claim_rows(md, 3)
    assert [r["N"] for r in rows] == ["100", "200", "400"]
    for row in rows:
        pts = con.execute("SELECT learner_params, test_score FROM cells WHERE learner='ridge' AND n=?",
                          (int(row["N"]),)).fetchall()
        widths = [int(re.search(r"\[(\d+)\]", p).group(1)) for p, _ in pts]
        fit = stats.linregress(np.log(widths), np.log([s for _, s in pts]))
        half = stats.t.ppf(0.975, len(pts) - 2) * fit.stderr
        assert row["seeds / points"] == "12" and row["verdict"] == "HOLDS"
        assert close(number(row["estimate"]), fit.slope)
        lo, hi = interval(row["95% interval"])
        assert close(lo, fit.slope - half) and close(hi, fit.slope + half)


def test_only_the_suites_own_cells_count(synth, tmp_path):
    reg = load_registry()
    line, a = reg.tasks["line"], reg.learners["a"]
    planned = {c.cell_id for c in synth.cells}
    # The same task and learner in cells the suite does not plan: another N, grid or task variant.
    others = plan([line, line.with_params(noise=0.5)], [a, a.with_params(alpha=[5.0])], [100, 800], range(4),
                  synth.cells[0].protocol)
    strangers = [spec for spec in others if spec.cell_id not in planned]
    assert len(strangers) == 2 * 2 * 2 * 4 - 4  # all but line × a × N=100 × 4 seeds, which are the suite's
    fill(synth.store, strangers, lambda s: 777.0)
    md = synth(lambda s: BASE.get(s.learner.name, 0.3) * wobble(s))
    assert "777" not in md and "e+02" not in md and "N = 800" not in md
    rows = {r["check"]: r for r in claim_rows(md, 1) if r["N"] == "100"}
    mine = [BASE["a"] * wobble(c) - BASE["b"] * wobble(c) for c in synth.cells  # pairs: same N and seed
            if c.learner.name == "a" and c.n == 100]
    assert rows["a − b"]["seeds / points"] == "4" and close(number(rows["a − b"]["estimate"]), np.mean(mine))
    page = (tmp_path / "lb" / "synth" / "line.md").read_text()
    assert [h for h in table(page)[0] if h.startswith("N=")] == ["N=100", "N=200", "N=400"]
    assert "alpha=5.0" not in page and "777" not in page
    assert "- Cells: 72 of 72 planned cells stored, 72 ok." in md  # 6 learner variants × 3 Ns × 4 seeds


@pytest.mark.parametrize("make, words", [
    (lambda: Ordering(learners=("a",), text="", source=""), "at least two learners"),
    (lambda: Slope(learner="a", text="", source=""), "exactly one of at_most= and at_least="),
    (lambda: Slope(learner="a", at_most=0, at_least=0, text="", source=""), "exactly one of"),
])
def test_malformed_claims_are_refused(make, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        make()


def test_a_claim_naming_a_learner_the_suite_does_not_run_is_a_plugin_problem(fake_plugin, monkeypatch):
    fake_plugin("badclaim", """
        from harness import Ordering, Suite, hookimpl

        @hookimpl
        def register_suites(register):
            register(Suite(name="bad", description="", tasks={"sin3": {}}, learners={"ntk": {}}, ns=(10,),
                           claims=(Ordering(learners=("ntk", "nkt"), text="", source=""),)))
    """)
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,badclaim,sin3,ntk")
    reg = load_registry()
    assert "bad" not in reg.suites, reg.problems
    words = "registered a bad suite: ValueError: claim 'ntk < nkt' names learner 'nkt', which suite 'bad' does not run"
    assert any(words in p for p in reg.problems), reg.problems


def test_a_selector_names_one_variant_of_a_learner_run_twice():
    from harness.verdict import Point

    def points(train, base):
        return [Point("t", "t", {}, "net", f"net (train={train})", {"train": train, "width": 8}, n, seed,
                      base + 0.01 * seed) for n in (10, 20) for seed in range(3)]

    pts = points("hidden", 0.1) + points("last", 0.5)
    result = Ordering(learners=("net[train=hidden]", "net[train=last]"), task="t", text="x", source="y").evaluate(pts)
    assert result.status == "HOLDS" and all(c.estimate == pytest.approx(-0.4) and c.count == 3 for c in result.checks)
    reverse = Ordering(learners=("net[train=last]", "net[train=hidden]"), task="t", text="x", source="y")
    assert reverse.evaluate(pts).status == "FAILS"
