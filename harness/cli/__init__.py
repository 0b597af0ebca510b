"""The ``bench`` command: click commands and run-config files, thin over the other layers."""

from harness.cli.app import entry, main

__all__ = ["entry", "main"]
