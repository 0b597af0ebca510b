"""Checkpoints of a cell's training programs, so that a long cell survives a cut.

A cell runs a fixed sequence of training programs (a batched grid, each configuration of a loop,
the refit on all N); for fixed seeds the sequence is the same every time. While a cell runs under
:func:`cell_checkpoints` (``bench run`` does this), a training loop asks
:func:`training_checkpoint` for the checkpoint of the program it is about to run, restores its
state when there is one (a resumed cell), saves its state every few minutes (``due``), and saves
its final state when it finishes (``finish``), so that a resumed cell skips the programs it had
finished and restarts the one it was in from its last save. Outside such a cell every call is a
no-op, so a learner used as a library is unchanged.

On disk, beside the store: ``<folder>/<cell_id>/meta.json`` (the cell's identity, code
fingerprints and where it is: program, epoch, time) and ``program-<k>.pt`` per program, each
written to a temporary file and renamed, so a kill leaves the previous file whole. Tensors are
read back with ``torch.load(..., weights_only=True)``: never unpickled. A folder written by
other code (another fingerprint) or for another cell is removed with a one-line note and the
cell restarts; :func:`discard` removes a cell's folder once its row is stored.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

DEFAULT_MINUTES = 5.0
# A finished program's final state is saved when the program ran at least this long (or a save was
# due anyway): a resumed cell then skips it; shorter programs are simply run again.
FINISHED_SECONDS = 60.0
META = "meta.json"


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class _Cell:
    """The checkpoints of the cell running in this thread."""

    folder: Path
    identity: dict[str, Any]
    interval: float  # seconds between saves
    label: str
    note: Callable[[str], None]
    programs: int = 0  # training programs begun so far
    last_save: float = field(default_factory=time.monotonic)
    opened: float = field(default_factory=time.monotonic)
    # seconds the cell trained before this run, up to its last save (0 for a fresh cell): a resumed
    # cell's stored time is these plus this run's, what an uncut run of it takes, not the last part
    before: float = 0.0

    def open(self) -> None:
        """Keep the folder if it belongs to this cell and this code, else remove it (one note)."""
        if not (self.folder / META).exists():
            return
        stored = _read_meta(self.folder)
        if stored is not None and stored.get("identity") == self.identity:
            self.before = _seconds(stored)
            where = stored.get("program"), stored.get("epoch"), stored.get("epochs")
            self.note(f"resuming {self.label} from its checkpoint (program {where[0]}, epoch {where[1]} of {where[2]})")
            return
        why = "unreadable" if stored is None else "of other code or another grid"
        self.note(f"checkpoint of {self.label} {why}: not resumed, the cell restarts")
        shutil.rmtree(self.folder, ignore_errors=True)

    def write_meta(self, program: int, epoch: int, epochs: int) -> None:
        _atomic(self.folder / META, json.dumps({"identity": self.identity, "label": self.label, "program": program,
                                                "epoch": epoch, "epochs": epochs, "saved_at": _now(),
                                                "seconds": self.elapsed()}, default=str).encode())

    def elapsed(self) -> float:
        """Seconds the cell has trained: before this run (to its last save), and in it."""
        return self.before + (time.monotonic() - self.opened)


_cell: ContextVar[_Cell | None] = ContextVar("conceptbench_checkpoints", default=None)


def _canonical(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` as meta.json holds it (JSON's types, keys sorted), to compare with a stored one."""
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def _read_meta(folder: Path) -> dict[str, Any] | None:
    """A cell folder's meta.json, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _seconds(meta: dict[str, Any]) -> float:
    """The seconds a checkpoint's cell trained up to its last save (0 where its meta lacks them:
    checkpoints written before they were kept)."""
    seconds = meta.get("seconds")  # JSON may say Infinity or NaN: neither is a time trained
    return float(seconds) if isinstance(seconds, (int, float)) and 0 <= seconds < math.inf else 0.0


def _atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _on_cpu(value: Any) -> Any:
    """``value`` with every tensor copied to the CPU (lists, tuples and dicts walked)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_on_cpu(v) for v in value]
    return value


