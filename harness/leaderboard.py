"""Markdown leaderboards and log-log learning-curve plots, rebuilt from the store.

``<out>/<task>.md`` holds, for each task variant (parameters + protocol), a learners × N table of
mean ± std of the test metric over seeds (best mean per column in bold), the fitted scaling
exponent b of error ≈ a·N^b, the time per cell, and the chosen hyper-parameters; a PNG plot sits
beside it. ``<out>/README.md`` indexes the pages.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from tabulate import tabulate

from .errors import BenchError

METRIC_TITLES = {"rel_mse": "relative test MSE (MSE / Var y)", "error": "test 0-1 error"}


@dataclass
class Curve:
    """One learner's results on one task variant: scores and seconds per N, over seeds."""

    label: str
    scores: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter = field(default_factory=Counter)  # rows per N, any status
    seconds: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    chosen: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def mean(self, n: int) -> float | None:
        return float(np.mean(self.scores[n])) if self.scores.get(n) else None

    def std(self, n: int) -> float | None:
        return float(np.std(self.scores[n])) if self.scores.get(n) else None

    def exponent(self) -> float | None:
        """Least-squares slope of log(mean score) against log N (needs two N with positive mean)."""
        pts = [(n, self.mean(n)) for n in sorted(self.scores)]
        pts = [(n, m) for n, m in pts if m is not None and m > 0]
        if len(pts) < 2:
            return None
        x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        return float(np.polyfit(x, y, 1)[0])


@dataclass
class Variant:
    """A task with fixed parameters and protocol: one table and one plot."""

    task: str
    params: dict[str, Any]
    protocol: dict[str, Any]
    metric: str | None = None
    curves: dict[str, Curve] = field(default_factory=dict)
    seeds: set[int] = field(default_factory=set)

    @property
    def ns(self) -> list[int]:
        return sorted({n for c in self.curves.values() for n in c.counts})

    @property
    def key(self) -> str:
        blob = json.dumps([self.params, self.protocol], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:8]


