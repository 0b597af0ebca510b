"""``bench run``: options, run files and suites turned into cells, trained, and pages written."""

from __future__ import annotations

import ast
import contextlib
import difflib
import itertools
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click
import numpy as np
from click.core import ParameterSource

from harness.api.checkpoints import DEFAULT_MINUTES
from harness.api.errors import BenchError, one_line
from harness.cli import run_config
from harness.cli.common import (COMMAND_ARGV, DEFAULT_NS, PAGES_HELP, STORE_HELP, descriptions, examples_epilog,
                                pages_of, plugin_registry, store_path_of)
from harness.execution import backends, devices
from harness.execution.estimates import estimate_run
from harness.execution.progress import NORMAL, QUIET, VERBOSE, Progress, suite_estimate
from harness.execution.registry import Registry
from harness.execution.runner import (check_memory, execute, pending, plan, staleness, trained_before,
                                      upgrade_fingerprints)
from harness.execution.summary import RunSummary
from harness.protocol.cell import CellSpec, Protocol
from harness.protocol.data import checked_sample
from harness.reporting import files, leaderboard, suite_pages, terminal
from harness.storage.store import Store


def _parse_value(text: str) -> Any:
    """A Python literal (1e-3, 'rbf', True); also true/false as booleans, else the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_ns(ns: tuple[int, ...], ns_csv: str | None) -> list[int]:
    out = list(ns)
    if ns_csv is not None:  # an empty --ns must not fall back to the default sizes unnoticed
        parts = [part.strip() for part in ns_csv.split(",")]
        if not any(parts):
            raise BenchError(f"--ns {ns_csv!r} holds no size; write e.g. --ns 100,200,400")
        if not all(parts):
            raise BenchError(f"--ns {ns_csv!r} has an empty size between commas; write e.g. --ns 100,200,400")
    for part in (ns_csv or "").split(","):
        if part.strip():
            try:
                out.append(int(part))
            except ValueError:
                raise BenchError(f"--ns: {part.strip()!r} is not an integer; write e.g. --ns 100,200,400") from None
    for n in out:
        if n <= 0:
            raise BenchError(f"N must be a positive integer, got {n}; write e.g. --n 100 --n 1000")
    return out


def _split_values(spec: str, raw: str) -> list[str]:
    """Split ``raw`` at the commas outside brackets, parentheses, braces and quotes, so that
    ``0.1,0.3`` is two values and ``[1,2],[2,4]`` is two list values."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(raw):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(raw[start:i].strip())
            start = i + 1
        if depth < 0:
            break
    if depth or quote:
        raise BenchError(f"malformed --param {spec!r}: unbalanced brackets or quotes; write a list value "
                         f"in brackets, e.g. --param degrees=[1,2]")
    return [*parts, raw[start:].strip()]


def _unknown_target(spec: str, target: str, selected: list[str]) -> BenchError:
    hint = difflib.get_close_matches(target, selected, n=1)
    return BenchError(f"--param {spec!r}: {target!r} is not a selected task or learner (selected: "
                      f"{', '.join(selected)})" + (f"; did you mean '{hint[0]}'?" if hint else ""))


def _no_such_parameter(spec: str, name: str, target: str, tasks: list, learners: list) -> BenchError:
    """The error for a ``--param`` key that no selected (or the named) task or learner has: what
    each of them does take, with a did-you-mean, so the line says what to write instead."""
    keys = {o.name: sorted(o.params) for o in tasks if not target or o.name == target}
    keys.update({o.name: sorted({**o.parameters, **o.renamed}) for o in learners if not target or o.name == target})
    hint = difflib.get_close_matches(name, sorted({k for ks in keys.values() for k in ks}), n=1)
    owners = ", ".join(keys)
    taken = "; ".join(f"{o}: {', '.join(ks) or 'none'}" for o, ks in keys.items())
    if len(taken) > 240:  # many learners (-l all): their parameters would not fit a line
        taken = "`bench list --verbose` shows each one's"
    return BenchError(f"--param {spec!r}: no selected task or learner ({owners}) has a parameter {name!r}"
                      + (f"; did you mean '{hint[0]}'?" if hint else "") + f" (parameters: {taken})")


