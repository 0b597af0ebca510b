"""``python -m harness`` is the ``bench`` command."""

from .cli import entry

entry()
