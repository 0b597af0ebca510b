"""A suite's own directory of results: ``<out>/<suite>/`` for its default scale (``small``),
``<out>/<suite>/<scale>/`` for any other, so that running one suite (or one scale) never
overwrites another's committed pages.

The directory holds a leaderboard page and plot per task (as :mod:`harness.reporting.leaderboard` writes
them), ``verdict.md`` — one line per claim, the numbers behind it, the command and wall time
that produced them, the suite's caveats — and ``verdict.json`` (the same, for the index) and
``runs.json`` (the measured runs that trained the cells). Only the suite's own cells count:
the cells its grid plans at that scale, found in the store by cell id, so other rows in the
same store never leak in.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import textwrap
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from harness.api.errors import BenchError
from harness.api.learners import Learner, short_labels
from harness.api.tasks import Task
from harness.execution.registry import Registry
from harness.execution.runner import plan
from harness.protocol.cell import CellSpec, Protocol
from harness.reporting import curves, files, leaderboard, plots
from harness.reporting.verdicts import CHECK_HEADERS, checks_table, to_json
from harness.suites.claims import ClaimResult, Point, fmt, select, with_curve_names
from harness.suites.grid import Grid
from harness.suites.statistics import RULE, UNDERPOWERED, t_interval
from harness.suites.suite import DEFAULT_SCALE, Suite
from harness.suites.sweeps import Tracks, Trend


# The committed pages of a source checkout (none in an installed wheel): their runs.json gives a
# fresh clone's first suite run a plan-line estimate before its own pages exist.
COMMITTED = Path(__file__).resolve().parents[2] / "leaderboards"


def directory(out: Path, grid: Grid) -> Path:
    """Where a suite's pages at ``grid.scale`` go, in the pages folder ``out``."""
    base = Path(out) / grid.suite
    return base if grid.scale == DEFAULT_SCALE else base / grid.scale


def grid_of(suite: Suite, scale: str | None) -> Grid:
    """The suite's grid at ``scale`` (default: ``small``); a one-line error for an unknown scale."""
    scale = scale or DEFAULT_SCALE
    try:
        return suite.at(scale)
    except KeyError:
        raise BenchError(f"suite '{suite.name}' has no scale '{scale}'; its scales: "
                         f"{', '.join(suite.scale_names)}") from None


def protocols(grid: Grid) -> list[Protocol]:
    """The protocol of each of the grid's conditions (one when the suite varies none)."""
    return [Protocol(**options) for options in grid.protocol_options()]


def condition_text(options: dict[str, Any]) -> str:
    """A condition as pages name it: ``σ = 0.1·std y``, ``label noise 0.25``, ``μ = 0.5``."""
    words = {"label_sigma": lambda v: f"σ = {v:g}·std y", "label_noise": lambda v: f"label noise {v:g}",
             "zou_gu_mu": lambda v: "no Zou–Gu map" if v is None else f"μ = {v:g}"}
    return ", ".join(words[k](v) if k in words else f"{k}={v}" for k, v in options.items())


def _condition_of(grid: Grid, protocol: Protocol) -> str:
    """The name of ``protocol``'s condition among the grid's ("" when the grid varies none)."""
    keys = [k for c in grid.conditions for k in c]
    return condition_text({k: getattr(protocol, k) for k in dict.fromkeys(keys)})


def objects(reg: Registry, grid: Grid) -> tuple[list[tuple[Task, str]], list[Learner]]:
    """The grid's task variants (each with the name its condition has on the verdict page) and
    learner variants, as registered objects with the grid's overrides."""
    counts = {name: sum(1 for t, _ in grid.tasks if t == name) for name, _ in grid.tasks}
    tasks = []
    for name, params in grid.tasks:
        task = reg.get("task", name)
        task = task.with_params(**params) if params else task
        shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        tasks.append((task, f"{name} ({shown})" if counts[name] > 1 and shown else name))
    learners = []
    for name, overrides in grid.learners:
        learner = reg.get("learner", name)
        learners.append(learner.with_params(**overrides) if overrides else learner)
    return tasks, learners


def cells(reg: Registry, grid: Grid, learners: list[Learner] | None = None,
          unsupported: list[str] | None = None) -> list[CellSpec]:
    """Every cell the suite plans at ``grid.scale`` (``learners``: the grid's learner objects, e.g.
    moved to a device; their identity, hence the cell ids, does not depend on it)."""
    tasks, default = objects(reg, grid)
    out: list[CellSpec] = []
    for i, proto in enumerate(protocols(grid)):  # one set of cells per condition
        out += plan([t for t, _ in tasks], learners or default, grid.ns, range(grid.seeds), proto, reg,
                    unsupported if i == 0 else None)
    if not grid.compare_selection or grid.select_on == "test":
        return out
    for proto in protocols(grid):
        out += plan([t for t, _ in tasks], learners or default, grid.ns, range(grid.seeds),
                    replace(proto, select_on="test"), reg)
    return out


