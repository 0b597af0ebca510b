"""Stored results out of the store as flat records (``bench show --format csv|json``), one per
cell, so that a user can load them into pandas without knowing the schema's JSON columns."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from harness.api.learners import label, short_labels

# The columns every record has, in this order; metrics, diagnostics and chosen parameters follow as
# ``metric_<name>``, ``diag_<name>`` and ``chosen_<name>`` columns (their names depend on the task
# and learner; a diagnostic that is a list, such as the training curve, is a JSON list in CSV).
FIXED = ("cell_id", "task", "task_params", "learner", "label", "learner_params", "n", "seed", "status",
         "stale", "metric", "test_score", "train_score", "val_score", "select_on", "label_noise",
         "label_sigma", "corrupt_test", "input_transform", "n_test", "val_fraction", "seconds", "device", "created_at", "error",
         "edges")


def row_labels(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The short label of each store row's learner variant among those of ``rows`` (full label →
    short label): what `bench show` and the exports call a learner variant."""
    return short_labels((r["learner"], r["learner_params"] or {}) for r in rows)


def record(row: dict[str, Any], stale_reasons: list[str], short: dict[str, str] | None = None) -> dict[str, Any]:
    """One store row as a flat record; ``stale_reasons`` from :func:`harness.execution.runner.staleness`.
    ``label`` is the short label ``short`` gives the row's variant (see :func:`row_labels`; the
    full label without it); its whole grid stays in ``learner_params``."""
    out = {k: row.get(k) for k in FIXED}
    full = label(row["learner"], row["learner_params"] or {})
    out.update(label=(short or {}).get(full, full), stale="; ".join(stale_reasons),
               edges=", ".join(e["param"] for e in row.get("edges") or []), device=row.get("device") or "cpu")
    metrics = dict(row.get("metrics") or {})
    diagnostics = metrics.pop("diagnostics", None) or {}
    out.update({f"metric_{k}": v for k, v in sorted(metrics.items())})
    out.update({f"diag_{k}": v for k, v in sorted(diagnostics.items())})
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


# `bench show`'s compact view of a cell's diagnostics (the full set is in --format csv|json).
DIAGNOSTICS_HEADERS = ("epochs→thr", "‖W−W0‖", "complexity", "edges")


def diagnostics_columns(row: dict[str, Any]) -> list[str]:
    """The cells of :data:`DIAGNOSTICS_HEADERS` for one store row ('' where a value is absent):
    the epoch the training loss reached its threshold over the epochs run ('–' if never), the
    total ‖W − W0‖_F, the Arora complexity, and the chosen values still on an edge of the grid."""
    diag = (row.get("metrics") or {}).get("diagnostics") or {}
    reached = ""
    if "epochs_run" in diag:
        first = diag.get("epochs_to_threshold")
        reached = f"{'–' if first is None else first}/{diag['epochs_run']}"
    number = lambda key: "" if diag.get(key) is None else f"{diag[key]:.3g}"  # noqa: E731
    edges = ", ".join(f"{e['param']}={e['value']} ({e['side']})" for e in row.get("edges") or [])
    return [reached, number("weight_change"), number("arora_complexity"), edges]
