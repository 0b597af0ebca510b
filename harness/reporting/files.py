"""Writing pages and figures: atomically (a reader never sees half a file), into a checked folder
that belongs to the store the pages come from.

Whose pages a folder holds (:func:`pages_dir`, :func:`owner`, :func:`claim`): every folder of
pages belongs to exactly one store, so a run on one store never overwrites pages made from
another (issue 27: a one-cell store once rewrote the committed leaderboards).

- By default a store's pages sit beside it: ``<dir>/<name>-pages/`` for ``<dir>/<name>.sqlite``
  (``*-pages/`` is git-ignored, so the default ``./conceptbench.sqlite`` leaves a clone clean),
  except that a store named ``store.sqlite`` keeps its pages in its own folder: that is how
  ``leaderboards/store.sqlite`` owns the committed pages in ``leaderboards/``.
- A folder records its store in a small JSON marker, ``.conceptbench-pages.json``
  (``{"store": "<the store's path relative to the folder>"}``, relative so that a clone or a
  moved tree keeps it), written the first time pages go there. A folder holding a file
  ``store.sqlite`` needs none: it is that store's. A suite directory (it holds ``verdict.json``
  or ``runs.json``) belongs to the folder above it. A folder none of this names (new, or
  written before markers) is taken by the first store that writes pages into it.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Callable

from harness.api.errors import BenchError


def write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written page."""
    # Not mkstemp: it makes the file 0600, and the rename would keep that. Opening with 0666
    # lets the kernel apply the user's umask, as for any other file (no racy os.umask read).
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8 at ``path``, written atomically."""
    write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


MARKER = ".conceptbench-pages.json"
INDEX_TITLE = "# conceptbench leaderboards"  # the first line of the index every pages folder holds
OWN_STORE = "store.sqlite"  # the store a folder holding a file of this name belongs to


def pages_dir(store: str | Path) -> Path:
    """The default folder for the pages of ``store``: the store's own folder when it is named
    ``store.sqlite``, else ``<dir>/<stem>-pages`` beside it (``<dir>/<name>-pages`` when the name
    has no ``.sqlite`` suffix)."""
    store = Path(store)
    if store.name == OWN_STORE:
        return store.parent
    stem = store.stem if store.suffix == ".sqlite" else store.name
    return store.parent / f"{stem}-pages"


def shown(path: str | Path) -> str:
    """``path`` as messages print it: relative to the working directory when inside it."""
    real = os.path.realpath(path)
    rel = os.path.relpath(real)
    return rel if not rel.startswith("..") else real


def owner(folder: str | Path) -> Path | None:
    """The store whose pages ``folder`` holds (resolved), or None when nothing says (see the
    module docstring: the nearest marker, else a ``store.sqlite`` beside the pages, searching up
    from a suite directory to the folder above it)."""
    here = Path(os.path.realpath(folder))
    while True:
        marker = here / MARKER
        if marker.is_file():
            try:
                recorded = json.loads(marker.read_text(encoding="utf-8"))["store"]
                return Path(os.path.realpath(here / recorded))
            except (OSError, ValueError, KeyError, TypeError):
                raise BenchError(f"{shown(marker)} does not say which store made the pages in {shown(here)}; "
                                 f"delete it if they may be overwritten, or choose another folder with --out") from None
        if (here / OWN_STORE).is_file():
            return here / OWN_STORE
        # a suite directory's pages are those of the folder above it (leaderboards/quick/)
        if here.parent == here or not ((here / "verdict.json").is_file() or (here / "runs.json").is_file()):
            return None
        here = here.parent


def check_owner(folder: str | Path, store: str | Path) -> Path | None:
    """Raise a one-line error when ``folder`` holds the pages of another store than ``store``, or,
    claimed by none, holds a README.md that is not a page index (``--out .`` in a project would
    replace the project's README); return its owner (``store`` resolved, or None when nothing
    names one). Reads only."""
    theirs, mine = owner(folder), Path(os.path.realpath(store))
    if theirs is not None and theirs != mine:
        raise BenchError(f"{shown(folder)}/ holds the pages of the store {shown(theirs)}, not of {shown(mine)}, "
                         f"so nothing was written there; pass --out DIR for this store's pages (or --store "
                         f"{shown(theirs)} to update those)")
    if theirs is None:  # a folder no store has claimed: not one whose README.md is someone's own text
        index = Path(folder) / "README.md"
        try:
            first = index.read_text(encoding="utf-8").split("\n", 1)[0] if index.is_file() else INDEX_TITLE
        except (OSError, UnicodeDecodeError):
            first = ""
        if first != INDEX_TITLE:
            raise BenchError(f"{shown(index)} is not a page index this tool wrote, and the pages' index would "
                             f"replace it; pass --out DIR with a new or empty folder")
    return theirs


def claim(folder: str | Path, store: str | Path) -> None:
    """Make ``folder`` ready for the pages of ``store``: a one-line error, and nothing written,
    when it holds another store's pages (or cannot be written); else create it and record the
    store in its marker (unless the folder already names it: its marker, or a ``store.sqlite``)."""
    folder, mine = Path(folder), Path(os.path.realpath(store))
    theirs = check_owner(folder, store)
    check_writable(folder)
    if theirs is None:
        real = os.path.realpath(folder)
        try:
            relative = os.path.relpath(mine, real)
        except ValueError:  # another drive (Windows): no relative path exists
            relative = str(mine)
        write_text(folder / MARKER, json.dumps({"store": Path(relative).as_posix()}) + "\n")


def check_writable(out: Path) -> None:
    """Raise a one-line error now, before any training, if ``out`` cannot receive pages."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BenchError(f"cannot write leaderboards to {out}: {exc.strerror or exc}; "
                         f"choose another directory with --out") from None
