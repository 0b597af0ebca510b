"""Markdown leaderboards, rebuilt from the store.

``<out>/<task>.md`` holds, for each task variant (parameters + protocol), a learners × N table of
mean ± std of the test metric over seeds (best mean per column in bold), the fitted scaling
exponent b of error ≈ a·N^b, the time per cell, and the chosen hyper-parameters; a PNG plot of the
same numbers (drawn by :mod:`.plots`) sits beside it. ``<out>/README.md`` indexes the pages and
the suites' directories (see :mod:`.suite_pages`) and shows every plot as a thumbnail. Rows are
grouped into curves by :mod:`.curves`.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

import numpy as np
from tabulate import tabulate

from harness.api.errors import BenchError
from harness.api.tasks import Task
from harness.reporting import plots
from harness.reporting.curves import (EXPONENT_FLOOR, Curve, Variant, collect, majority_error, majority_errors,
                                      shown_labels)
from harness.reporting.files import check_writable, write_text
from harness.reporting.plots import METRIC_TITLES

SELECTED_ON_TEST = ("**hyper-parameters selected on the test set** (`--select-on test`, as Allen-Zhu, Li & "
                    "Liang 2019 report their figures): every configuration trains on all N and the best test "
                    "score is shown, so these numbers are optimistic.")


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _seconds(x: float) -> str:
    """Seconds to about three significant digits, never in exponent form (379, 41.6, 6.52)."""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


# A table whose aligned rows would be wider than this is written unaligned: padding every row to
# the longest cell of each column made rows of 250 characters out of a few long cells.
ALIGNED_WIDTH = 160


def gfm(rows: list[list[Any]], headers: list[str]) -> str:
    """A GitHub-flavoured Markdown table, its columns aligned when that fits in ``ALIGNED_WIDTH``
    characters (else each row as long as its own cells); a ``|`` inside a cell is escaped, or it
    would split the cell and break the row (a label such as ``width=100|1000``, an error)."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    body = [[cell(v) for v in row] for row in rows]
    head = [cell(h) for h in headers]
    text = tabulate(body, headers=head, tablefmt="github", disable_numparse=True)
    if max(len(line) for line in text.splitlines()) <= ALIGNED_WIDTH:
        return text
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *body])


def grid_legend(short: dict[str, str]) -> str:
    """The legend under a table: each short label that leaves part of its learner's grid out,
    with the full label it stands for (``short`` maps full label → short label, in row order)."""
    entries = [f"- `{s}`: `{full}`" for full, s in short.items() if s != full]
    if not entries:
        return ""
    return "\n".join(["Learners by short name, each with its full grid (parameters not listed keep the learner's "
                      "defaults):", "", *entries])


def full_seeds(v: Variant, n: int) -> int:
    """The most seeds any learner has a mean over at ``n``: a mean over fewer is marked, not ranked."""
    return max((len(c.scores[n]) for c in v.curves.values() if c.scores.get(n)), default=0)


def leader(v: Variant, n: int) -> tuple[float, str] | None:
    """The best (mean, label) at ``n`` among means over the full number of seeds."""
    k = full_seeds(v, n)
    scored = [(c.mean(n), c.label) for c in v.curves.values() if c.scores.get(n) and len(c.scores[n]) == k]
    return min(scored) if scored else None


# Marks in a learners × N table, each explained under it (:func:`marks_note`) when it occurs.
WORSE_THAN_MEAN = "†"  # a mean relative MSE above 1: worse than predicting the mean of y
NO_BETTER_THAN_MAJORITY = "§"  # a mean 0-1 error at or above predicting the test labels' majority class
BELOW_FLOOR = "‡"  # an exponent fitted without the N whose mean lies below EXPONENT_FLOOR


def floor_text() -> str:
    """The exponent's floor as pages write it (``1e-4``)."""
    return f"{EXPONENT_FLOOR:.0e}".replace("e-0", "e-")


def exponent_floor(v: Variant) -> float:
    """The floor below which a mean is left out of the exponent: :data:`EXPONENT_FLOOR` for a
    relative MSE, 0 (only zeros, which have no logarithm) for any other metric."""
    return EXPONENT_FLOOR if v.metric == "rel_mse" else 0.0


