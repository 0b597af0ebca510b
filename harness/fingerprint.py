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
import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
import textwrap
import tokenize
import types
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

def _top(obj: Any) -> str | None:
    name = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", None)
    return name.split(".")[0] if isinstance(name, str) else None


def _code_object(value: Any) -> Any:
    """The function or class behind ``value`` (through ``functools`` wrappers), or None."""
    value = inspect.unwrap(value) if callable(value) else value
    return value if inspect.isfunction(value) or inspect.isclass(value) else None


def _definitions(filename: str) -> dict[str, ast.AST]:
    """The functions and classes a source file defines at module level (and in its classes), by
    qualified name: a file is parsed once per content, not once per function as
    ``inspect.getsource`` does."""
    with tokenize.open(filename) as f:
        text = f.read()
    return _parsed(text)


@lru_cache(maxsize=64)
def _parsed(text: str) -> dict[str, ast.AST]:
    index: dict[str, ast.AST] = {}

    def add(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                index[prefix + node.name] = node  # the last definition is the one that runs
                if isinstance(node, ast.ClassDef):
                    add(node.body, f"{prefix}{node.name}.")
    add(ast.parse(text).body, "")
    return index


def _tree(obj: Any) -> ast.AST:
    """A fresh copy of the AST of ``obj`` (a function or class)."""
    try:
        node = _definitions(inspect.getsourcefile(obj) or "").get(obj.__qualname__)
    except (OSError, TypeError, SyntaxError):
        node = None
    if node is None:  # defined in a branch or a function: ask inspect
        node = ast.parse(textwrap.dedent(inspect.getsource(obj))).body[0]
    return _strip(copy.deepcopy(node))


class _Walk:
    """Everything of ``packages`` reachable from some roots, each hashed by content alone."""

    # (id(obj), packages) → (obj, digest, the code obj reaches): code shared by several plugins
    # is read once per process. obj is kept so that its id stays its own.
    _done: dict[tuple[int, frozenset[str]], tuple[Any, str, list[Any]]] = {}

    def __init__(self, packages: set[str]) -> None:
        self.packages = frozenset(packages)

    def ours(self, obj: Any) -> bool:
        return _top(obj) in self.packages

    def run(self, roots: Iterable[Any]) -> list[str]:
        digests: dict[int, str] = {}
        queue = list(roots)
        while queue:
            obj = queue.pop()
            if id(obj) in digests:
                continue
            key = (id(obj), self.packages)
            if key not in self._done:
                reached: list[Any] = []
                self._done[key] = (obj, hashlib.sha256(self.code(obj, reached)).hexdigest(), reached)
            _, digests[id(obj)], reached = self._done[key]
            queue.extend(reached)
        return sorted(digests.values())

    def code(self, obj: Any, reached: list[Any]) -> bytes:
        """The AST of ``obj`` (imports of our own code replaced by the names they bind) and the
        values of the module-level constants it names; the code it reaches goes to ``reached``."""
        try:
            tree = _tree(obj)
        except (OSError, TypeError, SyntaxError):  # no source on disk (made at run time)
            return repr(sorted(k for k in vars(obj) if not k.startswith("__"))).encode()
        module = sys.modules.get(obj.__module__)
        scope = dict(getattr(obj, "__globals__", None) or (vars(module) if module else {}))
        package = module.__package__ if module else None
        local: dict[str, Any] = {}

        class Imports(ast.NodeTransformer):
            def visit_ImportFrom(_, node: ast.ImportFrom) -> ast.AST:
                return self._imported(node, package, local)

            def visit_Import(_, node: ast.Import) -> ast.AST:
                return self._imported(node, package, local)

        tree = Imports().visit(tree)
        scope.update(local)
        constants: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                self._reach(node.id, scope.get(node.id, _MISSING), constants, reached)
            elif isinstance(node, ast.Attribute):
                base = _dotted(node.value)
                owner = _resolve(base, scope) if base else _MISSING
                if isinstance(owner, types.ModuleType) and self.ours(owner):
                    self._reach(f"{base}.{node.attr}", getattr(owner, node.attr, _MISSING), constants, reached)
        return ast.dump(tree, **_SHOW_EMPTY).encode() + b"\0" + "\0".join(sorted(set(constants))).encode()

    def _imported(self, node: ast.Import | ast.ImportFrom, package: str | None,
                  local: dict[str, Any]) -> ast.AST:
        """An import of our own code stands for the names it binds (where they live does not
        count; what they are is hashed where they are used); other imports stay as written."""
        bound = []
        for alias in node.names:
            if isinstance(node, ast.ImportFrom):
                try:
                    source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                except (ImportError, ValueError):
                    return node
                top = source.split(".")[0]
                if top not in self.packages:
                    return node
                # A lazy import (inside a function, to keep start-up fast) may not have run yet:
                # the code it reaches is hashed all the same.
                parent = importlib.import_module(source)
                value = getattr(parent, alias.name, None)
                if value is None:
                    value = importlib.import_module(f"{source}.{alias.name}")
            else:
                value, top = sys.modules.get(alias.name), alias.name.split(".")[0]
                if alias.asname is None:  # `import a.b` binds `a`
                    value = sys.modules.get(top)
            if top not in self.packages or value is None:
                return node
            name = alias.asname or alias.name.split(".")[0]
            local[name] = value
            bound.append(name)
        return ast.Expr(ast.Constant("imports " + ",".join(bound)))

    def _reach(self, name: str, value: Any, constants: list[str], reached: list[Any]) -> None:
        if value is _MISSING or isinstance(value, types.ModuleType):
            return
        code = _code_object(value)
        if code is not None:
            if self.ours(code):
                reached.append(code)
            return
        constants.append(f"{name}={self._value(value, reached)}")

    def _value(self, value: Any, reached: list[Any]) -> str:
        """A stable text of a module-level constant (the code it holds is queued, not printed;
        an instance of our own classes counts by its class: its state may be a cache)."""
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            return repr(value)
        if isinstance(value, (tuple, list)):
            return f"{type(value).__name__}({', '.join(self._value(v, reached) for v in value)})"
        if isinstance(value, (set, frozenset)):
            return f"{type(value).__name__}({', '.join(sorted(self._value(v, reached) for v in value))})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self._value(k, reached)}: {self._value(v, reached)}" for k, v in value.items()) + "}"
        code = _code_object(value)
        if code is not None:
            if self.ours(code):
                reached.append(code)
                return f"<{code.__qualname__}>"
            return f"{code.__module__}.{code.__qualname__}"
        if isinstance(value, types.ModuleType):
            return f"<module {value.__name__.rsplit('.', 1)[-1]}>"
        kind = type(value)
        if self.ours(kind):
            reached.append(kind)
            return f"<a {kind.__qualname__}>"
        if dataclasses.is_dataclass(value):
            fields = ", ".join(f"{f.name}={self._value(getattr(value, f.name), reached)}" for f in dataclasses.fields(value))
            return f"{kind.__qualname__}({fields})"
        if hasattr(value, "dtype") and hasattr(value, "tobytes"):  # an array
            return f"array({value.dtype}, {getattr(value, 'shape', '')}, {hashlib.sha256(value.tobytes()).hexdigest()})"
        text = repr(value)
        return f"{kind.__module__}.{kind.__qualname__}" if " at 0x" in text else text