def _parse_params(specs: tuple[str, ...], tasks: list, learners: list,
                  base: dict[tuple[str, str], dict[str, list]] | None = None) -> tuple[list, list]:
    """Apply ``--param [name.]key=v1,v2`` to the selected tasks and learners, on top of ``base``
    (a run file's values by (kind, name) and key, which a ``--param`` of the same key replaces).

    A learner gets the values as its candidate list; a task with several values for a parameter
    becomes one task variant per value (the cartesian product over its swept parameters). A
    value that is itself a list or tuple is written in brackets: ``degrees=[1,2]`` is one value,
    ``degrees=[1,2],[2,4]`` two.
    """
    overrides: dict[tuple[str, str], dict[str, Any]] = {k: dict(v) for k, v in (base or {}).items()}
    given: dict[tuple[str, str, str], tuple[str, str]] = {}  # (kind, object, key) -> (key text, raw)
    selected = [o.name for o in [*tasks, *learners]]
    for spec in specs:
        key, sep, raw = spec.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise BenchError(f"malformed --param {spec!r}; write --param KEY=VALUE or --param LEARNER.KEY=V1,V2")
        target, _, name = key.rpartition(".")
        if target and target not in selected:  # blame the unknown name, not the key
            raise _unknown_target(spec, target, selected)
        values = [_parse_value(v) for v in _split_values(spec, raw)]
        hits = 0
        for kind, objs in (("task", tasks), ("learner", learners)):
            for obj in objs:
                has = name in (obj.params if kind == "task" else {**obj.parameters, **obj.renamed})
                if (target and target != obj.name) or not has:
                    continue
                # Refused rather than merged or overridden: which of two settings a user meant
                # cannot be guessed, and merging would silently turn an override into a sweep.
                if (kind, obj.name, name) in given:
                    first_key, first_raw = given[(kind, obj.name, name)]
                    both = f"{obj.name}.{name}" if target or "." in first_key else name
                    raise BenchError(f"--param {both} is given twice ({first_key}={first_raw.strip()} and "
                                     f"{key}={raw.strip()}); give all candidates once: "
                                     f"-p {both}={first_raw.strip()},{raw.strip()}")
                given[(kind, obj.name, name)] = (key, raw)
                overrides.setdefault((kind, obj.name), {})[name] = values
                hits += 1
        if not hits:
            raise _no_such_parameter(spec, name, target, tasks, learners)
    swept: dict[str, Any] = {}  # by identity: a repeated value (k=2,2) is one variant, not two
    for t in tasks:
        grid = overrides.get(("task", t.name), {})
        for combo in itertools.product(*grid.values()):  # one variant per combination of values
            variant = t.with_params(**dict(zip(grid, combo))) if grid else t
            swept.setdefault(json.dumps(variant.identity, sort_keys=True, default=str), variant)
    learners = [lr.with_params(**overrides[("learner", lr.name)]) if ("learner", lr.name) in overrides else lr
                for lr in learners]
    return list(swept.values()), learners


def _apply_preset(preset: str, learners: list, reg: Registry) -> list:
    """Apply ``--preset`` to every selected learner that declares it; the others keep their own
    grids (said on stderr). A preset that no selected learner declares is an error."""
    having = [lr for lr in learners if preset in lr.presets]
    if not having:
        known = sorted({p for lr in reg.learners.values() for p in lr.presets})
        hint = difflib.get_close_matches(preset, known, n=1)
        holders = "; ".join(f"{p} ({', '.join(sorted(n for n, lr in reg.learners.items() if p in lr.presets))})"
                            for p in known)
        raise BenchError(f"no selected learner ({', '.join(lr.name for lr in learners)}) declares preset "
                         f"{preset!r}" + (f" — did you mean {hint[0]!r}?" if hint else "")
                         + f"; presets: {holders or 'none'}")
    others = [lr.name for lr in learners if preset not in lr.presets]
    click.echo(f"preset {preset}: applied to {', '.join(lr.name for lr in having)}"
               + (f"; {', '.join(others)} declare(s) no such preset and keep their own grids" if others else ""),
               err=True)
    return [lr.with_preset(preset) if preset in lr.presets else lr for lr in learners]


