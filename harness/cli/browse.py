"""The ``bench`` command line (click). Every user error ends as one ``error: ...`` line and a
non-zero exit status, never a traceback (set CONCEPTBENCH_DEBUG=1 to see one for real bugs)."""

from __future__ import annotations

import difflib
import re
import textwrap
import tomllib
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import click
from tabulate import tabulate

from harness.api.errors import BenchError
from harness.api.learners import label, short_labels
from harness.cli.common import (PAGES_HELP, STORE_HELP, descriptions, examples_epilog, pages_of, plugin_registry,
                                store_path_of)
from harness.execution.registry import Registry
from harness.api.checkpoints import in_progress
from harness.execution.runner import checkpoint_root, staleness
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


def _fitted(rows: list[list[Any]], headers: list[str], width: int, wrap: bool = False, first_lines: int = 1) -> str:
    """A plain table whose last column gets the columns ``width`` leaves: shortened (:func:`_shorten`)
    or, with ``wrap``, wrapped over several lines. ``first_lines`` > 1 wraps the first line of each
    last cell over up to that many lines before shortening. Every other cell is kept whole, so a
    table whose other columns are too wide for ``width`` is wider (the last column keeps 12 columns)."""
    room = width
    while True:
        if wrap:
            text = tabulate(rows, headers, maxcolwidths=[None] * (len(headers) - 1) + [room])
        else:
            text = tabulate([[*r[:-1], _cell_lines(str(r[-1]), room, first_lines)] for r in rows], headers)
        excess = max(map(display_width, text.splitlines())) - width
        if excess <= 0 or room <= 12:  # tabulate's paddings are its own: measure, then narrow
            return text
        room = max(room - excess, 12)


def _cell_lines(text: str, room: int, first_lines: int) -> str:
    """A cell's lines, each shortened to ``room``; its first line wrapped over up to ``first_lines``."""
    first, *rest = text.splitlines() or [""]
    head = textwrap.wrap(first, room, break_on_hyphens=False) or [""]
    if len(head) > first_lines:
        head = head[:first_lines - 1] + [_shorten(" ".join(head[first_lines - 1:]), room)]
    return "\n".join([*head, *(_shorten(line, room) for line in rest)])


def distinct_descriptions(descriptions: dict[str, str], min_words: int = 3) -> dict[str, str]:
    """Each description with the start it shares with another one (whole words, up to the last
    that ends a clause in ``)``, ``,``, ``:`` or ``;``) cut to its first word and "…" (``Allen-Zhu,
    Li, Liang 2019 (NeurIPS, ...) Fig. 2 as published`` → ``Allen-Zhu … Fig. 2 as published``), so
    that descriptions that open alike show where they differ within a short listing. A shared
    start of fewer than ``min_words`` words, or the whole description, stays."""
    words = {name: text.split(" ") for name, text in descriptions.items()}
    out = {}
    for name, mine in words.items():
        shared = 0
        for other, theirs in words.items():
            if other != name:
                common = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
                shared = max(shared, common)
        while shared and not mine[shared - 1].endswith((")", ",", ":", ";")):  # end at a clause's end
            shared -= 1
        if shared < min_words or shared >= len(mine):
            out[name] = descriptions[name]
        else:
            out[name] = f"{mine[0].rstrip(',;:')} … {' '.join(mine[shared:])}"
    return out


@click.command(name="list", epilog=examples_epilog("bench list", "bench list --verbose"))
@click.option("--verbose", "-v", is_flag=True,
              help="Also each task's parameters, each learner's grid and each plugin's distribution, with "
                   "descriptions in full (one block per name, wrapped at 100 columns).")
def list_(verbose) -> int:
    """List tasks, learners, presets and suites, with the plugin each comes from (100 columns wide)."""
    reg = plugin_registry()
    click.echo(_full_listing(reg, LIST_WIDTH) if verbose else _short_listing(reg, LIST_WIDTH))
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
    told_apart = distinct_descriptions({s.name: s.description for s in reg.suites.values()})
    suites = [[s.name, len(s.claims), reg.origin("suite", s.name).plugin,
               f"{told_apart[s.name]}\n{suite_pages.scales_text(s)}"] for s in reg.suites.values()]
    parts = ["Tasks\n" + _fitted(sorted(tasks), ["name", "kind", "plugin", "description"], width),
             "Learners\n" + _fitted(sorted(learners), ["name", "supports", "plugin", "description"], width)]
    if presets:
        parts.append("Presets (bench run --preset NAME; --param values win)\n"
                     + _fitted(sorted(presets), ["preset", "learner", "candidate lists it sets"], width, wrap=True))
    if suites:
        parts.append("Suites (`bench suite list` for their scales and claims)\n"
                     + _fitted(sorted(suites), ["name", "claims", "plugin", "description; scales"], width,
                               first_lines=2))
    parts.append("`bench list --verbose`: parameters, grids, plugin distributions and full descriptions.")
    return "\n\n".join(parts)


