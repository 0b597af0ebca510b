"""Run files (``bench run --config FILE``): a grid of tasks, learners and options in TOML."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.api.errors import BenchError
from harness.suites.toml import RUN_KEYS, TomlFile, check_keys, describe, param_values, table, toml_key

OBJECT_KEYS = ("tasks", "learners")

# What a suite fixes: with ``suite = ...`` these keys would change its grid (the CLI refuses the
# matching options with --suite for the same reason).
GRID_KEYS = ("tasks", "learners", "seeds", "n_test", "val_fraction", "label_noise", "label_sigma",
             "zou_gu_mu", "corrupt_test", "select_on", "preset")


@dataclass
class RunConfig:
    """A run file: ``options`` by key (tasks and learners as name tuples), ``params`` the
    per-object parameter values by (kind, name), as ``--param NAME.KEY=V1,V2`` would give them."""

    source: TomlFile
    options: dict[str, Any]
    params: dict[tuple[str, str], dict[str, list[Any]]]

    def check(self, registry: Any) -> None:
        """Refuse, with the key's line, a task or learner that is not registered and a parameter
        the named object does not have."""
        for key in OBJECT_KEYS:
            kind = key[:-1]
            for name in self.options.get(key, ()):
                if name == "all":
                    continue
                path = (key, name) if (key, name) in self.source.lines else (key,)  # [learners.NAME] or the list
                try:
                    obj = registry.get(kind, name)
                except BenchError as exc:
                    raise self.source.error(path, str(exc)) from None
                known = dict(obj.params) if kind == "task" else {**obj.parameters, **obj.renamed}
                for param in self.params.get((kind, name), {}):
                    where = path + (param,)
                    if kind == "learner" and param in obj.renamed:
                        raise self.source.error(where, f"learner '{name}': {obj.renamed[param]}")
                    if param not in known:
                        hint = difflib.get_close_matches(param, list(known), n=1)
                        raise self.source.error(
                            where, f"{kind} '{name}' has no parameter '{param}'"
                            + (f" — did you mean '{hint[0]}'?" if hint else "")
                            + f" (its parameters: {', '.join(sorted(known)) or 'none'})")


def _objects(value: Any, src: TomlFile, key: str) -> tuple[tuple[str, ...], dict[str, dict[str, list[Any]]]]:
    """``tasks``/``learners``: a list of names, or a table of tables of parameter values."""
    example = f'{key} = ["{"sin3" if key == "tasks" else "kernel_ridge"}"], or [{key}.NAME] tables of parameters'
    if isinstance(value, list):
        if not value or not all(isinstance(v, str) for v in value):
            got = "an empty list" if not value else "a list holding " + describe(
                next(v for v in value if not isinstance(v, str)))
            raise src.error((key,), f"{key} must name at least one {key[:-1]}, got {got}; write {example}")
        return tuple(value), {}
    if not isinstance(value, dict) or not value:
        raise src.error((key,), f"{key} must be a list of names or tables of parameters, got "
                                f"{'an empty table' if value == {} else describe(value)}; write {example}")
    params = {}
    for name, spec in value.items():
        if name == "all":
            raise src.error((key, name), f"'all' takes no parameters; write {key} = [\"all\"]")
        table(spec, src, (key, name), f"[{key}.{toml_key(name)}] with one KEY = VALUE line per parameter")
        params[name] = {p: param_values(v, src, (key, name, p)) for p, v in spec.items()}
    return tuple(value), params


def load_run(path: str | Path) -> RunConfig:
    """Read and check a run file (keys and types; names are checked by :meth:`RunConfig.check`)."""
    src = TomlFile.read(path, "run file")
    options: dict[str, Any] = {}
    params: dict[tuple[str, str], dict[str, list[Any]]] = {}
    check_keys(src, (), src.data, {**RUN_KEYS, **dict.fromkeys(OBJECT_KEYS)})
    for key, value in src.data.items():
        if key in OBJECT_KEYS:
            names, given = _objects(value, src, key)
            options[key] = names
            params.update({(key[:-1], name): p for name, p in given.items() if p})
        else:
            options[key] = RUN_KEYS[key](value, src, (key,))
    if "suite" in options:
        changed = next((k for k in src.data if k in GRID_KEYS), None)
        if changed:
            raise src.error((changed,), f"{changed} would change the grid of suite '{options['suite']}'; a suite "
                                        f"runs as declared at one of its scales (scale = ...): drop {changed}, or "
                                        f"drop suite and give tasks and learners")
    elif "scale" in options:
        raise src.error(("scale",), "scale chooses a suite's scale; give suite = NAME too (see `bench suite list`)")
    else:  # --task and --learner are refused with --config, so the file must say what to run
        missing = [key for key in OBJECT_KEYS if key not in options]
        if missing:
            raise BenchError(f"{src.name} does not say what to run: it has no {' and no '.join(missing)}; write "
                             f"tasks = [\"sin3\"] and learners = [\"kernel_ridge\"] (or [tasks.NAME] tables), "
                             f"or suite = \"quick\"")
    return RunConfig(src, options, params)