def _select(reg: Registry, kind: str, names: tuple[str, ...]) -> list:
    table = {"task": reg.tasks, "learner": reg.learners}[kind]
    if "all" in names:
        return [table[k] for k in sorted(table)]
    return [reg.get(kind, name) for name in dict.fromkeys(names)]


@click.command(epilog=examples_epilog("bench run --suite quick",
                             "bench run -t sin3 -l three_layer_sgd -l ntk --ns 100,400,1600 --seeds 3",
                             "bench run -t sin3 -l three_layer_sgd -p width=256 -p lr=0.01,0.03 --jobs 2",
                             "bench run --config run.toml --jobs 2"))
@click.option("--config", "config_path", metavar="FILE",
              help="Read the run from a TOML file: tasks, learners (with their parameters), ns, seeds and any "
                   "other option below by its long name (docs/suites.md, \"Runs as files\"). An option also given here "
                   "overrides the file's key (--param: that parameter only); --task, --learner and --suite are "
                   "refused with --config.")
@click.option("--suite", "suite_name", metavar="NAME", help="Run a named suite (see `bench suite list`).")
@click.option("--scale", metavar="SCALE",
              help="The suite's scale [default: small]; `bench suite list` shows each suite's scales.")
@click.option("--task", "-t", "task_names", multiple=True, metavar="T",
              help="Task name, or 'all'. Repeatable. With --suite: train only this task's cells of it.")
@click.option("--learner", "-l", "learner_names", multiple=True, metavar="L",
              help="Learner name, or 'all'. Repeatable. With --suite: train only this learner's cells of it "
                   "(e.g. the torch learners on a GPU machine); its pages count all of its cells.")
@click.option("--n", "ns", multiple=True, type=int, metavar="N",
              help="A training-set size. Repeatable. With --suite: train only the suite's cells at this N.")
@click.option("--ns", "ns_csv", metavar="N1,N2,..", help="Training-set sizes, comma-separated (with --suite: as --n).")
@click.option("--seeds", type=int, default=None, help="Seeds 0..K-1 per cell [default: 3].")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes [default: number of cores].")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--out", metavar="DIR", help=PAGES_HELP)
@click.option("--param", "-p", "params", multiple=True, metavar="[NAME.]KEY=V1,V2",
              help="A learner's candidate list, or a task parameter: several values tune a learner over "
                   "them and sweep a task (one variant per value). Write a list or tuple value in "
                   "brackets: -p degrees=[1,2] is one value, -p degrees=[1,2],[2,4] two. Each key once; "
                   "repeatable for different keys.")
@click.option("--preset", metavar="NAME",
              help="Apply a learner preset (e.g. allen-zhu: the paper's published protocol) to every selected "
                   "learner that declares it, as if given with --param; explicit --param values win.")
@click.option("--n-test", type=int, default=None, help="Test-set size [default: 5000].")
@click.option("--val-fraction", type=float, default=None,
              help="Share of the N samples held out for selection [default: 0.2].")
@click.option("--label-noise", type=float, default=None, metavar="P",
              help="Replace this fraction of training labels by random ones [default: 0].")
@click.option("--label-sigma", type=float, default=None, metavar="S",
              help="Add Gaussian noise of std S·std y to regression training labels (the test set stays "
                   "clean) [default: 0].")
@click.option("--corrupt-test", is_flag=True, default=None,
              help="With --label-noise P, corrupt the same fraction of the TEST labels too, as Arora et al. "
                   "(2019) do (default: the test set stays clean).")
@click.option("--zou-gu-mu", type=float, default=None, metavar="MU",
              help="Map inputs to ||x|| = 1 with last coordinate MU (Zou & Gu's data), 0 < MU < 1.")
