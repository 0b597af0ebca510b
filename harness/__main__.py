"""``python -m harness`` is the ``bench`` command."""

from harness.cli.app import entry

entry()