def _full_listing(reg: Registry, width: int) -> str:
    """`bench list --verbose`: every field in full, one block per task, learner, preset and suite —
    its name, kind and plugin distribution on the first line, then one wrapped line per field,
    ``width`` columns wide."""

    def block(head: str, fields: list[tuple[str, Any]]) -> str:
        lines = textwrap.wrap(head, width, subsequent_indent="    ", break_on_hyphens=False)
        for key, value in fields:
            lines += textwrap.wrap(f"{key}: {value}" if key else str(value), width, initial_indent="    ",
                                   subsequent_indent="      ", break_on_hyphens=False)
        return "\n".join(lines)

    tasks = [block(f"{t.name} — {t.kind}; plugin {reg.origin('task', t.name)}",
                   [("params", ", ".join(f"{k}={v}" for k, v in sorted(t.params.items())) or "—"),
                    ("", t.description)])
             for t in sorted(reg.tasks.values(), key=lambda t: t.name)]
    learners = [block(f"{lr.name} — {', '.join(sorted(lr.supports))}; plugin {reg.origin('learner', lr.name)}",
                      [("grid", _grid_text(lr.grid_spec)), ("", lr.description)])
                for lr in sorted(reg.learners.values(), key=lambda lr: lr.name)]
    presets = [block(f"{p} — for {lr.name}", [("sets", _grid_text(lr.with_preset(p).overrides))])
               for lr in sorted(reg.learners.values(), key=lambda lr: lr.name) for p in lr.presets]
    suites = [block(f"{s.name} — {len(s.claims)} claim(s); plugin {reg.origin('suite', s.name)}",
                    [("tasks", ", ".join(s.tasks)), ("learners", ", ".join(s.learners)),
                     ("scales", suite_pages.scales_text(s)), ("", s.description)])
              for s in sorted(reg.suites.values(), key=lambda s: s.name)]
    parts = ["Tasks\n" + "\n".join(tasks), "Learners\n" + "\n".join(learners)]
    if presets:
        parts.append("Presets (bench run --preset NAME; --param values win)\n" + "\n".join(presets))
    if suites:
        parts.append("Suites (`bench suite list` for their scales and claims)\n" + "\n".join(suites))
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
    click.echo(wrap_toml(suite_to_toml(reg.get("suite", name)), LIST_WIDTH), nl=False)
    return 0


# A TOML line holding one basic string: indent, an optional `key = `, the string, an optional comma.
_TOML_STRING = re.compile(r'^(\s*)((?:[A-Za-z0-9_.\-]+|"[^"\\]*")\s*=\s*)?"((?:[^"\\]|\\.)*)"(,?)\s*$')


def wrap_toml(text: str, width: int) -> str:
    """``text`` (TOML) with each line longer than ``width`` that holds one basic string rewritten
    as a multi-line basic string whose lines end in a backslash (TOML drops that backslash, the
    newline and the next line's indent), broken at spaces: the same document, ``width`` wide. The
    rewrite is checked by parsing both; any difference, and the text is returned as it was."""
    out = []
    for line in text.splitlines():
        match = _TOML_STRING.match(line)
        if display_width(line) <= width or not match:
            out.append(line)
            continue
        indent, key, content, comma = match.groups()
        inner = indent + "  "
        words = re.split(r"(?<= )", content)  # each piece keeps its trailing space
        rows, current = [], ""
        for word in words:
            if current and display_width(inner + current + word) + 1 > width:
                rows.append(current)
                current = ""
            current += word
        rows.append(current)
        last = re.split(r"(?<= )", rows[-1])
        if len(last) > 1 and display_width(f'{inner}{rows[-1]}"""{comma}') > width:  # room for the closing quotes
            rows[-1:] = ["".join(last[:-1]), last[-1]]
        if any(not row.endswith(" ") for row in rows[:-1]) or (  # no space to break at
                len(rows) == 1 and display_width(f'{inner}{rows[0]}"""{comma}') > width):
            out.append(line)
            continue
        out.append(f'{indent}{key or ""}"""\\')
        out += [f"{inner}{row}\\" for row in rows[:-1]]
        out.append(f'{inner}{rows[-1]}"""{comma}')
    wrapped = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    try:
        same = tomllib.loads(wrapped) == tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        same = False
    return wrapped if same else text


