"""Writing pages and figures: atomically (a reader never sees half a file), into a checked folder."""

from __future__ import annotations

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