class TrainingCheckpoint:
    """The checkpoint of one training program of the running cell (see the module docstring).

    ``kind`` names the loop (e.g. ``"sgd"``), ``signature`` what it trains (parameters, sizes);
    a saved state whose kind or signature differs is never restored. Without a checkpointed cell
    :meth:`restore` returns None, :meth:`due` False and the saves do nothing.
    """

    def __init__(self, cell: _Cell | None, index: int, kind: str, signature: Any) -> None:
        self.cell, self.index, self.kind = cell, index, kind
        self.signature = json.dumps(signature, sort_keys=True, default=str)
        self.started = time.monotonic()

    @property
    def path(self) -> Path | None:
        return None if self.cell is None else self.cell.folder / f"program-{self.index}.pt"

    def restore(self) -> dict[str, Any] | None:
        """The saved state of this program (tensors on the CPU), or None: start from scratch.
        ``state["finished"]`` is True when the program had finished."""
        path = self.path
        if path is None or not path.exists():
            return None
        import torch

        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a damaged file: this program restarts, the ones before stay
            self.cell.note(f"checkpoint {path.name} of {self.cell.label} unreadable ({type(exc).__name__}): "
                           f"the program restarts")
            return None
        if not isinstance(saved, dict) or saved.get("kind") != self.kind or saved.get("signature") != self.signature:
            self.cell.note(f"checkpoint {path.name} of {self.cell.label} is of another training program: "
                           f"the program restarts")
            return None
        return saved["state"]

    def due(self) -> bool:
        """Whether a periodic save is due (the cell's last save is ``interval`` old)."""
        cell = self.cell
        return cell is not None and time.monotonic() - cell.last_save >= cell.interval

    def save(self, state: dict[str, Any], epoch: int, epochs: int, finished: bool = False) -> None:
        """Write ``state`` (tensors, numbers, strings, lists and dicts of them) after ``epoch``."""
        cell = self.cell
        if cell is None:
            return
        import io

        import torch

        buffer = io.BytesIO()
        torch.save({"kind": self.kind, "signature": self.signature,
                    "state": {**_on_cpu(state), "epoch": epoch, "finished": finished}}, buffer)
        _atomic(self.path, buffer.getvalue())
        cell.write_meta(self.index, epoch, epochs)
        cell.last_save = time.monotonic()

    def finish(self, state: Callable[[], dict[str, Any]], epoch: int, epochs: int) -> None:
        """Save the program's final state when it ran :data:`FINISHED_SECONDS` or a save is due."""
        if self.cell is None:
            return
        if self.due() or time.monotonic() - self.started >= FINISHED_SECONDS:
            self.save(state(), epoch, epochs, finished=True)


def training_checkpoint(kind: str, signature: Any) -> TrainingCheckpoint:
    """The checkpoint of the next training program of the running cell (a no-op one outside a
    checkpointed cell). Call it once per program, in the cell's deterministic order."""
    cell = _cell.get()
    if cell is None:
        return TrainingCheckpoint(None, 0, kind, signature)
    cell.programs += 1
    return TrainingCheckpoint(cell, cell.programs, kind, signature)


def _stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


@contextmanager
def cell_checkpoints(folder: str | Path, identity: dict[str, Any], minutes: float, label: str,
                     note: Callable[[str], None] = _stderr) -> Iterator[_Cell]:
    """Checkpoint the training programs of the cell run inside the block into ``folder``, every
    ``minutes``; ``identity`` (the cell's key and code fingerprints) must match for a resume.
    Yields the cell's checkpoints; ``.before`` is what a resumed cell trained before this run."""
    cell = _Cell(Path(folder), _canonical(identity), minutes * 60.0, label, note)
    cell.open()
    token = _cell.set(cell)
    try:
        yield cell
    finally:
        _cell.reset(token)


def discard(folder: str | Path) -> None:
    """Remove a cell's checkpoints (its row is stored)."""
    shutil.rmtree(folder, ignore_errors=True)


def resumable(root: str | Path, identities: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The cells among ``identities`` (cell id → the identity :func:`cell_checkpoints` is given)
    whose checkpoint under ``root`` a run would resume — written for that identity (this code,
    this grid); a checkpoint of other code restarts its cell instead — each with the seconds it
    trained up to its last save."""
    present = {p.parent.name for p in Path(root).glob(f"*/{META}")}  # one listing, not a read per cell
    return {cell_id: _seconds(stored) for cell_id, identity in identities.items()
            if cell_id in present and (stored := _read_meta(Path(root) / cell_id)) is not None
            and stored.get("identity") == _canonical(identity)}


def in_progress(root: str | Path) -> list[dict[str, Any]]:
    """The cells with checkpoints under ``root``: each folder's meta (label, program, epoch,
    epochs, saved_at, ``cell_id``, and ``key``: the cell's task, learner grid, N and seed as
    :attr:`harness.protocol.cell.CellSpec.key` has them, or None), newest first."""
    rows = []
    for meta in Path(root).glob(f"*/{META}"):
        data = _read_meta(meta.parent)
        if data is None:
            continue
        identity = data.pop("identity", None)
        key = identity.get("key") if isinstance(identity, dict) else None
        rows.append({"cell_id": meta.parent.name, **data, "key": key if isinstance(key, dict) else None})
    return sorted(rows, key=lambda r: r.get("saved_at", ""), reverse=True)
