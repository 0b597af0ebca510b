"""Fingerprints of the code that produced a result, recorded with every row so that a result
whose code has changed since is reported as stale instead of being shown as current.

joblib.Memory hashes a function's source to invalidate its cache; we do the same one level up,
on the code's AST (comments and docstrings do not count). A plugin's fingerprint
(``code+<hash>``) covers the code that can run when it is used: its class and its base classes,
and — transitively — every function, class and module-level constant of the same top-level
package(s) that this code names, by content. Which file holds a function, and the import lines
that reach it, do not count, so moving code between modules (or renaming a module) keeps stored
cells current, while any change to reachable code makes them stale. The harness's own part
(``protocol+<hash>``) is the code of the functions that define the protocol (data draws, splits,
selection, scoring; listed by :mod:`harness.protocol.cell`): an edit to the CLI or the
leaderboards leaves results valid, an edit to the protocol does not.

Rows stored under the earlier, per-module scheme (a bare 16-digit hash) are read through
:func:`upgraded`, so changing the scheme does not make a store stale (see ``legacy.json``).
"""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
import textwrap
import tokenize
import types
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

PREFIX = "code+"
_SHOW_EMPTY = {"show_empty": True} if sys.version_info >= (3, 13) else {}
_NOT_OURS = ("harness", "builtins", "abc")


def _strip(tree: ast.AST) -> ast.AST:
    """Drop docstrings and the fields only some Pythons print, in place."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
        # The same code must hash the same under every Python: 3.12 added an (empty) ``type_params``
        # field to functions and classes, and 3.13's dump leaves empty fields out unless told not
        # to. Without both, rows trained on a GPU machine's Python read as stale here.
        if getattr(node, "type_params", None) == []:
            del node.type_params
    return tree


def _normalised(source: str) -> bytes:
    """The code of ``source`` without comments, docstrings or layout (its AST), so that fixing a
    comment or a docstring leaves results current."""
    return ast.dump(_strip(ast.parse(textwrap.dedent(source))), **_SHOW_EMPTY).encode()


def fingerprint_functions(functions: Iterable[Callable[..., Any]], prefix: str) -> str:
    """``<prefix>+<hash>`` of the code of ``functions`` (in the order given)."""
    digest = hashlib.sha256()
    for fn in functions:
        digest.update(_normalised(inspect.getsource(fn)))
    return f"{prefix}+{digest.hexdigest()[:8]}"


# --- the reachable code of a plugin class -------------------------------------------------------
# Reachability is read from the source, not from the objects in memory: a name a function uses
# is looked up among its module's definitions (def, class, assignment) and imports, and imports
# are followed into the module they name. So a value patched at run time (a test's monkeypatch,
# a benchmark's knob) or a cache's contents never change a fingerprint; only the files do.

@dataclass(eq=False)  # hashed by identity: a parse is a cache key
class _Module:
    """One source file's top-level definitions and imports."""

    defs: dict[str, list[ast.AST]]   # name → the statements that bind it (def, class, assignment)
    imports: dict[str, tuple[str, str | None]]  # name → (module, attribute or None for the module)


def _bound(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


def _imports(node: ast.Import | ast.ImportFrom, package: str) -> dict[str, tuple[str, str | None]]:
    """What an import statement binds: name → (module, attribute), resolved against ``package``."""
    if isinstance(node, ast.Import):
        return {(a.asname or a.name.split(".")[0]): (a.name if a.asname else a.name.split(".")[0], None)
                for a in node.names}
    try:
        source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
    except (ImportError, ValueError):
        return {}
    return {(a.asname or a.name): (source, a.name) for a in node.names if a.name != "*"}


@lru_cache(maxsize=256)
def _parsed(text: str, package: str) -> _Module:
    module = _Module({}, {})

    def add(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module.imports.update(_imports(node, package))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
                                   ast.AnnAssign, ast.AugAssign)):
                for name in _bound(node):
                    module.defs.setdefault(name, []).append(node)
            elif isinstance(node, (ast.If, ast.Try)):  # definitions made under a condition
                for block in (node.body, node.orelse, *(h.body for h in getattr(node, "handlers", [])),
                              getattr(node, "finalbody", [])):
                    add(block)
    add(ast.parse(text).body)
    return module


def _source_file(name: str) -> str | None:
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if path is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        path = spec.origin if spec is not None else None
    return path if path and path.endswith(".py") else None


_READ: dict[str, tuple[tuple[int, int], _Module]] = {}


