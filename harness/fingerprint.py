"""Fingerprints of the code that produced a result, recorded with every row so that a result
whose code has changed since is reported as stale instead of being shown as current.

joblib.Memory hashes a function's source to invalidate its cache; we do the same one level up,
on the code's AST (comments and docstrings do not count). A plugin's fingerprint covers the module
that defines its class, the modules of its base classes,
and — transitively — every module of the same top-level package that those modules refer to
(``from . import arccos``, a base class imported from a sibling module), so a fix in a helper
module makes the learners using it stale too. The harness's own part is the code of the
functions that define the protocol (data draws, splits, selection, scoring): an
edit to the CLI or the leaderboards leaves results valid, an edit to the protocol does not.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
import types
from functools import lru_cache
from typing import Any


_SHOW_EMPTY = {"show_empty": True} if sys.version_info >= (3, 13) else {}


def _normalised(source: str) -> bytes:
    """The code of ``source`` without comments, docstrings or layout (its AST), so that fixing a
    comment or a docstring leaves results current."""
    tree = ast.parse(textwrap.dedent(source))
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
    return ast.dump(tree, **_SHOW_EMPTY).encode()


def _source(module: types.ModuleType) -> bytes:
    try:
        return _normalised(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):  # no source on disk (a frozen or dynamically made module)
        return repr(sorted(vars(module))).encode()


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


@lru_cache(maxsize=None)
def _class_fingerprint(cls: type) -> str:
    roots = [sys.modules[c.__module__] for c in cls.__mro__
             if c.__module__ in sys.modules and c.__module__.split(".")[0] not in ("harness", "builtins", "abc")]
    digest = hashlib.sha256()
    for module in _package_modules(roots):
        digest.update(module.__name__.encode() + b"\0" + _source(module) + b"\0")
    return digest.hexdigest()[:16]


def code_fingerprint(obj: Any) -> str:
    """A short hash of the plugin source behind ``obj`` (a task or learner instance)."""
    return _class_fingerprint(type(obj))


@lru_cache(maxsize=1)
def harness_fingerprint() -> str:
    """``protocol+<hash>`` of the protocol functions' code. Not the package version: a release that
    changes only the CLI or the pages leaves results current."""
    from . import cell, learners, search, tasks

    protocol = [cell._run, cell.exploded, cell._rng_and_grid, cell._select_on_test, cell.split_indices,
                cell.test_metrics,
                learners.Learner.fit_select, learners.Learner.param_grid, learners.Learner.grid_spec.fget,
                learners.canonical, learners.Selection, learners._refit, learners.score, search.edges,
                search._next, search.refine, tasks.training_set, tasks.fixed_test_set, tasks._finite_split,
                tasks.corrupt_labels, tasks.gaussian_label_noise, tasks.label_scale, tasks.zou_gu, tasks.task_rng,
                tasks.stable_int, tasks.checked_sample, tasks.checked_sample_arrays, tasks.FiniteTask.sample]
    digest = hashlib.sha256()
    for fn in protocol:
        digest.update(_normalised(inspect.getsource(fn)))
    return f"protocol+{digest.hexdigest()[:8]}"