@click.command(name="leaderboard", epilog=examples_epilog(
    "bench leaderboard", "bench leaderboard --suite allen-zhu-fig1 --store leaderboards/store.sqlite"))
@click.option("--task", "-t", "task_names", multiple=True, metavar="T", help="Only this task's page. Repeatable.")
@click.option("--suite", "suite_name", metavar="NAME",
              help="Rebuild this suite's directory from its own cells: DIR/<suite>/ (DIR/<suite>/<scale>/ at a "
                   "scale other than small) with its pages, plots and verdict.md.")
@click.option("--scale", metavar="SCALE", help="The suite's scale [default: small].")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--out", metavar="DIR", help=PAGES_HELP)
def leaderboard_(task_names, suite_name, scale, store_path, out) -> int:
    """Rebuild this store's pages from the store, beside it unless --out: each task's leaderboard
    and learning-curve plot (<task>.md, <task>.png), or with --suite the suite's directory and
    verdict; then the index, README.md."""
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
        # the suite's stored cells, with the seeds --until-decided added
        cells, mine, everything = suite_pages.stored_cells(grid, suite_pages.cells(reg, grid), rows)
        paths = suite_pages.build(reg, suite, grid, cells, mine, out, staleness(reg), everything)
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
    click.echo(f"merging into {path}:")  # the target once, so that each source's line stays short
    for source in sources:
        counts = target.merge_from(Store(source), stale)
        click.echo(f"  {source}: {counts['copied']} cell(s) copied, {counts['replaced']} replaced (failed or "
                   f"stale here), {counts['kept']} kept as they were")
    return 0


@click.command(epilog=examples_epilog("bench show -t sin3", "bench show -t sin3 -l ntk --verbose",
                                      "bench show -t sin3 --format csv -o sin3.csv"))
@click.option("--task", "-t", default=None, metavar="T", help="Only this task.")
@click.option("--learner", "-l", default=None, metavar="L", help="Only this learner.")
@click.option("--status", type=click.Choice(["ok", "diverged", "failed", "timeout"]), default=None,
              help="Only cells with this status.")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table for the terminal; csv or json: one record per cell with its metrics and chosen "
                   "parameters as columns (pandas.read_csv / read_json); test_score, train_score and "
                   "val_score are all in the record's `metric` (rel_mse or error).")
@click.option("--verbose", "--wide", "-v", "verbose", is_flag=True,
              help="Under each cell: its chosen parameters, validation and training scores, diagnostics, "
                   "edges, device and error (wrapped at 100 columns).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, metavar="FILE",
              help="Write to FILE instead of the terminal.")
def show(task, learner, status, store_path, fmt, verbose, output) -> int:
    """Print stored results, one line per cell (100 columns wide): task, learner, N, seed, status,
    test score and seconds. --verbose adds each cell's details; --format csv|json has everything."""
    path = store_path_of(store_path)
    if not Path(path).exists():
        raise BenchError(f"no result store at {path}; run `bench run` first or pass --store")
    store = Store(path)
    reg = plugin_registry(quiet=True)
    _check_names(store, reg, path, task, learner)
    rows = [r for r in store.rows(task, learner) if status is None or r["status"] == status]
    stale = staleness(reg)
    short = export.row_labels(rows)  # among the rows shown; exports keep the full grid in learner_params
    draws = export.ValidationLabels(reg.tasks)
    if fmt != "table":
        _emit(export.dumps([export.record(r, stale(r), short, draws) for r in rows], fmt), output, len(rows))
        return 0
    if not rows:
        asked = ", ".join(f"{k} {v!r}" for k, v in (("task", task), ("learner", learner), ("status", status)) if v)
        hint = f"`bench show --store {path}` lists what it holds" if asked else "`bench run` stores results there"
        click.echo(f"no stored results{' for ' + asked if asked else ''} in {path} ({hint})")
        click.echo(in_progress_text(store, task, learner), nl=False)
        return 0
    text, names = show_table(rows, stale, short, draws if verbose else None, SHOW_WIDTH)
    _emit(text + in_progress_text(store, task, learner, rows, names), output, len(rows))
    return 0