def exponent_text(v: Variant) -> str:
    """The sentence on a page that says what the exponent b is fitted on."""
    if exponent_floor(v):
        return (f"Exponent b: slope of log mean error against log N, over the N whose mean is at least {floor_text()} "
                f"(marked {BELOW_FLOOR} where an N was left out).")
    return (f"Exponent b: slope of log mean error against log N, over the N whose mean is not 0 (marked {BELOW_FLOOR} "
            f"where an N was left out).")


def worse_than_mean(v: Variant, mean: float) -> bool:
    """Whether a cell's mean is worse than predicting the mean: relative MSE above 1 (MSE / Var y of
    the test labels, so the test labels' own mean scores exactly 1). Regression only: a
    classification cell's counterpart is :func:`no_better_than_majority`."""
    return v.metric == "rel_mse" and mean > 1.0


# A cell's mean 0-1 error and the majority-class error it is compared with are both means of
# k / n_test over the same seeds: any real difference is at least 1 / (seeds · n_test), so only
# rounding is below this.
MAJORITY_TOL = 1e-9


def no_better_than_majority(v: Variant, curve: Curve, n: int) -> bool:
    """Whether a classification cell's mean test 0-1 error is at or above that of always predicting
    the majority class of the test labels (:func:`harness.reporting.curves.majority_error`: each
    seed's own test labels, redrawn as the cell drew them — corrupted too where the variant
    corrupts them — averaged over the seeds the cell's mean is over). False where that error
    cannot be redrawn (the task not installed, or changed)."""
    if v.metric != "error" or (m := curve.mean(n)) is None:
        return False
    baseline = majority_error(v, curve, n)
    return baseline is not None and m >= baseline - MAJORITY_TOL


def majority_text(v: Variant) -> str:
    """The majority-class error that a table's § marks compare with, as its note writes it: one
    value with the number of seeds' test sets it is the mean over, or the range over the marked
    cells where their seeds differ."""
    marked = {(_fmt(e), len(c.score_seeds[n])) for c in v.curves.values() for n in c.scores
              if no_better_than_majority(v, c, n) and (e := majority_error(v, c, n)) is not None}
    shown, seeds = {e for e, _ in marked}, {k for _, k in marked}
    if len(shown) > 1:
        values = sorted(float(e) for e in shown)
        return f"error {_fmt(values[0])}–{_fmt(values[-1])}, by the seeds a cell's mean is over"
    where = ("" if seeds == {1} else f", the mean over the {seeds.pop()} seeds' test sets" if len(seeds) == 1
             else ", the mean over each cell's seeds' test sets")
    return f"error {shown.pop()}{where}"


def table(v: Variant) -> str:
    """The learners × N Markdown table of one variant (its marks explained by :func:`marks_note`)."""
    ns = v.ns
    best = {n: leader(v, n) for n in ns}
    short = shown_labels(v)
    rows = []
    for curve in sorted(v.curves.values(), key=lambda c: c.label):  # rows in full-label order, as before
        row = [short[curve.label]]
        for n in ns:
            m = curve.mean(n)
            if m is None:
                row.append("—" if not curve.counts[n] else "no ok run")
                continue
            cell = f"{_fmt(m)} ± {_fmt(curve.std(n))}"
            if best[n] is not None and (m, curve.label) == best[n]:
                cell = f"**{cell}**"
            if worse_than_mean(v, m):
                cell += f" {WORSE_THAN_MEAN}"
            if no_better_than_majority(v, curve, n):
                cell += f" {NO_BETTER_THAN_MAJORITY}"
            k, full = len(curve.scores[n]), max(full_seeds(v, n), curve.counts[n])
            if k < full:
                cell += f" ({k}/{full} seeds)"
            if curve.stale.get(n):
                cell += " (stale)"
            row.append(cell)
        b = curve.exponent(exponent_floor(v))
        mark = f" {BELOW_FLOOR}" if curve.below_floor(exponent_floor(v)) else ""
        row.append(("—" if b is None else f"{b:+.2f}") + mark)
        top = max((n for n in ns if curve.seconds.get(n)), default=None)
        row.append("—" if top is None else f"{_seconds(float(np.mean(curve.seconds[top])))} (N={top})")
        rows.append(row)
    headers = ["learner", *[f"N={n}" for n in ns], "exponent b", "s / cell"]
    return gfm(rows, headers)


