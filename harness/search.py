"""Tuning whose answer is not a grid edge.

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
from typing import Any, Callable

import numpy as np

from .learners import Learner, Selection

MAX_ROUNDS = 8  # extensions per cell; each validates at most one configuration per edge


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


@dataclass(frozen=True)
class Edge:
    """A chosen value on the edge of what was tried; ``why`` is set when it cannot be extended."""

    param: str
    side: str  # "low" | "high"
    value: Any
    next: float | None = None
    why: str = ""

    def record(self) -> dict[str, Any]:
        return {"param": self.param, "side": self.side, "value": self.value,
                **({"why": self.why} if self.why else {})}


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def edges(learner: Learner, selection: Selection) -> list[Edge]:
    """The winner's values that sit on an edge of the values tried, with the next value to try."""
    trial, refit = selection.best_trial, selection.best_params
    if trial is None or refit is None:
        return []
    tried: dict[str, set] = {}
    for t in selection.trials:
        for k, v in t["params"].items():
            if _numeric(v):
                tried.setdefault(k, set()).add(float(v))
    out = []
    for key, values in sorted(tried.items()):
        if key in learner.discrete:
            continue
        search = learner.search.get(key)
        won = trial["params"][key]
        if search is not None and search.cap:
            # on the edge when the learner chose inside the limit (``refit``) and its choice ran
            # into it; a learner that chose nothing (a fixed schedule) trained to the limit by design
            if "refit" in trial and refit.get(key) == won:
                out.append(_next(key, "high", won, sorted(values), search))
            continue
        values = sorted(values)
        if len(values) < 2:
            continue  # a fixed setting, not a tuned axis
        if won == values[-1]:
            out.append(_next(key, "high", won, values, search))
        elif won == values[0] and won != 0:  # 0 is a natural lower end (no weight decay, no noise)
            out.append(_next(key, "low", won, values, search))
    return out


def _next(key: str, side: str, won: float, values: list[float], search: Search | None) -> Edge:
    if search is None:
        return Edge(key, side, won, why="not extended: the learner declares no search bound for it")
    if side == "high":
        near = max((v for v in values if v < won), default=0.0)
        step = search.step or (won / near if near > 0 else 10.0)
        nxt = min(won * step, search.hi)
        if won >= search.hi or nxt <= won:
            return Edge(key, side, won, why=f"at its search bound {search.hi:g}")
    else:
        near = min(v for v in values if v > won)
        step = search.step or near / won
        nxt = max(won / step, search.lo)
        if won <= search.lo or nxt >= won:
            return Edge(key, side, won, why=f"at its search bound {search.lo:g}")
    nxt = float(f"{nxt:.10g}")  # 1e-10 / 10 / 10 … stays 1e-12, not 1.0000000000000002e-12
    if isinstance(won, (int, np.integer)) and float(nxt).is_integer():
        nxt = int(nxt)
    return Edge(key, side, won, next=nxt)


def refine(learner: Learner, selection: Selection,
           fit_select: Callable[[list[dict[str, Any]]], Selection]) -> tuple[Selection, list[Edge]]:
    """Extend edge axes until the winner is interior or bounded; return the merged selection and
    the edges that remain (each with its reason)."""
    for _ in range(MAX_ROUNDS):
        found = edges(learner, selection)
        todo = [e for e in found if e.next is not None]
        if not todo:
            return selection, found
        tried = [t["params"] for t in selection.trials]
        grid = []
        for e in todo:
            params = {**selection.best_trial["params"], e.param: e.next}
            if params not in tried and params not in grid:
                grid.append(params)
        if not grid:  # every extension was tried already and lost: the winner is not on an edge
            return selection, [e for e in found if e.next is None]
        selection.merge(fit_select(grid))
    return selection, [e if e.next is None else Edge(e.param, e.side, e.value,
                                                     why=f"still improving after {MAX_ROUNDS} extensions")
                       for e in edges(learner, selection)]