def in_progress_text(store: Store, task: str | None = None, learner: str | None = None,
                     rows: list[dict[str, Any]] | None = None, shown: dict[str, str] | None = None) -> str:
    """The cells with a training checkpoint beside ``store`` (cut off, or training now), one line
    each with the program and epoch of their last save; "" when there are none. ``rows`` and
    ``shown`` (full label → the name the table of ``rows`` shows, from :func:`show_table`) name a
    cell's learner as the table above does when the table has that variant."""
    root = checkpoint_root(store)
    cells = [c for c in in_progress(root)
             if all(name is None or f" {name}" in f" {c.get('label', '')}" for name in (task, learner))]
    if not cells:
        return ""
    lines = [f"\n{len(cells)} cell(s) in progress; a `bench run` of their grid resumes each from its checkpoint:"]
    names = _in_progress_names(cells, [(r["learner"], r["learner_params"] or {}) for r in rows or []], shown or {})
    for c in cells:
        # which cell first, then where it is; what a 100-column line cuts is the time of the save
        lines.append(_shorten(f"  {names[c['cell_id']]}: epoch {c.get('epoch')}/{c.get('epochs')} (program "
                              f"{c.get('program')}), saved {str(c.get('saved_at'))[5:16]}", SHOW_WIDTH))
    return "\n".join(lines + [f"  (checkpoints in {root}/)"]) + "\n"


def _in_progress_names(cells: list[dict[str, Any]], table: list[tuple[str, dict[str, list[Any]]]],
                       shown: dict[str, str]) -> dict[str, str]:
    """Each cell in progress by task, short learner label, N and seed — ``sin3,
    three_layer_sgd[train=hidden], N=5000, seed 1`` — the learner named as the table names it
    (``shown``: full label → name, e.g. ``three_layer_sgd#3``) when the table has that variant, else
    told apart from the others in progress (and from the ``table``'s variants of its learner, if
    it has any) by the fewest parameters
    (:func:`short_labels`), so that the line's 100 columns show which cell it is; the saved label
    where the checkpoint does not say its key."""
    def variant(key: Any) -> tuple[str, dict[str, list[Any]]] | None:
        try:
            return str(key["learner"]["name"]), dict(key["learner"]["grid"])
        except (KeyError, TypeError, ValueError):
            return None

    variants = {c["cell_id"]: variant(c.get("key")) for c in cells}
    running = [v for v in variants.values() if v is not None]
    short = short_labels(running)
    if any(label(*v) not in shown and v[0] in {name for name, _ in table} for v in running):
        # a variant the table lacks, of a learner the table has: its name among the cells in
        # progress alone could be one the table gives another variant, or read as one of them
        short = short_labels([*running, *table])
    out = {}
    for c in cells:
        v, key = variants[c["cell_id"]], c.get("key") or {}
        try:
            name = shown.get(label(*v)) or short[label(*v)]
            out[c["cell_id"]] = f"{key['task']['name']}, {name}, N={key['n']}, seed {key['seed']}"
        except (KeyError, TypeError):
            out[c["cell_id"]] = c.get("label", c["cell_id"])
    return out


SHOW_WIDTH = 100  # `bench show` fits a 100-column terminal; --verbose wraps its details there too


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (East Asian) characters count 2, combining marks 0."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def _check_names(store: Store, reg: Registry, path: str, task: str | None, learner: str | None) -> None:
    """Raise a one-line error, with a did-you-mean, for a -t/-l name neither installed nor stored."""
    stored_rows: list[dict[str, Any]] | None = None
    for kind, name, installed in (("task", task, reg.tasks), ("learner", learner, reg.learners)):
        if name is None or name in installed:
            continue
        stored_rows = store.rows() if stored_rows is None else stored_rows  # a plugin since uninstalled
        stored = {r[kind] for r in stored_rows}
        if name in stored:
            continue
        known = sorted(set(installed) | set(stored))
        hint = difflib.get_close_matches(name, known, n=1)
        raise BenchError(f"unknown {kind} '{name}'" + (f" — did you mean '{hint[0]}'?" if hint else ".")
                         + f" Known {kind}s: {', '.join(known) or '(none)'} (installed or stored in {path}).")


