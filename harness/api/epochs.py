"""A training loop's epoch reports (:func:`report_epoch`), forwarded to whatever displays progress."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

# A training loop's epoch report is forwarded at most this often (first epochs and the last
# always pass), so a loop of thousands of millisecond epochs pays a clock read per epoch.
REPORT_EVERY = 0.2

_reporter: Callable[[int, int], None] | None = None
_last_report = 0.0


def report_epoch(done: int, total: int) -> None:
    """Tell the progress display that ``done`` of at most ``total`` epochs (or rounds) of the
    current fit are finished. Call it once per epoch from a training loop; a fit that stops early
    simply stops reporting, and the next fit starts again at ``done = 1``. Costs a clock read
    when a run displays progress, nothing otherwise (a no-op without a reporter)."""
    global _last_report
    reporter = _reporter
    if reporter is None:
        return
    now = time.monotonic()
    if done > 1 and done < total and now - _last_report < REPORT_EVERY:
        return
    _last_report = now
    reporter(done, total)


@contextmanager
def reporting(reporter: Callable[[int, int], None]) -> Iterator[None]:
    """Route :func:`report_epoch` calls to ``reporter`` while the block runs."""
    global _reporter, _last_report
    previous, _reporter, _last_report = _reporter, reporter, 0.0
    try:
        yield
    finally:
        _reporter = previous
