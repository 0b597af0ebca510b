"""Plots worth reading: log-log axes ticked at the tested N, a ± std band equal to the table's numbers,
zeros at a marked floor, the mean-predictor line, a legend outside the axes, one style per learner
in every plot, ≥ 150 dpi, and a gallery in the index linking every plot to its table."""

import colorsys
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from harness.reporting import curves, leaderboard, plots
from suite_plugin import install

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402


def row(learner, n, seed, score, metric="rel_mse", n_test=1000, params=None, status="ok", task="toy"):
    """A store row as :func:`harness.reporting.curves.collect` reads it."""
    return {"task": task, "task_params": {}, "task_version": "1", "n_test": n_test, "val_fraction": 0.2,
            "label_noise": 0.0, "input_transform": None, "select_on": "validation", "learner": learner,
            "learner_params": params or {}, "n": n, "seed": seed, "created_at": "2026-01-01T00:00:00",
            "status": status, "metric": metric if status == "ok" else None,
            "test_score": score if status == "ok" else None, "chosen_params": {}, "seconds": 1.0, "edges": []}


def variant(rows):
    (v,) = curves.collect(rows)["toy"]
    return v


@pytest.fixture
def figures():
    made = []

    def make(v):
        fig = plots.figure(v)
        fig.canvas.draw()
        made.append(fig)
        return fig, fig.axes[0]

    yield make
    for fig in made:
        plt.close(fig)


SCORES = {  # learner → N → scores over three seeds
    "kernel_ridge": {100: [0.8, 0.7, 0.9], 300: [0.3, 0.25, 0.4], 1000: [0.05, 0.09, 0.06]},
    "ntk": {100: [1.1, 0.95, 1.3], 300: [0.6, 0.2, 0.9], 1000: [0.3, 0.31, 0.29]},
}


def regression():
    rows = [row(name, n, s, x) for name, by_n in SCORES.items() for n, xs in by_n.items() for s, x in enumerate(xs)]
    rows.append(row("ntk", 3000, 0, None, status="failed"))  # tested at N = 3000, no ok result
    return variant(rows)


def line_of(ax, label):
    return next(line for line in ax.get_lines() if line.get_gid() == f"curve:{label}")


def test_log_log_axes_labelled_and_ticked_exactly_at_the_tested_ns(figures):
    fig, ax = figures(regression())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "N" in ax.get_xlabel() and "log" in ax.get_xlabel()
    assert "relative test MSE" in ax.get_ylabel() and "log" in ax.get_ylabel()
    assert list(ax.get_xticks()) == [100, 300, 1000, 3000]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100", "300", "1000", "3000"]
    assert list(ax.xaxis.get_minorticklocs()) == []
    lo, hi = ax.get_xlim()
    assert lo < 100 and hi > 3000  # every tested N lies inside the axes


def test_the_legend_lies_outside_the_axes_and_names_the_band(figures):
    fig, ax = figures(regression())
    legend = ax.get_legend()
    assert legend is not None
    renderer = fig.canvas.get_renderer()
    box, frame = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.x0 >= frame.x1 and not box.overlaps(frame)
    texts = [t.get_text() for t in legend.get_texts()]
    assert "band: ± std over seeds" in legend.get_title().get_text()
    assert "kernel_ridge" in texts and "ntk" in texts


def test_the_band_is_mean_plus_minus_std_as_the_table_shows_it(figures):
    v = regression()
    fig, ax = figures(v)
    header, *body = [[c.strip() for c in line.strip("|").split("|")]
                     for line in leaderboard.table(v).splitlines() if not line.startswith("|--")]
    for name, by_n in SCORES.items():
        band = next(c for c in ax.collections if c.get_gid() == f"band:{name}")
        xy = band.get_paths()[0].vertices
        table_row = next(r for r in body if r[0] == name)
        for n, xs in by_n.items():
            mean, std = np.mean(xs), np.std(xs)  # the table's ± is the population std over seeds
            ys = xy[np.isclose(xy[:, 0], n), 1]
            assert ys.min() == pytest.approx(mean - std) and ys.max() == pytest.approx(mean + std)
            shown = table_row[header.index(f"N={n}")].strip("*")
            m, s = (float(x) for x in re.match(r"([0-9.e+-]+) ± ([0-9.e+-]+)", shown).groups())
            assert m == pytest.approx(mean, rel=5e-3) and s == pytest.approx(std, rel=5e-3)
        assert list(line_of(ax, name).get_ydata()) == pytest.approx([np.mean(xs) for xs in by_n.values()])