_MISSING = object()


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _resolve(dotted: str, scope: dict[str, Any]) -> Any:
    head, *rest = dotted.split(".")
    value = scope.get(head, _MISSING)
    for part in rest:
        if not isinstance(value, types.ModuleType):
            return _MISSING
        value = getattr(value, part, _MISSING)
    return value


def _roots(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] not in _NOT_OURS]


@lru_cache(maxsize=None)
def _class_fingerprint(cls: type) -> str:
    roots = _roots(cls)
    walk = _Walk({c.__module__.split(".")[0] for c in roots})
    digest = hashlib.sha256()
    for part in walk.run(roots):
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


def upgraded(stored: str | None, kind: str, name: str, obj: Any) -> str | None:
    """The fingerprint ``stored`` stands for under today's scheme: itself when it is of today's
    scheme; for an old-scheme value, the new fingerprint of the same code when the recorded table
    or the old scheme applied to the code installed now says that code is unchanged; else
    ``stored`` itself (so it reads as stale)."""
    if stored is None or stored.startswith(PREFIX):
        return stored
    recorded = _legacy_table().get(f"{kind}:{name}", {}).get(stored)
    if recorded is not None:
        return recorded
    if legacy_fingerprint(type(obj)) == stored:
        return code_fingerprint(obj)
    return stored
