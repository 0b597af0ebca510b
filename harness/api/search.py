"""How far a learner lets its grid grow past an edge (:class:`Search`); the edge search itself
is :mod:`harness.protocol.edges`.

A grid search whose winner is the largest or smallest candidate of a numeric axis has not found
the optimum, only the end of the grid. After the learner's own ``fit_select`` over its grid,
:func:`refine` looks for such edges and, on the axes the learner declares extendable
(:class:`Search`), validates one more value one step outwards — a line search from the winner,
one configuration per edge — until the winner is inside what was tried or the declared bound is
reached. An axis whose winner is on an edge that cannot be extended (a bound hit, an axis the
learner does not declare, such as a costly width) is reported as such with the cell, marked on
the leaderboards and warned about after the run.

Written here rather than taken from scikit-learn or optuna: their searches (``ParameterGrid``,
successive halving, TPE) choose among or sample inside given ranges; growing a range outwards
from its edge, through the learner's own ``fit_select`` contract, is what none of them does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Search:
    """How selection may extend a numeric candidate axis whose winner is on its edge.

    ``lo``/``hi``: the bounds never crossed. ``step``: the factor of one extension (default: the
    ratio of the edge candidate to its neighbour, ×10 when that is undefined). ``cap``: the
    axis is an upper limit inside which the learner chooses the value itself (epochs, chosen by
    early stopping): it is on its edge when the chosen value equals the limit, even as a single
    candidate.
    """

    lo: float
    hi: float
    step: float | None = None
    cap: bool = False


