"""SQLite result store: one row per cell, written in its own transaction as soon as it finishes.

WAL mode lets readers (``bench show``) and several writers share a file; a re-run asks the store
which cells are finished and skips them, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from harness.api.errors import StoreError
from harness.storage.periodic import every

SCHEMA_VERSION = 7
JSON_COLUMNS = ("task_params", "learner_params", "learner_grid", "metrics", "chosen_params", "selection",
                "refit_failures", "edges", "versions")
COLUMNS = (
    "cell_id", "task", "task_params", "task_version", "learner", "learner_params", "learner_version",
    "n", "seed", "n_test", "val_fraction", "label_noise", "input_transform", "status", "metric", "test_score", "train_score", "val_score",
    "metrics", "chosen_params", "selection", "seconds", "error", "versions", "git_rev",
    "task_plugin", "learner_plugin", "host", "device", "created_at",
    "learner_grid", "learner_code", "task_code", "harness_code", "refit_failures", "select_on", "edges",
    "label_sigma", "corrupt_test",
)
CODE_COLUMNS = ("learner_code", "task_code", "harness_code")  # fingerprints: see harness.protocol.fingerprint
SCHEMA = f"""
CREATE TABLE cells (
    cell_id TEXT PRIMARY KEY,
    task TEXT NOT NULL, task_params TEXT NOT NULL, task_version TEXT NOT NULL,
    learner TEXT NOT NULL, learner_params TEXT NOT NULL, learner_version TEXT NOT NULL,
    n INTEGER NOT NULL, seed INTEGER NOT NULL, n_test INTEGER NOT NULL, val_fraction REAL NOT NULL,
    label_noise REAL NOT NULL DEFAULT 0, input_transform TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'diverged', 'failed', 'timeout')),
    metric TEXT, test_score REAL, train_score REAL, val_score REAL,
    metrics TEXT, chosen_params TEXT, selection TEXT, seconds REAL, error TEXT,
    versions TEXT, git_rev TEXT, task_plugin TEXT, learner_plugin TEXT, host TEXT, device TEXT,
    created_at TEXT NOT NULL,
    learner_grid TEXT, learner_code TEXT, task_code TEXT, harness_code TEXT, refit_failures TEXT,
    select_on TEXT NOT NULL DEFAULT 'validation', edges TEXT, label_sigma REAL NOT NULL DEFAULT 0,
    corrupt_test INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX cells_task ON cells (task, learner, n);
{{claims_and_history}}
PRAGMA user_version = {SCHEMA_VERSION};
"""
# claims: a cell being trained, so that other processes on the store skip it (see Store.claim).
# history: rows replaced by a re-run (stale code, --retry-failed), so no finished result is lost;
# it has the columns of cells plus superseded_at — a migration that adds a column to cells adds
# it to history too.
CLAIMS_AND_HISTORY = """
CREATE TABLE claims (cell_id TEXT PRIMARY KEY, owner TEXT NOT NULL, heartbeat REAL NOT NULL,
                     expires REAL NOT NULL);
