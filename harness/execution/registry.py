"""Plugin manager: loads the modules of the ``conceptbench`` entry-point group and collects what
their hooks register.

Built-ins (the entry points of the ``conceptbench`` distribution itself) are loaded the same way as
third-party plugins. A plugin that fails to import, implements a hook that does not exist (a typo
such as ``register_task``), raises in a hook, registers an object that breaks the contract, or
reuses a name is recorded as a one-line problem naming the plugin; the other plugins still load.

``CONCEPTBENCH_PLUGINS`` chooses the plugins — handy in tests and bug reports. Unset, every
installed plugin loads. Set, it is a comma list of entry-point or distribution names: the named
plugins load, and so do the built-ins unless the list holds ``-builtin`` (or ``nobuiltin``).
So ``mine`` and ``builtin,mine`` both mean the built-ins plus ``mine``; ``-builtin,mine`` means
``mine`` alone; ``-builtin,sin3`` the built-in ``sin3`` alone. A name that is no installed plugin
is a problem.

Suites may also be TOML files (:func:`harness.load_suite_toml`): a plugin's ``register_suites`` may
register a ``pathlib.Path`` to a suite file or a directory of them, and ``CONCEPTBENCH_SUITES``
(a path list, ``os.pathsep``-separated) names more files or directories, loaded after the plugins.
A file's suite whose name is taken is a clash like two plugins registering one name.
"""

from __future__ import annotations

import difflib
import os
import re
import weakref
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePath
from typing import Any, Callable

import pluggy

from harness.api import hookspecs
from harness.api.errors import BenchError, PluginError, one_line
from harness.api.learners import Learner, validate_learner
from harness.api.tasks import Task, validate_task
from harness.suites.suite import Suite, load_suite_toml, suite_files, validate_suite

GROUP = "conceptbench"
ENV_FILTER = "CONCEPTBENCH_PLUGINS"
ENV_SUITES = "CONCEPTBENCH_SUITES"
BUILTIN_DIST = "conceptbench"  # its entry points are the built-ins
# words in CONCEPTBENCH_PLUGINS: all built-ins; none of them but those named
ALL_BUILTINS, NO_BUILTINS = "builtin", ("-builtin", "nobuiltin")


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


def _norm(name: str) -> str:
    """A distribution name in its normalized form (PEP 503), so ``Mine_Dist`` matches ``mine-dist``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# (name, version) of each distribution object seen: ``Distribution.name`` and ``.version`` each
# parse its whole metadata file again (the editable install's PKG-INFO holds the README: ~2 ms a
# parse), and the 17 built-in entry points, which share one distribution object, asked ~37 times
# per registry load — 70 of the 97 ms a load took.
_DISTS: "weakref.WeakKeyDictionary[metadata.Distribution, tuple[str, str]]" = weakref.WeakKeyDictionary()


def _dist(ep: metadata.EntryPoint) -> tuple[str, str]:
    """The name and version of the entry point's distribution (empty strings if it has none)."""
    if ep.dist is None:
        return "", ""
    if ep.dist not in _DISTS:
        meta = ep.dist.metadata
        _DISTS[ep.dist] = (meta["Name"], meta["Version"])
    return _DISTS[ep.dist]


def _is_builtin(ep: metadata.EntryPoint) -> bool:
    return _norm(_dist(ep)[0]) == BUILTIN_DIST


def _named(ep: metadata.EntryPoint, names: set[str]) -> bool:
    return ep.name in names or (ep.dist is not None and _norm(_dist(ep)[0]) in {_norm(n) for n in names})


def _entry_points(problems: list[str]) -> list[metadata.EntryPoint]:
    """The entry points to load, each once, as ``CONCEPTBENCH_PLUGINS`` chooses (module docstring)."""
    # The same entry point may be visible twice (e.g. a stale egg-info beside an install).
    seen: set[tuple[str, str]] = set()
    eps: list[metadata.EntryPoint] = []
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        if (ep.name, ep.value) not in seen:
            seen.add((ep.name, ep.value))
            eps.append(ep)
    wanted = os.environ.get(ENV_FILTER)
    if wanted is None:
        return eps
    names = {w.strip() for w in wanted.split(",") if w.strip()}
    words = {ALL_BUILTINS, *NO_BUILTINS}
    if ALL_BUILTINS in names and names & set(NO_BUILTINS):
        problems.append(f"{ENV_FILTER} lists both '{ALL_BUILTINS}' and '{NO_BUILTINS[0]}'; keep one of them")
    for name in sorted(names - words):
        if not any(_named(ep, {name}) for ep in eps):
            choices = {ep.name for ep in eps} | {_dist(ep)[0] for ep in eps if ep.dist}
            hint = difflib.get_close_matches(name, sorted(choices | {ALL_BUILTINS, NO_BUILTINS[0]}), n=1)
            problems.append(f"{ENV_FILTER} names '{name}', which is not an installed plugin"
                            + (f" — did you mean '{hint[0]}'? Installed: " if hint else "; installed: ")
                            + _installed(eps))
    builtins = ALL_BUILTINS in names or not names & set(NO_BUILTINS)
    return [ep for ep in eps if _named(ep, names) or (builtins and _is_builtin(ep))]


