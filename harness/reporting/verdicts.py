"""A claim's checks rendered: the table on a suite page and the JSON beside it."""

from __future__ import annotations

import json
from typing import Any

from harness.suites.claims import ClaimResult, fmt


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
