"""Named benchmark suites: a fixed grid of tasks × learners × N × seeds, registered by plugins,
at one or more named scales, with the paper claims it tests (see :mod:`harness.suites.claims`)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.api.errors import BenchError
from harness.suites import toml
from harness.suites.grid import Grid, Variants

DEFAULT_SCALE = "small"
# The protocol options a suite may vary as conditions (axes of its grid), each value a separate
# set of cells: label noise (a fraction of random labels), additive Gaussian label noise (σ as a
# multiple of std y) and Zou & Gu's input map.
CONDITION_KEYS = ("label_noise", "label_sigma", "zou_gu_mu")


@dataclass(frozen=True)
class Scale:
    """One size of a suite, selected by ``bench run --suite NAME --scale SCALE``.

    A field left ``None`` keeps the suite's own value. ``tasks`` and ``learners`` are merged into
    the suite's overrides of the same name: a dict updates every variant of that task or learner,
    a list of dicts replaces its variants. ``note`` says what the scale costs (shown by
    ``bench suite list``), e.g. "≈ 4 min on 2 cores".
    """

    ns: tuple[int, ...] | None = None
    seeds: int | None = None
    n_test: int | None = None
    tasks: dict[str, Variants] = field(default_factory=dict)
    learners: dict[str, Variants] = field(default_factory=dict)
    note: str = ""
    conditions: dict[str, tuple[Any, ...]] | None = None  # None: the suite's own
    # another scale of the suite that runs this scale's curves at another width at some of its N:
    # this scale's verdict page sets the two side by side (seed 0), to show whether width moves
    # the claim's ordering (allen-zhu-fig1's paper-n and paper-n-width)
    width_check: str | None = None
    # what only this scale's pages need to say (e.g. why its width differs from the paper's): one
    # sentence each, printed after the suite's own caveats
    caveats: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suite:
    """A reproducible benchmark: ``bench run --suite NAME`` runs exactly this grid.

    ``tasks`` and ``learners`` map a registered name to parameter overrides (``{}`` for none),
    or to a list of them for several variants; learner overrides are candidate lists, as in
    :meth:`harness.Learner.with_params`. The fields themselves are the ``small`` scale unless
    ``scales`` names one; every other scale (e.g. ``paper``) overrides some of them (:class:`Scale`).
    ``conditions`` makes protocol options axes of the grid: ``{"label_sigma": (0.0, 0.1, 0.5)}``
    plans every cell once per value (several keys: their cartesian product; keys from
    :data:`CONDITION_KEYS`), pages show a section per condition and each claim is checked, and
    its verdict stated, per condition. ``claims`` are the paper's claims this grid tests
    (:class:`harness.Ordering`, :class:`harness.Slope`, :class:`harness.Beats`,
    :class:`harness.Threshold`); ``caveats`` are printed under the verdicts, one sentence each.
    """

    name: str
    description: str
    tasks: dict[str, Variants]
    learners: dict[str, Variants]
    ns: tuple[int, ...] = ()
    seeds: int = 3
    n_test: int = 5000
    val_fraction: float = 0.2
    label_noise: float = 0.0
    label_sigma: float = 0.0  # Gaussian label noise, a multiple of std y (regression tasks only)
    zou_gu_mu: float | None = None
    select_on: str = "validation"
    corrupt_test: bool = False  # label_noise corrupts the test labels too (Arora et al.'s protocol)
    conditions: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # protocol option → its values
    # also run every cell with selection on the test set (as Allen-Zhu et al. report) and show, per
    # curve, how much that flatters it; claims are checked on the suite's own selection only
    compare_selection: bool = False
    scales: dict[str, Scale] = field(default_factory=dict)
    claims: tuple[Any, ...] = ()
    caveats: tuple[str, ...] = ()
    # the paper's own curve names → the learner selectors they stand for, e.g. {"3layer":
    # "three_layer_sgd[train=hidden]"}: pages write claims and checks in these names, with the
    # mapping in a legend, and a claim may name a learner by one (resolved to its selector here)
    curves: dict[str, str] = field(default_factory=dict)
    # the scale whose grid answers the paper's question (e.g. "paper"); None: no scale does (the
    # suite is ours, or only smaller trials of the question exist). The index lists it first.
    paper_scale: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.curves, dict) and all(isinstance(v, str) for v in self.curves.values()):
            object.__setattr__(self, "claims", tuple(_with_selectors(c, self.curves) for c in self.claims))

    def caveats_at(self, scale: str = DEFAULT_SCALE) -> tuple[str, ...]:
        """The caveats a page of ``scale`` prints: the suite's, then the scale's own."""
        return (*self.caveats, *(self.scales[scale].caveats if scale in self.scales else ()))

    @property
    def scale_names(self) -> list[str]:
        """The scales, the default (``small``) first."""
        return [DEFAULT_SCALE, *sorted(s for s in self.scales if s != DEFAULT_SCALE)]

    def at(self, scale: str = DEFAULT_SCALE) -> Grid:
        """The grid at ``scale``; a ``KeyError`` for a scale the suite does not have."""
        if scale not in self.scale_names:
            raise KeyError(scale)
        s = self.scales.get(scale, Scale())
        return Grid(
            suite=self.name, scale=scale,
            tasks=_resolve(self.tasks, s.tasks), learners=_resolve(self.learners, s.learners),
            ns=tuple(self.ns if s.ns is None else s.ns), seeds=self.seeds if s.seeds is None else s.seeds,
            n_test=self.n_test if s.n_test is None else s.n_test, val_fraction=self.val_fraction,
            label_noise=self.label_noise, zou_gu_mu=self.zou_gu_mu, select_on=self.select_on,
            compare_selection=self.compare_selection, label_sigma=self.label_sigma,
            corrupt_test=self.corrupt_test, conditions=_conditions(self.conditions if s.conditions is None else s.conditions))


# A claim's fields that name learners: where a curve name may stand for its selector.
LEARNER_FIELDS = ("learner", "learners", "others")


def _with_selectors(claim: Any, curves: dict[str, str]) -> Any:
    """``claim`` with each learner it names by a curve name (a key of ``curves``) named by that
    curve's selector instead: checks and results are the selector's, whichever the suite wrote."""
    if not curves or not dataclasses.is_dataclass(claim):
        return claim
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(claim):
        value = getattr(claim, f.name, None)
        if f.name not in LEARNER_FIELDS or not f.init:
            continue
        if isinstance(value, str) and value in curves:
            changes[f.name] = curves[value]
        elif isinstance(value, tuple) and any(isinstance(v, str) and v in curves for v in value):
            changes[f.name] = tuple(curves.get(v, v) if isinstance(v, str) else v for v in value)
    return dataclasses.replace(claim, **changes) if changes else claim


def _conditions(spec: dict[str, tuple[Any, ...]]) -> tuple[dict[str, Any], ...]:
    """One dict per combination of the condition values, in declared order."""
    keys = list(spec)
    return tuple(dict(zip(keys, combo)) for combo in itertools.product(*(tuple(spec[k]) for k in keys)))


def _variants(spec: Variants) -> list[dict[str, Any]]:
    return [dict(v) for v in spec] if isinstance(spec, list) else [dict(spec)]


def _resolve(base: dict[str, Variants], scale: dict[str, Variants]) -> tuple[tuple[str, dict[str, Any]], ...]:
    out: list[tuple[str, dict[str, Any]]] = []
    for name, spec in base.items():
        variants = _variants(spec)
        if isinstance(scale.get(name), list):
            variants = _variants(scale[name])
        elif name in scale:
            variants = [{**v, **scale[name]} for v in variants]
        seen = set()  # two variants that end up equal are one (as a repeated --param value)
        for v in variants:
            key = json.dumps(v, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                out.append((name, v))
    return tuple(out)


def validate_suite(suite: object) -> None:
    """Raise ``ValueError`` saying how ``suite`` is malformed."""
    from harness.suites.claims import Claim

    if not isinstance(suite, Suite):
        raise ValueError(f"registered {type(suite).__name__}, which is not a harness.Suite")
    if not suite.tasks or not suite.learners:
        raise ValueError(f"suite '{suite.name}' needs at least one task and one learner")
    for scale, s in suite.scales.items():
        if not isinstance(s, Scale):
            raise ValueError(f"suite '{suite.name}': scale '{scale}' is a {type(s).__name__}, not a harness.Scale")
        for kind, given, known in (("task", s.tasks, suite.tasks), ("learner", s.learners, suite.learners)):
            unknown = sorted(set(given) - set(known))
            if unknown:
                raise ValueError(f"suite '{suite.name}': scale '{scale}' overrides {kind}(s) "
                                 f"{', '.join(unknown)}, which the suite does not run")
    for where, spec in [("", suite.conditions), *((f" at scale '{k}'", v.conditions) for k, v in suite.scales.items()
                                                  if v.conditions is not None)]:
        _check_conditions(suite, where, spec)
    _check_curves(suite)
    for scale, s in suite.scales.items():
        if s.width_check is not None and s.width_check not in suite.scale_names:
            raise ValueError(f"suite '{suite.name}': scale '{scale}' has width_check {s.width_check!r}, which is not "
                             f"one of its scales ({', '.join(suite.scale_names)})")
    if suite.paper_scale is not None and suite.paper_scale not in suite.scale_names:
        raise ValueError(f"suite '{suite.name}': paper_scale {suite.paper_scale!r} is not one of its scales; "
                         f"write one of {', '.join(repr(s) for s in suite.scale_names)}, or leave it out (None)")
    for scale in suite.scale_names:
        grid = suite.at(scale)
        if not grid.ns:
            raise ValueError(f"suite '{suite.name}' has no N at scale '{scale}'")
        if any(not isinstance(n, int) or n <= 0 for n in grid.ns) or not isinstance(grid.seeds, int) or grid.seeds <= 0:
            raise ValueError(f"suite '{suite.name}' has an N or seed count that is not a positive integer "
                             f"at scale '{scale}'")
        for claim in suite.claims:
            if not isinstance(claim, Claim):
                raise ValueError(f"suite '{suite.name}': claim {claim!r} is not a harness claim "
                                 f"(Ordering, Beats, Slope, Threshold)")
            claim.check(grid)


# --- suites as TOML files ------------------------------------------------------------------------

# A suite file's keys: the Suite's fields. ``tasks``/``learners`` hold [NAME] tables (one variant)
# or [[NAME]] arrays of tables (several); a task's table holds values, a learner's candidate lists.
def _suite_schema() -> dict[str, Any]:
    return {"name": toml.string, "description": toml.string, "tasks": None, "learners": None, "ns": toml.sizes,
            "seeds": toml.positive_int, "n_test": toml.positive_int, "val_fraction": toml.number, "label_noise": toml.number,
            "zou_gu_mu": toml.number, "select_on": toml.choice("validation", "test"), "compare_selection": toml.boolean,
            "label_sigma": toml.number, "corrupt_test": toml.boolean, "conditions": _conditions_table,
            "scales": None, "claims": None, "caveats": toml.strings, "curves": _curves_table,
            "paper_scale": toml.string}


def _curves_table(value: Any, src: Any, path: tuple) -> dict[str, str]:
    """``[curves]`` with ``"3layer" = "three_layer_sgd[train=hidden]"``: the paper's curve names
    (checked against the learners by validate_suite once the Suite is built)."""
    toml.table(value, src, path, '[curves] with "3layer" = "three_layer_sgd[train=hidden]"')
    return {k: toml.string(v, src, path + (k,)) for k, v in value.items()}


def _conditions_table(value: Any, src: Any, path: tuple) -> dict[str, tuple[Any, ...]]:
    """``[conditions]`` with ``OPTION = [values]``: the protocol options a suite varies (checked,
    values and all, by validate_suite once the Suite is built)."""
    toml.table(value, src, path, "[conditions] with label_sigma = [0.0, 0.1]")
    return {k: tuple(toml.param_values(v, src, path + (k,))) for k, v in value.items()}


SCALE_KEYS = ("ns", "seeds", "n_test", "tasks", "learners", "note", "conditions", "width_check", "caveats")
REQUIRED = ("name", "description", "tasks", "learners", "ns")


def _entries(value: Any, src: Any, path: tuple, kind: str) -> dict[str, Variants]:
    """A suite's (or scale's) ``tasks`` or ``learners``: name → one table of overrides, or a list
    of them (variants). A learner's single value is a one-candidate list, as in ``width = 128``."""
    key = path[-1]
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and value:
        return {name: {} for name in value}  # names alone, no overrides
    toml.table(value, src, path, f"[{key}.NAME] with one KEY = VALUE line per parameter, or a list of names")
    out: dict[str, Variants] = {}

    def variant(spec: Any, where: tuple) -> dict[str, Any]:
        toml.table(spec, src, where, f"[{dotted_name(where)}] with one KEY = VALUE line per parameter")
        if kind == "learner":
            return {p: toml.param_values(v, src, where + (p,)) for p, v in spec.items()}
        for p, v in spec.items():
            if not toml.is_plain(v):
                raise src.error(where + (p,), f"{toml.dotted(where + (p,))} must be a value (string, number, boolean "
                                              f"or list), got {toml.describe(v)}")
        return dict(spec)

    for name, spec in value.items():
        if isinstance(spec, list):
            if not spec:
                raise src.error(path + (name,), f"{toml.dotted(path + (name,))} = [] has no variant; write "
                                                f"[[{dotted_name(path + (name,))}]] tables, one per variant")
            out[name] = [variant(s, path + (name, i)) for i, s in enumerate(spec)]
        else:
            out[name] = variant(spec, path + (name,))
    return out