def _module(name: str) -> _Module | None:
    """The parsed source of module ``name``, read again when its file changes (tests and
    long-lived processes may edit a plugin)."""
    path = _source_file(name)
    if path is None:
        return None
    stat = os.stat(path)
    seen = _READ.get(f"{name}:{path}")
    if seen is not None and seen[0] == (stat.st_mtime_ns, stat.st_size):
        return seen[1]
    with tokenize.open(path) as f:
        text = f.read()
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    parsed = _parsed(text, package)
    _READ[f"{name}:{path}"] = ((stat.st_mtime_ns, stat.st_size), parsed)
    return parsed


class _Walk:
    """Every definition of ``packages`` reachable from some classes, each hashed by content alone
    (its AST; the module that holds it and the import lines that reach it do not count)."""

    # (packages, module, qualname, its parsed file) → (digest, what it reaches): code shared by
    # several plugins is hashed once per process while its file is unchanged.
    _done: dict[tuple[Any, ...], tuple[str, list[tuple[str, str]]]] = {}

    def __init__(self, packages: set[str]) -> None:
        self.packages = frozenset(packages)

    def ours(self, module: str) -> bool:
        return module.split(".")[0] in self.packages

    def run(self, classes: Iterable[type]) -> list[str]:
        digests: dict[tuple[str, str], str] = {}
        queue = [(c.__module__, c.__qualname__) for c in classes]
        while queue:
            key = queue.pop()
            if key in digests:
                continue
            done = (self.packages, *key, _module(key[0]))
            if done not in self._done:
                self._done[done] = self.code(*key)
            digests[key], reached = self._done[done]
            queue.extend(reached)
        return sorted(digests.values())

    def resolve(self, module: str, name: str, depth: int = 0) -> tuple[str, str] | str | None:
        """Where ``name`` as seen from ``module`` is defined: (module, name) for a definition of
        ours, a module name for a module of ours, else None."""
        parsed = _module(module) if self.ours(module) and depth < 20 else None
        if parsed is None:
            return None
        if name in parsed.defs:
            return (module, name)
        target = parsed.imports.get(name)
        if target is None:
            return None
        source, attr = target
        if not self.ours(source):
            return None
        if attr is None:
            return source
        if _source_file(f"{source}.{attr}") is not None and attr not in (_module(source) or _Module({}, {})).defs:
            return f"{source}.{attr}"  # `from . import arccos`: a module
        return self.resolve(source, attr, depth + 1)  # through re-exports

    def code(self, module: str, qualname: str) -> tuple[str, list[tuple[str, str]]]:
        parsed = _module(module)
        head, _, rest = qualname.partition(".")
        nodes = parsed.defs.get(head, []) if parsed else []
        if not nodes:  # no source on disk (made at run time): its name is all we know
            return hashlib.sha256(f"{module}:{qualname}".encode()).hexdigest(), []
        trees = [_unhashed_methods(_strip(copy.deepcopy(n))) for n in nodes]
        package = module if (_source_file(module) or "").endswith("__init__.py") else module.rpartition(".")[0]
        local: dict[str, tuple[str, str | None]] = {}

        class Imports(ast.NodeTransformer):
            """An import of our own code stands for the names it binds (where they live does
            not count: what they are is hashed where they are used); other imports stay."""

            def visit_Import(_, node: ast.Import | ast.ImportFrom) -> ast.AST:
                bound = _imports(node, package)
                if not bound or not all(self.ours(source) for source, _ in bound.values()):
                    return node
                local.update(bound)
                return ast.Expr(ast.Constant("imports " + ",".join(sorted(bound))))

            visit_ImportFrom = visit_Import

        trees = [Imports().visit(t) for t in trees]
        reached: list[tuple[str, str]] = []

        def reach(where: tuple[str, str] | str | None) -> None:
            if isinstance(where, tuple):
                reached.append(where)

        def lookup(name: str) -> tuple[str, str] | str | None:
            if name in local:
                source, attr = local[name]
                return source if attr is None and _source_file(source) else (
                    self.resolve(source, attr) if attr is not None else None) or (
                    f"{source}.{attr}" if _source_file(f"{source}.{attr}") else None)
            return self.resolve(module, name)

        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and node.id != head:
                    reach(lookup(node.id))
                elif isinstance(node, ast.Attribute):
                    base = _dotted(node.value)
                    owner = lookup(base.split(".")[0]) if base else None
                    for part in (base.split(".")[1:] if base else []):
                        owner = f"{owner}.{part}" if isinstance(owner, str) and _source_file(f"{owner}.{part}") else None
                    if isinstance(owner, str):
                        reach(self.resolve(owner, node.attr))
        text = b"\0".join(ast.dump(t, **_SHOW_EMPTY).encode() for t in trees)
        return hashlib.sha256(text).hexdigest(), reached