@click.option("--select-on", type=click.Choice(["validation", "test"]), default=None,
              help="Choose hyper-parameters on a validation split of the N samples (ours, default) or, as "
                   "Allen-Zhu et al. report, by test score (optimistic; every page and row says so).")
@click.option("--retry-failed", is_flag=True, help="Also re-run cells stored as failed or timed out.")
@click.option("--reuse-stale", is_flag=True,
              help="Keep stored cells whose code changed since they ran (default: re-run them).")
@click.option("--cell-timeout", type=float, default=None, metavar="SECONDS",
              help="Stop a cell after this long and store it as 'timeout'.")
@click.option("--checkpoint-minutes", type=float, default=DEFAULT_MINUTES, show_default=True, metavar="M",
              help="Save each network cell's training state every M minutes beside the store "
                   "(<store name>-checkpoints/), so a run cut off resumes mid-cell; 0 saves none.")
@click.option("--device", default="cpu", show_default=True, metavar="DEVICE",
              help=f"Torch device for the torch learners: {devices.HELP}. Recorded with each row; "
                   f"not part of a cell's identity.")
@click.option("--until-decided", is_flag=True,
              help="With --suite: after its cells, add one seed at a time to the cells of every paired check "
                   "that is UNDERPOWERED (docs/verdicts.md), until each is decided or has --max-seeds seeds; "
                   "--task/--learner/--ns limit which checks.")
@click.option("--max-seeds", type=int, default=None, metavar="K",
              help="With --until-decided: the most seeds a check may use [default: 10].")
@click.option("--backend", "backend_name", type=click.Choice(backends.BACKENDS), default="local", show_default=True,
              help="Where cells train: local (this machine, --jobs worker processes) or dask (a dask.distributed "
                   "cluster: the one at --scheduler, else a local cluster of --jobs workers × 1 thread; needs "
                   "the dask extra). Results come back to this process, which writes the store.")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --backend dask: the scheduler of the cluster to train on, e.g. tcp://10.0.0.5:8786.")
@click.option("--no-leaderboard", is_flag=True,
              help="Write no pages after the run (its results are stored all the same; `bench leaderboard` "
                   "writes the pages later).")
@click.option("--force", is_flag=True,
              help="Run even when the memory check estimates that the largest cells need more memory than "
                   "this machine has available.")
@click.option("--yes", "-y", is_flag=True,
              help="Start even a run estimated at over an hour, or one whose cells (--jobs of them side by side) "
                   "need more memory than is available; without it such a run is refused before it trains.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the plan line, errors and the summary (no per-cell lines, no progress bar).")