def marks_note(v: Variant) -> str:
    """The lines under a table that explain each of its marks, when it has any."""
    out = []
    if any(worse_than_mean(v, m) for c in v.curves.values() for n in c.scores if (m := c.mean(n)) is not None):
        out.append(f"{WORSE_THAN_MEAN} Mean relative MSE above 1: worse than predicting the mean of the test labels "
                   f"(which scores exactly 1).")
    if any(no_better_than_majority(v, c, n) for c in v.curves.values() for n in c.scores):
        out.append(f"{NO_BETTER_THAN_MAJORITY} Mean test 0-1 error at or worse than predicting the majority class of "
                   f"the test labels ({majority_text(v)}).")
    floor = exponent_floor(v)
    floored = {c.label: c.below_floor(floor) for c in v.curves.values() if c.below_floor(floor)}
    if floored:
        short = shown_labels(v)
        which = "; ".join(f"{short[label]} at N = {', '.join(map(str, ns))}" for label, ns in sorted(floored.items()))
        why = (f"whose mean is at least {floor_text()} (an RMS error of 1% of std y), a floor below which the error is "
               f"set by the optimiser's stopping point and numerical precision rather than by N" if floor else
               "whose mean error is not 0 (a perfect score has no logarithm)")
        out.append(f"{BELOW_FLOOR} Exponent fitted only on the N {why}; left out: {which}. "
                   f"— {BELOW_FLOOR}: fewer than 2 N left to fit.")
    return "\n\n".join(out)


def stale_note(v: Variant) -> str:
    """A sentence under the table naming what changed, when any shown cell is stale."""
    reasons = sorted({r for c in v.curves.values() for rs in c.stale.values() for r in rs})
    if not reasons:
        return ""
    return (f"Cells marked *(stale)* were computed by code that has changed since ({'; '.join(reasons)}); "
            f"`bench run` with the same arguments re-runs them.")


def chosen_table(v: Variant) -> tuple[str, dict[str, str]]:
    """Most frequent chosen hyper-parameters per learner at the largest N it reached — only those
    selection decided (:meth:`Curve.tuned`; the fixed rest is the learner's grid, in the legend) —
    and why each parameter marked ``(edge)`` is on its edge.

    The row aggregates every seed at that N, so a parameter is marked ``(edge) in k/t seeds``
    whenever ANY of its seeds ended on an edge of what was tried on it, whether or not that seed
    made the most frequent choice; the edge value(s) follow when they differ from the one shown."""
    rows, why = [], {}
    short = shown_labels(v)
    for curve in sorted(v.curves.values(), key=lambda c: c.label):
        ns = [n for n in curve.chosen if curve.chosen[n]]
        if not ns:
            continue
        n = max(ns)
        params, count = curve.chosen[n].most_common(1)[0]
        total = sum(curve.chosen[n].values())
        hits = {k: hs for k, hs in curve.edges.get(n, {}).items() if hs}
        for k, hs in hits.items():
            why[f"{short[curve.label]}: {k}"] = "; ".join(dict.fromkeys(w for _, w in hs))
        chosen = json.loads(params)
        decided = curve.tuned(chosen)
        tuned = {k: val for k, val in chosen.items() if k in decided or k in hits}
        tuned.update({k: None for k in hits if k not in chosen})  # an edge on a parameter this choice lacks

        def shown_value(k: str, val: Any) -> str:
            text = f"{k}={'—' if val is None else val}"
            if k not in hits:
                return text
            values = [str(x) for x in dict.fromkeys(json.dumps(x) for x, _ in hits[k]) if x != json.dumps(val)]
            return text + f" (edge) in {len(hits[k])}/{total} seeds" + (f" at {' or '.join(values)}" if values else "")

        shown = ", ".join(shown_value(k, val) for k, val in tuned.items()) or "— (one configuration)"
        rows.append([short[curve.label], n, shown, f"{count}/{total}"])
    text = gfm(rows, ["learner", "N", "chosen", "seeds"])
    return text, why