CREATE TABLE history AS SELECT * FROM cells WHERE 0;
ALTER TABLE history ADD COLUMN superseded_at TEXT;
"""
SCHEMA = SCHEMA.replace("{claims_and_history}", CLAIMS_AND_HISTORY)
# MIGRATIONS[v] upgrades a store of schema v to v + 1.
MIGRATIONS = {
    1: "ALTER TABLE cells ADD COLUMN host TEXT;",  # v2: which machine ran the cell (cluster runs)
    2: "ALTER TABLE cells ADD COLUMN label_noise REAL NOT NULL DEFAULT 0; "  # v3: data options
       "ALTER TABLE cells ADD COLUMN input_transform TEXT;",
    3: "ALTER TABLE cells ADD COLUMN device TEXT;",  # v4: the torch device a cell trained on
    # v5: the resolved grid and code fingerprints (stale detection), refit fallbacks, selection on
    # the test set (--select-on), chosen values left on a grid edge, claims, history
    4: "ALTER TABLE cells ADD COLUMN learner_grid TEXT; ALTER TABLE cells ADD COLUMN learner_code TEXT; "
       "ALTER TABLE cells ADD COLUMN task_code TEXT; ALTER TABLE cells ADD COLUMN harness_code TEXT; "
       "ALTER TABLE cells ADD COLUMN refit_failures TEXT; "
       "ALTER TABLE cells ADD COLUMN select_on TEXT NOT NULL DEFAULT 'validation'; "
       "ALTER TABLE cells ADD COLUMN edges TEXT;" + CLAIMS_AND_HISTORY,
    # v6: additive Gaussian label noise (--label-sigma), part of a cell's identity; history too
    5: "ALTER TABLE cells ADD COLUMN label_sigma REAL NOT NULL DEFAULT 0; "
       "ALTER TABLE history ADD COLUMN label_sigma REAL NOT NULL DEFAULT 0;",
    # v7: test labels corrupted too (--corrupt-test, Arora et al.'s protocol), part of a cell's identity
    6: "ALTER TABLE cells ADD COLUMN corrupt_test INTEGER NOT NULL DEFAULT 0; "
       "ALTER TABLE history ADD COLUMN corrupt_test INTEGER NOT NULL DEFAULT 0;",
}
CLAIM_TTL = 60.0  # seconds a claim lives without a heartbeat
FINAL = ("ok", "diverged")  # statuses never re-run; failed/timeout are re-run by --retry-failed


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def _unwritable(folder: Path) -> Path | None:
    """The nearest existing directory at or above ``folder`` when no file can be created in it
    (read-only permissions or file system), else None. Tried, not asked: ``os.access`` says
    yes to root even where the file system refuses."""
    here = folder
    while not here.exists() and here.parent != here:
        here = here.parent
    if not here.is_dir():
        return None
    try:
        fd, probe = tempfile.mkstemp(dir=here, prefix=".conceptbench-probe-")
    except OSError:
        return here
    os.close(fd)
    os.unlink(probe)
    return None


class Store:
    """A results database at ``path`` (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        hint = "choose another file with --store"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: joblib may pull the next cell (and ask the store) from its
            # dispatch thread; the sqlite3 module serialises access to the connection.
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            # joblib's dispatch thread claims cells while the main thread writes rows: one
            # transaction at a time on this connection.
            self.lock = threading.RLock()
            self.db.execute("PRAGMA busy_timeout = 60000")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except (sqlite3.DatabaseError, OSError) as exc:
            # SQLite says "unable to open database file" both for a file it cannot create and for
            # one it cannot read: a directory that cannot take the store (or the -wal and -shm
            # files WAL mode writes beside it) is the cause to name, not the file.
            folder = _unwritable(self.path.parent)
            if folder is not None:
                todo = ("copy it to a writable directory and pass the copy with --store" if self.path.exists()
                        else f"pass --store with a path in a writable directory, e.g. --store ~/{self.path.name}")
                raise StoreError(f"cannot {'open' if self.path.exists() else 'create'} store {self.path}: "
                                 f"the directory {folder} is not writable (SQLite writes the store and its "
                                 f"-wal/-shm files there); {todo}") from None
            if isinstance(exc, OSError):
                raise StoreError(f"cannot open store {self.path}: {exc.strerror or exc}; {hint}") from None
            raise StoreError(f"store {self.path} is not a readable conceptbench database ({exc}); "
                             f"move it aside or {hint}") from None
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self.path} has schema {version}, newer than this conceptbench "
                             f"({SCHEMA_VERSION}); upgrade conceptbench or {hint}")
        if not tables:
            self._create()
        elif "cells" not in tables or version == 0:
            raise StoreError(f"{self.path} is an SQLite file but not a conceptbench store "
                             f"(tables: {', '.join(sorted(tables))}); {hint}")
        elif version < SCHEMA_VERSION:
            self._migrate(version)

    def _migrate(self, version: int) -> None:
        """Upgrade an older store in place, after copying it to ``<path>.v<version>.bak``."""
        backup = self.path.with_name(f"{self.path.name}.v{version}.bak")
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy2(self.path, backup)
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                current = self.db.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
                for v in range(current, SCHEMA_VERSION):
                    for statement in filter(str.strip, MIGRATIONS[v].split(";")):
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot migrate store {self.path} from schema {version} to {SCHEMA_VERSION}: "
                             f"{exc}; the original is unchanged") from None
        print(f"note: migrated store {self.path} from schema {version} to {SCHEMA_VERSION} "
              f"(backup: {backup})", file=sys.stderr)

    def _create(self) -> None:
        # Two processes may create one new store at once. Switching to WAL takes an exclusive
        # lock, and SQLite answers "database is locked" at once rather than waiting on the busy
        # timeout (measured: 1 in 3 runs of test_two_processes_on_one_grid_train_each_cell_exactly_once
        # failed here): wait for the other process, and stop once it has made the tables.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
                return
            except sqlite3.OperationalError as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                if "already exists" in str(exc):  # another process created it first
                    return
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot write store {self.path}: {exc}") from None
            time.sleep(0.05)
            if self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'cells'").fetchone():
                return

    def close(self) -> None:
        self.db.close()

    def finished(self, cell_ids: Iterable[str], retry_failed: bool = False) -> set[str]:
        """The subset of ``cell_ids`` that must not run again."""
        statuses = FINAL if retry_failed else FINAL + ("failed", "timeout")
        ids = list(cell_ids)
        done: set[str] = set()
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-variable limit
            chunk = ids[i:i + 500]
            q = (f"SELECT cell_id FROM cells WHERE cell_id IN ({','.join('?' * len(chunk))}) "
                 f"AND status IN ({','.join('?' * len(statuses))})")
            with self.lock:
                done.update(r[0] for r in self.db.execute(q, [*chunk, *statuses]).fetchall())
        return done

    def existing(self, cell_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """For each of ``cell_ids`` stored, what deciding whether to run it again needs: status,
        versions, code fingerprints and when it was written; and its seconds (the run's ETA)."""
        cols = ("cell_id", "learner", "task", "status", "learner_version", "task_version", "created_at",
                "seconds", *CODE_COLUMNS)
        ids, out = list(cell_ids), {}
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-variable limit
            chunk = ids[i:i + 500]
            q = f"SELECT {','.join(cols)} FROM cells WHERE cell_id IN ({','.join('?' * len(chunk))})"
            with self.lock:
                out.update((r["cell_id"], dict(r)) for r in self.db.execute(q, chunk).fetchall())
        return out

    def put(self, record: dict[str, Any], owner: str | None = None) -> None:
        """Write one cell's row in its own transaction; a row it replaces (a failed attempt, a
        stale result) moves to ``history``, and ``owner``'s claim on the cell is released (not
        another's, which took it over after ours expired)."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = dict(record, created_at=now)
        values = [_dumps(row.get(c)) if c in JSON_COLUMNS else row.get(c) for c in COLUMNS]
        try:
            with self.lock, self.db:  # one transaction: COMMIT at the end, or ROLLBACK on error
                self.db.execute("BEGIN IMMEDIATE")
                self._replace(values, now)
                self.db.execute("DELETE FROM claims WHERE cell_id = ? AND owner = ?", (row["cell_id"], owner))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to store {self.path}: {exc}; finished rows so far are "
                             f"kept — free space or fix permissions, then re-run to resume") from None

    def _replace(self, values: list[Any], now: str) -> None:
        """In the caller's transaction: ``values`` (in COLUMNS order) become their cell's row, and
        the row they replace, if any, moves to history stamped ``now``."""
        cell_id = values[COLUMNS.index("cell_id")]
        # by column name: a migrated store's history has its columns in another order
        # (superseded_at before the columns later schemas added)
        self.db.execute(f"INSERT INTO history ({','.join(COLUMNS)}, superseded_at) "
                        f"SELECT {','.join(COLUMNS)}, ? FROM cells WHERE cell_id = ?", (now, cell_id))
        self.db.execute(f"INSERT OR REPLACE INTO cells ({','.join(COLUMNS)}) "
                        f"VALUES ({','.join('?' * len(COLUMNS))})", values)

    def merge_from(self, other: "Store", stale: Callable[[dict[str, Any]], list[str]]) -> dict[str, int]:
        """Copy ``other``'s cells into this store: rows trained elsewhere (a GPU machine, a cluster
        node with a store of its own) join the ones here, each as it was written (its
        ``created_at``, host, device and versions kept).

        A cell absent here is copied. A cell present here is replaced only by a better row: ours
        failed or timed out and theirs finished, or ours is stale (``stale``: why a row no longer
        matches the installed code) and theirs is current. The row it replaces moves to
        ``history``, as a re-run's would; otherwise ours is kept, so merging never loses a result.
        Returns the counts ``copied``, ``replaced`` and ``kept``."""
        counts = {"copied": 0, "replaced": 0, "kept": 0}
        try:  # as stored, not decoded: the JSON columns are copied byte for byte
            theirs = [dict(r) for r in other.db.execute(f"SELECT {','.join(COLUMNS)} FROM cells")]
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read store {other.path}: {exc}") from None
        ours = self.existing(r["cell_id"] for r in theirs)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            with self.lock, self.db:  # one transaction: all rows or none
                self.db.execute("BEGIN IMMEDIATE")
                for row in theirs:
                    here = ours.get(row["cell_id"])
                    if here is not None:
                        better = ((here["status"] not in FINAL and row["status"] in FINAL)
                                  or (bool(stale(here)) and not stale(row)))
                        if not better:
                            counts["kept"] += 1
                            continue
                    self._replace([row[c] for c in COLUMNS], now)
                    counts["replaced" if here is not None else "copied"] += 1
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to store {self.path}: {exc}; nothing was merged") from None
        return counts

    # -- claims: several processes on one store train each cell once --------------------------
    # SQLite has no row locks to hold across a minutes-long training, so a cell is claimed with a
    # row naming its owner and an expiry that the owner's heartbeat keeps pushing forward. A claim
    # whose owner is gone (a dead process on this host, or an expiry passed) is taken over.

    def claim(self, cell_id: str, owner: str, seen_at: str | None, ttl: float = CLAIM_TTL) -> str | None:
        """Claim ``cell_id`` for ``owner``; ``None`` on success, else why not: ``"done"`` when its
        row changed since it was planned (``seen_at``: the planned row's created_at, or None), or the
        live owner that holds it."""
        try:
            with self.lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")  # check and claim atomically
                row = self.db.execute("SELECT created_at FROM cells WHERE cell_id = ?", (cell_id,)).fetchone()
                if (row[0] if row else None) != seen_at:
                    return "done"
                held = self.db.execute("SELECT owner, expires FROM claims WHERE cell_id = ?", (cell_id,)).fetchone()
                if held and held[0] != owner and held[1] > time.time() and owner_alive(held[0]):
                    return held[0]
                now = time.time()
                self.db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)", (cell_id, owner, now, now + ttl))
                return None
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to store {self.path}: {exc}") from None

    def held(self, cell_ids: Iterable[str]) -> dict[str, str]:
        """The cells among ``cell_ids`` that a live owner holds now (cell id → owner): another
        process sharing the store is training them, so a run planned now will leave them to it
        unless that owner dies first (see :meth:`claim`)."""
        wanted, now = set(cell_ids), time.time()
        with self.lock:
            claims = self.db.execute("SELECT cell_id, owner, expires FROM claims").fetchall()
        return {cell_id: owner for cell_id, owner, expires in claims
                if cell_id in wanted and expires > now and owner_alive(owner)}

    def release(self, owner: str) -> None:
        """Drop every claim of ``owner`` (its run ended or was interrupted)."""
        with self.lock:
            self.db.execute("DELETE FROM claims WHERE owner = ?", (owner,))

    @contextmanager
    def heartbeat(self, owner: str, ttl: float = CLAIM_TTL) -> Iterator[None]:
        """Keep ``owner``'s claims alive while the block runs (renewed every ttl/4 from a thread,
        on a connection of its own), and release them at the end."""
        def renew() -> None:
            now = time.time()
            try:
                with closing(sqlite3.connect(self.path, timeout=60, isolation_level=None)) as db:
                    db.execute("UPDATE claims SET heartbeat = ?, expires = ? WHERE owner = ?", (now, now + ttl, owner))
            except sqlite3.Error:
                pass  # a busy or full store: the next beat tries again before expiry

        try:
            with every(ttl / 4, renew):
                yield
        finally:
            try:
                self.release(owner)
            except sqlite3.Error:
                pass  # left claims expire on their own


    def fingerprints(self, kind: str) -> list[tuple[str, str]]:
        """The distinct (name, code fingerprint) pairs of ``kind`` ("learner" or "task")."""
        with self.lock:
            return [tuple(r) for r in self.db.execute(
                f"SELECT DISTINCT {kind}, {kind}_code FROM cells WHERE {kind}_code IS NOT NULL")]

    def recode(self, kind: str, name: str, old: str, new: str) -> int:
        """Record ``new`` as the code fingerprint of ``kind`` ``name``'s rows stored with ``old``
        (the same code under another fingerprint scheme); the number of rows changed."""
        try:
            with self.lock, self.db:
                return self.db.execute(f"UPDATE cells SET {kind}_code = ? WHERE {kind} = ? AND {kind}_code = ?",
                                       (new, name, old)).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to store {self.path}: {exc}") from None

    def rows(self, task: str | None = None, learner: str | None = None) -> list[dict[str, Any]]:
        """All rows (optionally of one task / learner), JSON columns decoded."""
        q, args = "SELECT * FROM cells WHERE 1=1", []
        if task:
            q, args = q + " AND task = ?", args + [task]
        if learner:
            q, args = q + " AND learner = ?", args + [learner]
        try:
            rows = self.db.execute(q + " ORDER BY task, learner, n, seed", args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read store {self.path}: {exc}; move it aside or choose "
                             f"another file with --store") from None
        out = []
        for r in rows:
            d = dict(r)
            for c in JSON_COLUMNS:
                d[c] = json.loads(d[c]) if d[c] is not None else None
            out.append(d)
        return out

def new_owner() -> str:
    """A claim owner name for this process: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def owner_alive(owner: str) -> bool:
    """False when ``owner`` is a process of this host that no longer exists; True otherwise
    (another host's process can only be judged by its claim's expiry)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True