def test_the_mean_predictor_line_marks_relative_mse_one_only_for_regression(figures):
    fig, ax = figures(regression())
    (ref,) = [line for line in ax.get_lines() if line.get_gid() == "mean-predictor"]
    assert list(ref.get_ydata()) == [1, 1] and "mean predictor" in ref.get_label()
    assert ref.get_label() in [t.get_text() for t in ax.get_legend().get_texts()]
    lo, hi = ax.get_ylim()
    assert lo < 1 < hi
    fig, ax = figures(variant([row("ntk", 100, s, 0.2, metric="error") for s in range(2)]))
    assert not [line for line in ax.get_lines() if line.get_gid() == "mean-predictor"]


def test_a_perfect_score_is_drawn_at_the_floor_one_over_n_test(figures):
    rows = [row("perfect", n, s, 0.0 if n == 400 else 0.02, metric="error", n_test=200)
            for n in (100, 400) for s in range(3)]
    rows += [row("ntk", n, s, x, metric="error", n_test=200) for n, x in ((100, 0.1), (400, 0.05)) for s in range(3)]
    fig, ax = figures(variant(rows))
    y = line_of(ax, "perfect").get_ydata()
    assert y[1] == 1 / 200 and np.isfinite(y).all()
    lo, hi = ax.get_ylim()
    assert lo < 1 / 200 < hi  # visible, not clipped away by the log axis
    (floor,) = [line for line in ax.get_lines() if line.get_gid() == "floor"]
    assert list(floor.get_ydata()) == [1 / 200, 1 / 200] and "1/n_test = 1/200" in floor.get_label()
    assert floor.get_linestyle() == "--" and floor.get_label() in [t.get_text() for t in ax.get_legend().get_texts()]


def test_the_floor_stays_below_a_positive_mean_smaller_than_one_over_n_test(figures):
    # one mistake on one of three seeds: a mean of 1/600, below 1/n_test = 1/200
    rows = [row("once", 100, s, [1 / 200, 0.0, 0.0][s], metric="error", n_test=200) for s in range(3)]
    rows += [row("never", 100, s, 0.0, metric="error", n_test=200) for s in range(3)]
    fig, ax = figures(variant(rows))
    zero, once = line_of(ax, "never").get_ydata()[0], line_of(ax, "once").get_ydata()[0]
    assert once == pytest.approx(1 / 600) and 0 < zero < once and ax.get_ylim()[0] < zero


def test_no_floor_line_when_nothing_reaches_zero(figures):
    fig, ax = figures(variant([row("ntk", n, s, 0.3 + 0.01 * s) for n in (10, 20) for s in range(3)]))
    assert not [line for line in ax.get_lines() if line.get_gid() == "floor"]


def test_a_variant_whose_cells_all_failed_still_gets_a_readable_plot(figures, tmp_path):
    v = variant([row("slow", n, 0, None, status="timeout") for n in (20, 30)])
    plots.plot(v, tmp_path / "toy.png")  # a log axis with no data must not raise
    fig, ax = figures(v)
    assert ax.get_yscale() == "log" and list(ax.get_xticks()) == [20, 30]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["slow — no successful run"]


def style_of(ax, label):
    line = line_of(ax, label)
    return to_hex(line.get_color()), line.get_marker(), line.get_linestyle()


