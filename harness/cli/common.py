"""What every ``bench`` command shares: the store path, the registry, errors, help examples."""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.execution.registry import Registry, load_registry
from harness.reporting.files import pages_dir

DEFAULT_NS = (100, 200, 400, 800)
DEFAULT_STORE = "conceptbench.sqlite"
STORE_HELP = "SQLite result store (default: $CONCEPTBENCH_STORE or ./conceptbench.sqlite)."


PAGES_HELP = ("Where this store's pages go [default: beside the store: ./conceptbench-pages/ for "
              "./conceptbench.sqlite, <dir>/<name>-pages/ for <dir>/<name>.sqlite, and a store named store.sqlite "
              "keeps them in its own folder (leaderboards/store.sqlite: leaderboards/)]. A suite's pages go to "
              "DIR/<suite>/ (DIR/<suite>/<scale>/ at a scale other than small), a task's to DIR/<task>.md, the "
              "index to DIR/README.md. A folder holding another store's pages is refused, never overwritten.")


def store_path_of(path: str | None) -> str:
    """The store a command uses: ``--store``, else $CONCEPTBENCH_STORE, else the default file."""
    return path or os.environ.get("CONCEPTBENCH_STORE") or DEFAULT_STORE


def pages_of(store: str | Path, out: str | None) -> Path:
    """Where a command writes the pages of ``store``: ``--out``, else the folder beside the store
    (:func:`harness.reporting.files.pages_dir`)."""
    return Path(out) if out else pages_dir(store)


# Error lines printed by this invocation: a plugin problem printed when the registry loads is not
# printed again when the same problem then stops the command (e.g. `bench run -t` a clashing name).
SHOWN_ERRORS: set[str] = set()


def print_error(message: str) -> None:
    """Print ``error: message`` once per invocation."""
    if message not in SHOWN_ERRORS:
        SHOWN_ERRORS.add(message)
        click.echo(f"error: {message}", err=True)


def plugin_registry(quiet: bool = False) -> Registry:
    """The installed plugins; their load problems printed as errors unless ``quiet``."""
    reg = load_registry()
    if not quiet:
        for problem in reg.problems:
            print_error(problem)
    return reg


def examples_epilog(*commands: str) -> str:
    """A command's --help epilog: its examples, one per line (``\\b`` stops click rewrapping them)."""
    return "\b\n" + ("Example:" if len(commands) == 1 else "Examples:") + "".join(f"\n  {c}" for c in commands)


def descriptions(reg: Registry) -> dict[str, str]:
    """Each task's one-line description, for the pages."""
    return {name: task.description for name, task in reg.tasks.items()}


# The arguments of this invocation, recorded with a suite's runs so its verdict names the exact command.
COMMAND_ARGV: list[str] = []
