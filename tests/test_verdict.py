"""Claims checked on synthetic stores whose answer is known: the verdict lines, and every
interval on verdict.md against scipy.stats computed here from the store's own rows."""

import re
import sqlite3

import numpy as np
import pytest
from scipy import stats

from harness import Ordering, Slope
from harness.reporting import suite_pages
from harness.execution.registry import load_registry
from harness.execution.runner import plan
from harness.storage.store import Store
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
    cells = suite_pages.cells(reg, reg.suites["synth"].at())
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
    assert line == "1. **HOLDS** — a < b < c on line: HOLDS at every N."
    numbers = section(md, "Claim 1:").strip().splitlines()[0]  # the numbers behind it, over the table
    assert numbers.startswith("**HOLDS**. At N = 400: a − b = ") and "4 seed(s)" in numbers


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
    assert {r["verdict"].split(" (")[0] for r in rows if r["check"] == "a − b"} == {"UNDERPOWERED"}
    assert {r["verdict"] for r in rows if r["check"] == "b − c"} == {"HOLDS"}
    assert verdict_line(md, 1).startswith("1. **UNDERPOWERED** — a < b < c on line: UNDERPOWERED at every N")


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
        # b's seeds 2 and 3 were never stored: the check waits for them (INCOMPLETE), and only the
        # failed seed 1 counts as a result on one side only
        assert at_400[pair]["verdict"] == (
            "INCOMPLETE (fewer than 2 paired seeds; 2 planned cell(s) not in the store yet (seed(s) 2, 3): run the "
            "suite to add them; 1 seed(s) with a result on one side only — a failed cell, or a seed added for "
            "another check — left out)")
    # the headline says where each status was found, rather than one word its own line contradicts
    assert verdict_line(md, 1) == ("1. **HOLDS at N = 200; INCOMPLETE at N = 400; UNDERPOWERED at N = 100** — "
                                   "a < b < c on line.")


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
    from harness.suites.claims import Point

    def points(train, base):
        return [Point("t", "t", {}, "net", f"net (train={train})", {"train": train, "width": 8}, n, seed,
                      base + 0.01 * seed) for n in (10, 20) for seed in range(3)]

    pts = points("hidden", 0.1) + points("last", 0.5)
    result = Ordering(learners=("net[train=hidden]", "net[train=last]"), task="t", text="x", source="y").evaluate(pts)
    assert result.status == "HOLDS" and all(c.estimate == pytest.approx(-0.4) and c.count == 3 for c in result.checks)
    reverse = Ordering(learners=("net[train=last]", "net[train=hidden]"), task="t", text="x", source="y")
    assert reverse.evaluate(pts).status == "FAILS"


# -- conditions as suite axes (issue #13) ---------------------------------------------------------

SIGMA = {0.0: "σ = 0·std y", 0.1: "σ = 0.1·std y", 0.5: "σ = 0.5·std y"}


@pytest.fixture
def cond(fake_plugin, monkeypatch, tmp_path, bench):
    """``verdict(score)``: suite ``cond`` (label_sigma ∈ {0, 0.1, 0.5}) filled with ``score(spec)``."""
    from suite_plugin import install_conditions

    install_conditions(fake_plugin, monkeypatch)
    reg = load_registry()
    assert not reg.problems, reg.problems
    cells = suite_pages.cells(reg, reg.suites["cond"].at())
    store = Store(tmp_path / "store.sqlite")

    def verdict(score):
        fill(store, cells, score)
        code, out, err = bench("leaderboard", "--suite", "cond", "--out", str(tmp_path / "lb"))
        assert code == 0, err
        return (tmp_path / "lb" / "cond" / "verdict.md").read_text()

    verdict.cells, verdict.db, verdict.lb = cells, tmp_path / "store.sqlite", tmp_path / "lb"
    return verdict


# Known per condition: a < b < c without noise and at σ = 0.1, b < a at σ = 0.5; ridge beats kern at
# width 1 and loses at width 2; ridge (width=1) is below 0.15, ridge (width=2) above.
def by_condition(s):
    sigma = s.protocol.label_sigma
    base = {"a": 0.1, "b": 0.2, "c": 0.4, "kern": 0.35}
    if s.learner.name == "a" and sigma == 0.5:
        return 0.3 * wobble(s)
    if s.learner.name == "ridge":
        return (0.1 if s.learner.grid_spec["width"] == [1] else 0.5) * wobble(s)
    return base[s.learner.name] * wobble(s)


