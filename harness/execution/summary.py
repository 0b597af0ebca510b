"""What a run did (:class:`RunSummary`): cells planned, trained, stale, failed, and its time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class StaleGroup:
    """Stored cells of one learner whose code changed since they ran."""

    cells: int = 0
    reasons: set[str] = field(default_factory=set)
    since: str = ""  # date of the newest such row: the code changed after it

    def line(self, learner: str, reuse: bool) -> str:
        what = "kept as they are (--reuse-stale)" if reuse else "re-running them (--reuse-stale keeps them)"
        return (f"{learner}: {self.cells} cell(s) stale, {' and '.join(sorted(self.reasons))} since "
                f"{self.since}; {what}")


@dataclass
class RunSummary:
    """What a run did: cells planned, skipped as already finished, and run, by status."""

    planned: int = 0
    skipped: int = 0
    statuses: Counter = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0
    stale: dict[str, StaleGroup] = field(default_factory=dict)  # by learner
    busy: Counter = field(default_factory=Counter)  # cells left to another live process, by owner
    edges: dict[str, Counter] = field(default_factory=dict)  # learner → (param, side, why) → cells
    resuming: int = 0  # cells to train that resume from a checkpoint a cut left
    stored: list[str] = field(default_factory=list)  # cell ids this run wrote, in order
    cut: list[str] = field(default_factory=list)  # cell ids it left half-trained, checkpointed, when stopped

    def edge_lines(self) -> list[str]:
        """One warning per learner whose chosen values stayed on an edge of what was tried."""
        out = []
        for learner, counts in sorted(self.edges.items()):
            cells = counts.pop("cells")
            what = ", ".join(f"{p} ({side}: {why})" for p, side, why in sorted(counts))
            out.append(f"{learner}: chosen on the edge of what was tried in {cells} cell(s): {what}")
            counts["cells"] = cells
        return out

    def absorb(self, other: RunSummary) -> None:
        """Add ``other``, a later part of the same run (a round of ``--until-decided``), to this
        summary: its cells, time, stop and warnings count as the run's."""
        self.planned += other.planned
        self.skipped += other.skipped
        self.statuses.update(other.statuses)
        self.interrupted = self.interrupted or other.interrupted
        self.seconds += other.seconds
        for learner, group in other.stale.items():
            mine = self.stale.setdefault(learner, StaleGroup())
            mine.cells += group.cells
            mine.reasons |= group.reasons
            mine.since = max(mine.since, group.since)
        self.busy.update(other.busy)
        for learner, counts in other.edges.items():
            self.edges.setdefault(learner, Counter()).update(counts)
        self.resuming += other.resuming
        self.stored += other.stored
        self.cut += other.cut

    @property
    def ran(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return self.statuses["failed"] + self.statuses["timeout"]