def collect(rows: Iterable[dict[str, Any]]) -> dict[str, list[Variant]]:
    """Group store rows by task → variant → learner curve."""
    variants: dict[tuple, Variant] = {}
    for r in rows:
        protocol = {"n_test": r["n_test"], "val_fraction": r["val_fraction"], "task_version": r["task_version"],
                    "label_noise": r.get("label_noise") or 0.0, "input_transform": r.get("input_transform")}
        vkey = (r["task"], json.dumps(r["task_params"], sort_keys=True), json.dumps(protocol, sort_keys=True))
        v = variants.setdefault(vkey, Variant(r["task"], r["task_params"], protocol))
        label = r["learner"]
        if r["learner_params"]:
            label += " (" + ", ".join(f"{k}={'|'.join(map(str, val))}" for k, val in
                                      sorted(r["learner_params"].items())) + ")"
        if r["learner_version"] != "1":
            label += f" v{r['learner_version']}"
        curve = v.curves.setdefault(label, Curve(label))
        curve.counts[r["n"]] += 1
        v.seeds.add(r["seed"])
        if r["status"] == "ok":
            v.metric = v.metric or r["metric"]
            curve.scores[r["n"]].append(r["test_score"])
            curve.seconds[r["n"]].append(r["seconds"])
            curve.chosen[r["n"]][json.dumps(r["chosen_params"], sort_keys=True)] += 1
    out: dict[str, list[Variant]] = defaultdict(list)
    for v in variants.values():
        out[v.task].append(v)
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def table(v: Variant) -> str:
    """The learners × N Markdown table of one variant."""
    ns = v.ns
    best = {}
    for n in ns:
        means = [c.mean(n) for c in v.curves.values() if c.mean(n) is not None]
        best[n] = min(means) if means else None
    rows = []
    for curve in sorted(v.curves.values(), key=lambda c: c.label):
        row = [curve.label]
        for n in ns:
            m = curve.mean(n)
            if m is None:
                row.append("—" if not curve.counts[n] else "no ok run")
                continue
            cell = f"{_fmt(m)} ± {_fmt(curve.std(n))}"
            if m == best[n]:
                cell = f"**{cell}**"
            if len(curve.scores[n]) < curve.counts[n]:
                cell += f" ({len(curve.scores[n])}/{curve.counts[n]} ok)"
            row.append(cell)
        b = curve.exponent()
        row.append("—" if b is None else f"{b:+.2f}")
        top = max((n for n in ns if curve.seconds.get(n)), default=None)
        row.append("—" if top is None else f"{np.mean(curve.seconds[top]):.2f} (N={top})")
        rows.append(row)
    headers = ["learner", *[f"N={n}" for n in ns], "exponent b", "s / cell"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def chosen_table(v: Variant) -> str:
    """Most frequent chosen hyper-parameters per learner at the largest N it reached."""
    rows = []
    for curve in sorted(v.curves.values(), key=lambda c: c.label):
        ns = [n for n in curve.chosen if curve.chosen[n]]
        if not ns:
            continue
        n = max(ns)
        params, count = curve.chosen[n].most_common(1)[0]
        shown = ", ".join(f"{k}={val}" for k, val in json.loads(params).items())
        rows.append([curve.label, n, shown, f"{count}/{sum(curve.chosen[n].values())}"])
    return tabulate(rows, headers=["learner", "N", "chosen on validation", "seeds"], tablefmt="github",
                    disable_numparse=True)


def plot(v: Variant, path: Path) -> None:
    """Log-log learning curves: mean over seeds, band from min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for curve in sorted(v.curves.values(), key=lambda c: c.label):
        ns = [n for n in sorted(curve.scores) if curve.scores[n] and curve.mean(n) > 0]
        if not ns:
            continue
        means = [curve.mean(n) for n in ns]
        (line,) = ax.plot(ns, means, marker="o", label=curve.label)
        lo = [max(min(curve.scores[n]), 1e-12) for n in ns]
        hi = [max(curve.scores[n]) for n in ns]
        ax.fill_between(ns, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training samples N")
    ax.set_ylabel(METRIC_TITLES.get(v.metric or "", v.metric or "test metric"))
    params = ", ".join(f"{k}={val}" for k, val in sorted(v.params.items()))
    ax.set_title(f"{v.task}" + (f" ({params})" if params else "") + f" — {len(v.seeds)} seed(s)")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    _atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


def _atomic(path: Path, write) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written page."""
    # Not mkstemp: it makes the file 0600, and the rename would keep that. Opening with 0666
    # lets the kernel apply the user's umask, as for any other file (no racy os.umask read).
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_text(path: Path, text: str) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def check_writable(out: Path) -> None:
    """Raise a one-line error now, before any training, if ``out`` cannot receive pages."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BenchError(f"cannot write leaderboards to {out}: {exc.strerror or exc}; "
                         f"choose another directory with --out") from None


def page(task: str, variants: list[Variant], description: str = "") -> tuple[str, dict[Path, Variant]]:
    """The Markdown of one task page and the plot file each variant needs."""
    lines = [f"# {task}", ""]
    if description:
        lines += [description, ""]
    plots = {}
    for v in sorted(variants, key=lambda v: json.dumps([v.params, v.protocol], sort_keys=True, default=str)):
        png = Path(f"{task}.png" if len(variants) == 1 else f"{task}-{v.key}.png")
        plots[png] = v
        params = ", ".join(f"`{k}={val}`" for k, val in sorted(v.params.items())) or "defaults"
        options = [f"label noise {v.protocol['label_noise']:g}"] if v.protocol["label_noise"] else []
        options += [f"inputs {v.protocol['input_transform']}"] if v.protocol["input_transform"] else []
        if options:
            params += " — " + ", ".join(options)
        if len(variants) > 1:
            lines += [f"## {task} ({params})", ""]
        lines += [
            f"Metric: **{METRIC_TITLES.get(v.metric or '', v.metric)}**, mean ± std over "
            f"{len(v.seeds)} seed(s); lower is better, best per column in bold. Task parameters: {params}; "
            f"test set {v.protocol['n_test']} points; hyper-parameters chosen on "
            f"{v.protocol['val_fraction']:.0%} of the N samples, then refit on all N. Exponent b: slope "
            f"of log error against log N.",
            "",
            table(v),
            "",
            f"![learning curves of {task}]({png.name})",
            "",
            "Hyper-parameters chosen at the largest N:",
            "",
            chosen_table(v),
            "",
        ]
    return "\n".join(lines), plots


def build(rows: list[dict[str, Any]], out: Path, tasks: Iterable[str] | None = None,
          descriptions: dict[str, str] | None = None) -> list[Path]:
    """Rebuild the pages of ``tasks`` (default: every task in ``rows``) and the index; return paths."""
    out = Path(out)
    check_writable(out)
    descriptions = descriptions or {}
    grouped = collect(rows)
    wanted = set(grouped) if tasks is None else set(tasks)
    missing = wanted - set(grouped)
    if missing:
        raise BenchError(f"no results in the store for task(s) {', '.join(sorted(missing))}; "
                         f"run `bench run --task ...` first")
    written = []
    try:
        for task in sorted(wanted):
            text, plots = page(task, grouped[task], descriptions.get(task, ""))
            for png, v in plots.items():
                plot(v, out / png)
                written.append(out / png)
            _write_text(out / f"{task}.md", text)
            written.append(out / f"{task}.md")
        _write_text(out / "README.md", index(grouped, descriptions))
        written.append(out / "README.md")
    except OSError as exc:
        raise BenchError(f"cannot write leaderboards to {out}: {exc.strerror or exc}") from None
    return written


def index(grouped: dict[str, list[Variant]], descriptions: dict[str, str]) -> str:
    """The leaderboards/README.md index: one row per task, with the leader at its largest N."""
    rows = []
    for task in sorted(grouped):
        for v in grouped[task]:
            ns = v.ns
            leader = "—"
            if ns:
                n = ns[-1]
                scored = [(c.mean(n), c.label) for c in v.curves.values() if c.mean(n) is not None]
                if scored:
                    m, label = min(scored)
                    leader = f"{label}: {_fmt(m)} at N={n}"
            rows.append([f"[{task}]({task}.md)", descriptions.get(task, ""), v.metric or "—",
                         len(v.curves), f"{ns[0]}–{ns[-1]}" if ns else "—", leader])
    body = tabulate(rows, headers=["task", "description", "metric", "learners", "N", "best at largest N"],
                    tablefmt="github", disable_numparse=True)
    return ("# conceptbench leaderboards\n\nGenerated by `bench leaderboard` from the result store; "
            "do not edit by hand.\n\n" + body + "\n")
