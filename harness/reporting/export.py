"""Stored results out of the store as flat records (``bench show --format csv|json``), one per
cell, so that a user can load them into pandas without knowing the schema's JSON columns.

Every score column says its metric: ``test_score``, ``train_score`` and ``val_score`` are all in
the row's ``metric`` (``rel_mse``: MSE / Var y, for regression; ``error``: the 0-1 error, for
classification), and a column named after a metric (``val_mse``, ``metric_mse``, ...) holds that
metric. The store keeps a regression cell's validation score as raw MSE (what selection
compared); :func:`relative_val` turns it into relative MSE by redrawing the cell's validation
labels, which the protocol draws deterministically, without training anything."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Mapping

import numpy as np

from harness.api.learners import label, short_labels
from harness.api.tasks import Task
from harness.protocol.cell import split_indices
from harness.protocol.data import corrupt_labels, gaussian_label_noise, task_rng, training_set

# The columns every record has, in this order; metrics, diagnostics and chosen parameters follow as
# ``metric_<name>``, ``diag_<name>`` and ``chosen_<name>`` columns (their names depend on the task
# and learner; a diagnostic that is a list, such as the training curve, is a JSON list in CSV).
# test_score, train_score and val_score are in ``metric``; val_mse is the stored raw validation MSE
# (regression only) and val_note says why val_score is empty where it is.
FIXED = ("cell_id", "task", "task_params", "learner", "label", "learner_params", "n", "seed", "status",
         "stale", "metric", "test_score", "train_score", "val_score", "val_mse", "val_note", "select_on",
         "label_noise", "label_sigma", "corrupt_test", "input_transform", "n_test", "val_fraction", "seconds",
         "device", "created_at", "error", "edges")

# Relative tolerance of the check that a redrawn training set is the cell's: its label variance
# against the one the stored training scores imply (train MSE / train relative MSE). Both are
# float64 computations of the same numbers, so an exact redraw agrees to rounding.
REDRAW_RTOL = 1e-9


def row_labels(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The short label of each store row's learner variant among those of ``rows`` (full label →
    short label): what `bench show` and the exports call a learner variant."""
    return short_labels((r["learner"], r["learner_params"] or {}) for r in rows)


class ValidationLabels:
    """Redraws the validation labels of stored cells, as :func:`harness.protocol.cell._run` draws
    them (training set, label noise, Gaussian label noise, then the train/validation split); one
    object caches the draws of a task, seed and N, which the cells of several learners share."""

    def __init__(self, tasks: Mapping[str, Task]) -> None:
        self.tasks = tasks  # the installed tasks by name (Registry.tasks)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def labels(self, row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(all N training labels after noise, the validation labels) of ``row``'s cell; raises
        ``LookupError`` when its task is not installed, and whatever the task raises otherwise."""
        if row["task"] not in self.tasks:
            raise LookupError(f"task '{row['task']}' is not installed")
        key = json.dumps([row["task"], row.get("task_params"), row["seed"], row["n"], row.get("label_noise"),
                          row.get("label_sigma"), row.get("val_fraction")], sort_keys=True, default=str)
        if key not in self._cache:
            task = self.tasks[row["task"]].with_params(**(row.get("task_params") or {}))
            seed, n = row["seed"], row["n"]
            _, y = training_set(task, seed, n)  # the same calls, in the same order, as cell._run
            y = corrupt_labels(task, seed, y, row.get("label_noise") or 0.0)
            y = gaussian_label_noise(task, seed, y, row.get("label_sigma") or 0.0)
            _, va = split_indices(n, row["val_fraction"], task_rng(task, seed, "split", n))
            self._cache[key] = (y, y[va])
        return self._cache[key]


def relative_val(row: dict[str, Any], draws: ValidationLabels | None,
                 stale_reasons: list[str] = ()) -> tuple[float | None, str]:
    """The cell's validation score in the kind of its test score, and a note ('' when exact).

    Classification: the stored 0-1 validation error as it is. Regression: the stored validation
    MSE divided by Var(y_val) (population variance, as the test score's relative MSE divides by
    Var(y_test)), y_val redrawn by ``draws``. The redraw is checked against the cell's own
    training scores — Var(y) of all N labels must equal train MSE / train relative MSE — and a
    redraw that cannot be checked is used only for a row that is not stale. A cell selected on
    the test set has the test set as its validation set: its relative score is the test score's.
    ``None`` with a note where the value cannot be had exactly."""
    raw = row.get("val_score")
    if raw is None:
        return None, ("no validation score: a single configuration, nothing to select"
                      if row.get("status") == "ok" else f"no validation score (status {row.get('status')})")
    kind = kind_of(row, draws)
    if kind == "classification":
        return raw, ""
    if kind is None:
        return None, f"task '{row['task']}' is not installed and the row names no metric: its kind is unknown"
    metrics = row.get("metrics") or {}
    if row.get("select_on") == "test":
        if metrics.get("mse") and metrics.get("rel_mse") is not None:
            return raw * metrics["rel_mse"] / metrics["mse"], "selected on the test set: the validation set is it"
        return None, "selected on the test set, with no stored test MSE to scale by"
    if draws is None:
        return None, "no installed tasks given to redraw the validation labels"
    try:
        y, y_val = draws.labels(row)
    except Exception as exc:  # a task not installed, a dataset not downloaded, ...: said, not guessed
        return None, f"cannot redraw the validation labels: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    train_mse, train_rel = metrics.get("train_mse"), metrics.get("train_rel_mse")
    if train_mse is not None and train_rel:
        implied = train_mse / train_rel
        if not np.isclose(float(np.var(y)), implied, rtol=REDRAW_RTOL, atol=0.0):
            return None, ("the redrawn training labels are not this cell's (Var y "
                          f"{float(np.var(y)):.6g} vs {implied:.6g} implied by its training scores): "
                          "its task or data code changed since it ran")
    elif stale_reasons:
        return None, f"stale ({'; '.join(stale_reasons)}) and no training score to check a redraw against"
    var = float(np.var(y_val))
    return (raw / var if var > 0 else float("nan")), ""


def kind_of(row: dict[str, Any], draws: ValidationLabels | None) -> str | None:
    """"regression" or "classification": from the row's metric, else (a cell that did not finish)
    from its installed task; None when neither tells."""
    if row.get("metric") in ("rel_mse", "error"):
        return "regression" if row["metric"] == "rel_mse" else "classification"
    task = (draws.tasks if draws else {}).get(row["task"])
    return task.kind if task is not None else None


def record(row: dict[str, Any], stale_reasons: list[str], short: dict[str, str] | None = None,
           draws: ValidationLabels | None = None) -> dict[str, Any]:
    """One store row as a flat record; ``stale_reasons`` from :func:`harness.execution.runner.staleness`.
    ``label`` is the short label ``short`` gives the row's variant (see :func:`row_labels`; the
    full label without it); its whole grid stays in ``learner_params``. ``val_score`` is in the
    row's ``metric``, like ``test_score`` (:func:`relative_val`, with ``draws``); the stored raw
    validation MSE of a regression cell is ``val_mse``."""
    out = {k: row.get(k) for k in FIXED}
    full = label(row["learner"], row["learner_params"] or {})
    val, note = relative_val(row, draws, stale_reasons)
    regression = kind_of(row, draws) == "regression"
    out.update(label=(short or {}).get(full, full), stale="; ".join(stale_reasons),
               edges=", ".join(e["param"] for e in row.get("edges") or []), device=row.get("device") or "cpu",
               val_score=val, val_note=note, val_mse=row.get("val_score") if regression else None)
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