def epochs_table(v: Variant) -> str:
    """How many epochs each early-stopped network's chosen configuration trained, per curve and N
    (the range over seeds), and how many seeds early stopping did not end: whether training
    converged. Empty when no curve of ``v`` chose its epochs by early stopping.

    A seed is counted "at cap" when its best validation epoch came within ``patience`` epochs of
    the cap its winning trial trained under (:func:`harness.reporting.curves.early_stopped`: the
    grid's ``epochs``, or the larger cap the edge search re-ran the winner with): training then
    ended at the cap, not by patience, and the network may still have been improving."""
    rows = []
    short = shown_labels(v)
    ns = sorted({n for c in v.curves.values() for n in c.chosen})
    for curve in sorted(v.curves.values(), key=lambda c: c.label):
        if not any(curve.trained.values()):
            continue
        cells, caps = [], set()
        for n in ns:
            runs = curve.trained.get(n, [])
            used = [epochs for epochs, _, _ in runs]
            caps.update(cap for _, cap, _ in runs if cap is not None)
            capped = sum(cap is not None and epochs > cap - patience for epochs, cap, patience in runs)
            text = "—" if not used else f"{min(used)}" if min(used) == max(used) else f"{min(used)}–{max(used)}"
            cells.append(text + (f" ({capped}/{len(used)} at cap)" if capped else ""))
        rows.append([short[curve.label], ", ".join(map(str, sorted(caps))) or "?", *cells])
    if not rows:
        return ""
    return ("Epochs the chosen configuration trained, chosen by early stopping on the validation split (range "
            "over seeds). `cap`: the epochs its winning trial was allowed — the grid's, and the larger caps the "
            "edge search re-ran a winner with where its best epoch was the cap itself. \"at cap\" counts seeds "
            "whose best epoch came within `patience` of their cap: early stopping did not end their training, so "
            "they may still have been improving.\n\n"
            + gfm(rows, ["learner", "cap", *[f"N={n}" for n in ns]]))


def edge_note(why: dict[str, str]) -> str:
    """The sentence under the chosen table that explains its ``(edge)`` marks."""
    if not why:
        return ""
    return ("*(edge) in k/t seeds*: in k of the t seeds at that N, selection ended on the largest or smallest "
            "value tried on that axis ('at': the edge value, where it differs from the value shown) — " +
            "; ".join(f"{k} ({w})" for k, w in sorted(why.items())) + ".")


def page(task: str, variants: list[Variant], description: str = "",
         tasks: Mapping[str, Task] | None = None) -> tuple[str, dict[Path, Variant]]:
    """The Markdown of one task page and the plot file each variant needs. ``tasks`` (the
    registry's, by name; default: the installed ones) redraw a classification variant's test
    labels for its majority-class error (:func:`no_better_than_majority`)."""
    lines = [f"# {task}", ""]
    for v in variants:
        majority_errors(v, tasks)
    if description:
        lines += [description, ""]
    pngs = {}
    for v in sorted(variants, key=lambda v: json.dumps([v.params, v.protocol], sort_keys=True, default=str)):
        png = Path(f"{task}.png" if len(variants) == 1 else f"{task}-{v.key}.png")
        pngs[png] = v
        params = ", ".join(f"`{k}={val}`" for k, val in sorted(v.params.items())) or "defaults"
        options = [f"label noise {v.protocol['label_noise']:g}"] if v.protocol["label_noise"] else []
        options += [f"label σ = {v.protocol['label_sigma']:g}·std y"] if v.protocol.get("label_sigma") else []
        options += ["test labels corrupted too"] if v.protocol.get("corrupt_test") else []
        options += [f"inputs {v.protocol['input_transform']}"] if v.protocol["input_transform"] else []
        on_test = v.protocol["select_on"] == "test"
        options += ["selected on the TEST set"] if on_test else []
        if options:
            params += " — " + ", ".join(options)
        if len(variants) > 1:
            lines += [f"## {task} ({params})", ""]
        chosen, epochs = chosen_table(v), epochs_table(v)
        legend = grid_legend(dict(sorted(shown_labels(v).items())))
        lines += [
            f"Metric: **{METRIC_TITLES.get(v.metric or '', v.metric)}**, mean ± std over "
            f"{len(v.seeds)} seed(s); lower is better, best per column in bold. Task parameters: {params}; "
            f"test set {v.protocol['n_test']} points; " + (SELECTED_ON_TEST if on_test else
            f"hyper-parameters chosen on {v.protocol['val_fraction']:.0%} of the N samples, then refit on all N.")
            + " " + exponent_text(v),
            "",
            table(v),
            "",
            *([marks_note(v), ""] if marks_note(v) else []),
            *([legend, ""] if legend else []),
            *([stale_note(v), ""] if stale_note(v) else []),
            f"![learning curves of {task}]({png.name})",
            "",
            "Hyper-parameters chosen at the largest N" + (" (on the test set)" if on_test else
                                                          " (on the validation split)")
            + ", those selection decided (the rest is each learner's fixed grid):",
            "",
            chosen[0],
            "",
            *([edge_note(chosen[1]), ""] if chosen[1] else []),
            *([epochs, ""] if epochs else []),
        ]
    return "\n".join(lines), pngs


