"""Runs as files: ``bench run --config run.toml`` reads what the command line can say from a
TOML file (stdlib ``tomllib``), and the helpers that suite files (:mod:`harness.suites`) share.

A run file (every key optional; each is a ``bench run`` option's long name with ``_`` for ``-``)::

    tasks = ["sin3"]                    # names, or tables of task parameters:
    [tasks.mixtures]                    #   k = [2, 4] sweeps (one variant per value), as -p k=2,4
    k = [2, 4]
    delta = 0.5                         #   a single value is one value
    [learners.three_layer_sgd]          # learners likewise: a list is the candidate list (-p)
    width = [128]
    lr = [0.01, 0.03]

    ns = [100, 200]                     # --ns;  seeds = 3, n_test = 5000, val_fraction = 0.2,
    label_noise = 0.1                   # zou_gu_mu, select_on, preset, jobs, store, out, device,
                                        # cell_timeout, retry_failed, reuse_stale, force,
                                        # no_leaderboard, suite, scale: as the options of that name

A value that is itself a list is written inside the list of values: ``degrees = [[1, 2], [2, 4]]``
is two variants, as ``-p degrees=[1,2],[2,4]``. Every problem is one line naming the file, the
line of the key and what to write instead.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from harness.api.errors import BenchError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with tomli, tomllib's origin (a dependency there)
    import tomli as tomllib

Key = tuple  # a path into the document: table names, keys and array indexes


# --- reading: tomllib's data plus the line of every key ---------------------------------------

# Hand-written because tomllib returns plain dicts with no positions, and no maintained TOML
# reader we could depend on reports the line of a key either (tomlkit keeps the text, not line
# numbers). It does not parse values: it finds where each key or table header starts, skipping
# strings, comments and values that span lines, which is all an error message needs. Keys inside
# an inline table, or elements of an inline array, are reported at the line of the key holding it.
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key_parts(text: str, i: int = 0) -> tuple[list[str], int] | None:
    """The dotted key starting at ``text[i]`` (bare or quoted parts) and the index after it."""
    parts: list[str] = []
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):
            return None
        if text[i] == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                return None
            try:
                parts.append(json.loads(text[i:j + 1]))
            except ValueError:  # a TOML-only escape (\e, \U...): the raw text is close enough
                parts.append(text[i + 1:j])
            i = j + 1
        elif text[i] == "'":
            j = text.find("'", i + 1)
            if j < 0:
                return None
            parts.append(text[i + 1:j])
            i = j + 1
        else:
            m = _BARE.match(text, i)
            if not m:
                return None
            parts.append(m.group())
            i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == ".":
            i += 1
            continue
        return parts, i


def _scan(text: str, depth: int, quote: str) -> tuple[int, str]:
    """Advance over one line of a value: the bracket depth and the open multi-line string
    delimiter ('' when none) after it."""
    i = 0
    while i < len(text):
        if quote:
            if text.startswith(quote, i):
                i, quote = i + 3, ""
            else:
                i += 2 if quote == '"""' and text[i] == "\\" else 1
            continue
        ch = text[i]
        if text.startswith('"""', i) or text.startswith("'''", i):
            quote, i = text[i:i + 3], i + 3
        elif ch == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
        elif ch == "'":
            end = text.find("'", i + 1)
            i = len(text) if end < 0 else end + 1
        elif ch == "#":
            break
        else:
            depth += (ch in "[{") - (ch in "]}")
            i += 1
    return depth, quote


def key_lines(text: str) -> dict[Key, int]:
    """The 1-based line where each key, table and array-of-tables element of ``text`` is defined."""
    lines: dict[Key, int] = {}
    aot: dict[Key, int] = {}  # an array of tables' path → index of its last element
    current: Key = ()
    depth, quote = 0, ""

    def resolve(parts: list[str]) -> Key:  # a header's names → the path, with AoT indexes
        path: Key = ()
        for part in parts:
            path += (part,)
            if path in aot:
                path += (aot[path],)
        return path

    for number, line in enumerate(text.splitlines(), 1):
        if depth or quote:  # inside a value that spans lines
            depth, quote = _scan(line, depth, quote)
            continue
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("["):
            double = s.startswith("[[")
            parsed = _key_parts(s, 2 if double else 1)
            if parsed is None:
                continue
            parts = parsed[0]
            if double:
                array = resolve(parts[:-1]) + (parts[-1],)
                aot[array] = aot.get(array, -1) + 1
                lines.setdefault(array, number)
                current = array + (aot[array],)
            else:
                current = resolve(parts)
            lines.setdefault(current, number)
            continue
        parsed = _key_parts(s)
        if parsed is None or parsed[1] >= len(s) or s[parsed[1]] != "=":
            continue
        path = current + tuple(parsed[0])
        for k in range(len(current) + 1, len(path) + 1):
            lines.setdefault(path[:k], number)
        depth, quote = _scan(s[parsed[1] + 1:], 0, "")
    return lines