def cond_scores(db, learner, n, sigma, width=None):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seed, test_score, learner_params FROM cells WHERE learner=? AND n=? AND "
                       "label_sigma=? AND status='ok'", (learner, n, sigma)).fetchall()
    return {seed: sc for seed, sc, params in rows if width is None or f'"width": [{width}]' in params}


def test_a_suite_plans_its_cells_once_per_condition(cond):
    reg = load_registry()
    suite = reg.suites["cond"]
    sigmas = [c.protocol.label_sigma for c in cond.cells]
    assert len(cond.cells) == 3 * 6 * 2 * 4  # conditions × learner variants × N × seeds
    assert {s: sigmas.count(s) for s in set(sigmas)} == {0.0: 48, 0.1: 48, 0.5: 48}
    assert len({c.cell_id for c in cond.cells}) == len(cond.cells)
    paper = suite_pages.cells(reg, suite.at("paper"))  # the paper scale's own conditions
    assert len(paper) == 2 * 6 * 1 * 4
    assert sorted({(c.protocol.label_noise, c.protocol.label_sigma) for c in paper}) == [(0.0, 0.0), (0.5, 0.0)]


def test_each_claim_is_checked_and_stated_per_condition(cond):
    md = cond(by_condition)
    rows = claim_rows(md, 1)
    assert [r["condition"] for r in rows] == [f"line, {SIGMA[s]}" for s in (0.0, 0.1, 0.5) for _ in range(4)]
    for row in rows:  # every interval against scipy on the store's rows of that condition
        sigma = {v: k for k, v in SIGMA.items()}[row["condition"].split(", ")[1]]
        a, b = row["check"].split(" − ")
        sa, sb = (cond_scores(cond.db, x, int(row["N"]), sigma) for x in (a, b))
        d = np.array([sa[s] - sb[s] for s in sorted(sa)])
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert close(number(row["estimate"]), d.mean()) and row["seeds / points"] == "4"
        assert all(map(close, interval(row["95% interval"]), (lo, hi)))
        expected = "FAILS" if (sigma == 0.5 and row["check"] == "a − b") else "HOLDS"
        assert row["verdict"] == expected
    failed = sum(r["verdict"] == "FAILS" for r in rows)
    assert failed == 2  # a − b at σ = 0.5, at both N: the headline says where, and out of how many
    assert verdict_line(md, 1) == (
        f"1. **FAILS at line, σ = 0.5·std y, every N: {failed} of {len(rows)} checks** — a < b < c on line: line, "
        "σ = 0·std y: HOLDS at every N; line, σ = 0.1·std y: HOLDS at every N; line, σ = 0.5·std y: FAILS at every N.")
    assert section(md, "Claim 1:").strip().startswith("**FAILS at line, σ = 0.5·std y, every N: 2 of 12 checks**. "
                                                      "At N = 200: line, σ = 0·std y: a − b = ")
    # a claim limited to one condition is checked there only
    rows = claim_rows(md, 5)
    assert {r["condition"] for r in rows} == {"line, σ = 0.5·std y"} and {r["verdict"] for r in rows} == {"HOLDS"}
    assert verdict_line(md, 5).startswith("5. **HOLDS** — b < a (label_sigma=0.5): line, σ = 0.5·std y: HOLDS at every N.")
    grid_line = next(line for line in md.splitlines() if line.startswith("- Grid:"))
    assert "conditions: σ = 0·std y; σ = 0.1·std y; σ = 0.5·std y" in grid_line


def test_a_verdict_names_its_condition_while_only_one_is_stored(cond):
    md = cond(lambda s: by_condition(s) if s.protocol.label_sigma == 0.0 else "skip")
    assert verdict_line(md, 1).startswith(
        "1. **HOLDS at 2 of 6 (condition, N); INCOMPLETE at 4** — a < b < c on line: line, σ = 0·std y: HOLDS at "
        "every N; line, σ = 0.1·std y: INCOMPLETE at every N; line, σ = 0.5·std y: INCOMPLETE at every N.")
    assert "- Cells: 48 of 144 planned cells stored, 48 ok." in md