def _setting(row: dict[str, Any]) -> str:
    """The protocol a cell ran under, in a few words, where it is not the default (so that two
    lines alike in task, learner, N and seed are told apart; --verbose adds n_test and the
    validation fraction)."""
    parts = []
    if row.get("label_noise"):
        parts.append(f"noise={row['label_noise']:g}" + (" (+test)" if row.get("corrupt_test") else ""))
    if row.get("label_sigma"):
        parts.append(f"σ={row['label_sigma']:g}")
    if row.get("input_transform"):
        parts.append(str(row["input_transform"]))
    if row.get("select_on") == "test":
        parts.append("sel. on test")
    return ", ".join(parts)


def show_table(rows: list[dict[str, Any]], stale, short: dict[str, str],
               draws: export.ValidationLabels | None, width: int) -> tuple[str, dict[str, str]]:
    """`bench show`'s text: one line per cell within ``width`` columns (a learner whose short label
    does not fit is named ``learner#k``, spelled out in the legend), notes on stale, fallback and
    failed cells; with ``draws`` (--verbose), each cell's details under its line, wrapped at ``width``.
    Also returns the names it gave the learner variants (full label → name)."""
    settings = [_setting(r) for r in rows]
    metrics = sorted({r["metric"] for r in rows if r.get("metric")})
    one_metric = len(metrics) <= 1
    stale_reasons, fallbacks, failures = set(), 0, []
    body = []
    for r, setting in zip(rows, settings):
        reasons = stale(r)
        stale_reasons.update(reasons)
        state = r["status"] + (" (stale)" if reasons else "")
        if r["status"] == "ok" and r.get("refit_failures"):
            state += " (fb)"
            fallbacks += 1
        if r["status"] != "ok":
            failures.append(r)
        score = "" if r.get("test_score") is None else f"{r['test_score']:.4g}"
        body.append([r["task"], r, r["n"], r["seed"], setting, state,
                     *([] if one_metric else [r.get("metric") or ""]), score,
                     _seconds(r.get("seconds"))])
    headers = ["task", "learner", "N", "seed", "setting", "status",
               *([] if one_metric else ["metric"]), f"test {metrics[0]}" if metrics and one_metric else "test", "s"]
    if not any(settings):
        headers.pop(4)
        body = [row[:4] + row[5:] for row in body]
    align = ["right" if h in ("N", "seed", "s") or h.startswith("test") else "left" for h in headers]
    names = _learner_names(rows, short, body, headers, align, width)
    table = [[row[0], names[label(row[1]["learner"], row[1]["learner_params"] or {})], *row[2:]] for row in body]
    lines = tabulate(table, headers, disable_numparse=True, colalign=align).splitlines()
    excess = max(map(display_width, lines)) - width
    if excess > 0 and "setting" in headers:  # a long protocol setting gives way last
        i = headers.index("setting")
        room = max(max(display_width(row[i]) for row in table) - excess, len("setting"))
        table = [[*row[:i], _shorten(row[i], room), *row[i + 1:]] for row in table]
        lines = tabulate(table, headers, disable_numparse=True, colalign=align).splitlines()
    if draws is None:
        text = "\n".join(lines) + "\n"
    else:  # each cell's details under its line
        out = lines[:2]
        for line, r in zip(lines[2:], rows):
            out.append(line)
            out += _details(r, draws, stale(r), width)
        text = "\n".join(out) + "\n"
    return text + _show_notes(rows, short, names, stale_reasons, fallbacks, failures, draws is not None, width), names


def _seconds(seconds: float | None) -> str:
    """Seconds to three figures, without an exponent (1234 s is "1234", not "1.23e+03")."""
    if seconds is None:
        return ""
    return f"{seconds:.0f}" if seconds >= 1000 else f"{seconds:.3g}"


def _learner_names(rows, short, body, headers, align, width) -> dict[str, str]:
    """Full label → the name the table shows: the short label, or ``learner#k`` (its k-th variant
    among the rows, in label order) when the short labels would push the table past ``width``."""
    fulls = sorted({label(r["learner"], r["learner_params"] or {}) for r in rows})
    others = [[row[0], "", *row[2:]] for row in body]
    rest = max(display_width(line) for line in tabulate(others, headers, disable_numparse=True,
                                                        colalign=align).splitlines())
    room = width - rest + len("learner")  # the empty learner column is as wide as its header
    names = {f: short[f] for f in fulls}
    if max(display_width(n) for n in names.values()) <= room:
        return names
    learner_of = {label(r["learner"], r["learner_params"] or {}): r["learner"] for r in rows}
    too_long = {learner_of[f] for f in fulls if display_width(short[f]) > room}
    counts: dict[str, int] = {}
    for f in fulls:  # every variant of such a learner numbered, so one learner is named one way
        name = learner_of[f]
        if name in too_long:
            counts[name] = counts.get(name, 0) + 1
            names[f] = f"{name}#{counts[name]}"
    return names