@dataclass
class TomlFile:
    """A TOML file read with ``tomllib``, able to say where each of its keys is."""

    name: str
    data: dict[str, Any]
    lines: dict[Key, int] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str | Path, what: str = "file") -> "TomlFile":
        """Read and parse ``path``; a missing file or invalid TOML is one :class:`BenchError` line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise BenchError(f"cannot read {what} {path}: {reason}; check the path") from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, name: str) -> "TomlFile":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib ends its message with "(at line L, column C)": put the place first, like
            # every other message about a file, and keep the message on one line.
            message = " ".join(str(exc).split())
            m = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
            where = f"{name}:{m.group(1)}:{m.group(2)}" if m else name
            message = message[:m.start()] if m else message
            raise BenchError(f"{where}: not valid TOML: {message}; see https://toml.io") from None
        return cls(name, data, key_lines(text))

    def line(self, path: Key) -> int | None:
        """The line of ``path``, or of the nearest enclosing key that has one."""
        for k in range(len(path), 0, -1):
            if path[:k] in self.lines:
                return self.lines[path[:k]]
        return None

    def error(self, path: Key, message: str) -> BenchError:
        """A one-line error ``file:line: message`` about the key at ``path``."""
        line = self.line(path)
        return BenchError(f"{self.name}:{line}: {message}" if line else f"{self.name}: {message}")

    def unknown(self, path: Key, known: Iterable[str], where: str = "") -> BenchError:
        """The error for an unknown key (the last part of ``path``), with a did-you-mean."""
        key, known = str(path[-1]), sorted(known)
        hint = difflib.get_close_matches(key, known, n=1)
        return self.error(path, f"unknown key '{key}'{where}" + (f" — did you mean '{hint[0]}'?" if hint else "")
                          + f" (known keys: {', '.join(known)})")


def dotted(path: Key) -> str:
    """``learners.three_layer_sgd.width`` or ``claims[2].text``, as a path is shown in messages."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (("." if out else "") + toml_key(part))
    return out


def describe(value: Any) -> str:
    """A value's TOML type, as messages name it: ``a string ("3")``."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value!r})"
    if isinstance(value, str):
        return f"a string ({json.dumps(value, ensure_ascii=False)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Checkers for one key's value: (value, file, path) → the value to use, or raise. Each message
# names the key and says what to write.
Check = Callable[[Any, TomlFile, Key], Any]


def string(value: Any, src: TomlFile, path: Key) -> str:
    if not isinstance(value, str):
        raise src.error(path, f"{dotted(path)} must be a string, got {describe(value)}; "
                              f"write {path[-1]} = \"...\"")
    return value


def boolean(value: Any, src: TomlFile, path: Key) -> bool:
    if not isinstance(value, bool):
        raise src.error(path, f"{dotted(path)} must be true or false, got {describe(value)}")
    return value


def positive_int(value: Any, src: TomlFile, path: Key) -> int:
    if not is_int(value):
        raise src.error(path, f"{dotted(path)} must be an integer, got {describe(value)}; write e.g. {path[-1]} = 3")
    if value <= 0:
        raise src.error(path, f"{dotted(path)} must be a positive integer, got {value}")
    return value


def number(value: Any, src: TomlFile, path: Key) -> float:
    if not is_number(value):
        raise src.error(path, f"{dotted(path)} must be a number, got {describe(value)}; write e.g. {path[-1]} = 0.1")
    return float(value)


def sizes(value: Any, src: TomlFile, path: Key) -> tuple[int, ...]:
    """A non-empty list of positive integers (Ns)."""
    if not isinstance(value, list) or not value or not all(is_int(v) for v in value):
        got = "an empty list" if value == [] else describe(value) if not isinstance(value, list) else (
            "a list holding " + describe(next(v for v in value if not is_int(v))))
        raise src.error(path, f"{dotted(path)} must be a list of positive integers, got {got}; "
                              f"write e.g. {path[-1]} = [100, 200, 400]")
    for v in value:
        if v <= 0:
            raise src.error(path, f"{dotted(path)}: N must be a positive integer, got {v}")
    return tuple(value)


def strings(value: Any, src: TomlFile, path: Key) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise src.error(path, f"{dotted(path)} must be a list of strings, got {describe(value)}; "
                              f"write {path[-1]} = [\"...\", \"...\"]")
    return tuple(value)


def choice(*options: str) -> Check:
    def check(value: Any, src: TomlFile, path: Key) -> str:
        if value not in options:
            hint = difflib.get_close_matches(str(value), options, n=1)
            raise src.error(path, f"{dotted(path)} must be one of {', '.join(options)}, got {describe(value)}"
                                  + (f" — did you mean '{hint[0]}'?" if hint else ""))
        return value
    return check


def table(value: Any, src: TomlFile, path: Key, example: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise src.error(path, f"{dotted(path)} must be a table, got {describe(value)}; write {example}")
    return value


def check_keys(src: TomlFile, path: Key, data: dict[str, Any], schema: dict[str, Any], where: str = "") -> None:
    """Refuse the first key of ``data`` (the table at ``path``) that ``schema`` does not name."""
    for key in data:
        if key not in schema:
            raise src.unknown(path + (key,), schema, where)


def is_plain(value: Any) -> bool:
    """A value a parameter may take: a string, number or boolean, or a list of such values."""
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    return isinstance(value, (str, bool, int, float))


def param_values(value: Any, src: TomlFile, path: Key) -> list[Any]:
    """A parameter's values as ``--param`` gives them: a list is several values, anything else one."""
    values = value if isinstance(value, list) else [value]
    if not values:
        raise src.error(path, f"{dotted(path)} = [] gives no value; write one value, or a list of them")
    bad = next((v for v in values if not is_plain(v)), None)
    if bad is not None:
        raise src.error(path, f"{dotted(path)} must be a value or a list of values (strings, numbers, booleans), "
                              f"got {describe(bad)}")
    return list(values)