# Methods that predict a cell's cost and never change its result: a learner's cost model can be
# refitted without making its stored cells stale. (memory_estimate predates this and stays hashed:
# leaving it out now would change every built-in's fingerprint.)
NOT_HASHED = frozenset({"time_estimate"})


def _unhashed_methods(tree: ast.AST) -> ast.AST:
    """``tree`` (a class) without its :data:`NOT_HASHED` methods, in place."""
    if isinstance(tree, ast.ClassDef):
        tree.body = [n for n in tree.body if not (isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                                                 and n.name in NOT_HASHED)] or [ast.Pass()]
    return tree


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _roots(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] not in _NOT_OURS]


@lru_cache(maxsize=None)
def _class_fingerprint(cls: type) -> str:
    roots = _roots(cls)
    digest = hashlib.sha256()
    for part in _Walk({c.__module__.split(".")[0] for c in roots}).run(roots):
        digest.update(part.encode())
    return PREFIX + digest.hexdigest()[:16]


def code_fingerprint(obj: Any) -> str:
    """``code+<hash>`` of the plugin code that ``obj`` (a task or learner instance) can run."""
    return _class_fingerprint(type(obj))


# --- the scheme before: whole modules, by name ----------------------------------------------------

def _package_modules(roots: list[types.ModuleType]) -> list[types.ModuleType]:
    """``roots`` and every module of their top-level packages they reach through their globals."""
    seen: dict[str, types.ModuleType] = {}
    stack = list(roots)
    while stack:
        module = stack.pop()
        if module.__name__ in seen:
            continue
        seen[module.__name__] = module
        top = module.__name__.split(".")[0]
        for value in vars(module).values():
            name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
            if not isinstance(name, str) or name.split(".")[0] != top or name in seen:
                continue
            target = sys.modules.get(name)
            if target is not None:
                stack.append(target)
    return [seen[k] for k in sorted(seen)]


def _module_source(module: types.ModuleType) -> bytes:
    try:
        return _normalised(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return repr(sorted(vars(module))).encode()


@lru_cache(maxsize=None)
def legacy_fingerprint(cls: type) -> str:
    """The fingerprint of ``cls`` under the scheme used until schema 7: the source of every module
    its code reaches, by module name (so a move changed it). Kept to read old rows."""
    digest = hashlib.sha256()
    for module in _package_modules([sys.modules[c.__module__] for c in _roots(cls) if c.__module__ in sys.modules]):
        digest.update(module.__name__.encode() + b"\0" + _module_source(module) + b"\0")
    return digest.hexdigest()[:16]


LEGACY_FILE = Path(__file__).with_name("legacy.json")


@lru_cache(maxsize=1)
def _legacy_table() -> dict[str, dict[str, str]]:
    """``"learner:<name>"`` → {legacy fingerprint: the new one of the same code}: the built-in
    plugins' fingerprints under both schemes, recorded at the scheme change (before their modules
    moved, which changed their legacy fingerprints but not their code)."""
    return json.loads(LEGACY_FILE.read_text())["fingerprints"]


EQUIVALENT_FILE = Path(__file__).with_name("equivalent.json")


@lru_cache(maxsize=1)
def _equivalent_table() -> dict[str, dict[str, dict[str, str]]]:
    """``"learner:<name>"`` → {fingerprint: {"same_as": a later one, "because": why}}: code edits
    recorded as leaving every result of the earlier code unchanged (equivalent.json)."""
    return json.loads(EQUIVALENT_FILE.read_text())["fingerprints"]


def equivalent(fingerprint: str | None, kind: str, name: str) -> str | None:
    """``fingerprint`` followed through the recorded equivalences to the latest code it stands for
    (itself when none is recorded), so the cells of code changed without changing any result —
    a default grid (a cell's identity holds its whole grid), a faster path computing the same
    bits — stay current."""
    table = _equivalent_table().get(f"{kind}:{name}", {})
    seen: set[str] = set()
    while fingerprint in table and fingerprint not in seen:
        seen.add(fingerprint)
        fingerprint = table[fingerprint]["same_as"]
    return fingerprint


def upgraded(stored: str | None, kind: str, name: str, obj: Any) -> str | None:
    """The fingerprint ``stored`` stands for under today's scheme: itself when it is of today's
    scheme; for an old-scheme value, the new fingerprint of the same code when the recorded table
    or the old scheme applied to the code installed now says that code is unchanged; else
    ``stored`` itself (so it reads as stale)."""
    if stored is None or stored.startswith(PREFIX):
        return equivalent(stored, kind, name)
    recorded = _legacy_table().get(f"{kind}:{name}", {}).get(stored)
    if recorded is not None:
        return equivalent(recorded, kind, name)
    if legacy_fingerprint(type(obj)) == stored:
        return code_fingerprint(obj)
    return stored
