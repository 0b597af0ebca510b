"""The ``bench`` entry point: the click group, with every command added."""

from __future__ import annotations

import os
import signal
import sys

import click

from harness.api.errors import BenchError
from harness.cli.browse import leaderboard_, list_, merge, show, suite_
from harness.cli.common import COMMAND_ARGV, SHOWN_ERRORS, examples_epilog, print_error
from harness.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog=examples_epilog("bench run --suite quick", "bench list"))
@click.version_option(package_name="conceptbench")
def cli() -> None:
    """conceptbench: how does test error fall with the number of training samples N?

    Start with `bench run --suite quick`, then read its verdict in
    ./conceptbench-pages/quick/verdict.md: a run writes the pages of its own store beside it
    (./conceptbench.sqlite → ./conceptbench-pages/: <suite>/ for a suite, <task>.md for a task;
    --out DIR to choose). The committed results are in leaderboards/README.md.
    """


def main(argv: list[str] | None = None) -> int:
    """Run ``bench`` and return its exit status; user errors become one ``error:`` line."""
    SHOWN_ERRORS.clear()
    COMMAND_ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    try:
        return cli.main(args=argv, prog_name="bench", standalone_mode=False) or 0
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()} (see `bench {' '.join(_command(argv))} --help`)", err=True)
        return exc.exit_code or 2
    except BenchError as exc:
        print_error(str(exc))
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


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entry() -> None:
    """Console-script entry point. SIGTERM stops a command as Ctrl-C does — a cluster's preemption,
    `kill`, or a run started in the background, where the shell leaves SIGINT ignored — so that a
    `bench run` stores what finished, keeps its checkpoints and records its wall time."""
    signal.signal(signal.SIGTERM, _stop)
    sys.exit(main())


for command in (run, list_, suite_, leaderboard_, merge, show):
    cli.add_command(command)