def with_stored_seeds(grid: Grid, planned: list[CellSpec], stored: dict[str, dict[str, Any]]) -> list[CellSpec]:
    """``planned`` and the same cells at the seeds past the scale's that the store holds — the
    seeds ``bench run --until-decided`` added to undecided checks (``stored``: rows by cell id);
    seed after seed, as long as a cell has the next one."""
    out, last, seed = list(planned), [c for c in planned if c.seed == grid.seeds - 1], grid.seeds
    while last:
        last = [c for c in (replace(c, seed=seed) for c in last) if c.cell_id in stored]
        out += last
        seed += 1
    return out


def stored_cells(grid: Grid, planned: list[CellSpec], store_rows: Iterable[dict[str, Any]]
                 ) -> tuple[list[CellSpec], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``planned`` with the seeds past the scale's that the store holds (:func:`with_stored_seeds`),
    the stored rows of those cells by cell id, and every row of the store by id (a width check
    reads another scale's cells there)."""
    everything = {r["cell_id"]: r for r in store_rows}
    planned = with_stored_seeds(grid, planned, everything)
    return planned, {c.cell_id: everything[c.cell_id] for c in planned if c.cell_id in everything}, everything


def undecided(reg: Registry, suite: Suite, grid: Grid, planned: list[CellSpec], rows: dict[str, dict[str, Any]],
              max_seeds: int, keep: Callable[[CellSpec], bool] | None = None) -> tuple[int, int, list[CellSpec]]:
    """(UNDERPOWERED paired checks of ``suite``'s claims, those of them not yet stored on both sides
    at every seed below ``max_seeds``, the cells that give each of these one more seed): its two
    learners' cells at its condition and N, at the smallest seed not stored for both (``planned``
    holds every seed stored so far, :func:`with_stored_seeds`). A seed whose cell is stored but
    failed counts as tried: the next round moves past it. With ``keep`` (a run's -t/-l/--ns), only
    the checks whose cells it keeps on both sides count: the others are left as they are."""
    pairs = [(p, c) for p, c in points_and_cells(reg, grid, planned, rows) if p.settings["select_on"] == grid.select_on]
    total = 0
    own, specs = [p for p, _ in pairs], {id(p): c for p, c in pairs}
    count, todo = 0, {}
    for claim in suite.claims:
        if not hasattr(claim, "points_of"):
            continue
        for check in claim.evaluate(own).checks:
            pts = claim.points_of(check, own)
            if check.status != UNDERPOWERED or not pts:
                continue
            if keep is not None and not all(keep(specs[id(p)]) for p in pts):
                continue
            total += 1
            # each side's cells by seed; the next seed is the smallest that not both sides have stored
            # (a side may already have seeds past it, added for another check of the claim)
            sides: dict[str, dict[int, CellSpec]] = {}
            for p in pts:
                c = specs[id(p)]
                sides.setdefault(replace(c, seed=0).cell_id, {})[c.seed] = c
            seed = next(s for s in range(len(pts) + 1) if not all(s in side for side in sides.values()))
            if seed >= max_seeds or len(sides) < 2:  # a side with no cell at all: seeds cannot settle it
                continue
            count += 1
            for side in sides.values():
                nxt = replace(next(iter(side.values())), seed=seed)
                if nxt.cell_id not in rows:
                    todo.setdefault(nxt.cell_id, nxt)
    return total, count, list(todo.values())


def flattery(grid: Grid, planned: list[CellSpec], rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per learner variant and N, how much choosing hyper-parameters on the test set (the paper's
    way) flatters the curve: the test score of the cell selected on the test set minus that of
    the cell selected on validation, paired by seed, with its 95% t-interval. Each row names its
    variant by its short label among the suite's variants (``learner``, with the condition) and by
    its full label (``full_label``); ``_short`` (the short label alone, for the legend under the
    table) stays out of verdict.json."""
    key = lambda c: (_key(c.task.identity), _key(c.learner.identity), c.n, c.seed,
                     _key(replace(c.protocol, select_on="").__dict__))
    own = {key(c): c for c in planned if c.protocol.select_on == grid.select_on}
    pairs: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    for c in planned:
        twin = own.get(key(c))
        if c.protocol.select_on != "test" or twin is None or twin is c:
            continue
        a, b = rows.get(twin.cell_id), rows.get(c.cell_id)
        if a and b and a["status"] == b["status"] == "ok":
            pairs.setdefault((_condition_of(grid, c.protocol), c.learner.label, c.n), []).append(
                (a["test_score"], b["test_score"]))
    short = short_labels((c.learner.name, c.learner.overrides) for c in planned)
    out = []
    for (condition, label, n), ab in sorted(pairs.items()):
        val, test = np.mean([a for a, _ in ab]), np.mean([b for _, b in ab])
        diff = [b - a for a, b in ab]
        mean, lo, hi = t_interval(diff) if len(diff) >= 2 else (float(np.mean(diff)), None, None)
        out.append({"learner": short[label] + (f" ({condition})" if condition else ""), "full_label": label,
                    "_short": short[label], "n": n, "seeds": len(ab),
                    "validation": float(val), "test": float(test), "difference": mean, "lo": lo, "hi": hi,
                    "relative": float(test / val - 1) if val > 0 else None})
    return out


def flattery_section(rows: list[dict[str, Any]], curves: dict[str, str] | None = None) -> list[str]:
    """verdict.md's side-by-side of the two selections (learners by the paper's ``curves`` names)."""
    if not rows:
        return []
    table = [[with_curve_names(r["learner"], curves or {}), r["n"], r["seeds"], f"{r['validation']:.3g}", f"{r['test']:.3g}",
              f"{r['difference']:+.3g}" + ("" if r["lo"] is None else f" [{r['lo']:+.3g}, {r['hi']:+.3g}]"),
              "—" if r["relative"] is None else f"{100 * r['relative']:+.0f}%"] for r in rows]
    legend = leaderboard.grid_legend({r["full_label"]: with_curve_names(r["_short"], curves or {}) for r in rows})
    return ["## Selection on the test set: how much it flatters each curve", "",
            "Every cell also ran with `--select-on test` (every configuration trained on all N, the best *test* "
            "score reported, as Allen-Zhu, Li & Liang report their figures). Beside each curve's score with our "
            "validation selection: the test-selected score, their difference paired by seed with its 95% "
            "t-interval, and the relative change — a number the paper does not give. The claims above use the "
            "validation selection only.", "",
            leaderboard.gfm(table, ["learner", "N", "seeds", "selected on validation", "selected on test",
                                    "difference [95%]", "relative"]), "", *([legend, ""] if legend else [])]


def points(reg: Registry, grid: Grid, planned: list[CellSpec], rows: dict[str, dict[str, Any]],
           absent: bool = False) -> list[Point]:
    """The stored results of ``planned`` as claims see them (a cell not stored has no point; with
    ``absent``, each cell of the scale's seeds not stored yet has one with ``stored=False``)."""
    return [p for p, _ in points_and_cells(reg, grid, planned, rows, absent)]


def points_and_cells(reg: Registry, grid: Grid, planned: list[CellSpec],
                     rows: dict[str, dict[str, Any]], absent: bool = False) -> list[tuple[Point, CellSpec]]:
    """:func:`points`, each with the cell it comes from."""
    shown = {_key(t.identity): name for t, name in objects(reg, grid)[0]}
    out = []
    for spec in planned:
        row = rows.get(spec.cell_id)
        if row is None and (not absent or spec.seed >= grid.seeds):  # a seed past the scale's is planned only once stored
            continue
        ok = row is not None and row["status"] == "ok"  # else not stored yet, or failed, diverged, timed out
        settings = {**spec.task.params, "n_test": spec.protocol.n_test, "val_fraction": spec.protocol.val_fraction,
                    "label_noise": spec.protocol.label_noise, "label_sigma": spec.protocol.label_sigma,
                    "zou_gu_mu": spec.protocol.zou_gu_mu, "select_on": spec.protocol.select_on,
                    "corrupt_test": spec.protocol.corrupt_test}
        fixed = {k: v[0] for k, v in spec.learner.grid_spec.items() if len(v) == 1}
        condition = shown.get(_key(spec.task.identity), spec.task.name)
        if _condition_of(grid, spec.protocol):
            condition += ", " + _condition_of(grid, spec.protocol)
        out.append((Point(spec.task.name, condition, settings,
                          spec.learner.name, spec.learner.label, fixed, spec.n, spec.seed,
                          row["test_score"] if ok else None, row.get("train_score") if ok else None,
                          ((row.get("metrics") or {}).get("diagnostics") or {}) if ok else {},
                          dict(spec.learner.overrides), stored=row is not None), spec))
    return out


def _key(identity: dict[str, Any]) -> str:
    return json.dumps(identity, sort_keys=True, default=str)


def command(grid: Grid) -> str:
    """The command that (re)produces the suite's cells at this scale."""
    return f"bench run --suite {grid.suite}" + ("" if grid.scale == DEFAULT_SCALE else f" --scale {grid.scale}")


# runs.json names a run's cells by this many leading hex digits of their ids: 48 bits, so two cells
# of one suite sharing a prefix is a one-in-10^10 event even at 10^3 cells, at a third of the bytes.
CREDIT_ID = 12


def record_run(path: Path, argv: list[str], wall_seconds: float, stored: list[str], jobs: int,
               began: datetime | None = None, cut: list[str] = ()) -> None:
    """Add a measured run (its command, wall time, its span — from ``began``, default the wall time
    before now — the cells it wrote, ``stored``, and those a stop left half-trained with
    checkpoints, ``cut``: their ids) to ``runs.json`` in the suite's directory; a run that did
    neither is not recorded. :func:`build` credits each stored cell to the run that wrote it and
    keeps only the runs still credited with a cell or holding the time of a planned one's start."""
    if not stored and not cut:
        return
    now = datetime.now(timezone.utc)
    if began is None:
        began = now - timedelta(seconds=math.ceil(wall_seconds))
    began -= timedelta(seconds=1)  # created_at has whole seconds
    runs = recorded_runs(path) + [{"command": "bench " + shlex.join(argv), "wall_seconds": round(wall_seconds, 1),
                           "trained": len(stored), "jobs": jobs, "cores": os.cpu_count(),
                           "began": began.isoformat(timespec="seconds"), "ended": now.isoformat(timespec="seconds"),
                           "cells": sorted(cell_id[:CREDIT_ID] for cell_id in stored),
                           **({"cut": sorted(cell_id[:CREDIT_ID] for cell_id in cut)} if cut else {})}]
    files.write_text(path / "runs.json", json.dumps({"runs": runs}, indent=1) + "\n")


def wall_time(runs: list[dict[str, Any]]) -> tuple[float, int]:
    """(seconds, runs side by side): how long ``runs`` took end to end. Runs whose spans
    (``began`` to ``ended``) overlap — processes sharing one store, each training its own cells —
    count once, from the first start to the last end, instead of each in full; any other run
    counts its own ``wall_seconds``. The second number is how many runs overlapped another."""
    spans, total = [], 0.0
    for run in runs:
        try:
            spans.append((datetime.fromisoformat(run["began"]).timestamp(),
                          datetime.fromisoformat(run["ended"]).timestamp(), float(run["wall_seconds"])))
        except (KeyError, TypeError, ValueError):  # a run recorded without its span
            total += float(run.get("wall_seconds") or 0.0)
    groups: list[list[Any]] = []  # [began, ended, wall seconds of each run in it]
    for began, ended, seconds in sorted(spans):
        if groups and began < groups[-1][1]:
            groups[-1][1] = max(groups[-1][1], ended)
            groups[-1][2].append(seconds)
        else:
            groups.append([began, ended, [seconds]])
    side_by_side = 0
    for began, ended, seconds in groups:
        if len(seconds) == 1:
            total += seconds[0]
        else:
            total += ended - began
            side_by_side += len(seconds)
    return total, side_by_side


def recorded_runs(path: Path) -> list[dict[str, Any]]:
    """The measured runs recorded in a suite directory's runs.json ([] when it has none or is unreadable)."""
    try:
        return list(json.loads((path / "runs.json").read_text(encoding="utf-8"))["runs"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def credit(runs: list[dict[str, Any]], rows: list[dict[str, Any]],
           planned: Iterable[str] = ()) -> tuple[list[dict[str, Any]], int]:
    """The runs that wrote at least one of ``rows`` (each with ``credited``: how many) or were
    stopped with one of the ``planned`` cells (ids) half-trained (``cut`` in runs.json: a later run
    resumed it from there, so their time is the page's too), and how many rows no recorded run
    wrote.

    A row is the latest run's whose span holds the row's time and that lists the row's cell among
    those it wrote; runs recorded before they listed their cells are matched by the span alone. So
    two processes that shared a store side by side are each credited with their own cells."""
    kept, unknown = [], 0
    counts = [0] * len(runs)
    listed = [None if run.get("cells") is None else set(run["cells"]) for run in runs]
    for r in rows:
        hit = [i for i, run in enumerate(runs)
               if run.get("began", "") <= r["created_at"] <= run.get("ended", "")
               and (listed[i] is None or str(r.get("cell_id", ""))[:CREDIT_ID] in listed[i])]
        if hit:
            counts[hit[-1]] += 1
        else:
            unknown += 1
    ours = {cell_id[:CREDIT_ID] for cell_id in planned}
    for run, n in zip(runs, counts):
        if n or ours & set(run.get("cut") or ()):
            kept.append({**run, "credited": n})
    return kept, unknown


def width_check(reg: Registry, suite: Suite, grid: Grid, planned: list[CellSpec], rows: dict[str, dict[str, Any]],
                stored: dict[str, dict[str, Any]]) -> list[str]:
    """The verdict page's width check (:attr:`harness.Scale.width_check`): each of the suite's
    curves at this scale's width beside the check scale's, seed 0, at the check scale's N, and the
    order of the curves at each width — whether width moves it. [] when the scale has none."""
    name = suite.scales[grid.scale].width_check if grid.scale in suite.scales else None
    if not name or not suite.curves:
        return []
    other = grid_of(suite, name)
    theirs = cells(reg, other)

    def seed0(g: Grid, specs: list[CellSpec], got: dict[str, dict[str, Any]]) -> list[Point]:
        return [p for p in points(reg, g, [c for c in specs if c.seed == 0 and c.n in other.ns], got)
                if p.settings["select_on"] == g.select_on and p.score is not None]

    mine, check = seed0(grid, planned, rows), seed0(other, theirs, stored)
    widths = lambda g: sorted({w for _, ov in g.learners for w in ov.get("width", [])})  # noqa: E731
    w_mine, w_check = widths(grid), widths(other)
    headers = ["curve"] + [f"N={n}, width {w}" for n in other.ns for w in (*w_mine, *w_check)]
    table, order = [], {}
    for curve, selector in suite.curves.items():
        row = [curve]
        for n in other.ns:
            for pts, ws in ((mine, w_mine), (check, w_check)):
                got = select(selector, [p for p in pts if p.n == n])
                for w in ws:
                    at = [p for p in got if p.fixed.get("width", w) == w]  # a widthless learner: in each
                    row.append(f"{at[0].score:.3g}" if at else "—")
                    if at:
                        order.setdefault((n, w), []).append((at[0].score, curve))
        table.append(row)
    lines = [f"## Width check: width {', '.join(map(str, w_mine))} beside {', '.join(map(str, w_check))}", "",
             f"Width favours some curves more than others, so each curve also ran at scale `{name}` "
             f"(`{command(other)}`) at N = {', '.join(map(str, other.ns))}, seed 0; test error (relative MSE) of "
             f"seed 0 at both widths, and the curves in order of error at each:", "",
             leaderboard.gfm(table, headers), ""]
    for n in other.ns:
        ranked = {w: " < ".join(c for _, c in sorted(order.get((n, w), []))) for w in (*w_mine, *w_check)}
        # the orders compare only when every curve has a score at every width
        sets = {w: {c for _, c in order.get((n, w), [])} for w in ranked}
        verdict = (" — not every curve has run at every width yet." if any(len(c) < len(table) for c in sets.values())
                   else " — the same order." if len(set(ranked.values())) == 1 else " — the order moves with width.")
        lines.append(f"- N = {n}: " + "; ".join(f"width {w}: {r or 'not run yet'}" for w, r in ranked.items()) + verdict)
    return lines + [""]


def build(reg: Registry, suite: Suite, grid: Grid, planned: list[CellSpec], rows: dict[str, dict[str, Any]],
          out: Path, stale: Callable[[dict[str, Any]], list[str]] | None = None,
          stored: dict[str, dict[str, Any]] | None = None) -> list[Path]:
    """Write the suite's directory at ``grid.scale`` from the stored ``rows`` (by cell id) of its
    ``planned`` cells, and the index ``<out>/README.md``; return the paths written. ``stored``
    (every row of the store by id) gives a width check its other scale's cells."""
    where = directory(out, grid)
    files.check_writable(where)
    # the learning curves show the scale's seeds; the claims use every seed stored (--until-decided's too)
    everything, planned = planned, [c for c in planned if c.seed < grid.seeds]
    mine = [rows[c.cell_id] for c in planned if c.cell_id in rows]
    if not mine:
        raise BenchError(f"the store holds none of the {len(planned)} cells of suite '{suite.name}' at scale "
                         f"'{grid.scale}'; run `{command(grid)}` first")
    written = []
    grouped = curves.collect(mine, stale)
    try:
        for task in sorted(grouped):
            text, pngs = leaderboard.page(task, grouped[task], reg.tasks[task].description if task in reg.tasks
                                           else "")
            for png, v in pngs.items():
                plots.plot(v, where / png)
                written.append(where / png)
            files.write_text(where / f"{task}.md", text)
            written.append(where / f"{task}.md")
        own = [p for p in points(reg, grid, everything, rows, absent=True) if p.settings["select_on"] == grid.select_on]
        landed = [p for p in own if p.stored]
        results = [claim.evaluate(own if claim.reads_absent else landed) for claim in suite.claims]
        # claims across a condition (Arora et al.'s random labels) come with their figures
        axis = next((c.axis for c in suite.claims if isinstance(c, (Trend, Tracks))), None)
        figures = plots.condition_figures(landed, axis, where) if axis else []
        written += [where / name for name, _ in figures]
        flatters = flattery(grid, planned, rows)
        metric = next((r["metric"] for r in mine if r.get("metric")), None)
        facts = _facts(planned, mine, [stale(r) for r in mine] if stale is not None else [], where)
        facts["extra_seeds"] = extra_seeds(grid, everything, rows)
        if facts["runs"] or (where / "runs.json").exists():  # forget runs whose cells are all gone
            kept = [{k: v for k, v in run.items() if k != "credited"} for run in facts["runs"]]
            files.write_text(where / "runs.json", json.dumps({"runs": kept}, indent=1) + "\n")
        sweeps = sweep_plots(suite, landed, metric, where)
        written += [where / png for _, png in sweeps]
        check = width_check(reg, suite, grid, everything, rows, stored or rows)
        files.write_text(where / "verdict.md", page(suite, grid, results, facts, sorted(grouped), metric,
                                                           flatters, figures) + sweep_section(sweeps)
                         + ("\n" + "\n".join(check) if check else ""))
        files.write_text(where / "verdict.json", json.dumps(
            {"suite": suite.name, "scale": grid.scale, "description": suite.description, "cells": facts["cells"],
             "compute_seconds": facts["compute"], "runs": facts["runs"], "extra_seeds": facts["extra_seeds"],
             "caveats": list(suite.caveats_at(grid.scale)),
             "paper_scale": suite.paper_scale, "answers_paper": grid.scale == suite.paper_scale,
             "curves": dict(suite.curves), "claims": [to_json(r, suite.curves) for r in results],
             "selection_on_test": [{k: v for k, v in f.items() if not k.startswith("_")} for f in flatters]}, indent=1,
            ensure_ascii=False) + "\n")
        written += [where / "verdict.md", where / "verdict.json", leaderboard.write_index(Path(out))]
    except OSError as exc:
        raise BenchError(f"cannot write leaderboards to {where}: {exc.strerror or exc}") from None
    return written


def sweep_plots(suite: Suite, own: list[Point], metric: str | None, where: Path) -> list[tuple[str, str]]:
    """For each learner parameter a claim sweeps (``Slope(x="width")``), the metric against it per
    condition (task variant and protocol condition) as ``<condition>-vs-<x>.png``: (caption, file)."""
    out = []
    for x in dict.fromkeys(getattr(c, "x", "n") for c in suite.claims):
        if x == "n":
            continue
        for condition in sorted({p.condition for p in own}):
            png = re.sub(r"[^A-Za-z0-9._=-]+", "-", condition).strip("-") + f"-vs-{x}.png"
            if plots.sweep_plot([p for p in own if p.condition == condition], x, metric, condition, where / png):
                out.append((f"{condition}: test metric against {x}", png))
    return out


def sweep_section(sweeps: list[tuple[str, str]]) -> str:
    """verdict.md's plots against the swept parameter."""
    if not sweeps:
        return ""
    return "\n".join(["", "## Against the swept parameter", "",
                      *[f"![{caption}]({png})\n" for caption, png in sweeps]])


def extra_seeds(grid: Grid, everything: list[CellSpec], rows: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The stored cells past the scale's seeds that the claims use (``bench run --until-decided``
    added them to the cells of undecided checks): how many, at which seeds, their compute. None
    when there are none."""
    extra = [(c.seed, rows[c.cell_id]) for c in everything if c.seed >= grid.seeds and c.cell_id in rows]
    if not extra:
        return None
    return {"cells": len(extra), "seeds": sorted({s for s, _ in extra}),
            "compute_seconds": round(sum(r["seconds"] or 0.0 for _, r in extra), 1)}


def extra_seeds_line(extra: dict[str, Any], grid: Grid) -> str:
    """verdict.md's line on the seeds ``--until-decided`` added."""
    seeds = extra["seeds"]
    which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    return (f"- Extra seeds: the claims also use {extra['cells']} cell(s) at {which}, past the scale's own, that the "
            f"store holds — added to undecided checks by `{command(grid)} --until-decided`, or the same cells run "
            f"by another scale (compute {extra['compute_seconds']:.0f} s, not in the figures above); each check's "
            f"`seeds / points` says how many it used. The learning curves show seeds 0–{grid.seeds - 1}.")


def _facts(planned: list[CellSpec], mine: list[dict[str, Any]], stale: list[list[str]], where: Path) -> dict[str, Any]:
    """Counts, summed cell seconds, why stale rows are stale (``stale``: reasons per row of
    ``mine``) and the measured runs (from ``runs.json``) credited with the rows."""
    runs, unrecorded = credit(recorded_runs(where), mine, (c.cell_id for c in planned))
    return {"cells": {"planned": len(planned), "stored": len(mine), "ok": sum(r["status"] == "ok" for r in mine),
                      "stale": sum(1 for whys in stale if whys)},
            "compute": round(sum(r["seconds"] or 0.0 for r in mine), 1), "runs": runs, "unrecorded": unrecorded,
            "stale_reasons": sorted({why for whys in stale for why in whys})}


METRIC_WORDS = {"rel_mse": "relative test MSE", "error": "test 0-1 error"}


def page(suite: Suite, grid: Grid, results: list[ClaimResult], facts: dict[str, Any], tasks: list[str],
         metric: str | None, flatters: list[dict[str, Any]] | None = None,
         figures: list[tuple[str, str]] | None = None) -> str:
    """The Markdown of verdict.md (``figures``: (file, caption) of plots in the suite's directory)."""
    cells, runs = facts["cells"], facts["runs"]
    named = lambda text: with_curve_names(text, suite.curves)  # noqa: E731 (the paper's curve names)
    lines = [f"# {suite.name}: verdict at scale `{grid.scale}`", "", *summary(suite, grid, results, facts, tasks), "",
             "Generated from the result store by `bench run --suite` / `bench leaderboard --suite`; do not edit "
             "by hand.", "", "## Verdicts", ""]
    if not results:
        lines += ["This suite declares no claims.", ""]
    for i, r in enumerate(results, 1):
        lines += [f"{i}. {r.line(suite.curves)}.",  # the headline, the claim, where each status was found
                  f"   - The paper's claim ({r.claim.source}): {r.claim.text.rstrip('.')}.",
                  f"   - The numbers: [Claim {i}](#{_anchor(i, named(r.claim.statement()))}) below.", ""]
    if results:
        lines += [f"How a verdict is read: {RULE}", ""]
    legend = curve_legend(suite, grid)
    if legend and results:
        lines += [legend, ""]
    if figures:
        lines += ["## Figures", ""] + [f"![{caption}]({name})" + "\n" for name, caption in figures]
    compute = (f"Compute: {facts['compute']:.0f} s, the sum of the cells' own timings (the store's `seconds`).")
    if runs:
        wall, side_by_side = wall_time(runs)
        commands = list(dict.fromkeys(run["command"] for run in runs))
        spans = "; ".join(f"{run['wall_seconds']:.0f} s, trained {run['trained']} cell(s)"
                          + (f" of which {run['credited']} are on this page" if run["credited"] < run["trained"]
                             else "")
                          + (f", stopped with {len(run['cut'])} half-trained and checkpointed" if run.get("cut") else "")
                          + f", --jobs {run['jobs']} on {run.get('cores') or '?'} cores" for run in runs)
        produced = [f"- Command: `{'`, then `'.join(commands)}`",
                    f"- Wall time: **{wall:.0f} s measured** (training only; {len(runs)} run(s)"
                    + (f", {side_by_side} of them side by side, their overlap counted once" if side_by_side else "")
                    + f": {spans}). {compute}"]
    else:
        produced = [f"- Command: `{command(grid)}`", f"- Wall time: not measured. {compute}"]
    if facts["unrecorded"]:
        produced.append(f"- {facts['unrecorded']} cell(s) were trained by runs that did not write this directory "
                        f"(`--no-leaderboard`, another `--out`, or before it existed): their wall time is not in "
                        f"the figure above; their compute is.")
    protocol_text = (f"hyper-parameters chosen on {grid.val_fraction:.0%} of the N samples"
                     if grid.select_on == "validation" else "hyper-parameters selected on the TEST set")
    lines += ["## How it was produced", "", *produced,
              f"- Grid: tasks {', '.join(_variant(n, p) for n, p in grid.tasks)}; learners "
              f"{'; '.join(_variant(n, p) for n, p in grid.learners)}; N = {', '.join(map(str, grid.ns))}; "
              f"seeds 0–{grid.seeds - 1}; test set {grid.n_test} points; {protocol_text}"
              + (f"; label noise {grid.label_noise:g}" if grid.label_noise else "")
              + (f"; label σ = {grid.label_sigma:g}·std y" if grid.label_sigma else "")
              + ("; label noise corrupts the test labels too (Arora et al.'s protocol)" if grid.corrupt_test else "")
              + (f"; conditions: {'; '.join(condition_text(c) for c in grid.conditions)}"
                 if grid.conditions != ({},) else "")
              + (f"; Zou–Gu inputs μ = {grid.zou_gu_mu:g}" if grid.zou_gu_mu is not None else "") + ".",
              f"- Cells: {cells['stored']} of {cells['planned']} planned cells stored, {cells['ok']} ok"
              + (f", **{cells['stale']} stale** (computed by code that has changed since: "
                 f"{'; '.join(facts['stale_reasons'])}; `{command(grid)}` re-runs them)" if cells["stale"] else "")
              + ".",
              *([extra_seeds_line(facts["extra_seeds"], grid)] if facts.get("extra_seeds") else []),
              "- Learning curves: " + ", ".join(f"[{t}]({t}.md)" for t in tasks) + ".", ""]
    for i, r in enumerate(results, 1):
        legend = leaderboard.grid_legend(r.grids)
        at_top = _numbers_at_largest_n(r)
        lines += [f"## Claim {i}: {named(r.claim.statement())}", "",
                  f"**{r.verdict or r.status}**{named(at_top)}", "",
                  leaderboard.gfm(checks_table(r, suite.curves), CHECK_HEADERS), "", *([legend, ""] if legend else [])]
    what = METRIC_WORDS.get(metric or "", metric or "the test metric")
    lines += ["Scores are the " + what + " of each cell. A difference a − b is score(a) − score(b) paired by "
              "seed, its interval the 95% t-interval of the mean over the paired seeds, `p (Holm)` the Holm-adjusted "
              "one-sided p-value of a − b < 0 (the rule above turns these into the verdict). "
              "A slope is the least-squares slope of log score against log x over every seed-level point, its "
              "interval ± t(0.975, points − 2) × standard error.", "",
              # a claim that reads other numbers than these (WidthNeeded: training scores) says how
              *[line for m in dict.fromkeys(getattr(r.claim, "method", "") for r in results) if m for line in (m, "")],
              *flattery_section(flatters or [], suite.curves),
              "## Caveats", ""]
    lines += [f"- {c}" for c in suite.caveats_at(grid.scale)]
    if results:
        lines += ["- Each interval is a 95% interval for its own check, not widened for the number of checks. The "
                  "verdicts of a claim's paired checks are Holm-corrected across that claim's paired checks; level "
                  "and slope checks, and different claims, are not corrected for one another."]
    lines += [""]
    return "\n".join(lines)


def summary(suite: Suite, grid: Grid, results: list[ClaimResult], facts: dict[str, Any], tasks: list[str]) -> list[str]:
    """The three lines verdict.md opens with: what was asked (and whether this scale answers the
    paper's question), the answer per claim, and where the numbers are."""
    if suite.paper_scale is None:
        scale = ""
    elif grid.scale == suite.paper_scale:
        scale = f" Scale `{grid.scale}` answers the paper's question."
    else:
        scale = (f" Scale `{grid.scale}` is a smaller trial: the paper's question is answered at scale "
                 f"`{suite.paper_scale}` (`{command(replace(grid, scale=suite.paper_scale))}`).")
    answers = "; ".join(f"claim {i}, {with_curve_names(r.claim.statement(), suite.curves)}: **{r.verdict or r.status}**"
                        for i, r in enumerate(results, 1)) or "no claim is checked: the suite draws learning curves"
    cells = facts["cells"]
    return [f"- **Asked:** {suite.description.rstrip('.')}.{scale}",
            f"- **Answer:** {answers}.",
            f"- **Numbers:** " + ("each claim's checks under its heading below; " if results else "")
            + "learning curves " + ", ".join(f"[{t}]({t}.md)" for t in tasks)
            + f"; {cells['ok']} of {cells['planned']} planned cells ok."]


def curve_legend(suite: Suite, grid: Grid) -> str:
    """The legend of the paper's curve names the page uses: each name, its selector and the grid's
    learner variant(s) it selects."""
    from harness.suites.claims import _grid_matches

    if not suite.curves:
        return ""
    entries = [f"- **{name}**: `{selector}` ({', '.join(f'`{lab}`' for lab in _grid_matches(selector, grid))})"
               for name, selector in suite.curves.items()]
    return "\n".join(["Curves by the paper's names (each stands for the learner variant(s) after it; other learners "
                      "go by their own names):", "", *entries])


def _anchor(i: int, heading: str) -> str:
    """GitHub's anchor of the heading ``Claim i: heading`` (lower case, spaces to hyphens, other
    punctuation dropped)."""
    import re

    text = f"claim {i}: {heading}".lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _numbers_at_largest_n(r: ClaimResult) -> str:
    """The numbers behind a by-N verdict line: each check at the largest N with results stored (per
    condition); a larger N whose cells are not in the store yet has no numbers to show."""
    at = [c for c in r.checks if c.n is not None]
    if not at:
        return "."
    top = max((c.n for c in at if c.count), default=max(c.n for c in at))
    several = len({c.condition for c in at}) > 1  # then each number names its condition
    parts = [(f"{c.condition}: " if several else "") + f"{c.what} = {fmt(c.estimate)} "
             + (f"[{fmt(c.lo)}, {fmt(c.hi)}]" if c.lo is not None else "(no interval)")
             + f", {c.count} {c.unit}" for c in at if c.n == top]
    return f". At N = {top}: " + "; ".join(parts) + "."


def _variant(name: str, overrides: dict[str, Any]) -> str:
    if not overrides:
        return f"`{name}`"
    shown = ", ".join(f"{k}={'/'.join(map(str, v)) if isinstance(v, list) else v}"
                      for k, v in sorted(overrides.items()))
    return f"`{name}` ({shown})"


def _condition_values(grid: Grid) -> dict[str, list[Any]]:
    """Each condition key of the grid with its values, in declared order."""
    out: dict[str, list[Any]] = {}
    for c in grid.conditions:
        for k, v in c.items():
            out.setdefault(k, [])
            if v not in out[k]:
                out[k].append(v)
    return out


def _ns_text(ns: tuple[int, ...]) -> str:
    return ", ".join(map(str, sorted(ns)))


def scales_text(suite: Suite) -> str:
    """Each scale in a few words, for `bench list`: ``small: N 250–1000 × 3 seeds``."""
    parts = []
    for name in suite.scale_names:
        g = suite.at(name)
        conds = "".join(f" × {len(vs)} {k}" for k, vs in _condition_values(g).items())
        parts.append(f"{name}: N {min(g.ns)}–{max(g.ns)} × {g.seeds} seeds{conds}")
    return "; ".join(parts)


def listing(reg: Registry, width: int = 100) -> str:
    """`bench suite list`: per suite its description, scales (grid, cost, output directory),
    caveats and claims, wrapped at ``width`` columns."""

    def block(label: str, text: str, first: str = "  ", rest: str = "      ") -> list[str]:
        return textwrap.wrap(text, width, initial_indent=first + label, subsequent_indent=rest,
                             break_on_hyphens=False) or [first + label]

    out: list[str] = []
    for suite in sorted(reg.suites.values(), key=lambda s: s.name):
        out += textwrap.wrap(f"{suite.name} — {suite.description}", width, subsequent_indent="  ")
        for name in suite.scale_names:
            g = suite.at(name)
            note = suite.scales.get(name).note if name in suite.scales else ""
            learners = ", ".join(sorted({n for n, _ in g.learners}))
            conds = "; ".join(f"{k} ∈ {{{', '.join(map(str, vs))}}}" for k, vs in _condition_values(g).items())
            text = (f"N = {_ns_text(g.ns)}; {g.seeds} seeds; test set {g.n_test}; "
                    + (f"conditions {conds}; " if conds else "") + "tasks "
                    f"{', '.join(dict.fromkeys(t for t, _ in g.tasks))}; learners {learners}"
                    + (f"; {note}" if note else "") + f"; committed pages: leaderboards/{directory(Path(''), g).as_posix()}/; "
                    f"run: {command(g)}")
            out += block(f"scale {name}{' (default)' if name == DEFAULT_SCALE else ''}"
                         f"{' (answers the paper)' if name == suite.paper_scale else ''}: ", text)
            for caveat in suite.scales[name].caveats if name in suite.scales else ():
                out += block(f"caveat (scale {name}): ", caveat, first="    ", rest="        ")
        for i, claim in enumerate(suite.claims, 1):
            out += block(f"claim {i}: ", f"{with_curve_names(claim.statement(), suite.curves)} — {claim.source}")
        for caveat in suite.caveats:
            out += block("caveat: ", caveat)
        out.append("")
    return "\n".join(out).rstrip("\n")
