"""The ``bench`` command line (click). Every user error ends as one ``error: ...`` line and a
non-zero exit status, never a traceback (set CONCEPTBENCH_DEBUG=1 to see one for real bugs)."""

from __future__ import annotations

import ast
import contextlib
import difflib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterable

import click
import numpy as np
from click.core import ParameterSource
from tabulate import tabulate

from . import backends, config, devices, export, leaderboard, suiteboard
from .cell import Protocol
from .errors import BenchError, one_line
from .learners import label
from .registry import Registry, load_registry
from .progress import NORMAL, QUIET, VERBOSE, Progress, suite_estimate
from .runner import check_memory, execute, pending, plan, staleness, upgrade_fingerprints
from .store import Store
from .suites import suite_to_toml
from .tasks import checked_sample

DEFAULT_NS = (100, 200, 400, 800)
DEFAULT_STORE = "conceptbench.sqlite"
STORE_HELP = "SQLite result store (default: $CONCEPTBENCH_STORE or ./conceptbench.sqlite)."


def _store_path(path: str | None) -> str:
    return path or os.environ.get("CONCEPTBENCH_STORE") or DEFAULT_STORE


# Error lines printed by this invocation: a plugin problem printed when the registry loads is not
# printed again when the same problem then stops the command (e.g. `bench run -t` a clashing name).
_shown: set[str] = set()


def _error(message: str) -> None:
    if message not in _shown:
        _shown.add(message)
        click.echo(f"error: {message}", err=True)


def _registry(quiet: bool = False) -> Registry:
    reg = load_registry()
    if not quiet:
        for problem in reg.problems:
            _error(problem)
    return reg


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
            names = ", ".join(selected)
            raise BenchError(f"--param {spec!r}: no selected task or learner ({names}) has a parameter "
                             f"{name!r}; `bench list` shows each one's parameters")
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


def _examples(*commands: str) -> str:
    """A command's --help epilog: its examples, one per line (``\\b`` stops click rewrapping them)."""
    return "\b\n" + ("Example:" if len(commands) == 1 else "Examples:") + "".join(f"\n  {c}" for c in commands)


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog=_examples("bench run --suite quick", "bench list"))
@click.version_option(package_name="conceptbench")
def cli() -> None:
    """conceptbench: how does test error fall with the number of training samples N?

    Run a benchmark, then read leaderboards/<task>.md. Start with `bench run --suite quick`.
    """


@cli.command(epilog=_examples("bench run --suite quick",
                             "bench run -t sin3 -l three_layer_sgd -l ntk --ns 100,400,1600 --seeds 3",
                             "bench run -t sin3 -l three_layer_sgd -p width=256 -p lr=0.01,0.03 --jobs 2",
                             "bench run --config run.toml --jobs 2"))
@click.option("--config", "config_path", metavar="FILE",
              help="Read the run from a TOML file: tasks, learners (with their parameters), ns, seeds and any "
                   "other option below by its long name (README, \"Runs as files\"). An option also given here "
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
@click.option("--n", "ns", multiple=True, type=int, metavar="N", help="A training-set size. Repeatable.")
@click.option("--ns", "ns_csv", metavar="N1,N2,..", help="Training-set sizes, comma-separated.")
@click.option("--seeds", type=int, default=None, help="Seeds 0..K-1 per cell [default: 3].")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes [default: number of cores].")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--out", default="leaderboards", show_default=True, metavar="DIR",
              help="Where leaderboards are written after the run.")
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
@click.option("--device", default="cpu", show_default=True, metavar="DEVICE",
              help=f"Torch device for the torch learners: {devices.HELP}. Recorded with each row; "
                   f"not part of a cell's identity.")
@click.option("--backend", "backend_name", type=click.Choice(backends.BACKENDS), default="local", show_default=True,
              help="Where cells train: local (this machine, --jobs worker processes) or dask (a dask.distributed "
                   "cluster: the one at --scheduler, else a local cluster of --jobs workers × 1 thread; needs "
                   "the dask extra). Results come back to this process, which writes the store.")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --backend dask: the scheduler of the cluster to train on, e.g. tcp://10.0.0.5:8786.")
