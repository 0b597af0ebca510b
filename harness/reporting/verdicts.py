"""A claim's checks rendered: the table on a suite page and the JSON beside it."""

from __future__ import annotations

import json
from typing import Any

from harness.suites.claims import ClaimResult, fmt, with_curve_names
from harness.suites.statistics import EQUIVALENT, MAX_SEEDS_NAMED, UNDERPOWERED


def checks_table(result: ClaimResult, curves: dict[str, str] | None = None) -> list[list[str]]:
    """Rows of the table under a claim's verdict line: one per check, its learners by the paper's
    curve names where ``curves`` (name → selector) gives them."""
    rows = []
    for c in result.checks:
        interval = "—" if c.lo is None else f"[{fmt(c.lo)}, {fmt(c.hi)}]"
        notes = [c.note] if c.note else []
        if c.status == EQUIVALENT:
            notes.append(f"inside ±{c.margin:.3g}")
        elif c.status == UNDERPOWERED and c.seeds_needed is not None and c.seeds_needed <= c.count:
            # the spread resolves a difference of δ already: the estimate sits between 0 and the margin
            notes.append(f"{c.count} paired seeds resolve ±{c.margin:.3g} at this spread, but the estimate lies "
                         f"between 0 and the margin")
        elif c.status == UNDERPOWERED and c.seeds_needed is not None:
            seeds = f"more than {MAX_SEEDS_NAMED:,}" if c.seeds_needed > MAX_SEEDS_NAMED else f"≈ {c.seeds_needed}"
            notes.append(f"{seeds} paired seeds would resolve ±{c.margin:.3g}")
        holm = "—" if c.holm is None else f"{c.holm[0]:.3g}"
        rows.append([c.condition, "all" if c.n is None else str(c.n), with_curve_names(c.what, curves or {}),
                     str(c.count), fmt(c.estimate), interval, holm, c.status + (f" ({'; '.join(notes)})" if notes else "")])
    return rows


# "p (Holm)": the Holm-adjusted one-sided p-value of the claimed side (a − b < 0) of a paired check
CHECK_HEADERS = ["condition", "N", "check", "seeds / points", "estimate", "95% interval", "p (Holm)", "verdict"]


def to_json(result: ClaimResult, curves: dict[str, str] | None = None) -> dict[str, Any]:
    """A claim's result as plain data (written beside verdict.md, read by the index): ``status`` the
    strict one-word combination of its checks, ``verdict`` the headline the page shows, ``statement``
    the claim in learner selectors, ``line`` the page's line in the paper's curve names."""
    return {"status": result.status, "verdict": result.verdict or result.status,
            "statement": result.claim.statement(), "summary": result.summary,
            "text": result.claim.text, "source": result.claim.source, "line": result.line(curves),
            "checks": [json.loads(json.dumps(c.__dict__)) for c in result.checks]}