def build(rows: list[dict[str, Any]], out: Path, tasks: Iterable[str] | None = None,
          descriptions: dict[str, str] | None = None,
          stale: Callable[[dict[str, Any]], list[str]] | None = None,
          installed: Mapping[str, Task] | None = None) -> list[Path]:
    """Rebuild the pages of ``tasks`` (default: every task in ``rows``) and the index; return paths.
    ``installed``: the registry's tasks by name, for the majority-class error of a classification
    table (default: the installed ones, loaded when a classification table needs them)."""
    out = Path(out)
    check_writable(out)
    descriptions = descriptions or {}
    grouped = collect(rows, stale)
    wanted = set(grouped) if tasks is None else set(tasks)
    missing = wanted - set(grouped)
    if missing:
        raise BenchError(f"no results in the store for task(s) {', '.join(sorted(missing))}; "
                         f"run `bench run --task ...` first")
    written = []
    try:
        for task in sorted(wanted):
            text, pngs = page(task, grouped[task], descriptions.get(task, ""), installed)
            for png, v in pngs.items():
                plots.plot(v, out / png)
                written.append(out / png)
            write_text(out / f"{task}.md", text)
            written.append(out / f"{task}.md")
        written.append(write_index(out, task_index(grouped, descriptions)))
    except OSError as exc:
        raise BenchError(f"cannot write leaderboards to {out}: {exc.strerror or exc}") from None
    return written


INDEX_HEAD = ("# conceptbench leaderboards\n\nGenerated by `bench leaderboard` from the result store; "
              "do not edit by hand.\n")
TASKS_BEGIN, TASKS_END = "<!-- tasks -->", "<!-- /tasks -->"


def write_index(out: Path, tasks: str | None = None) -> Path:
    """Write ``<out>/README.md``: every suite directory under ``out`` (from its verdict.json) with its
    verdict lines, then the task table ``tasks`` — or, when None (a suite run, whose store need not
    hold the task pages' rows), the task table the existing index already has."""
    path = out / "README.md"
    if tasks is None:
        tasks = _existing_task_table(path)
        # rows whose page has since been removed would link nowhere
        rows = [r for r in tasks.splitlines()
                if not (m := re.search(r"\]\(([^)]+\.md)\)", r)) or (out / m.group(1)).exists()]
        tasks = "\n".join(rows) if len(rows) > 2 else ""
    text = INDEX_HEAD + suite_index(out)
    if tasks:
        text += f"\n## Tasks\n\n{TASKS_BEGIN}\n{tasks}\n{TASKS_END}\n"
    text += gallery(out)
    write_text(path, text)
    return path