def _installed(eps: list[metadata.EntryPoint]) -> str:
    """``builtin (arora, ...), mine (mine-dist)``: the names CONCEPTBENCH_PLUGINS accepts."""
    builtin = [ep.name for ep in eps if _is_builtin(ep)]
    others = [f"{ep.name} ({_dist(ep)[0]})" if ep.dist and _norm(_dist(ep)[0]) != _norm(ep.name) else ep.name
              for ep in eps if not _is_builtin(ep)]
    return ", ".join([f"{ALL_BUILTINS} ({', '.join(builtin)})"] * bool(builtin) + others) or "(none)"


def _drop_unknown_hooks(pm: pluggy.PluginManager, origins: dict[str, Origin], problems: list[str]) -> None:
    """Unregister every plugin that implements a hook with no spec (a typo such as ``register_task``,
    which pluggy would otherwise never call), recording a problem that names plugin and hook."""
    known = [name for name, caller in vars(pm.hook).items() if caller.has_spec()]
    while True:  # check_pending reports one offending plugin at a time
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            plugin = exc.plugin
        unknown = [caller.name for caller in pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
        hints = [m[0] for hook in unknown if (m := difflib.get_close_matches(hook, known, n=1))]
        msg = (f"plugin '{origins[pm.get_name(plugin)]}' implements unknown hook"
               f"{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
        msg += (f" — did you mean {', '.join(map(repr, hints))}?" if hints
                else f"; the hooks are {', '.join(known)}.")
        problems.append(msg + " The plugin was not loaded.")
        pm.unregister(plugin)


def load_registry() -> Registry:
    """Load the plugins and return what they registered (never raises for a broken plugin)."""
    reg = Registry()
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    origins: dict[str, Origin] = {}
    for ep in _entry_points(reg.problems):
        origin = Origin(ep.name, *_dist(ep))
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            reg.problems.append(f"plugin '{origin}' failed to load: {one_line(exc)}")
            continue
        origins[ep.name] = origin
    _drop_unknown_hooks(pm, origins, reg.problems)

    kinds: list[tuple[str, str, dict, Callable[[Any], None]]] = [
        ("task", "register_tasks", reg.tasks, validate_task),
        ("learner", "register_learners", reg.learners, validate_learner),
        ("suite", "register_suites", reg.suites, validate_suite),
    ]
    for kind, hook, table, validate in kinds:
        plugins = list(dict.fromkeys(impl.plugin for impl in getattr(pm.hook, hook).get_hookimpls()))
        for plugin in plugins:
            # One call of pm.hook.<hook> would stop at the first plugin that raises and not say
            # which; a subset caller holding only this plugin keeps pluggy's calling (arguments
            # matched to each implementation, wrappers) and pins a failure on its plugin.
            call = pm.subset_hook_caller(hook, remove_plugins=[p for p in plugins if p is not plugin])
            origin = origins[pm.get_name(plugin)]
            collected: list[Any] = []
            try:
                call(register=collected.append)
            except Exception as exc:
                reg.problems.append(f"plugin '{origin}' raised in {hook}: {one_line(exc)}")
                continue
            if kind == "suite":
                collected = _suite_paths(collected, origin, reg.problems)
            for obj in collected:
                try:
                    validate(obj)
                except Exception as exc:
                    reg.problems.append(f"plugin '{origin}' registered a bad {kind}: {one_line(exc)}")
                    continue
                _add(reg, kind, table, obj, origin)
    _env_suites(reg)
    return reg


def _suite_paths(collected: list[Any], origin: Origin, problems: list[str]) -> list[Any]:
    """``collected`` with each registered path replaced by the suites of its TOML files."""
    out: list[Any] = []
    for obj in collected:
        if not isinstance(obj, PurePath):
            out.append(obj)
            continue
        try:
            files = suite_files(Path(obj))
        except BenchError as exc:
            problems.append(f"plugin '{origin}' registered a bad suite: {exc}")
            continue
        for path in files:
            try:
                out.append(load_suite_toml(path))
            except BenchError as exc:
                problems.append(f"plugin '{origin}' registered a bad suite: {exc}")
    return out


def _env_suites(reg: Registry) -> None:
    """Add the suite files that ``CONCEPTBENCH_SUITES`` names (files or directories)."""
    for entry in filter(None, os.environ.get(ENV_SUITES, "").split(os.pathsep)):
        try:
            files = suite_files(entry)
        except BenchError as exc:
            reg.problems.append(f"{ENV_SUITES}: {exc}")
            continue
        for path in files:
            try:
                suite = load_suite_toml(path)
            except BenchError as exc:
                reg.problems.append(str(exc))
                continue
            name = suite.name
            if name in reg.suites or ("suite", name) in reg.clashes:
                first = reg.origins.get(("suite", name))
                other = f"plugin '{first}'" if first and first.dist else str(first or "another file")
                msg = (f"suite '{name}' in {path} has the name of a suite from {other}; rename one "
                       f"(name = \"...\" in the file)")
                reg.problems.append(msg)
                reg.clashes[("suite", name)] = msg
                reg.suites.pop(name, None)
                continue
            reg.suites[name] = suite
            reg.origins[("suite", name)] = Origin(str(path))


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