# --- writing ------------------------------------------------------------------------------------

# Hand-written: tomli-w (the maintained writer) puts every array element on a line of its own, so
# `width = [128]` becomes three lines and the built-in suites' README blocks came out about three
# times longer. The subset written here — tables, arrays of tables, strings, numbers, booleans
# and lists of them — is small, and every output is read back with tomllib by the tests.
LINE = 100  # a list longer than this on one line is written one element per line


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int(value):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                         "inf" if value > 0 else "-inf")
    if isinstance(value, str):  # a JSON string is a valid TOML basic string (the same escapes)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }" \
            if value else "{}"
    raise BenchError(f"a value of type {type(value).__name__} ({value!r}) has no TOML form")


def _is_aot(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(doc: dict[str, Any]) -> str:
    """``doc`` as TOML: nested dicts as ``[tables]``, lists of dicts as ``[[arrays of tables]]``
    (a dict inside one of their elements inline), keys of value ``None`` left out."""
    out: list[str] = []

    def emit(path: Key, data: dict[str, Any], header: str | None, in_aot: bool) -> None:
        data = {k: v for k, v in data.items() if v is not None}
        nested = {k: v for k, v in data.items() if (isinstance(v, dict) and not in_aot) or _is_aot(v)}
        if header and (in_aot or len(nested) < len(data) or not nested):
            out.extend(["", header] if out else [header])
        for key, value in data.items():
            if key in nested:
                continue
            line = f"{toml_key(key)} = {_toml_value(value)}"
            if len(line) > LINE and isinstance(value, (list, tuple)):
                line = (f"{toml_key(key)} = [\n" + "".join(f"    {_toml_value(v)},\n" for v in value) + "]")
            out.append(line)
        for key, value in nested.items():
            full = path + (key,)
            name = ".".join(toml_key(k) for k in full)
            if isinstance(value, dict):
                emit(full, value, f"[{name}]", False)
            else:
                for element in value:
                    emit(full, element, f"[[{name}]]", True)

    emit((), doc, None, False)
    return "\n".join(out) + "\n"


# --- run files ----------------------------------------------------------------------------------

# Each key of a run file and its checker; the command line's option of the same name (with - for _).
RUN_KEYS: dict[str, Check] = {
    "suite": string, "scale": string,
    "ns": sizes, "seeds": positive_int, "jobs": positive_int, "store": string, "out": string, "preset": string,
    "n_test": positive_int, "val_fraction": number, "label_noise": number, "label_sigma": number, "zou_gu_mu": number,
    "corrupt_test": boolean, "select_on": choice("validation", "test"), "retry_failed": boolean, "reuse_stale": boolean,
    "cell_timeout": number, "checkpoint_minutes": number, "until_decided": boolean, "max_seeds": positive_int, "device": string, "no_leaderboard": boolean, "force": boolean, "yes": boolean,
    "quiet": boolean, "verbose": boolean, "backend": choice("local", "dask"), "scheduler": string,
}


