"""Named benchmark suites: a fixed grid of tasks × learners × N × seeds, registered by plugins,
at one or more named scales, with the paper claims it tests (see :mod:`harness.verdict`)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SCALE = "small"
# The protocol options a suite may vary as conditions (axes of its grid), each value a separate
# set of cells: label noise (a fraction of random labels), additive Gaussian label noise (σ as a
# multiple of std y) and Zou & Gu's input map.
CONDITION_KEYS = ("label_noise", "label_sigma", "zou_gu_mu")

# A task's (or learner's) entry in a suite: one dict of overrides, or a list of them for several
# variants of the same task (a parameter sweep) or learner (e.g. a width sweep).
Variants = dict[str, Any] | list[dict[str, Any]]


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


@dataclass(frozen=True)
class Grid:
    """A suite resolved at one scale: exactly the cells ``bench run --suite`` plans."""

    suite: str
    scale: str
    tasks: tuple[tuple[str, dict[str, Any]], ...]  # (task name, parameter overrides), one per variant
    learners: tuple[tuple[str, dict[str, list[Any]]], ...]  # (learner name, candidate-list overrides)
    ns: tuple[int, ...]
    seeds: int
    n_test: int
    val_fraction: float
    label_noise: float
    zou_gu_mu: float | None
    select_on: str
    compare_selection: bool = False
    label_sigma: float = 0.0
    # one dict of protocol options per condition (the cartesian product of the suite's
    # ``conditions``); ({},) when the suite varies none
    conditions: tuple[dict[str, Any], ...] = ({},)

    def protocol_options(self) -> list[dict[str, Any]]:
        """The protocol options of each condition: the grid's own, with the condition's on top."""
        base = {"n_test": self.n_test, "val_fraction": self.val_fraction, "label_noise": self.label_noise,
                "label_sigma": self.label_sigma, "zou_gu_mu": self.zou_gu_mu, "select_on": self.select_on}
        return [{**base, **c} for c in self.conditions]


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
    conditions: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # protocol option → its values
    # also run every cell with selection on the test set (as Allen-Zhu et al. report) and show, per
    # curve, how much that flatters it; claims are checked on the suite's own selection only
    compare_selection: bool = False
    scales: dict[str, Scale] = field(default_factory=dict)
    claims: tuple[Any, ...] = ()
    caveats: tuple[str, ...] = ()

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
            conditions=_conditions(self.conditions if s.conditions is None else s.conditions))


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
    from .verdict import Claim  # verdict imports nothing from here at import time; no cycle

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


def _check_conditions(suite: Suite, where: str, spec: object) -> None:
    """Raise ``ValueError`` for conditions that are not protocol options with a non-empty list of
    valid values, or that a suite also fixes as a plain field."""
    from .cell import Protocol
    from .errors import BenchError

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