def _wrapped(text: str, width: int, indent: str = "      ") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False, break_long_words=True) or []


def _details(r: dict[str, Any], draws: export.ValidationLabels, reasons: list[str], width: int) -> list[str]:
    """--verbose: a cell's chosen parameters, scores, diagnostics, edges, device, protocol and error."""
    out = []
    chosen = ", ".join(f"{k}={v}" for k, v in (r["chosen_params"] or {}).items())
    if r.get("refit_failures"):
        chosen += f" (refit fallback: {len(r['refit_failures'])} better config(s) diverged on all N)"
    if chosen:
        out += _wrapped(f"chosen: {chosen}", width)
    if r.get("metric"):
        val, note = export.relative_val(r, draws, reasons)
        scores = [f"test {r['test_score']:.4g}"]
        scores.append(f"validation {val:.4g}" if val is not None else f"validation — ({note})")
        if r.get("train_score") is not None:
            scores.append(f"train {r['train_score']:.4g}")
        out += _wrapped(f"{r['metric']}: {', '.join(scores)}", width)
    diag = export.diagnostics_columns(r)
    shown = [f"{h} {v}" for h, v in zip(export.DIAGNOSTICS_HEADERS[:3], diag[:3]) if v]
    if shown:
        out += _wrapped("diagnostics: " + ", ".join(shown), width)
    if diag[3]:
        out += _wrapped(f"on an edge of the grid: {diag[3]}", width)
    protocol = f"n_test={r.get('n_test')}, val_fraction={r.get('val_fraction')}"
    out += _wrapped(f"device {r.get('device') or 'cpu'}; {protocol}", width)
    if r.get("error"):
        out += _wrapped(f"error: {r['error']}", width)
    return out


def _show_notes(rows, short, names, stale_reasons, fallbacks, failures, verbose, width) -> str:
    """The legend of learner names and the notes under `bench show`'s table, wrapped at ``width``."""
    text = ""
    fulls = {label(r["learner"], r["learner_params"] or {}) for r in rows}
    grids = sorted((names[f], f) for f in fulls if names[f] != f)
    if grids:  # the legend: what each short name leaves out
        text += "learners by short name, with their full grids:\n"
        for name, full in grids:
            spelled = f" = {short[full]}" if short[full] != name else ""
            text += "\n".join(textwrap.wrap(f"{name}{spelled}: {full}", width, initial_indent="  ",
                                            subsequent_indent="      ", break_on_hyphens=False)) + "\n"
    notes = []
    if stale_reasons:
        notes.append(f"(stale): computed by code that has changed since ({'; '.join(sorted(stale_reasons))}); "
                     f"`bench run` with the same arguments re-runs them.")
    if fallbacks:
        notes.append("(fb): fallback — the best validated configuration's refit on all N diverged, so the "
                     "next best one's is shown (--verbose says how many gave way).")
    if any(r.get("select_on") == "test" for r in rows):
        notes.append("sel. on test: the configuration was chosen on the test set, as Allen-Zhu et al. "
                     "report (optimistic).")
    if failures and not verbose:
        shown = failures[:5]
        notes += [f"{r['status']}: {r['task']} {names[label(r['learner'], r['learner_params'] or {})]} "
                  f"N={r['n']} seed {r['seed']}: {r.get('error') or 'no error recorded'}" for r in shown]
        if len(failures) > len(shown):
            notes.append(f"... and {len(failures) - len(shown)} more not ok (`bench show --status failed "
                         f"--verbose` lists each with its error).")
    for note in notes:  # at most three lines a note; --verbose has every error whole
        lines = textwrap.wrap(note, width, subsequent_indent="  ", break_on_hyphens=False)
        if len(lines) > 3:
            lines = lines[:2] + ["  " + _shorten(" ".join(line.strip() for line in lines[2:]), width - 2)]
        text += "\n".join(lines) + "\n"
    return text


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


