"""Named benchmark suites: a fixed grid of tasks × learners × N × seeds, registered by plugins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Suite:
    """A reproducible benchmark: ``bench run --suite NAME`` runs exactly this grid.

    ``tasks`` and ``learners`` map a registered name to parameter overrides (``{}`` for none);
    learner overrides are candidate lists, as in :meth:`harness.Learner.with_params`.
    """

    name: str
    description: str
    tasks: dict[str, dict[str, Any]]
    learners: dict[str, dict[str, list[Any]]]
    ns: tuple[int, ...]
    seeds: int = 3
    n_test: int = 5000
    val_fraction: float = 0.2
    label_noise: float = 0.0
    zou_gu_mu: float | None = None
    select_on: str = "validation"


def validate_suite(suite: object) -> None:
    """Raise ``ValueError`` saying how ``suite`` is malformed."""
    if not isinstance(suite, Suite):
        raise ValueError(f"registered {type(suite).__name__}, which is not a harness.Suite")
    if not suite.tasks or not suite.learners or not suite.ns:
        raise ValueError(f"suite '{suite.name}' needs at least one task, learner and N")
    if any(not isinstance(n, int) or n <= 0 for n in suite.ns) or suite.seeds <= 0:
        raise ValueError(f"suite '{suite.name}' has an N or seed count that is not a positive integer")
