"""Plugin manager: loads every module of the ``conceptbench`` entry-point group and collects
what their hooks register.

Built-ins are loaded the same way as third-party plugins. A plugin that fails to import, raises in
a hook, registers an object that breaks the contract, or reuses a name is recorded as a one-line
problem naming the plugin; the other plugins still load. ``CONCEPTBENCH_PLUGINS`` (a comma list of
entry-point or distribution names) limits which plugins load — handy in tests and bug reports.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from . import hookspecs
from .errors import BenchError, PluginError, one_line
from .learners import Learner, validate_learner
from .suites import Suite, validate_suite
from .tasks import Task, validate_task

GROUP = "conceptbench"
ENV_FILTER = "CONCEPTBENCH_PLUGINS"


@dataclass(frozen=True)
class Origin:
    """Where a registered object comes from: entry-point name and its distribution."""

    plugin: str
    dist: str = ""
    version: str = ""

    def __str__(self) -> str:
        return f"{self.plugin} ({self.dist} {self.version})" if self.dist else self.plugin


@dataclass
class Registry:
    """Everything the plugins registered, by kind and name, plus the problems met on the way."""

    tasks: dict[str, Task] = field(default_factory=dict)
    learners: dict[str, Learner] = field(default_factory=dict)
    suites: dict[str, Suite] = field(default_factory=dict)
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # names registered by two plugins: unusable until one is removed
    clashes: dict[tuple[str, str], str] = field(default_factory=dict)

    def origin(self, kind: str, name: str) -> Origin:
        return self.origins[(kind, name)]

    def get(self, kind: str, name: str) -> Any:
        """Look up a task/learner/suite by name, or raise a one-line error with a suggestion."""
        table = {"task": self.tasks, "learner": self.learners, "suite": self.suites}[kind]
        if name in table:
            return table[name]
        if (kind, name) in self.clashes:
            raise PluginError(self.clashes[(kind, name)])
        hint = difflib.get_close_matches(name, list(table), n=1)
        msg = f"unknown {kind} '{name}'"
        msg += f" — did you mean '{hint[0]}'?" if hint else ""
        msg += f" Known {kind}s: {', '.join(sorted(table)) or '(none)'} (see `bench list`)."
        if self.problems:
            msg += f" Note: {len(self.problems)} plugin problem(s) — run `bench list`."
        raise BenchError(msg)


def _entry_points() -> list[metadata.EntryPoint]:
    eps = metadata.entry_points(group=GROUP)
    wanted = os.environ.get(ENV_FILTER)
    if wanted is not None:
        names = {w.strip() for w in wanted.split(",") if w.strip()}
        eps = [ep for ep in eps if ep.name in names or (ep.dist and ep.dist.name in names)]
    # The same entry point may be visible twice (e.g. a stale egg-info beside an install).
    seen, unique = set(), []
    for ep in sorted(eps, key=lambda e: e.name):
        if (ep.name, ep.value) not in seen:
            seen.add((ep.name, ep.value))
            unique.append(ep)
    return unique


def load_registry() -> Registry:
    """Load all plugins and return what they registered (never raises for a broken plugin)."""
    reg = Registry()
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    origins: dict[str, Origin] = {}
    for ep in _entry_points():
        origin = Origin(ep.name, ep.dist.name if ep.dist else "", ep.dist.version if ep.dist else "")
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            reg.problems.append(f"plugin '{origin}' failed to load: {one_line(exc)}")
            continue
        origins[ep.name] = origin

    kinds: list[tuple[str, str, dict, Callable[[Any], None]]] = [
        ("task", "register_tasks", reg.tasks, validate_task),
        ("learner", "register_learners", reg.learners, validate_learner),
        ("suite", "register_suites", reg.suites, validate_suite),
    ]
    for kind, hook, table, validate in kinds:
        # Call each implementation on its own so a failure is pinned on its plugin.
        for impl in getattr(pm.hook, hook).get_hookimpls():
            origin = origins[impl.plugin_name]
            collected: list[Any] = []
            try:
                impl.function(register=collected.append)
            except Exception as exc:
                reg.problems.append(f"plugin '{origin}' raised in {hook}: {one_line(exc)}")
                continue
            for obj in collected:
                try:
                    validate(obj)
                except Exception as exc:
                    reg.problems.append(f"plugin '{origin}' registered a bad {kind}: {one_line(exc)}")
                    continue
                _add(reg, kind, table, obj, origin)
    return reg


def _add(reg: Registry, kind: str, table: dict, obj: Any, origin: Origin) -> None:
    name = obj.name
    if (kind, name) in reg.clashes:
        return
    if name in table:
        first = reg.origins[(kind, name)]
        msg = (f"{kind} '{name}' is registered by both plugin '{first}' and plugin '{origin}'; "
               f"uninstall one, or choose with {ENV_FILTER}=...")
        reg.problems.append(msg)
        reg.clashes[(kind, name)] = msg
        del table[name]
        return
    table[name] = obj
    reg.origins[(kind, name)] = origin
