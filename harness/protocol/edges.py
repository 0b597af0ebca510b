"""The edge search (:func:`refine`; why and how: :mod:`harness.api.search`): when a cell's
chosen value sits on an edge of its grid, the grid grows past that edge (within the learner's
:class:`harness.Search` bounds) and selection runs again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from harness.api.learners import Learner, Selection
from harness.api.search import Search

MAX_ROUNDS = 8  # extensions per cell; each validates at most one configuration per edge


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