def test_a_learner_has_one_style_in_every_plot_whatever_else_is_on_it(figures):
    a = ["three_layer_sgd", "ntk", "knn", "three_layer_sgd (train=hidden)", "two_layer_sgd (width=64)"]
    b = ["zz_other", "two_layer_sgd (width=64)", "knn", "three_layer_sgd (train=hidden)", "ntk", "three_layer_sgd"]

    def fig_of(labels):
        rows = []
        for i, name in enumerate(labels):
            learner, _, rest = name.partition(" (")
            params = dict(p.split("=") for p in rest.rstrip(")").split(", ")) if rest else {}
            params = {k: [int(v) if v.isdigit() else v] for k, v in params.items()}
            rows += [row(learner, n, s, 0.5 / (i + 1) + 0.01 * s, params=params) for n in (10, 20) for s in range(2)]
        return figures(variant(rows))[1]

    ax_a, ax_b = fig_of(a), fig_of(b)
    for label in set(a) & set(b):
        assert style_of(ax_a, label) == style_of(ax_b, label), label
    styles = [style_of(ax_b, label) for label in b]
    assert len(set(styles)) == len(styles)  # and the learners on one plot are told apart


def test_built_in_variants_have_fixed_entries_in_either_spelling():
    assert plots.style("three_layer_sgd[train=hidden]") == plots.style("three_layer_sgd (train=hidden)")
    assert plots.style("three_layer_sgd") == plots.style("three_layer_sgd (train=all)")
    fig1 = ["three_layer_sgd[train=hidden]", "three_layer_sgd[train=last]", "two_layer_sgd[train=hidden]",
            "two_layer_sgd[train=last]", "three_layer_ntk", "ntk", "kernel_ridge", "random_features"]
    fixed = [plots.style(label) for label in fig1]
    assert len({s.color for s in fixed}) == len(fixed) and all(s.linestyle == "-" for s in fixed)


def test_a_width_sweep_keeps_the_marker_and_shades_from_dark_to_light():
    sweep = [plots.style(f"two_layer_sgd (train=hidden, width={w})") for w in (50, 100, 200, 500, 2000)]
    assert {s.marker for s in sweep} == {plots.style("two_layer_sgd[train=hidden]").marker}
    lightness = [colorsys.rgb_to_hls(*(int(s.color[i:i + 2], 16) / 255 for i in (1, 3, 5)))[1] for s in sweep]
    assert lightness == sorted(lightness) and len(set(lightness)) == len(lightness)


def test_a_plugin_learners_style_does_not_depend_on_pythons_per_process_hash_seed():
    code = "from harness.reporting.plots import style; print(style('knn'), style('knn (k=3)'))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1 and str(plots.style("knn")) in outs.pop()


def test_overrides_every_curve_shares_are_said_once_in_the_legend_title(figures):
    shared = {"epochs": [60], "lr": [0.01, 0.1]}
    rows = [row(name, 10, s, 0.5 + 0.1 * s, params={**shared, **extra})
            for name, extra in (("two_layer_sgd", {"train": ["hidden"]}), ("two_layer_sgd", {"train": ["last"]}),
                                ("ntk", {})) for s in range(2)]
    fig, ax = figures(variant(rows))
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[:3] == ["ntk", "two_layer_sgd[train=hidden]", "two_layer_sgd[train=last]"]  # the tables' short labels
    assert "every curve: epochs=60, lr=0.01/0.1" in legend.get_title().get_text().replace("\n", " ")
    full = "two_layer_sgd (epochs=60, lr=0.01/0.1, train=hidden)"
    color, marker, linestyle = style_of(ax, full)
    assert (color, marker) == (plots.style(full).color, plots.style(full).marker) and linestyle != "-"  # full label


