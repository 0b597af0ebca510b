"""A claim's checks rendered: the table on a suite page and the JSON beside it."""

from __future__ import annotations

import json
from typing import Any

from harness.suites.claims import ClaimResult, fmt, with_curve_names


def checks_table(result: ClaimResult, curves: dict[str, str] | None = None) -> list[list[str]]:
    """Rows of the table under a claim's verdict line: one per check, its learners by the paper's
    curve names where ``curves`` (name → selector) gives them."""
    rows = []
    for c in result.checks:
        interval = "—" if c.lo is None else f"[{fmt(c.lo)}, {fmt(c.hi)}]"
        rows.append([c.condition, "all" if c.n is None else str(c.n), with_curve_names(c.what, curves or {}),
                     str(c.count), fmt(c.estimate), interval, c.status + (f" ({c.note})" if c.note else "")])
    return rows


CHECK_HEADERS = ["condition", "N", "check", "seeds / points", "estimate", "95% interval", "verdict"]


def to_json(result: ClaimResult, curves: dict[str, str] | None = None) -> dict[str, Any]:
    """A claim's result as plain data (written beside verdict.md, read by the index): ``status`` the
    strict one-word combination of its checks, ``verdict`` the headline the page shows, ``statement``
    the claim in learner selectors, ``line`` the page's line in the paper's curve names."""
    return {"status": result.status, "verdict": result.verdict or result.status,
            "statement": result.claim.statement(), "summary": result.summary,
            "text": result.claim.text, "source": result.claim.source, "line": result.line(curves),
            "checks": [json.loads(json.dumps(c.__dict__)) for c in result.checks]}
