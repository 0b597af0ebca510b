"""Every plot of the project: log-log learning curves, one stable style per learner label.

A plot shows, per learner, the mean test metric over seeds at each tested N with a band of ± one
standard deviation over seeds — exactly the numbers of the leaderboard's table (``np.std``, as
:func:`harness.reporting.leaderboard.table` shows them). Both axes are logarithmic, the x ticks sit at the
tested N. A zero (a perfect score) has no place on a log axis, so it is drawn at a marked floor,
1/n_test (lowered below the smallest positive mean if one lies under it); for relative MSE a line
at 1 marks the mean predictor. The legend sits outside the axes, the image is saved at
:data:`DPI` with a tight bounding box, so neither the legend nor the title is ever cut.

matplotlib is imported inside the functions that draw: `bench --help` must not pay its import.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # only for annotations: leaderboard imports this module
    from matplotlib.figure import Figure

    from harness.reporting.curves import Variant

DPI = 150
BAND = "band: ± std over seeds"
METRIC_TITLES = {"rel_mse": "relative test MSE (MSE / Var y)", "error": "test 0-1 error"}
MEAN_PREDICTOR = "mean predictor (relative MSE 1)"


@dataclass(frozen=True)
class Style:
    """How one learner label is drawn: the same in every plot of the project."""

    color: str  # "#rrggbb"
    marker: str
    linestyle: Any = "-"


# The built-in learners are the curves of the papers' figures; they get hand-picked entries so that
# the five curves of Allen-Zhu et al.'s Fig. 1 are told apart at a glance: colour families per
# network (3-layer blues, 2-layer oranges/reds, NTKs greens), the marker says what is trained
# (o all, s hidden, ^ last). Keyed by (learner name, value of its `train` parameter or None).
FIXED: dict[tuple[str, str | None], Style] = {
    ("three_layer_sgd", "all"): Style("#1f77b4", "o"),
    ("three_layer_sgd", "hidden"): Style("#17becf", "s"),
    ("three_layer_sgd", "last"): Style("#6baed6", "^"),
    ("two_layer_sgd", "all"): Style("#ff7f0e", "o"),
    ("two_layer_sgd", "hidden"): Style("#d62728", "s"),
    ("two_layer_sgd", "last"): Style("#e6ab02", "^"),
    ("three_layer_ntk", None): Style("#2ca02c", "D"),
    ("two_layer_ntk", None): Style("#006d2c", "d"),
    ("three_layer_alg1", None): Style("#9467bd", "P"),
    ("ntk", None): Style("#e377c2", "v"),
    ("random_features", None): Style("#8c564b", "X"),
    ("kernel_ridge", None): Style("#bcbd22", "*"),
}
TRAINED = {"three_layer_sgd", "two_layer_sgd"}  # the learners whose `train` picks a fixed entry
# For any other learner name: one of these by a hash of the name.
PALETTE = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
           "#756bb1", "#636363", "#9c9ede", "#cedb9c", "#e7969c", "#de9ed6", "#a55194", "#6b6ecf",
           "#b5cf6b", "#e7ba52", "#ad494a", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
# Dashed kinds for a learner's variants; not ":" — dotted is the mean-predictor reference line.
VARIANT_LINES = ("--", "-.", (0, (6, 1.5)), (0, (6, 2, 1, 2, 1, 2)), (0, (10, 3)), (0, (3, 1.5, 1, 1.5)))


def _hash(text: str, salt: str) -> int:
    """A hash stable across processes and machines (Python's ``hash`` of a str is salted per run)."""
    return int.from_bytes(hashlib.sha256(f"{salt}\0{text}".encode()).digest()[:8], "big")


def _parts(label: str) -> tuple[str, list[str]]:
    """A label's learner name and its ``key=value`` overrides, from either form the project prints:
    ``name (k=v, k2=v2)`` (tables, plots) or ``name[k=v]`` (claims' selectors)."""
    m = re.fullmatch(r"\s*([^\s(\[]+)\s*(?:\((.*)\)|\[(.*)\])?\s*", label)
    if not m:
        return label.strip(), []
    inner = m.group(2) if m.group(2) is not None else (m.group(3) or "")
    # split at ", key=" so that a value such as "[1, 2]" stays whole
    return m.group(1), [p for p in re.split(r",\s*(?=[A-Za-z_][\w.]*=)", inner) if p.strip()]


def _shade(color: str, t: float) -> str:
    """``color`` made darker (t < 0) or lighter (t > 0) in HLS lightness, |t| ≤ 1."""
    r, g, b = (int(color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    h, lightness, s = colorsys.rgb_to_hls(r, g, b)
    lightness = lightness + 0.4 * t * ((1 - lightness) if t > 0 else lightness)
    r, g, b = colorsys.hls_to_rgb(h, min(max(lightness, 0.0), 1.0), s)
    return "#" + "".join(f"{round(255 * c):02x}" for c in (r, g, b))


def style(label: str) -> Style:
    """The style of learner ``label``, a function of the label alone — never of which other
    learners share the plot or their order.

    The learner's name (with its ``train`` value, for the built-in networks) fixes the colour and
    marker: a hand-picked entry for the built-ins, a hash of the name for any other learner. A
    label with further overrides (``three_layer_sgd (width=128)``) is a variant of that learner: the
    same marker and colour family, a dashed line style chosen by a hash of the overrides, and a
    shade set by its ``width`` when it has one number there (narrow darker, wide lighter, so a width
    sweep reads as a gradient), else by the hash.
    """
    name, overrides = _parts(label)
    train = next((p.split("=", 1)[1] for p in overrides if p.startswith("train=")), None)
    key = (name, (train or "all") if name in TRAINED else None)
    if key in FIXED:
        base = FIXED[key]
        extra = [p for p in overrides if not (name in TRAINED and p.startswith("train="))]
    else:
        h = _hash(name, "learner")
        base = Style(PALETTE[h % len(PALETTE)], MARKERS[(h // len(PALETTE)) % len(MARKERS)])
        extra = overrides
    if not extra:
        return base
    text = ", ".join(sorted(extra))
    h = _hash(text, "variant")
    width = next((p.split("=", 1)[1] for p in extra if p.startswith("width=")), "")
    if re.fullmatch(r"\d+(\.\d+)?", width):
        t = float(np.clip((np.log2(float(width)) - 8.0) / 4.0, -1.0, 1.0))  # 16 → darkest, 4096 → lightest
    else:
        t = (h % 1001) / 500.0 - 1.0
    return Style(_shade(base.color, t), base.marker, VARIANT_LINES[(h // 1001) % len(VARIANT_LINES)])


def floor_of(v: Variant) -> float:
    """Where a zero is drawn: 1/n_test — below every positive 0-1 error over the test set — or
    half the smallest positive mean when one lies below that (a mean over seeds, or a relative MSE,
    can), so a zero is never drawn above a positive score."""
    floor = 1.0 / v.protocol["n_test"]
    means = [c.mean(n) for c in v.curves.values() for n in c.scores if c.scores[n]]
    low = min((m for m in means if m > 0), default=floor)
    return floor if low > floor else low / 2


def curve_points(curve: Any, floor: float) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """The N with ok results and, at each, the drawn mean and band (mean ∓ std, as the table
    shows them), each raised to ``floor`` where it is ≤ 0 or below it."""
    ns = [n for n in sorted(curve.scores) if curve.scores[n]]
    mean = np.array([curve.mean(n) for n in ns], dtype=float)
    std = np.array([curve.std(n) for n in ns], dtype=float)
    return ns, np.maximum(mean, floor), np.maximum(mean - std, floor), np.maximum(mean + std, floor)


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def legend_labels(variants: list[tuple[str, dict[str, list[Any]]]]) -> tuple[dict[str, str], list[str]]:
    """Legend entries for the learner variants (name, candidate-list overrides) of one plot: full
    label → the short label the tables show (:func:`harness.api.learners.short_labels`), and the
    ``key=value`` overrides every variant has (all of them, for a plot of one variant), said once in
    the legend's title. Only the text changes; the style stays a function of the full label."""
    from harness.api.learners import grid_text, label, short_labels

    short = short_labels(variants)
    grids = {label(name, ov): [grid_text({k: v}) for k, v in ov.items()] for name, ov in variants}
    shared = set.intersection(*(set(g) for g in grids.values())) if grids else set()
    return short, sorted(shared)


def title(v: Variant) -> str:
    """The plot's title: task, parameters, protocol options, seeds."""
    params = ", ".join(f"{k}={val}" for k, val in sorted(v.params.items()))
    options = [f"label noise {v.protocol['label_noise']:g}"] if v.protocol.get("label_noise") else []
    options += [f"label σ {v.protocol['label_sigma']:g}·std y"] if v.protocol.get("label_sigma") else []
    options += [f"inputs {v.protocol['input_transform']}"] if v.protocol.get("input_transform") else []
    options += ["selected on the TEST set"] if v.protocol.get("select_on") == "test" else []
    text = v.task + (f" ({params})" if params else "") + (f" — {', '.join(options)}" if options else "")
    return _wrap(f"{text} — {len(v.seeds)} seed(s), test set {v.protocol['n_test']}", 70)


def figure(v: Variant) -> Figure:
    """The learning-curve figure of one leaderboard variant (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = floor_of(v)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    handles, drawn, floored = [], [], False
    from harness.reporting.curves import shown_labels

    short = shown_labels(v)  # the table's own row labels
    _, shared = legend_labels([(c.learner, c.params) for c in v.curves.values() if c.learner])
    for curve in sorted(v.curves.values(), key=lambda c: c.label):
        s = style(curve.label)
        ns, mean, lo, hi = curve_points(curve, floor)
        text = _wrap(short[curve.label], 48)
        if not ns:  # listed, so a learner that never succeeded is not silently missing
            (line,) = ax.plot([], [], color=s.color, marker=s.marker, linestyle=s.linestyle,
                              label=text + " — no successful run")
            handles.append(line)
            continue
        (line,) = ax.plot(ns, mean, color=s.color, marker=s.marker, linestyle=s.linestyle, markersize=5,
                          linewidth=1.4, label=text, gid=f"curve:{curve.label}")
        ax.fill_between(ns, lo, hi, color=s.color, alpha=0.18, linewidth=0, gid=f"band:{curve.label}")
        handles.append(line)
        drawn += [*lo, *hi]
        floored = floored or bool(np.any(lo <= floor))
    if v.metric == "rel_mse":
        handles.append(ax.axhline(1.0, color="0.35", linestyle=(0, (1, 1)), linewidth=1.2,
                                  label=MEAN_PREDICTOR, gid="mean-predictor"))
        drawn.append(1.0)
    if floored:
        where = f"1/n_test = 1/{v.protocol['n_test']}" if floor == 1.0 / v.protocol["n_test"] else f"{floor:.2g}"
        handles.append(ax.axhline(floor, color="0.55", linestyle="--", linewidth=1.0, gid="floor",
                                  label=f"floor {where}: a zero (perfect score)\nor a band reaching 0 is drawn here"))
    if drawn:
        ax.set_ylim(min(drawn) / 1.6, max(drawn) * 1.6)
    else:  # every cell failed: an empty log axis needs positive limits of its own
        ax.set_ylim(floor, 1.0)
        ax.text(0.5, 0.5, "no successful run yet", transform=ax.transAxes, ha="center", va="center", color="0.4")
    _log_axes(ax, v.ns, [str(n) for n in v.ns], "training samples N (log scale)", v.metric, title(v), shared,
              handles)
    return fig


def _log_axes(ax: Any, ticks: list[Any], labels: list[str], xlabel: str, metric: str | None, heading: str,
              shared: list[str], handles: list[Any] | None = None) -> None:
    """What every plot's axes share: log-log, x ticks only at the tested values, the metric named
    on the y axis, the title, a grid, and the legend outside the data with the band said once."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log")
    ax.set_yscale("log")
    if ticks:
        ax.set_xlim(min(ticks) / 1.3, max(ticks) * 1.3)
        ax.set_xticks(ticks, labels=labels, rotation=45 if len(ticks) > 6 else 0)
        ax.xaxis.set_minor_locator(NullLocator())  # only the tested values are ticked
    ax.set_xlabel(xlabel)
    ax.set_ylabel(METRIC_TITLES.get(metric or "", metric or "test metric") + " (log scale)")
    ax.set_title(heading, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    head = f"mean over seeds; {BAND}" + ("\n" + _wrap("every curve: " + ", ".join(shared), 56) if shared else "")
    ax.legend(**({} if handles is None else {"handles": handles}), loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, fontsize=7.5, title=head, title_fontsize=7.5, alignment="left", frameon=False)


def plot(v: Variant, path: Path) -> None:
    """Write the learning-curve PNG of ``v`` to ``path`` (atomically) at :data:`DPI`."""
    _save(figure(v), path)


def sweep_figure(points: list[Any], x: str, metric: str | None, heading: str) -> Figure | None:
    """Test metric against a learner parameter ``x`` (a width sweep: Allen-Zhu et al.'s Fig. 1(a),
    Li & Liang's error vs m), one curve per learner variant apart from ``x`` and per N, mean over
    seeds with a ± std band, as the learning curves are drawn. ``points`` are the suite's
    :class:`harness.suites.claims.Point` of one condition; None when no variant varies ``x``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.api.learners import label as learner_label

    curves: dict[tuple[str, int], dict[float, list[float]]] = {}
    variants: dict[str, tuple[str, dict[str, list[Any]]]] = {}
    for p in points:
        if x not in p.fixed or p.score is None or not isinstance(p.fixed[x], (int, float)):
            continue
        rest = {k: [v] for k, v in p.fixed.items() if k != x}
        key = (learner_label(p.learner, rest), p.n)
        variants[key[0]] = (p.learner, rest)
        curves.setdefault(key, {}).setdefault(float(p.fixed[x]), []).append(float(p.score))
    curves = {k: v for k, v in curves.items() if len(v) >= 2}  # a sweep needs two values of x
    if not curves:
        return None
    ns = sorted({n for _, n in curves})
    floor = min((s for c in curves.values() for ss in c.values() for s in ss if s > 0), default=1e-3) / 2
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    short, shared = legend_labels([variants[lab] for lab in sorted({lab for lab, _ in curves})])
    xs_all: set[float] = set()
    drawn: list[float] = []
    for (lab, n), by_x in sorted(curves.items()):
        s = style(lab)
        if len(ns) > 1:  # one shade per N, darkest at the smallest, in the learner's colour family
            s = Style(_shade(s.color, 1.4 * ns.index(n) / (len(ns) - 1) - 0.7), s.marker, s.linestyle)
        xs = sorted(by_x)
        mean = np.array([np.mean(by_x[v]) for v in xs])
        std = np.array([np.std(by_x[v]) for v in xs])
        lo, hi = np.maximum(mean - std, floor), np.maximum(mean + std, floor)
        text = _wrap(short[lab] + (f", N = {n}" if len(ns) > 1 else ""), 48)
        ax.plot(xs, np.maximum(mean, floor), color=s.color, marker=s.marker, linestyle=s.linestyle, markersize=5,
                linewidth=1.4, label=text, gid=f"sweep:{lab}:{n}")
        ax.fill_between(xs, lo, hi, color=s.color, alpha=0.18, linewidth=0)
        xs_all.update(xs)
        drawn += [*lo, *hi]
    if metric == "rel_mse":
        ax.axhline(1.0, color="0.35", linestyle=(0, (1, 1)), linewidth=1.2, label=MEAN_PREDICTOR)
        drawn.append(1.0)
    ax.set_ylim(min(drawn) / 1.6, max(drawn) * 1.6)
    ticks = sorted(xs_all)
    _log_axes(ax, ticks, [f"{t:g}" for t in ticks], f"{x} (log scale)", metric,
              _wrap(heading + (f" — N = {ns[0]}" if len(ns) == 1 else ""), 70), shared)
    return fig


def sweep_plot(points: list[Any], x: str, metric: str | None, heading: str, path: Path) -> bool:
    """Write :func:`sweep_figure` to ``path`` (atomically); False (nothing written) when no
    learner variant varies ``x``."""
    fig = sweep_figure(points, x, metric, heading)
    if fig is None:
        return False
    _save(fig, path)
    return True


# --- across a protocol condition: Arora et al. (2019) Figs. 1 and 2 ------------------------------

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "plot"


def _save(fig: Figure, path: Path) -> None:
    """Write ``fig`` to ``path`` atomically at :data:`DPI` with a tight bounding box, and close it."""
    import matplotlib.pyplot as plt

    from harness.reporting.files import write_atomically

    try:
        write_atomically(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)


def condition_figures(points: list[Any], axis: str, where: Path) -> list[tuple[str, str]]:
    """Arora et al.'s figures from a suite's stored cells (``points``: :class:`harness.suites.claims.Point`
    with their diagnostics), one set per task, learner variant and N, written into ``where``:

    - ``<task>-<learner>-N<n>-train-loss.png`` (their Fig. 1): the training loss against the epoch,
      one curve per value of ``axis`` (e.g. the label-noise fraction p), the mean over seeds at the
      stored curve's epochs, log y;
    - ``...-complexity.png`` (their Fig. 2): the complexity measure sqrt(2 yᵀ(H∞)⁻¹y / n) against
      ``axis`` beside the test error against ``axis``;
    - ``...-weight-change.png``: ‖W − W(0)‖_F against ``axis``.

    Points without the diagnostic a figure needs leave it out. Returns (file name, caption) pairs.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.suites.claims import point_labels

    groups: dict[tuple[str, str, int], list[Any]] = {}
    for p in points:
        if p.score is not None and isinstance(p.settings.get(axis), (int, float)):
            groups.setdefault((p.task, p.label, p.n), []).append(p)
    short = point_labels(points)
    out: list[tuple[str, str]] = []
    for (task, label, n), ps in sorted(groups.items()):
        stem = f"{_slug(task)}-{_slug(label)}-N{n}"  # the full label: file names stay put
        values = sorted({float(p.settings[axis]) for p in ps})
        at = {v: [p for p in ps if float(p.settings[axis]) == v] for v in values}
        seeds = len({p.seed for p in ps})
        head = f"{task}, {short[label]}, N = {n}, {seeds} seed(s)"
        # Fig. 1: the training-loss curves
        curves = {v: [(p.diagnostics["curve_epoch"], p.diagnostics["curve_train_loss"]) for p in at[v]
                      if p.diagnostics.get("curve_epoch")] for v in values}
        if any(curves.values()):
            fig, ax = plt.subplots(figsize=(6.4, 4.4))
            cmap = plt.get_cmap("viridis")
            for i, v in enumerate(values):
                if not curves[v]:
                    continue
                common = sorted(set.intersection(*(set(e) for e, _ in curves[v])))
                mean = [np.mean([dict(zip(e, loss))[k] for e, loss in curves[v]]) for k in common]
                ax.plot(common, np.maximum(mean, 1e-12), color=cmap(i / max(len(values) - 1, 1)), linewidth=1.6,
                        label=f"{axis} = {v:g}", gid=f"loss:{v:g}")
            ax.set_yscale("log")
            ax.set_xlabel("epoch (full-batch GD: one step per epoch)")
            ax.set_ylabel("training loss (log scale)")
            ax.set_title(_wrap(f"Training loss per {axis} — {head} (mean over seeds)", 70), fontsize=10)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
            _save(fig, where / f"{stem}-train-loss.png")
            out.append((f"{stem}-train-loss.png", f"Training loss vs epoch, one curve per {axis} ({head})"))
        s = style(label)

        def panel(ax, metric: str, ylabel: str) -> bool:
            xs, means, stds = [], [], []
            for v in values:
                got = [p.score if metric == "test_score" else p.diagnostics.get(metric) for p in at[v]]
                got = [float(g) for g in got if isinstance(g, (int, float))]
                if got:
                    xs.append(v)
                    means.append(np.mean(got))
                    stds.append(np.std(got))
            if not xs:
                return False
            means, stds = np.array(means), np.array(stds)
            ax.plot(xs, means, color=s.color, marker=s.marker, linewidth=1.4, label=short[label],
                    gid=f"mean:{metric}")
            ax.fill_between(xs, means - stds, means + stds, color=s.color, alpha=0.18, linewidth=0)
            ax.set_xlabel(f"{axis} (fraction of random labels)" if axis == "label_noise" else axis)
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            return True

        # Fig. 2: the complexity measure beside the test error
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        if panel(left, "arora_complexity", "complexity sqrt(2 yᵀ(H∞)⁻¹y / n)"):
            panel(right, "test_score", "test error")
            fig.suptitle(_wrap(f"Complexity measure and test error vs {axis} — {head}; {BAND}", 100), fontsize=10)
            _save(fig, where / f"{stem}-complexity.png")
            out.append((f"{stem}-complexity.png", f"Complexity measure and test error vs {axis} ({head})"))
        else:
            plt.close(fig)
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        if panel(ax, "weight_change", "‖W − W(0)‖_F"):
            ax.set_title(_wrap(f"Distance from initialisation vs {axis} — {head}; {BAND}", 70), fontsize=10)
            _save(fig, where / f"{stem}-weight-change.png")
            out.append((f"{stem}-weight-change.png", f"‖W − W(0)‖_F vs {axis} ({head})"))
        else:
            plt.close(fig)
    return out
