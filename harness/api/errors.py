"""Exceptions that carry a one-line, user-facing message.

The CLI prints ``str(error)`` of a :class:`BenchError` as ``error: ...`` and exits non-zero,
never a traceback. Raise one wherever the user (or a plugin author) can fix the cause.
"""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` — how failures are shown and stored."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class BenchError(Exception):
    """A problem the user can fix; the message says what was wrong and what to do."""


class PluginError(BenchError):
    """A plugin failed to load, raised in a hook, or registered something that breaks the contract."""


class StoreError(BenchError):
    """The result store cannot be opened, read or written."""


class Diverged(Exception):
    """Raised by a learner when training produced non-finite values (NaN/inf loss or weights).

    The harness records the configuration as ``diverged`` and skips it in selection.
    """