def _existing_task_table(path: Path) -> str:
    try:
        old = path.read_text(encoding="utf-8")
    except OSError:
        return ""
    if TASKS_BEGIN in old and TASKS_END in old:
        return old.split(TASKS_BEGIN, 1)[1].split(TASKS_END, 1)[0].strip("\n")
    # an index written before suites existed: its one table is the task table
    lines = old.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def suite_index(out: Path) -> str:
    """The suites section of the index: one entry per ``<suite>/verdict.json`` (and per
    ``<suite>/<scale>/verdict.json``) under ``out``, with its claims' verdict lines. A suite's
    entries are together, the scale that answers its paper's question (``Suite.paper_scale``)
    first and saying so; every other scale of such a suite says it is a smaller trial."""
    found = []
    for path in sorted([*out.glob("*/verdict.json"), *out.glob("*/*/verdict.json")]):
        try:
            v = json.loads(path.read_text(encoding="utf-8"))
            rel = path.parent.relative_to(out).as_posix()
            cells = v["cells"]
            paper = v.get("paper_scale")  # absent from a verdict.json written before it existed
            if paper is None:
                role = ""
            elif v["scale"] == paper:
                role = " (**answers the paper's question**)"
            else:
                ran = any(_scale_of(p) == paper for p in (out / v["suite"]).glob("**/verdict.json") if p != path)
                role = (f" (a smaller trial: the paper's question is answered at scale `{paper}`"
                        + ("" if ran else ", not run here") + ")")
            lines = [f"- [{v['suite']}]({rel}/verdict.md) — scale `{v['scale']}`{role}, {cells['ok']} of "
                     f"{cells['planned']} cells ok: {v['description']}"]
            lines += [f"  - {c['line']}" for c in v["claims"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a verdict this version wrote; leave it out rather than fail the index
        found.append(((v["suite"], v["scale"] != paper if paper else 0, v["scale"]), "\n".join(lines)))
    if not found:
        return ""
    return ("\n## Suites\n\nEach suite's verdicts, the scale that answers its paper's question first (where the suite "
            "has one); a smaller scale runs the same claims at smaller N and width, in minutes.\n\n"
            + "\n".join(text for _, text in sorted(found)) + "\n")


def _scale_of(path: Path) -> str | None:
    """The scale a verdict.json says it is of (None when unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("scale")
    except (OSError, ValueError, AttributeError):
        return None


# the image link page() writes: only our own pages' plots, whatever other Markdown lies under --out
IMAGE = re.compile(r"!\[learning curves of [^\]]*\]\(([^)\s/]+\.png)\)")
THUMB_WIDTH = 240


def gallery(out: Path) -> str:
    """The index's gallery: every plot that a leaderboard page under ``out`` shows — the task pages
    in ``out``, a suite's in ``<suite>/`` and ``<suite>/<scale>/`` — as a thumbnail linking its page.

    Found from the pages on disk (their image links), not from this run's rows, so a suite run
    that rewrites the index keeps every other page's plots, and a plot no page shows is left out.
    """
    sections = []
    pages = [*out.glob("*.md"), *out.glob("*/*.md"), *out.glob("*/*/*.md")]
    for where in sorted({p.parent for p in pages}, key=lambda d: (d != out, d.relative_to(out).as_posix())):
        thumbs = []
        for md in sorted(p for p in pages if p.parent == where and p.name not in ("README.md", "verdict.md")):
            try:
                text = md.read_text(encoding="utf-8")
            except OSError:
                continue
            heading = md.stem
            for line in text.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip().replace("`", "")
                for png in IMAGE.findall(line):
                    if (where / png).is_file():
                        thumbs.append(_thumb(md.relative_to(out).as_posix(), (where / png).relative_to(out).as_posix(),
                                             heading))
        if thumbs:
            sections.append(f"### {_where(out, where)}\n\n" + "\n".join(thumbs) + "\n")
    if not sections:
        return ""
    return ("\n## Plots\n\nEvery learning curve, each linking its table: mean over seeds on log-log axes, band ± std "
            "over seeds (the tables' numbers), zeros drawn at a dashed floor.\n\n" + "\n".join(sections))


def _thumb(page: str, png: str, caption: str) -> str:
    attr = html.escape(caption, quote=True)
    return (f'<a href="{quote(page)}"><img src="{quote(png)}" width="{THUMB_WIDTH}" alt="{attr}" '
            f'title="{attr}"></a>')


def _where(out: Path, where: Path) -> str:
    """A gallery section's heading: the task pages, or the suite and scale of a suite directory."""
    if where == out:
        return "Task pages"
    rel = where.relative_to(out).as_posix()
    try:
        v = json.loads((where / "verdict.json").read_text(encoding="utf-8"))
        return f"[{v['suite']}]({quote(rel)}/verdict.md), scale `{v['scale']}`"
    except (OSError, ValueError, KeyError, TypeError):
        return f"`{rel}/`"


def task_index(grouped: dict[str, list[Variant]], descriptions: dict[str, str]) -> str:
    """The index's task table: one row per task, with the leader at its largest N."""
    rows = []
    for task in sorted(grouped):
        for v in grouped[task]:
            ns = v.ns
            best = "—"
            if ns and leader(v, ns[-1]) is not None:
                m, name = leader(v, ns[-1])
                best = f"{shown_labels(v)[name]}: {_fmt(m)} at N={ns[-1]}"
            rows.append([f"[{task}]({task}.md)", descriptions.get(task, ""), v.metric or "—",
                         len(v.curves), f"{ns[0]}–{ns[-1]}" if ns else "—", best])
    return gfm(rows, ["task", "description", "metric", "learners", "N", "best at largest N"])