@click.option("--no-leaderboard", is_flag=True, help="Do not rebuild leaderboards after the run.")
@click.option("--force", is_flag=True,
              help="Run even when the memory check estimates that the largest cells need more memory than "
                   "this machine has available.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only the plan line, errors and the summary (no per-cell lines, no progress bar).")
@click.option("--verbose", "-v", is_flag=True, help="Also print each finished cell's chosen parameters and grid edges.")
def run(config_path, **options) -> int:
    """Train and evaluate every task × learner × N × seed cell not already in the store.

    Example: bench run --config run.toml --jobs 2
    """
    if config_path is None:
        return _run(**options)
    cfg = config.load_run(config_path)
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


# A run file's keys that are not the name of run()'s parameter (README, "Runs as files").
CONFIG_OPTIONS = {"suite": "suite_name", "tasks": "task_names", "learners": "learner_names", "store": "store_path",
                  "backend": "backend_name"}


def _run(suite_name, scale, task_names, learner_names, ns, ns_csv, seeds, jobs, store_path, out, params, preset, n_test,
         val_fraction, label_noise, label_sigma, zou_gu_mu, select_on, corrupt_test, retry_failed, reuse_stale, cell_timeout, device,
         backend_name, scheduler, no_leaderboard, force, quiet, verbose, cfg: config.RunConfig | None = None) -> int:
    """`bench run` with its options resolved (``cfg``: the run file they came from, if any)."""
    if quiet and verbose:
        raise BenchError("--quiet and --verbose contradict each other; give one of them")
    reg = _registry()
    if cfg is not None:  # unknown names and parameters, said with the file's line
        cfg.check(reg)
    grid = None
    if scale is not None and not suite_name:
        raise BenchError("--scale chooses a suite's scale; give it with --suite NAME (see `bench suite list`)")
    if suite_name:
        suite = reg.get("suite", suite_name)
        grid = suiteboard.grid_of(suite, scale)
        # A suite's verdicts count exactly its grid's cells: an option that changes the grid would
        # train cells its pages never show. Other grids are what --task/--learner are for.
        given = (("--n/--ns", ns or ns_csv is not None), ("--seeds", seeds is not None), ("--param", params),
                 ("--n-test", n_test is not None), ("--val-fraction", val_fraction is not None),
                 ("--label-noise", label_noise is not None), ("--label-sigma", label_sigma is not None),
                 ("--zou-gu-mu", zou_gu_mu is not None), ("--corrupt-test", corrupt_test is not None),
                 ("--select-on", select_on is not None), ("--preset", preset))
        changed = [opt for opt, value in given if value]
        if changed:
            raise BenchError(f"{changed[0]} would change the grid of suite '{suite.name}'; a suite runs as declared at "
                             f"one of its scales ({', '.join(suite.scale_names)}; --scale), or run your own grid with "
                             f"--task/--learner")
        variants, learners = suiteboard.objects(reg, grid)
        tasks = [t for t, _ in variants]
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
    out_dir = Path(out)
    if not no_leaderboard:
        # fail before hours of training, not after
        leaderboard.check_writable(out_dir if grid is None else suiteboard.directory(out_dir, grid))
    unsupported: list[str] = []
    if grid is None:
        cells = plan(tasks, learners, ns_list, range(seeds), protocol, reg, unsupported)
    else:  # exactly the cells its pages count (with compare_selection, the test-selected twins too)
        suite_cells = suiteboard.cells(reg, grid, learners, unsupported)
        cells = [c for c in suite_cells if (not task_names or "all" in task_names or c.task.name in task_names)
                 and (not learner_names or "all" in learner_names or c.learner.name in learner_names)]
    for line in unsupported:
        click.echo(f"skipping: {line}", err=True)
    if not cells:
        raise BenchError("nothing to run: no selected learner supports the selected tasks")
    store = Store(_store_path(store_path))
    upgrade_fingerprints(store, reg)
    if not force:  # an N the machine cannot hold fails here, not after a minute in a cell
        # A remote cluster's cells run side by side on its own machines: only each cell must fit.
        check_memory(pending(cells, store, retry_failed, reuse_stale), 1 if scheduler else jobs)
    progress = Progress(len(cells), verbosity=QUIET if quiet else VERBOSE if verbose else NORMAL, jobs=jobs)
    # Without stored timings of these cells, a suite's plan line estimates from its last recorded run.
    estimate = None if grid is None else suite_estimate(suiteboard.recorded_runs(suiteboard.directory(out_dir, grid)), jobs)
    cluster = backends.DaskBackend(scheduler, jobs) if backend_name == "dask" else None
    with cluster or contextlib.nullcontext(), progress.heartbeat():
        if scheduler:
            jobs = cluster.slots  # what runs.json records as the run's parallelism
        summary = execute(cells, store, jobs=jobs, retry_failed=retry_failed, progress=progress,
                          cell_timeout=cell_timeout, reuse_stale=reuse_stale, estimate=estimate, backend=cluster)
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
        where = suiteboard.directory(out_dir, grid)
        suiteboard.record_run(where, _argv, summary.seconds, summary.ran, jobs)
        stored = {c.cell_id for c in suite_cells}  # all of the suite's, whatever --task/--learner trained
        rows = {r["cell_id"]: r for r in store.rows() if r["cell_id"] in stored}
        if rows:
            suiteboard.build(reg, suite, grid, suite_cells, rows, out_dir, staleness(reg))
            click.echo(f"Suite pages: {where}/ (verdict: {where / 'verdict.md'})")
    elif not no_leaderboard:
        names = [t.name for t in tasks if any(c.task is t for c in cells)]
        rows = store.rows()
        have = {r["task"] for r in rows}
        paths = leaderboard.build(rows, out_dir, [t for t in names if t in have], _descriptions(reg),
                                  staleness(reg))
        md = [str(p) for p in paths if p.suffix == ".md" and p.name != "README.md"]
        if md:
            click.echo(f"Leaderboards: {', '.join(md)}")
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