def test_an_ordering_per_width_names_the_width_and_keeps_a_widthless_learner_in_each(cond):
    md = cond(by_condition)
    rows = claim_rows(md, 2)
    assert {r["condition"] for r in rows} == {f"line, {SIGMA[s]}, width={w}" for s in SIGMA for w in (1, 2)}
    for row in rows:
        sigma = {v: k for k, v in SIGMA.items()}[row["condition"].split(", ")[1]]
        width = int(row["condition"].rsplit("=", 1)[1])
        sa = cond_scores(cond.db, "ridge", int(row["N"]), sigma, width)
        sk = cond_scores(cond.db, "kern", int(row["N"]), sigma)
        assert close(number(row["estimate"]), np.mean([sa[s] - sk[s] for s in sa]))
        assert row["verdict"] == ("HOLDS" if width == 1 else "FAILS")
    line = verdict_line(md, 2)
    assert line.startswith("2. **FAILS at line, σ = 0·std y, width=2, every N and line, σ = 0.1·std y, width=2, "
                           f"every N and line, σ = 0.5·std y, width=2, every N: {len(rows) // 2} of {len(rows)} "
                           "checks** — ridge < kern, per width: line, σ = 0·std y, width=1: HOLDS at every N; "
                           "line, σ = 0·std y, width=2: FAILS at every N;")


def test_beats_and_threshold_per_condition_against_scipy(cond):
    md = cond(by_condition)
    beats = claim_rows(md, 3)
    assert len(beats) == 3 * 2 * 3  # conditions × N × others
    for row in beats:  # at σ = 0.5, a scores 0.3: above b (0.2), below kern (0.35) and c (0.4)
        noisy = row["condition"].endswith(SIGMA[0.5])
        sa, so = (cond_scores(cond.db, x, int(row["N"]), 0.5 if noisy else 0.1 if "0.1" in row["condition"]
                              else 0.0) for x in row["check"].split(" − "))
        d = np.array([sa[s] - so[s] for s in sorted(sa)])
        assert close(number(row["estimate"]), d.mean())
        lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert row["verdict"] == ("HOLDS" if hi < 0 else "FAILS" if lo > 0 else "NOT SEPARABLE")
        if not noisy or row["check"] == "a − c":
            assert row["verdict"] == "HOLDS"
    noisy = [r["verdict"] for r in beats if r["condition"].endswith(SIGMA[0.5]) and r["check"] == "a − b"]
    assert noisy == ["FAILS", "FAILS"]
    assert verdict_line(md, 3).startswith(f"3. **FAILS at line, σ = 0.5·std y, every N: {len(noisy)} of {len(beats)} "
                                          "checks** — a < each of b, c, kern: line, σ = 0·std y: HOLDS "
                                          "at every N; line, σ = 0.1·std y: HOLDS at every N; line, σ = 0.5·std y: "
                                          "FAILS at every N.")
    rows = claim_rows(md, 4)
    assert [(r["condition"], r["N"], r["check"]) for r in rows] == [
        (f"line, {SIGMA[s]}", "200", f"mean ridge (width={w})") for s in (0.0, 0.1, 0.5) for w in (1, 2)]
    for row in rows:
        sigma = {v: k for k, v in SIGMA.items()}[row["condition"].split(", ")[1]]
        width = int(row["check"][-2])
        v = np.array(list(cond_scores(cond.db, "ridge", 200, sigma, width).values()))
        lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
        assert row["seeds / points"] == "4" and close(number(row["estimate"]), v.mean())
        assert all(map(close, interval(row["95% interval"]), (lo, hi)))
        assert row["verdict"] == ("HOLDS" if width == 1 else "FAILS")  # 0.1 ± 2% and 0.5 ± 2% against 0.15


def test_the_task_page_has_a_section_per_condition(cond):
    cond(by_condition)
    page = (cond.lb / "cond" / "line.md").read_text()
    headings = [line for line in page.splitlines() if line.startswith("## line")]
    assert len(headings) == 3
    assert sum("label σ = 0.1·std y" in h for h in headings) == 1 and sum("label σ = 0.5·std y" in h
                                                                           for h in headings) == 1


def test_a_threshold_with_no_spread_is_a_point_interval():
    from harness import Threshold
    from harness.suites.claims import Point

    pts = [Point("t", "t", {}, "net", "net", {}, 10, seed, 0.0) for seed in range(3)]
    result = Threshold(learner="net", at_most=0.05, text="x", source="y").evaluate(pts)
    (check,) = result.checks
    assert (check.estimate, check.lo, check.hi, result.status) == (0.0, 0.0, 0.0, "HOLDS")
    one = Threshold(learner="net", at_most=0.05, text="x", source="y").evaluate(pts[:1])
    assert one.status == "NOT SEPARABLE" and "fewer than 2 seeds" in one.checks[0].note


