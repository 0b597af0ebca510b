"""The results table `bench run` prints at its end: learner × N, the test score's mean ± std over
seeds, one table per task variant, never wider than the terminal's 100 columns.

Rows are grouped exactly as the leaderboard pages group them (:func:`harness.reporting.curves.collect`,
short labels by :func:`harness.reporting.curves.shown_labels`), so the terminal and the page
agree on what a row is; only the layout is the terminal's own.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any, Collection, Iterable, Mapping

from harness.api.tasks import Task
from harness.reporting.curves import Curve, Variant, collect, majority_errors, shown_labels
from harness.reporting.leaderboard import (NO_BETTER_THAN_MAJORITY, WORSE_THAN_MEAN, majority_text,
                                           no_better_than_majority, worse_than_mean)

WIDTH = 100  # every command's default output fits 100 columns (issue 27, item 4)
LABEL_MAX = 34  # a longer learner label is cut (with …): the N columns matter more
GAP = "  "

METRIC_TEXT = {
    "rel_mse": "relative test MSE (MSE / Var y; predicting the mean scores 1)",
    "error": "test 0-1 error",
}


def score_text(v: Variant, curve: Curve, n: int) -> str:
    """The cell of ``curve`` at ``n`` as the leaderboard page writes it: ``mean ± std`` over the
    seeds that finished ok (three significant figures, population std), † when worse than
    predicting the mean, § when no better than predicting the test labels' majority class,
    ``(k/m)`` when only k of m seeds finished ok, — when none ran."""
    mean, rows = curve.mean(n), curve.counts.get(n, 0)
    if mean is None:
        return "no ok run" if rows else "—"
    text = f"{mean:.3g} ± {curve.std(n):.3g}"
    if worse_than_mean(v, mean):
        text += f" {WORSE_THAN_MEAN}"
    if no_better_than_majority(v, curve, n):
        text += f" {NO_BETTER_THAN_MAJORITY}"
    if len(curve.scores[n]) < rows:  # failed, diverged or timed-out seeds are not in the mean
        text += f" ({len(curve.scores[n])}/{rows})"
    return text


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _heading(v: Variant) -> list[str]:
    """Two lines: the task, its parameters and whatever of the protocol is not the default; then
    what the numbers are."""
    parts = [v.task + (f" {json.dumps(v.params, sort_keys=True)}" if v.params else "")]
    p = v.protocol
    if p.get("label_noise"):
        parts.append(f"label noise {p['label_noise']}")
    if p.get("label_sigma"):
        parts.append(f"label σ {p['label_sigma']}")
    if p.get("input_transform"):
        parts.append(f"inputs {p['input_transform']}")
    if p.get("select_on", "validation") != "validation":
        parts.append(f"selected on {p['select_on']}")
    if p.get("corrupt_test"):
        parts.append("test labels corrupted")
    parts.append(f"{p.get('n_test')} test points")
    seeds = len(v.seeds)
    what = (f"{METRIC_TEXT.get(v.metric or '', v.metric or 'test score')}: mean ± std over "
            f"{seeds} seed{'s' * (seeds != 1)}")
    return [_cut(" · ".join(parts), WIDTH), _cut(what, WIDTH)]


def variant_table(v: Variant, width: int = WIDTH) -> str:
    """One variant as aligned text: a heading, then learner × N blocks, the N split over several
    blocks when they do not fit ``width`` columns side by side."""
    shown = shown_labels(v)
    names = sorted(v.curves, key=lambda name: shown[name])
    labels = {name: _cut(shown[name], LABEL_MAX) for name in names}
    label_w = max([len("learner")] + [len(x) for x in labels.values()])
    cells = {(name, n): score_text(v, v.curves[name], n) for name in names for n in v.ns}
    notes = []
    if any(WORSE_THAN_MEAN in text for text in cells.values()):
        notes.append(f"{WORSE_THAN_MEAN} worse than predicting the mean of the test labels")
    if any(NO_BETTER_THAN_MAJORITY in text for text in cells.values()):
        notes += textwrap.wrap(f"{NO_BETTER_THAN_MAJORITY} at or worse than predicting the majority class of the "
                               f"test labels ({majority_text(v)})", width, subsequent_indent="  ")
    if any(text.endswith(")") for text in cells.values()):
        notes.append("(k/m) only k of m seeds finished ok: `bench show --status failed` lists the others")
    col_w = {n: max([len(f"N={n}")] + [len(cells.get((name, n), "")) for name in names]) for n in v.ns}
    blocks: list[list[int]] = [[]]
    used = label_w
    for n in v.ns:
        if blocks[-1] and used + len(GAP) + col_w[n] > width:
            blocks.append([])
            used = label_w
        blocks[-1].append(n)
        used += len(GAP) + col_w[n]
    lines = _heading(v)
    for block in blocks:
        lines.append(GAP.join(["learner".ljust(label_w)] + [f"N={n}".rjust(col_w[n]) for n in block]).rstrip())
        for name in names:
            lines.append(GAP.join([labels[name].ljust(label_w)]
                                  + [cells.get((name, n), "").rjust(col_w[n]) for n in block]).rstrip())
    return "\n".join(lines + notes)


def terminal_table(rows: Iterable[dict[str, Any]], only: Collection[str] | None = None, width: int = WIDTH,
                   tasks: Mapping[str, Task] | None = None) -> str:
    """The results of ``rows`` (store rows; with ``only``, those whose ``cell_id`` is in it, e.g.
    one run's cells) as text for the terminal: per task variant, learner × N with the mean ± std
    of the test score over seeds, each line at most ``width`` columns. Empty when no row is left.
    ``tasks`` (the registry's, by name; default: the installed ones) redraw a classification
    variant's test labels for its majority-class error."""
    grouped = collect(r for r in rows if only is None or r["cell_id"] in only)
    for variants in grouped.values():
        for v in variants:
            majority_errors(v, tasks)
    tables = [variant_table(v, width) for task in sorted(grouped) for v in grouped[task]]
    return "\n\n".join(tables)