def test_the_png_is_written_at_150_dpi_or_more(tmp_path):
    from PIL import Image

    path = tmp_path / "toy.png"
    plots.plot(regression(), path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        dpi_x, dpi_y = image.info["dpi"]  # from the PNG's pHYs chunk
        assert min(dpi_x, dpi_y) >= 149.5  # pixels per metre round 150 dpi to 149.9994
        assert image.size[0] >= 6.4 * 150  # the axes' 6.4 in at 150 dpi, plus the legend


class Links(HTMLParser):
    """(href of a link, src of the image inside it) pairs."""

    def __init__(self):
        super().__init__()
        self.href, self.pairs = None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a":
            self.href = attrs.get("href")
        elif tag == "img":
            self.pairs.append((self.href, attrs.get("src"), attrs.get("width")))

    def handle_endtag(self, tag):
        if tag == "a":
            self.href = None


@pytest.mark.slow  # 1-4 s; the default run stays under 2 minutes (the path is covered by faster tests)
def test_the_gallery_shows_every_plot_as_a_thumbnail_linking_its_table(fake_plugin, monkeypatch, bench, tmp_path):
    from markdown_it import MarkdownIt

    install(fake_plugin, monkeypatch)
    lb = tmp_path / "lb"
    assert bench("run", "-t", "line", "-l", "mean", "-l", "ridge", "--ns", "20,40", "--seeds", "2", "--n-test", "50",
                 "--jobs", "1", "--out", str(lb))[0] == 0
    assert bench("run", "-t", "line", "-l", "mean", "-p", "noise=0.1,0.5", "--n", "20", "--seeds", "2",
                 "--n-test", "50", "--jobs", "1", "--out", str(lb))[0] == 0  # a page with two plots
    assert bench("run", "--suite", "toy-b", "--jobs", "1", "--out", str(lb))[0] == 0
    assert bench("run", "--suite", "toy-a", "--scale", "paper", "--jobs", "1", "--out", str(lb))[0] == 0
    # what the gallery must show, found independently: every PNG on disk that the page beside it links
    expected, orphans = set(), []
    for png in lb.rglob("*.png"):
        pages = [md for md in png.parent.glob("*.md") if f"]({png.name})" in md.read_text()]
        if not pages:
            orphans.append(png.relative_to(lb).as_posix())
        for page in pages:
            expected.add((page.relative_to(lb).as_posix(), png.relative_to(lb).as_posix(), "240"))
    assert orphans == ["line.png"]  # the first run's plot: the page now shows the two noise variants instead
    assert len(expected) == 4 and {p for p, _, _ in expected} == {"line.md", "toy-b/line.md", "toy-a/paper/line.md"}
    (lb / "notes").mkdir()  # other Markdown under --out is not a leaderboard page
    (lb / "notes" / "notes.md").write_text("# notes\n\n![a sketch](sketch.png)\n")
    (lb / "notes" / "sketch.png").write_bytes((lb / "line.png").read_bytes())
    leaderboard.write_index(lb)  # as the next run rewrites it
    links = Links()
    for token in MarkdownIt("commonmark").parse((lb / "README.md").read_text()):
        for t in [token, *(token.children or [])]:
            if t.type in ("html_inline", "html_block"):
                links.feed(t.content)
    assert set(links.pairs) == expected and len(links.pairs) == len(expected)
    for href, src, _ in links.pairs:
        assert (lb / href).is_file() and (lb / src).is_file()


def _sweep_points(scores):
    from harness.suites.claims import Point

    return [Point(task="mixtures", condition="mixtures (k=2)", settings={}, learner="two_layer_sgd",
                  label=f"two_layer_sgd (train=hidden, width={m})", fixed={"train": "hidden", "width": m}, n=400,
                  seed=seed, score=score)
            for (m, seed), score in scores.items()]


def test_a_width_sweep_is_drawn_against_width_with_the_tables_band():
    """Fig. 1(a) / Li & Liang's error vs m: log axes ticked at the swept widths, mean ± std over
    seeds (numpy's), the legend outside the axes; no plot when nothing is swept."""
    import matplotlib.pyplot as plt

    from harness.reporting import plots

    rng = np.random.default_rng(0)
    scores = {(m, seed): float(rng.uniform(0.01, 0.2)) for m in (64, 256, 1024) for seed in range(3)}
    fig = plots.sweep_figure(_sweep_points(scores), "width", "error", "mixtures (k=2)")
    try:
        ax = fig.axes[0]
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "width" in ax.get_xlabel() and "0-1 error" in ax.get_ylabel()
        assert list(ax.get_xticks()) == [64, 256, 1024]
        line = next(ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("sweep:"))
        means = [np.mean([scores[(m, s)] for s in range(3)]) for m in (64, 256, 1024)]
        assert np.allclose(line.get_ydata(), means)
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        stds = [np.std([scores[(m, s)] for s in range(3)]) for m in (64, 256, 1024)]
        for mean, std in zip(means, stds):
            assert np.isclose(band, mean - std).any() and np.isclose(band, mean + std).any()
        fig.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1  # outside the data
    finally:
        plt.close(fig)
    one = {(256, seed): 0.1 for seed in range(3)}
    assert plots.sweep_figure(_sweep_points(one), "width", "error", "x") is None