@pytest.mark.parametrize("conditions, words", [
    ("{'width': (1, 2)}", "condition 'width' is not a protocol option a suite can vary; use one of label_noise, "
                          "label_sigma, zou_gu_mu"),
    ("{'label_sigma': ()}", "condition 'label_sigma' needs a tuple of distinct values"),
    ("{'label_sigma': (0.1, 0.1)}", "needs a tuple of distinct values"),
    ("{'label_sigma': (0.0, -1.0)}", "condition label_sigma=-1.0: --label-sigma must be a finite number ≥ 0"),
    ("{'label_noise': (0.0, 2.0)}", "condition label_noise=2.0: --label-noise must lie in [0, 1]"),
])
def test_malformed_conditions_are_a_plugin_problem(fake_plugin, monkeypatch, conditions, words):
    fake_plugin("badcond", f"""
        from harness import Suite, hookimpl

        @hookimpl
        def register_suites(register):
            register(Suite(name="bad", description="", tasks={{"sin3": {{}}}}, learners={{"ntk": {{}}}}, ns=(10,),
                           conditions={conditions}))
    """)
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,badcond,sin3,ntk")
    reg = load_registry()
    assert "bad" not in reg.suites
    assert any(words in p for p in reg.problems), reg.problems


def test_a_condition_also_fixed_as_a_field_is_refused():
    from harness import Suite
    from harness.suites.suite import validate_suite

    with pytest.raises(ValueError, match="sets label_sigma both as a field and as a condition"):
        validate_suite(Suite(name="x", description="", tasks={"sin3": {}}, learners={"ntk": {}}, ns=(10,),
                             label_sigma=0.1, conditions={"label_sigma": (0.0, 0.5)}))


def test_a_slope_of_the_error_itself_against_log_width_keeps_zero_errors():
    from harness.suites.claims import Point

    def pts(err):
        return [Point("t", "t", {}, "net", f"net (width={m})", {"width": m}, 100, seed, err(m, seed))
                for m in (64, 256, 1024) for seed in range(3)]

    # a 0-1 error that reaches 0 at the largest width: log error could not use those points
    falling = pts(lambda m, seed: max(0.0, 0.3 - 0.05 * np.log(m) + 0.01 * (seed - 1) * (m < 1024)))
    claim = Slope(learner="net", x="width", at_most=0.0, log_score=False, text="x", source="y")
    (check,) = claim.evaluate(falling).checks
    fit = stats.linregress(np.log([p.fixed["width"] for p in falling]), [p.score for p in falling])
    half = stats.t.ppf(0.975, len(falling) - 2) * fit.stderr
    assert check.count == 9 and check.estimate == pytest.approx(fit.slope)
    assert (check.lo, check.hi) == pytest.approx((fit.slope - half, fit.slope + half))
    assert check.status == "HOLDS" and claim.statement() == "slope of net error vs log width ≤ 0"
    flat = Slope(learner="net", x="width", at_most=0.0, log_score=False, text="x", source="y").evaluate(
        pts(lambda m, seed: 0.0))
    (check,) = flat.checks
    assert (check.estimate, check.lo, check.hi, check.status) == (0.0, 0.0, 0.0, "NOT SEPARABLE")
    assert check.note == "every score equal"


def test_checks_name_a_variant_by_what_tells_it_apart():
    from harness import Threshold
    from harness.suites.claims import Point

    def pts(m, lr):  # a long label: every fixed parameter, as learner labels have
        label = f"net (epochs=100, lr={lr}, train=hidden, width={m})"
        return [Point("t", "t", {}, "net", label, {"epochs": 100, "train": "hidden", "width": m}, n, seed,
                      0.01 * seed + 1 / n) for n in (10, 20) for seed in range(3)]

    points = pts(64, "0.03/0.15") + pts(1024, "0.002/0.01")
    result = Threshold(learner="net[train=hidden]", at_most=0.5, text="x", source="y").evaluate(points)
    assert [c.what for c in result.checks] == ["mean net[train=hidden] (width=1024)", "mean net[train=hidden] (width=64)"]
    slopes = Slope(learner="net[train=hidden]", at_most=0.0, text="x", source="y").evaluate(points)
    assert [c.what for c in slopes.checks] == ["slope of log net[train=hidden] (width=1024) vs log N",
                                               "slope of log net[train=hidden] (width=64) vs log N"]
    one = Threshold(learner="net[width=64]", at_most=0.5, text="x", source="y").evaluate(points)
    assert [c.what for c in one.checks] == ["mean net[width=64]"]
