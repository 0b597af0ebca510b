"""Fingerprints of the code that produced a result, recorded with every row so that a result
whose code has changed since is reported as stale instead of being shown as current.

joblib.Memory hashes a function's source to invalidate its cache; we do the same one level up.
A plugin's fingerprint covers the module that defines its class, the modules of its base classes,
and — transitively — every module of the same top-level package that those modules refer to
(``from . import arccos``, a base class imported from a sibling module), so a fix in a helper
module makes the learners using it stale too. The harness's own part is its version plus the
source of the functions that define the protocol (data draws, splits, selection, scoring): an
edit to the CLI or the leaderboards leaves results valid, an edit to the protocol does not.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import types
from functools import lru_cache
from importlib import metadata
from typing import Any


def _source(module: types.ModuleType) -> bytes:
    try:
        return inspect.getsource(module).encode()
    except (OSError, TypeError):  # no source on disk (a frozen or dynamically made module)
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
    """``<conceptbench version>+<hash of the protocol's source>``."""
    from . import cell, learners, search, tasks

    protocol = [cell._run, cell.split_indices, cell.test_metrics, learners.Learner.fit_select,
                learners.Selection, learners.score, search.edges, search._next, search.refine, tasks.training_set, tasks.fixed_test_set,
                tasks.corrupt_labels, tasks.zou_gu, tasks.task_rng, tasks.FiniteTask.sample]
    digest = hashlib.sha256()
    for fn in protocol:
        digest.update(inspect.getsource(fn).encode())
    try:
        version = metadata.version("conceptbench")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"{version}+{digest.hexdigest()[:8]}"
