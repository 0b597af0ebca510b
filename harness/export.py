"""Stored results out of the store as flat records (``bench show --format csv|json``), one per
cell, so that a user can load them into pandas without knowing the schema's JSON columns."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .learners import label

# The columns every record has, in this order; metrics and chosen parameters follow as
# ``metric_<name>`` and ``chosen_<name>`` columns (their names depend on the task and learner).
FIXED = ("cell_id", "task", "task_params", "learner", "label", "learner_params", "n", "seed", "status",
         "stale", "metric", "test_score", "train_score", "val_score", "select_on", "label_noise",
         "label_sigma", "input_transform", "n_test", "val_fraction", "seconds", "device", "created_at", "error",
         "edges")


def record(row: dict[str, Any], stale_reasons: list[str]) -> dict[str, Any]:
    """One store row as a flat record; ``stale_reasons`` from :func:`harness.runner.staleness`."""
    out = {k: row.get(k) for k in FIXED}
    out.update(label=label(row["learner"], row["learner_params"]), stale="; ".join(stale_reasons),
               edges=", ".join(e["param"] for e in row.get("edges") or []), device=row.get("device") or "cpu")
    out.update({f"metric_{k}": v for k, v in sorted((row.get("metrics") or {}).items())})
    out.update({f"chosen_{k}": v for k, v in sorted((row.get("chosen_params") or {}).items())})
    return out


def dumps(records: list[dict[str, Any]], fmt: str) -> str:
    """``records`` as CSV (a header of every column any record has; dicts and lists as JSON) or JSON."""
    if fmt == "json":
        return json.dumps(records, indent=1, default=str) + "\n"
    columns = list(FIXED) + sorted({k for r in records for k in r} - set(FIXED))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
                         for k, v in r.items()})
    return buffer.getvalue()