@click.option("--verbose", "-v", is_flag=True, help="Also print each finished cell's chosen parameters and grid edges.")
def run(config_path, **options) -> int:
    """Train and evaluate every task × learner × N × seed cell not already in the store.

    Example: bench run --config run.toml --jobs 2
    """
    if config_path is None:
        return _run(**options)
    cfg = run_config.load_run(config_path)
    ctx = click.get_current_context()
    given = {name for name in options if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
    for name, flag, key in (("suite_name", "--suite", "suite"), ("task_names", "--task", "tasks"),
                            ("learner_names", "--learner", "learners")):
        if name in given:  # the file's tables are keyed by these names: replacing them would drop its parameters
            raise BenchError(f"{flag} with --config: {cfg.source.name} says what to run; edit its {key} "
                             f"(or run without --config)")
    for key, value in cfg.options.items():
        name = CONFIG_OPTIONS.get(key, key)
        if name not in given and not (name == "ns" and "ns_csv" in given):
            options[name] = value
    return _run(**options, cfg=cfg)


MAX_SEEDS = 10  # --until-decided's default cap on the seeds of a check


def _until_decided(reg: Registry, suite: Any, grid: Any, suite_cells: list, store: Store, max_seeds: int,
                   keep: Callable[[CellSpec], bool], **run: Any) -> RunSummary:
    """Rounds of one more seed for the cells of every UNDERPOWERED paired check of the suite's
    claims whose cells ``keep`` selects (the run's -t/-l/--ns), until none is left below
    ``max_seeds`` seeds (``run``: execute's options). Returns what the rounds did, as one summary
    the run's adds up (a round cut short ends the rounds, with its checkpointed cells in ``cut``)."""
    quiet = run.pop("quiet")
    rounds = RunSummary()

    def done() -> str:  # what the rounds so far trained, for the closing line
        return f" ({len(rounds.stored)} cell(s) trained in {rounds.seconds:.0f} s)" if rounds.stored else ""

    for round_no in itertools.count(1):
        planned, rows, _ = suite_pages.stored_cells(grid, suite_cells, store.rows())
        total, below, more = suite_pages.undecided(reg, suite, grid, planned, rows, max_seeds, keep)
        if not more:
            click.echo(f"until decided: every paired check is decided{done()}" if not total else
                       f"until decided: {total} check(s) still UNDERPOWERED at --max-seeds {max_seeds}{done()}; "
                       f"their pages name the seeds that would resolve them")
            return rounds
        seeds = ", ".join(map(str, sorted({c.seed for c in more})))
        click.echo(f"round {round_no}: {below} check(s) undecided, training {len(more)} cell(s) (seed {seeds})")
        progress = Progress(len(more), verbosity=QUIET if quiet else NORMAL, jobs=run["jobs"])
        with progress.heartbeat():  # the round's own bar, or its "still training…" lines
            summary = execute(more, store, progress=progress, **run)
        rounds.absorb(summary)
        if summary.interrupted:
            click.echo(f"until decided: stopped in round {round_no}{done()}; the same command goes on from here",
                       err=True)
            return rounds
        if summary.ran == 0:  # every cell of the round was stored already, or left to another run: no progress
            click.echo(f"until decided: round {round_no} trained nothing (its cells are stored, or another run is "
                       f"training them); stopping{done()}")
            return rounds
    raise AssertionError("unreachable: itertools.count never ends")


# A run file's keys that are not the name of run()'s parameter (docs/suites.md, "Runs as files").
CONFIG_OPTIONS = {"suite": "suite_name", "tasks": "task_names", "learners": "learner_names", "store": "store_path",
                  "backend": "backend_name"}


def _run(suite_name, scale, task_names, learner_names, ns, ns_csv, seeds, jobs, store_path, out, params, preset, n_test,
         val_fraction, label_noise, label_sigma, zou_gu_mu, select_on, corrupt_test, retry_failed, reuse_stale, cell_timeout, device,
         checkpoint_minutes, until_decided, max_seeds, backend_name, scheduler, no_leaderboard, force, yes, quiet, verbose, cfg: run_config.RunConfig | None = None) -> int:
    """`bench run` with its options resolved (``cfg``: the run file they came from, if any)."""
    if quiet and verbose:
        raise BenchError("--quiet and --verbose contradict each other; give one of them")
    reg = plugin_registry()
    if cfg is not None:  # unknown names and parameters, said with the file's line
        cfg.check(reg)
    grid = None
    if scale is not None and not suite_name:
        raise BenchError("--scale chooses a suite's scale; give it with --suite NAME (see `bench suite list`)")
    if suite_name:
        suite = reg.get("suite", suite_name)
        grid = suite_pages.grid_of(suite, scale)
        # A suite's verdicts count exactly its grid's cells: an option that changes the grid would
        # train cells its pages never show. Other grids are what --task/--learner are for.
        given = (("--seeds", seeds is not None), ("--param", params),
                 ("--n-test", n_test is not None), ("--val-fraction", val_fraction is not None),
                 ("--label-noise", label_noise is not None), ("--label-sigma", label_sigma is not None),
                 ("--zou-gu-mu", zou_gu_mu is not None), ("--corrupt-test", corrupt_test is not None),
                 ("--select-on", select_on is not None), ("--preset", preset))
        changed = [opt for opt, value in given if value]
        if changed:
            raise BenchError(f"{changed[0]} would change the grid of suite '{suite.name}'; a suite runs as declared at "
                             f"one of its scales ({', '.join(suite.scale_names)}; --scale), or run your own grid with "
                             f"--task/--learner")
        variants, learners = suite_pages.objects(reg, grid)
        tasks = [t for t, _ in variants]
        # --n/--ns with --suite train only those of its Ns (the small ones first, say, on a machine
        # that may be cut off); like --task/--learner, the pages still count all of its cells.
        only_ns = _parse_ns(ns, ns_csv)
        foreign = [n for n in only_ns if n not in grid.ns]
        if foreign:
            raise BenchError(f"--n {foreign[0]}: suite '{suite.name}' has no N = {foreign[0]} at scale {grid.scale} "
                             f"(its N: {', '.join(map(str, grid.ns))}); with --suite, --n/--ns pick which of its "
                             f"Ns to train")
        # --task/--learner with --suite train only those cells of it (the torch learners on a GPU
        # machine, say, the kernels elsewhere); its pages still count all of its cells.
        for option, given, have in (("--task", task_names, {t.name for t in tasks}),
                                    ("--learner", learner_names, {lr.name for lr in learners})):
            for name in given:
                if name not in have and name != "all":
                    raise BenchError(f"{option} {name}: suite '{suite.name}' has no such "
                                     f"{option[2:]} (its {option[2:]}s: {', '.join(sorted(have))}); with --suite, "
                                     f"{option} picks which of its cells to train")
        defaults = dict(ns=list(grid.ns), seeds=grid.seeds, n_test=grid.n_test, val_fraction=grid.val_fraction,
                        label_noise=grid.label_noise, label_sigma=0.0, zou_gu_mu=grid.zou_gu_mu,
                        corrupt_test=grid.corrupt_test,
                        select_on=grid.select_on)
    else:
        if not task_names or not learner_names:
            raise BenchError("say what to run: --suite quick, or --task T and --learner L (see `bench list`)")
        tasks, learners = _select(reg, "task", task_names), _select(reg, "learner", learner_names)
        if preset:
            learners = _apply_preset(preset, learners, reg)
        defaults = dict(ns=list(DEFAULT_NS), seeds=3, n_test=5000, val_fraction=0.2, label_noise=0.0,
                        label_sigma=0.0, zou_gu_mu=None, select_on="validation", corrupt_test=False)
    tasks, learners = _parse_params(params, tasks, learners, cfg.params if cfg else None)
    device = devices.resolve_device(device)
    learners = [lr.on_device(device) if lr.uses_device else lr for lr in learners]
    ns_list = _parse_ns(ns, ns_csv) or defaults["ns"]
    seeds = defaults["seeds"] if seeds is None else seeds
    if seeds <= 0:
        raise BenchError(f"--seeds must be a positive integer, got {seeds}")
    if scheduler is not None and backend_name != "dask":
        raise BenchError("--scheduler is the address of a dask scheduler; add --backend dask to train there "
                         "(or drop --scheduler)")
    if scheduler is not None and jobs is not None:
        raise BenchError("--jobs sets how many local workers train cells; a --scheduler cluster trains as many "
                         "at once as its workers have threads; drop --jobs")
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if jobs <= 0:
        raise BenchError(f"--jobs must be a positive integer, got {jobs}")
    if cell_timeout is not None and cell_timeout <= 0:
        raise BenchError(f"--cell-timeout must be a positive number of seconds, got {cell_timeout:g}")
    if max_seeds is not None and not until_decided:
        raise BenchError("--max-seeds caps the seeds --until-decided adds; add --until-decided (or drop --max-seeds)")
    if until_decided and grid is None:
        raise BenchError("--until-decided adds seeds to a suite's undecided checks; give it with --suite NAME")
    max_seeds = MAX_SEEDS if max_seeds is None else max_seeds
    if until_decided and max_seeds < grid.seeds:
        raise BenchError(f"--max-seeds {max_seeds} is below the {grid.seeds} seeds suite '{grid.suite}' runs at scale "
                         f"{grid.scale}; give at least {grid.seeds} (default {MAX_SEEDS})")
    if not (isinstance(checkpoint_minutes, (int, float)) and 0 <= checkpoint_minutes < float("inf")):
        raise BenchError(f"--checkpoint-minutes must be a number of minutes ≥ 0 (e.g. 5; 0 saves no checkpoints), "
                         f"got {checkpoint_minutes!r}")
    usable = []
    for task in tasks:  # a task that returns bad data fails here, once, not in every cell
        try:
            checked_sample(task, 8, np.random.default_rng(0))
            usable.append(task)
        except Exception as exc:
            msg = str(exc) if isinstance(exc, BenchError) else (
                f"task '{task.name}' ({reg.origin('task', task.name)}) failed to draw samples: "
                f"{one_line(exc)}; fix the plugin or its parameters")
            if "all" not in task_names:
                raise BenchError(msg) from None
            click.echo(f"skipping: {msg}", err=True)  # `-t all` goes on without an unavailable task
    tasks = usable
    protocol = Protocol(n_test=defaults["n_test"] if n_test is None else n_test,
                        val_fraction=defaults["val_fraction"] if val_fraction is None else val_fraction,
                        label_noise=defaults["label_noise"] if label_noise is None else label_noise,
                        label_sigma=defaults["label_sigma"] if label_sigma is None else label_sigma,
                        zou_gu_mu=defaults["zou_gu_mu"] if zou_gu_mu is None else zou_gu_mu,
                        select_on=defaults["select_on"] if select_on is None else select_on,
                        corrupt_test=defaults["corrupt_test"] if corrupt_test is None else corrupt_test)
    unsupported: list[str] = []
    if grid is None:
        cells = plan(tasks, learners, ns_list, range(seeds), protocol, reg, unsupported)
    else:  # exactly the cells its pages count (with compare_selection, the test-selected twins too)
        suite_cells = suite_pages.cells(reg, grid, learners, unsupported)

        def selected(c: CellSpec) -> bool:  # -t/-l/--ns: the cells this run trains, --until-decided's too
            return ((not task_names or "all" in task_names or c.task.name in task_names)
                    and (not learner_names or "all" in learner_names or c.learner.name in learner_names)
                    and (not only_ns or c.n in only_ns))
        cells = [c for c in suite_cells if selected(c)]
    for line in unsupported:
        click.echo(f"skipping: {line}", err=True)
    if not cells:
        raise BenchError("nothing to run: no selected learner supports the selected tasks")
    out_dir = pages_of(store_path_of(store_path), out)
    if not no_leaderboard:  # this store's pages only: a folder holding another store's is refused
        files.check_owner(out_dir, store_path_of(store_path))  # before the store file is created
    store = Store(store_path_of(store_path))
    if not no_leaderboard:  # fail before hours of training, not after
        files.claim(out_dir, store.path)
        if grid is not None:
            files.check_writable(suite_pages.directory(out_dir, grid))
    upgrade_fingerprints(store, reg)
    todo = pending(cells, store, retry_failed, reuse_stale)
    if not (force or yes):  # an N the machine cannot hold fails here, not after a minute in a cell
        # A remote cluster's cells run side by side on its own machines: only each cell must fit.
        check_memory(todo, 1 if scheduler else jobs)
    # nor one estimated at over an hour (harness/execution/estimates.py); the estimate goes on to the plan line
    # the threads this run takes at once: with other work running, more than the cores slow it
    # (one OMP_NUM_THREADS=1 process beside another on 2 cores is not slowed)
    busy = devices.run_threads(jobs, len(todo), remote=bool(scheduler))
    # cells a cut left half-trained count what is left of them (their checkpoints keep their time);
    # cells another run on the store trains now are left to it, and out of the estimate
    before = trained_before(todo, store) if checkpoint_minutes else None
    held = store.held(c.cell_id for c in todo)
    costs = estimate_run([c for c in todo if c.cell_id not in held], store, jobs, check=not yes, threads=busy,
                         before=before)
    progress = Progress(len(cells), verbosity=QUIET if quiet else VERBOSE if verbose else NORMAL, jobs=jobs)
    # Without stored timings of these cells, a suite's plan line estimates from its last recorded
    # run: in this store's pages, else in the committed pages (a fresh clone's first run).
    estimate = None if grid is None else suite_estimate(
        suite_pages.recorded_runs(suite_pages.directory(out_dir, grid))
        or suite_pages.recorded_runs(suite_pages.directory(suite_pages.COMMITTED, grid)), jobs)
    cluster = backends.DaskBackend(scheduler, jobs) if backend_name == "dask" else None
    with cluster or contextlib.nullcontext(), progress.heartbeat():
        if scheduler:
            jobs = cluster.slots  # what runs.json records as the run's parallelism
        began = datetime.now(timezone.utc)  # the run's span in runs.json starts here
        summary = execute(cells, store, jobs=jobs, retry_failed=retry_failed, progress=progress,
                          cell_timeout=cell_timeout, reuse_stale=reuse_stale, estimate=estimate, backend=cluster,
                          costs=costs, checkpoint_minutes=checkpoint_minutes)
        if until_decided and not summary.interrupted:
            progress.close()  # the rounds draw their own bars
            summary.absorb(_until_decided(reg, suite, grid, suite_cells, store, max_seeds, selected, jobs=jobs,
                                          cell_timeout=cell_timeout, backend=cluster,
                                          checkpoint_minutes=checkpoint_minutes, quiet=quiet))
    for line in summary.edge_lines():
        click.echo(f"note: {line}", err=True)
    if summary.busy:
        owners = ", ".join(sorted(summary.busy))
        click.echo(f"{sum(summary.busy.values())} cell(s) were left to another run training them now "
                   f"({owners}); run the same command after it ends to see them.", err=True)
    if summary.ran == 0 and not summary.interrupted:
        if not summary.busy:
            click.echo(f"Nothing to train: all {summary.planned} cells are already in {store.path}"
                       + ("" if retry_failed else " (--retry-failed re-runs failed ones)") + ".")
    else:
        counts = ", ".join(f"{v} {k}" for k, v in sorted(summary.statuses.items()))
        click.echo(f"Ran {summary.ran} of {summary.planned} cells in {summary.seconds:.1f}s ({counts or 'none'}); "
                   f"{summary.skipped} already in {store.path} were skipped.")
    if not no_leaderboard and grid is not None:
        where = suite_pages.directory(out_dir, grid)
        suite_pages.record_run(where, COMMAND_ARGV, summary.seconds, summary.stored, jobs, began, cut=summary.cut)
        # all of the suite's stored cells, whatever -t/-l trained, with the seeds --until-decided added
        planned, rows, everything = suite_pages.stored_cells(grid, suite_cells, store.rows())
        if rows:
            suite_pages.build(reg, suite, grid, planned, rows, out_dir, staleness(reg), everything)
            click.echo(f"Suite pages: {where}/ (verdict: {where / 'verdict.md'})")
    elif not no_leaderboard:
        names = [t.name for t in tasks if any(c.task is t for c in cells)]
        rows = store.rows()
        have = {r["task"] for r in rows}
        paths = leaderboard.build(rows, out_dir, [t for t in names if t in have], descriptions(reg),
                                  staleness(reg))
        md = [str(p) for p in paths if p.suffix == ".md" and p.name != "README.md"]
        if md:
            click.echo(f"Leaderboards: {', '.join(md)}")
    if table := terminal.terminal_table(store.rows(), only={c.cell_id for c in cells}):
        click.echo(f"\n{table}")  # the results on screen, not only a page's path (harness/reporting/terminal.py)
    store.close()
    if summary.interrupted:
        click.echo(f"Interrupted: {summary.ran} finished cell(s) are saved; run the same command again to resume.",
                   err=True)
        return 130
    if summary.failed:
        click.echo(f"{summary.failed} cell(s) failed or timed out; `bench show --status failed` (or timeout) "
                   f"lists them with their errors, the same command with --retry-failed re-runs them.", err=True)
        return 1
    return 0
