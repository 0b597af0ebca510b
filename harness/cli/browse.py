"""The ``bench`` command line (click). Every user error ends as one ``error: ...`` line and a
non-zero exit status, never a traceback (set CONCEPTBENCH_DEBUG=1 to see one for real bugs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import click
from tabulate import tabulate

from harness.api.errors import BenchError
from harness.api.learners import label
from harness.cli.common import (PAGES_HELP, STORE_HELP, descriptions, examples_epilog, pages_of, plugin_registry,
                                store_path_of)
from harness.execution.registry import Registry
from harness.execution.runner import staleness
from harness.reporting import export, files, leaderboard, suite_pages
from harness.storage.store import Store
from harness.suites.suite import suite_to_toml


def _grid_text(spec: dict[str, list]) -> str:
    fixed = [f"{k}={v[0]}" for k, v in spec.items() if len(v) == 1]
    tuned = [f"{k}∈{{{', '.join(map(str, v))}}}" for k, v in spec.items() if len(v) > 1]
    return "; ".join(filter(None, [" × ".join(tuned), ", ".join(fixed)]))


LIST_WIDTH = 100  # `bench list` fits a 100-column terminal (`bench suite list` wraps at 100 too)


def _supports_text(kinds: Iterable[str]) -> str:
    return ", ".join({"classification": "class.", "regression": "regr."}.get(k, k) for k in sorted(kinds))


def _shorten(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters ending in "…", at a space if one lies in the last third
    (textwrap.shorten cuts only at spaces, so it drops a formula such as sin3's whole)."""
    if len(text) <= room:
        return text
    cut = text[:room - 1]
    if cut.rfind(" ") >= 2 * room // 3:
        cut = cut[:cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def _fitted(rows: list[list[Any]], headers: list[str], width: int, wrap: bool = False) -> str:
    """A plain table whose last column gets the columns ``width`` leaves: shortened (:func:`_shorten`)
    or, with ``wrap``, wrapped over several lines. Every other cell is kept whole, so a table whose
    other columns are too wide for ``width`` is wider (the last column keeps 12 columns)."""
    room = width
    while True:
        if wrap:
            text = tabulate(rows, headers, maxcolwidths=[None] * (len(headers) - 1) + [room])
        else:
            text = tabulate([[*r[:-1], "\n".join(_shorten(line, room) for line in str(r[-1]).splitlines())]
                             for r in rows], headers)
        excess = max(map(len, text.splitlines())) - width
        if excess <= 0 or room <= 12:  # tabulate's paddings are its own: measure, then narrow
            return text
        room = max(room - excess, 12)


@click.command(name="list", epilog=examples_epilog("bench list", "bench list --verbose"))
@click.option("--verbose", "-v", is_flag=True,
              help="Also each task's parameters, each learner's grid and each plugin's distribution, with "
                   "descriptions in full (wider than a terminal).")
def list_(verbose) -> int:
    """List tasks, learners, presets and suites, with the plugin each comes from (100 columns wide)."""
    reg = plugin_registry()
    click.echo(_full_listing(reg) if verbose else _short_listing(reg, LIST_WIDTH))
    return 1 if reg.problems else 0


def _short_listing(reg: Registry, width: int) -> str:
    """`bench list`: names, kinds, plugins (entry-point names, as CONCEPTBENCH_PLUGINS takes them)
    and descriptions shortened to fit ``width`` columns."""
    tasks = [[t.name, t.kind, reg.origin("task", t.name).plugin, t.description] for t in reg.tasks.values()]
    learners = [[lr.name, _supports_text(lr.supports), reg.origin("learner", lr.name).plugin, lr.description]
                for lr in reg.learners.values()]
    presets = [[p, lr.name, _grid_text(lr.with_preset(p).overrides)]
               for lr in reg.learners.values() for p in lr.presets]
    # a suite's scales stay on one line, below its description
    suites = [[s.name, len(s.claims), reg.origin("suite", s.name).plugin,
               f"{s.description}\n{suite_pages.scales_text(s)}"] for s in reg.suites.values()]
    parts = ["Tasks\n" + _fitted(sorted(tasks), ["name", "kind", "plugin", "description"], width),
             "Learners\n" + _fitted(sorted(learners), ["name", "supports", "plugin", "description"], width)]
    if presets:
        parts.append("Presets (bench run --preset NAME; --param values win)\n"
                     + _fitted(sorted(presets), ["preset", "learner", "candidate lists it sets"], width, wrap=True))
    if suites:
        parts.append("Suites (`bench suite list` for their scales and claims)\n"
                     + _fitted(sorted(suites), ["name", "claims", "plugin", "description; scales"], width))
    parts.append("`bench list --verbose`: parameters, grids, plugin distributions and full descriptions.")
    return "\n\n".join(parts)


def _full_listing(reg: Registry) -> str:
    """`bench list --verbose`: every column, nothing shortened."""
    tasks = [[t.name, t.kind, ", ".join(f"{k}={v}" for k, v in sorted(t.params.items())) or "—",
              str(reg.origin("task", t.name)), t.description] for t in reg.tasks.values()]
    learners = [[lr.name, ", ".join(sorted(lr.supports)), _grid_text(lr.grid_spec), str(reg.origin("learner", lr.name)),
                 lr.description] for lr in reg.learners.values()]
    presets = [[p, lr.name, _grid_text(lr.with_preset(p).overrides)]
               for lr in reg.learners.values() for p in lr.presets]
    suites = [[s.name, ", ".join(s.tasks), ", ".join(s.learners), suite_pages.scales_text(s), len(s.claims),
               str(reg.origin("suite", s.name)), s.description] for s in reg.suites.values()]
    parts = ["Tasks\n" + tabulate(sorted(tasks), ["name", "kind", "params", "plugin", "description"]),
             "Learners\n" + tabulate(sorted(learners), ["name", "supports", "grid", "plugin", "description"])]
    if presets:
        parts.append("Presets (bench run --preset NAME; --param values win)\n"
                     + tabulate(sorted(presets), ["preset", "learner", "candidate lists it sets"]))
    if suites:
        parts.append("Suites (`bench suite list` for their scales and claims)\n"
                     + tabulate(sorted(suites), ["name", "tasks", "learners", "scales", "claims", "plugin", "description"]))
    return "\n\n".join(parts)


@click.group(name="suite", epilog=examples_epilog("bench suite list"))
def suite_() -> None:
    """Suites: named grids at named scales, with the paper claims they test."""


@suite_.command(name="list", epilog=examples_epilog("bench suite list --width 120"))
@click.option("--width", type=int, default=100, show_default=True, help="Wrap the listing at this many columns.")
def suite_list(width) -> int:
    """List the suites: their scales (what each runs, what it costs) and their claims."""
    if width < 40:
        raise BenchError(f"--width must be at least 40 columns, got {width}")
    reg = plugin_registry()
    click.echo(suite_pages.listing(reg, width) if reg.suites else "no suites registered")
    return 1 if reg.problems else 0


@suite_.command(name="show", epilog=examples_epilog("bench suite show quick", "bench suite show allen-zhu-fig1"))
@click.argument("name")
def suite_show(name) -> int:
    """Print a suite (a built-in Python one too) as a suite file: TOML that CONCEPTBENCH_SUITES or a
    plugin can load back as the same suite (same cells, same claims).
    """
    reg = plugin_registry(quiet=True)
    click.echo(suite_to_toml(reg.get("suite", name)), nl=False)
    return 0


@click.command(name="leaderboard", epilog=examples_epilog(
    "bench leaderboard", "bench leaderboard --suite allen-zhu-fig1 --store leaderboards/store.sqlite"))
@click.option("--task", "-t", "task_names", multiple=True, metavar="T", help="Only this task's page. Repeatable.")
@click.option("--suite", "suite_name", metavar="NAME",
              help="Rebuild this suite's directory (<out>/<suite>/: pages, plots, verdict.md) from its own cells.")
@click.option("--scale", metavar="SCALE", help="The suite's scale [default: small].")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--out", metavar="DIR", help=PAGES_HELP)
def leaderboard_(task_names, suite_name, scale, store_path, out) -> int:
    """Rebuild Markdown leaderboards and learning-curve plots (or a suite's verdict) from the store."""
    if scale is not None and not suite_name:
        raise BenchError("--scale chooses a suite's scale; give it with --suite NAME (see `bench suite list`)")
    if suite_name and task_names:
        raise BenchError("use either --suite or --task, not both")
    reg = plugin_registry(quiet=True)
    if suite_name:  # a wrong name or scale is said before anything about the store
        suite = reg.get("suite", suite_name)
        grid = suite_pages.grid_of(suite, scale)
    path = store_path_of(store_path)
    if not Path(path).exists():
        raise BenchError(f"no result store at {path}; run `bench run` first or pass --store")
    store = Store(path)
    rows = store.rows()
    if not rows:
        raise BenchError(f"the store {path} holds no results yet; run `bench run` first")
    out = pages_of(path, out)
    files.claim(out, path)  # this store's pages only: another store's folder is refused
    if suite_name:
        cells = suite_pages.cells(reg, grid)
        planned = {c.cell_id for c in cells}
        paths = suite_pages.build(reg, suite, grid, cells, {r["cell_id"]: r for r in rows if r["cell_id"] in planned},
                                 out, staleness(reg))
    else:
        paths = leaderboard.build(rows, out, task_names or None, descriptions(reg), staleness(reg))
    for p in paths:
        click.echo(str(p))
    return 0


@click.command(epilog=examples_epilog("bench merge gpu.sqlite",
                                      "bench merge node1.sqlite node2.sqlite --store leaderboards/store.sqlite"))
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP + " The store merged into.")
def merge(sources, store_path) -> int:
    """Merge the results of other stores (runs on a GPU machine or cluster nodes) into the store.

    A cell the store lacks is copied as it was written (its device, host and versions kept); a
    cell it has is replaced only when its row failed or is stale and the other's is not (the
    replaced row moves to the store's history). Afterwards `bench leaderboard` rebuilds pages
    from all of them, and `bench run` trains only what is still missing."""
    path = Path(store_path_of(store_path))
    for source in sources:  # every source checked before anything is written
        if not Path(source).is_file():
            raise BenchError(f"no store to merge at {source}; give the path of a conceptbench .sqlite file")
        if Path(source).resolve() == path.resolve():
            raise BenchError(f"{source} is the store being merged into; give another store to merge from")
    stale = staleness(plugin_registry(quiet=True))
    target = Store(path)
    for source in sources:
        counts = target.merge_from(Store(source), stale)
        click.echo(f"{source}: {counts['copied']} cell(s) copied, {counts['replaced']} replaced (failed or stale "
                   f"here), {counts['kept']} kept as they were here → {path}")
    return 0


