"""A suite resolved at one scale (:class:`Grid`): exactly the cells ``bench run --suite`` plans,
which the claims are checked against."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

# A task's (or learner's) entry in a suite: one dict of overrides, or a list of them for several
# variants of the same task (a parameter sweep) or learner (e.g. a width sweep).
Variants = dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True)
class Grid:
    """A suite resolved at one scale: exactly the cells ``bench run --suite`` plans."""

    suite: str
    scale: str
    tasks: tuple[tuple[str, dict[str, Any]], ...]  # (task name, parameter overrides), one per variant
    learners: tuple[tuple[str, dict[str, list[Any]]], ...]  # (learner name, candidate-list overrides)
    ns: tuple[int, ...]
    seeds: int
    n_test: int
    val_fraction: float
    label_noise: float
    zou_gu_mu: float | None
    select_on: str
    compare_selection: bool = False
    label_sigma: float = 0.0
    corrupt_test: bool = False
    # one dict of protocol options per condition (the cartesian product of the suite's
    # ``conditions``); ({},) when the suite varies none
    conditions: tuple[dict[str, Any], ...] = ({},)

    @functools.cached_property
    def labels(self) -> tuple[str, ...]:
        """Each learner variant's label (:func:`harness.api.learners.label`), in the order of
        ``learners``: computed once, as checking a suite's claims asks for them ~1,500 times."""
        from harness.api.learners import label

        return tuple(label(name, ov) for name, ov in self.learners)

    def protocol_options(self) -> list[dict[str, Any]]:
        """The protocol options of each condition: the grid's own, with the condition's on top."""
        base = {"n_test": self.n_test, "val_fraction": self.val_fraction, "label_noise": self.label_noise,
                "label_sigma": self.label_sigma, "zou_gu_mu": self.zou_gu_mu, "select_on": self.select_on,
                **({"corrupt_test": True} if self.corrupt_test else {})}
        return [{**base, **c} for c in self.conditions]