def dotted_name(path: tuple) -> str:
    """A table's name in a header: the path without array indexes."""
    return toml.dotted(tuple(p for p in path if not isinstance(p, int)))


def claim_kinds() -> dict[str, type]:
    """Every claim class by its suite-file ``kind``: the class name in snake case (``Ordering`` →
    ``ordering``, ``WidthNeeded`` → ``width_needed``), for harness.Claim's subclasses defined so far
    (a plugin's own claim types too, once imported)."""
    from harness.suites import sweeps  # noqa: F401  (its claim types are Claim's subclasses too)
    from harness.suites.claims import Claim

    kinds: dict[str, type] = {}
    todo = list(Claim.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not getattr(cls, "__abstractmethods__", None):
            kinds[re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()] = cls
    return kinds


def _claim_fields(cls: type) -> dict[str, Any]:
    """A claim class's keys in a suite file and the checker of each, read off its dataclass
    fields: the claims declare their own arguments, so a new claim type needs no code here."""
    hints = typing.get_type_hints(cls)
    checks: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = str(hints[f.name])
        if f.name == "conditions":
            checks[f.name] = lambda v, src, path: dict(toml.table(v, src, path, "conditions = { label_noise = 0.2 }"))
        elif "tuple" in hint:
            checks[f.name] = toml.strings
        elif "float" in hint or "int" in hint:
            checks[f.name] = toml.number
        elif "bool" in hint:
            checks[f.name] = toml.boolean
        else:
            checks[f.name] = toml.string
    return checks


def _claim(spec: Any, src: Any, path: tuple) -> Any:
    kinds = claim_kinds()
    names = " or ".join(f'"{k}"' for k in sorted(kinds))
    toml.table(spec, src, path, f"[[claims]] with kind = {names}")
    kind = spec.get("kind")
    if kind not in kinds:
        raise src.error(path + (("kind",) if "kind" in spec else ()),
                        f"{toml.dotted(path)} needs kind = {names}, got "
                        + (toml.describe(kind) if "kind" in spec else "no kind"))
    cls = kinds[kind]
    checks = _claim_fields(cls)
    toml.check_keys(src, path, spec, dict.fromkeys(("kind", *checks)), f" in {'an' if kind[0] in 'aeiou' else 'a'} {kind} claim")
    for key in ("text", "source"):
        if key not in spec:
            raise src.error(path, f"{toml.dotted(path)} needs {key} = \"...\" (the claim in words, and where the "
                                  f"paper makes it)")
    args = {k: checks[k](v, src, path + (k,)) for k, v in spec.items() if k != "kind"}
    try:
        return cls(**args)
    except TypeError as exc:  # a required argument missing: name it as the file would
        missing = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in args
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        raise src.error(path, f"{toml.dotted(path)}: {'an' if kind[0] in 'aeiou' else 'a'} {kind} claim needs "
                              + ", ".join(f"{k} = ..." for k in missing) if missing else str(exc)) from None
    except ValueError as exc:
        raise src.error(path, f"{toml.dotted(path)}: {exc}") from None


def suite_from_toml(src: Any) -> Suite:
    """The :class:`Suite` a parsed suite file (:class:`harness.suites.toml.TomlFile`) declares."""
    data, schema = src.data, _suite_schema()
    toml.check_keys(src, (), data, schema, " in a suite file")
    for key in REQUIRED:
        if key not in data:
            raise BenchError(f"{src.name}: a suite file needs {key} = ... (it has {', '.join(data) or 'no key'})")
    args: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("tasks", "learners"):
            args[key] = _entries(value, src, (key,), key[:-1])
        elif key == "scales":
            args[key] = {}
            for name, spec in toml.table(value, src, (key,), "[scales.paper] with ns = [...], note = \"...\"").items():
                where = (key, name)
                toml.table(spec, src, where, f"[scales.{toml.toml_key(name)}] with ns = [...], note = \"...\"")
                toml.check_keys(src, where, spec, dict.fromkeys(SCALE_KEYS), f" in [scales.{name}]")
                fields = {k: schema[k](v, src, where + (k,)) for k, v in spec.items() if k in ("ns", "seeds", "n_test")}
                fields.update({k: _entries(v, src, where + (k,), k[:-1]) for k, v in spec.items()
                               if k in ("tasks", "learners")})
                for k in ("note", "width_check"):
                    if k in spec:
                        fields[k] = toml.string(spec[k], src, where + (k,))
                if "caveats" in spec:
                    fields["caveats"] = toml.strings(spec["caveats"], src, where + ("caveats",))
                if "conditions" in spec:
                    fields["conditions"] = _conditions_table(spec["conditions"], src, where + ("conditions",))
                args[key][name] = Scale(**fields)
        elif key == "claims":
            if not isinstance(value, list):
                raise src.error((key,), f"claims must be [[claims]] tables, got {toml.describe(value)}")
            args[key] = tuple(_claim(spec, src, (key, i)) for i, spec in enumerate(value))
        else:
            args[key] = schema[key](value, src, (key,))
    suite = Suite(**args)
    try:
        validate_suite(suite)
    except ValueError as exc:
        raise BenchError(f"{src.name}: {exc}") from None
    return suite


def load_suite_toml(path: str | Path) -> Suite:
    """Read a suite file (TOML; its format is in docs/suites.md, "Runs as files", and
    ``bench suite show NAME`` prints any suite in it). Every problem is one :class:`BenchError`
    line naming the file and the line of the key."""
    return suite_from_toml(toml.TomlFile.read(path, "suite file"))


def suite_files(path: str | Path) -> list[Path]:
    """The suite files at ``path``: the file itself, or a directory's ``*.toml`` files by name."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.glob("*.toml") if p.is_file())
    if path.is_file():
        return [path]
    raise BenchError(f"no suite file or directory at {path}; check the path")


def _overrides(spec: Variants) -> Variants:
    plain = lambda v: [plain(x) for x in v] if isinstance(v, (list, tuple)) else v  # noqa: E731 (tuples → lists)
    if isinstance(spec, list):
        return [{k: plain(v) for k, v in s.items()} for s in spec]
    return {k: plain(v) for k, v in spec.items()}


def suite_to_toml(suite: Suite) -> str:
    """``suite`` as a suite file: :func:`load_suite_toml` of it gives back an equal Suite."""
    kinds = {cls: kind for kind, cls in claim_kinds().items()}
    claims = []
    for claim in suite.claims:
        if type(claim) not in kinds:
            raise BenchError(f"suite '{suite.name}': a {type(claim).__name__} claim has no TOML form "
                             f"(it is not a dataclass subclass of harness's Claim)")
        spec: dict[str, Any] = {"kind": kinds[type(claim)]}
        for f in dataclasses.fields(claim):
            if f.init:
                value = getattr(claim, f.name)
                spec[f.name] = (dict(value) or None) if f.name == "conditions" else \
                    list(value) if isinstance(value, tuple) else value
        claims.append(spec)
    scales = {name: {"ns": None if s.ns is None else list(s.ns), "seeds": s.seeds, "n_test": s.n_test,
                     "note": s.note or None, "width_check": s.width_check, "caveats": list(s.caveats) or None,
                     "conditions": None if s.conditions is None else {k: list(v) for k, v in s.conditions.items()},
                     "tasks": {k: _overrides(v) for k, v in s.tasks.items()} or None,
                     "learners": {k: _overrides(v) for k, v in s.learners.items()} or None}
              for name, s in suite.scales.items()}
    doc = {"name": suite.name, "description": suite.description, "ns": list(suite.ns), "seeds": suite.seeds,
           "n_test": suite.n_test, "val_fraction": suite.val_fraction, "label_noise": suite.label_noise,
           "zou_gu_mu": suite.zou_gu_mu, "select_on": suite.select_on, "compare_selection": suite.compare_selection,
           "label_sigma": suite.label_sigma, "corrupt_test": suite.corrupt_test or None, "conditions": {k: list(v) for k, v in suite.conditions.items()} or None,
           "caveats": list(suite.caveats) or None,
           "tasks": {k: _overrides(v) for k, v in suite.tasks.items()},
           "learners": {k: _overrides(v) for k, v in suite.learners.items()},
           "scales": scales or None, "claims": claims or None,
           "curves": dict(suite.curves) or None, "paper_scale": suite.paper_scale}
    return toml.dumps(doc)


def _check_curves(suite: Suite) -> None:
    """Raise ``ValueError`` unless ``curves`` maps distinct, non-empty names to distinct selectors,
    each naming at least one learner variant at every scale, and no name is a learner's own name
    (a page could not tell the two apart)."""
    from harness.suites.claims import _grid_matches, parse_ref

    example = "e.g. {'3layer': 'three_layer_sgd[train=hidden]'}"
    if not isinstance(suite.curves, dict):
        raise ValueError(f"suite '{suite.name}': curves must be a dict of curve name → learner selector, {example}")
    for name, selector in suite.curves.items():
        if not isinstance(name, str) or not name.strip() or not isinstance(selector, str) or not selector.strip():
            raise ValueError(f"suite '{suite.name}': curve {name!r} → {selector!r}: a curve is a non-empty name "
                             f"and a learner selector (NAME or NAME[key=value,...]), {example}")
        if name in suite.learners:
            raise ValueError(f"suite '{suite.name}': curve name {name!r} is also a learner's name; "
                             f"give the curve the paper's own name for it, e.g. '3layer'")
        parse_ref(selector)
    twice = sorted({s for s in suite.curves.values() if list(suite.curves.values()).count(s) > 1})
    if twice:
        raise ValueError(f"suite '{suite.name}': curves name selector {twice[0]!r} more than once; give each "
                         f"curve its own learner variant")
    for scale in suite.scale_names:
        grid = suite.at(scale)
        for name, selector in suite.curves.items():
            if not _grid_matches(selector, grid):
                raise ValueError(f"suite '{suite.name}': curve {name!r} → {selector!r} names no learner the suite "
                                 f"runs at scale '{scale}' (it runs: {', '.join(grid.labels)})")


def _check_conditions(suite: Suite, where: str, spec: object) -> None:
    """Raise ``ValueError`` for conditions that are not protocol options with a non-empty list of
    valid values, or that a suite also fixes as a plain field."""
    from harness.api.errors import BenchError
    from harness.protocol.cell import Protocol

    if not isinstance(spec, dict):
        raise ValueError(f"suite '{suite.name}': conditions{where} must be a dict of option → values, "
                         f"e.g. {{'label_sigma': (0.0, 0.1)}}")
    for key, values in spec.items():
        if key not in CONDITION_KEYS:
            raise ValueError(f"suite '{suite.name}': condition {key!r}{where} is not a protocol option a suite can "
                             f"vary; use one of {', '.join(CONDITION_KEYS)} (a task parameter is a task variant, "
                             f"a learner's width or epochs a learner variant)")
        if not isinstance(values, (tuple, list)) or not values or len(set(map(repr, values))) != len(values):
            raise ValueError(f"suite '{suite.name}': condition {key!r}{where} needs a tuple of distinct values, "
                             f"got {values!r}")
        if getattr(suite, key) not in (0.0, None):
            raise ValueError(f"suite '{suite.name}' sets {key} both as a field and as a condition; give its "
                             f"values in conditions only")
        for value in values:
            try:
                Protocol(**{key: value}).check()
            except BenchError as exc:
                raise ValueError(f"suite '{suite.name}': condition {key}={value!r}{where}: {exc}") from None