def _descriptions(reg: Registry) -> dict[str, str]:
    return {name: task.description for name, task in reg.tasks.items()}


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


@cli.command(name="list", epilog=_examples("bench list", "bench list --verbose"))
@click.option("--verbose", "-v", is_flag=True,
              help="Also each task's parameters, each learner's grid and each plugin's distribution, with "
                   "descriptions in full (wider than a terminal).")
def list_(verbose) -> int:
    """List tasks, learners, presets and suites, with the plugin each comes from (100 columns wide)."""
    reg = _registry()
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
               f"{s.description}\n{suiteboard.scales_text(s)}"] for s in reg.suites.values()]
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
    suites = [[s.name, ", ".join(s.tasks), ", ".join(s.learners), suiteboard.scales_text(s), len(s.claims),
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


@cli.group(name="suite", epilog=_examples("bench suite list"))
def suite_() -> None:
    """Suites: named grids at named scales, with the paper claims they test."""


@suite_.command(name="list", epilog=_examples("bench suite list --width 120"))
@click.option("--width", type=int, default=100, show_default=True, help="Wrap the listing at this many columns.")
def suite_list(width) -> int:
    """List the suites: their scales (what each runs, what it costs) and their claims."""
    if width < 40:
        raise BenchError(f"--width must be at least 40 columns, got {width}")
    reg = _registry()
    click.echo(suiteboard.listing(reg, width) if reg.suites else "no suites registered")
    return 1 if reg.problems else 0


@suite_.command(name="show", epilog=_examples("bench suite show quick", "bench suite show allen-zhu-fig1"))
@click.argument("name")
def suite_show(name) -> int:
    """Print a suite (a built-in Python one too) as a suite file: TOML that CONCEPTBENCH_SUITES or a
    plugin can load back as the same suite (same cells, same claims).
    """
    reg = _registry(quiet=True)
    click.echo(suite_to_toml(reg.get("suite", name)), nl=False)
    return 0


@cli.command(name="leaderboard", epilog=_examples(
    "bench leaderboard", "bench leaderboard --suite allen-zhu-fig1 --store leaderboards/store.sqlite"))
@click.option("--task", "-t", "task_names", multiple=True, metavar="T", help="Only this task's page. Repeatable.")
@click.option("--suite", "suite_name", metavar="NAME",
              help="Rebuild this suite's directory (<out>/<suite>/: pages, plots, verdict.md) from its own cells.")
@click.option("--scale", metavar="SCALE", help="The suite's scale [default: small].")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP)
@click.option("--out", default="leaderboards", show_default=True, metavar="DIR", help="Output directory.")
def leaderboard_(task_names, suite_name, scale, store_path, out) -> int:
    """Rebuild Markdown leaderboards and learning-curve plots (or a suite's verdict) from the store."""
    if scale is not None and not suite_name:
        raise BenchError("--scale chooses a suite's scale; give it with --suite NAME (see `bench suite list`)")
    if suite_name and task_names:
        raise BenchError("use either --suite or --task, not both")
    reg = _registry(quiet=True)
    if suite_name:  # a wrong name or scale is said before anything about the store
        suite = reg.get("suite", suite_name)
        grid = suiteboard.grid_of(suite, scale)
    path = _store_path(store_path)
    if not Path(path).exists():
        raise BenchError(f"no result store at {path}; run `bench run` first or pass --store")
    store = Store(path)
    rows = store.rows()
    if not rows:
        raise BenchError(f"the store {path} holds no results yet; run `bench run` first")
    if suite_name:
        cells = suiteboard.cells(reg, grid)
        planned = {c.cell_id for c in cells}
        paths = suiteboard.build(reg, suite, grid, cells, {r["cell_id"]: r for r in rows if r["cell_id"] in planned},
                                 Path(out), staleness(reg))
    else:
        paths = leaderboard.build(rows, Path(out), task_names or None, _descriptions(reg), staleness(reg))
    for p in paths:
        click.echo(str(p))
    return 0


@cli.command(epilog=_examples("bench merge gpu.sqlite", "bench merge node1.sqlite node2.sqlite --store leaderboards/store.sqlite"))
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--store", "store_path", metavar="PATH", help=STORE_HELP + " The store merged into.")
def merge(sources, store_path) -> int:
    """Merge the results of other stores (runs on a GPU machine or cluster nodes) into the store.

    A cell the store lacks is copied as it was written (its device, host and versions kept); a
    cell it has is replaced only when its row failed or is stale and the other's is not (the
    replaced row moves to the store's history). Afterwards `bench leaderboard` rebuilds pages
    from all of them, and `bench run` trains only what is still missing."""
    path = Path(_store_path(store_path))
    for source in sources:  # every source checked before anything is written
        if not Path(source).is_file():
            raise BenchError(f"no store to merge at {source}; give the path of a conceptbench .sqlite file")
        if Path(source).resolve() == path.resolve():
            raise BenchError(f"{source} is the store being merged into; give another store to merge from")
    stale = staleness(_registry(quiet=True))
    target = Store(path)
    for source in sources:
        counts = target.merge_from(Store(source), stale)
        click.echo(f"{source}: {counts['copied']} cell(s) copied, {counts['replaced']} replaced (failed or stale "
                   f"here), {counts['kept']} kept as they were here → {path}")
    return 0


@cli.command(epilog=_examples("bench show -t sin3", "bench show -t sin3 --format csv -o sin3.csv"))
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
    path = _store_path(store_path)
    if not Path(path).exists():
        raise BenchError(f"no result store at {path}; run `bench run` first or pass --store")
    rows = [r for r in Store(path).rows(task, learner) if status is None or r["status"] == status]
    stale = staleness(_registry(quiet=True))
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


# The arguments of this invocation, recorded with a suite's runs so its verdict names the exact command.
_argv: list[str] = []


def main(argv: list[str] | None = None) -> int:
    """Run ``bench`` and return its exit status; user errors become one ``error:`` line."""
    _shown.clear()
    _argv[:] = sys.argv[1:] if argv is None else list(argv)
    try:
        return cli.main(args=argv, prog_name="bench", standalone_mode=False) or 0
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()} (see `bench {' '.join(_command(argv))} --help`)", err=True)
        return exc.exit_code or 2
    except BenchError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug: keep it to one line unless asked
        if os.environ.get("CONCEPTBENCH_DEBUG"):
            raise
        click.echo(f"error: internal error {type(exc).__name__}: {exc} (set CONCEPTBENCH_DEBUG=1 for the "
                   f"traceback and please report it)", err=True)
        return 3


def _command(argv: list[str] | None) -> list[str]:
    args = sys.argv[1:] if argv is None else argv
    return [a for a in args[:1] if not a.startswith("-")]


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