@click.command(epilog=examples_epilog("bench show -t sin3", "bench show -t sin3 --format csv -o sin3.csv"))
@click.option("--task", "-t", default=None, metavar="T", help="Only this task.")
@click.option("--learner", "-l", default=None, metavar="L", help="Only this learner.")
@click.option("--status", type=click.Choice(["ok", "diverged", "failed", "timeout"]), default=None,
              help="Only cells with this status.")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table for the terminal; csv or json: one record per cell with its metrics and chosen "
                   "parameters as columns (pandas.read_csv / read_json).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE",
              help="Write to FILE instead of the terminal.")
def show(task, learner, status, store_path, fmt, output) -> int:
    """Print stored results, one line per cell."""
    path = store_path_of(store_path)
    if not Path(path).exists():
        raise BenchError(f"no result store at {path}; run `bench run` first or pass --store")
    rows = [r for r in Store(path).rows(task, learner) if status is None or r["status"] == status]
    stale = staleness(plugin_registry(quiet=True))
    short = export.row_labels(rows)  # among the rows shown; exports keep the full grid in learner_params
    if fmt != "table":
        _emit(export.dumps([export.record(r, stale(r), short) for r in rows], fmt), output, len(rows))
        return 0
    if not rows:
        click.echo("no matching results")
        return 0
    table, stale_reasons = [], set()
    for r in rows:  # the terminal table
        chosen = ", ".join(f"{k}={v}" for k, v in (r["chosen_params"] or {}).items())
        if r.get("refit_failures"):
            chosen += f" (refit fallback: {len(r['refit_failures'])} better config(s) diverged on all N)"
        result = f"{r['metric']}={r['test_score']:.4g}" if r["status"] == "ok" else (r["error"] or "")
        if r.get("select_on") == "test":
            result += " (selected on test)"
        reasons = stale(r)
        stale_reasons.update(reasons)
        table.append([r["task"], short[label(r["learner"], r["learner_params"] or {})], r["n"], r["seed"],
                      r["status"] + (" (stale)" if reasons else ""), result, chosen,
                      *export.diagnostics_columns(r), f"{r['seconds']:.1f}", r.get("device") or "cpu"])
    headers = ["task", "learner", "N", "seed", "status", "test", "chosen", *export.DIAGNOSTICS_HEADERS, "s", "device"]
    if all(row[-1] == "cpu" for row in table):  # the usual case: leave the column out
        table, headers = [row[:-1] for row in table], headers[:-1]
    keep = [i for i, h in enumerate(headers)  # a diagnostics column no row fills is left out
            if h not in export.DIAGNOSTICS_HEADERS or any(row[i] for row in table)]
    table, headers = [[row[i] for i in keep] for row in table], [headers[i] for i in keep]
    text = tabulate(table, headers) + "\n"
    fulls = {label(r["learner"], r["learner_params"] or {}) for r in rows}
    grids = sorted((short[f], f) for f in fulls if short[f] != f)
    if grids:  # the legend: what each short label leaves out
        text += "learners by short name, with their full grids:\n" + "".join(f"  {s}: {f}\n" for s, f in grids)
    if stale_reasons:
        text += (f"(stale): computed by code that has changed since ({'; '.join(sorted(stale_reasons))}); "
                 f"`bench run` with the same arguments re-runs them.\n")
    _emit(text, output, len(rows))
    return 0


def _emit(text: str, output: str | None, count: int) -> None:
    """Print ``text``, or write it to ``output`` with a one-line note on stderr."""
    if not output:
        click.echo(text, nl=False)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot write {output}: {exc.strerror or exc}; choose another --output") from None
    click.echo(f"{count} cell(s) written to {output}", err=True)


