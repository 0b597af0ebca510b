"""Short labels (issue 26, item 5): tables, plots, `bench show` and exports name a learner variant
by its learner and only what tells it apart within its table; the full grid is written once, in a
legend under the table. Only the labels change: every number on a page stays what it was."""

import itertools
import json

import numpy as np
import pytest

from harness.reporting import curves, export, leaderboard, plots
from harness.api.learners import label, short_labels
from harness.storage.store import Store
from harness.suites.claims import Point, Slope
from harness.suites.sweeps import Trend

from test_leaderboard import gfm_tables

# Allen-Zhu et al.'s Fig. 1(a) as the suite runs it: the preset's fixed settings, an lr list that
# scales with the width, hidden or last layer trained — 170 characters of label per row before.
PRESET = {"batch_size": [50], "epochs": [60], "init": ["paper"], "momentum": [0.9], "schedule": ["step"],
          "weight_decay": [0.001, 0.002, 0.005]}
LRS = {50: [0.02, 0.04, 0.08], 100: [0.01, 0.02, 0.04], 500: [0.002, 0.004, 0.008]}


def fig1a(name, train, width):
    return name, {**PRESET, "lr": LRS[width], "train": [train], "width": [width]}


VARIANTS = [fig1a(name, train, width) for name in ("three_layer_sgd", "two_layer_sgd")
            for train in ("hidden", "last") for width in (50, 100, 500)]
VARIANTS += [("ntk", {}), ("kernel_ridge", {"alpha": [1]})]


# --- the short-label function -------------------------------------------------------------------

def test_a_learner_with_one_variant_in_the_table_is_just_its_name():
    assert short_labels([("ntk", {})]) == {"ntk": "ntk"}
    grid = {**PRESET, "lr": [0.1, 0.2], "width": [500]}
    assert short_labels([("three_layer_sgd", grid), ("ntk", {})]) == {label("three_layer_sgd", grid): "three_layer_sgd",
                                                                      "ntk": "ntk"}


def test_only_the_parameters_that_tell_a_learners_variants_apart_are_shown():
    short = short_labels(VARIANTS)
    assert short[label(*fig1a("three_layer_sgd", "hidden", 500))] == "three_layer_sgd[train=hidden,width=500]"
    assert short[label(*fig1a("two_layer_sgd", "last", 50))] == "two_layer_sgd[train=last,width=50]"
    assert short["ntk"] == "ntk" and short[label("kernel_ridge", {"alpha": [1]})] == "kernel_ridge"
    # lr varies too, but the width already tells the variants apart and is one value, not a list
    assert not any("lr=" in s or "batch_size" in s or "epochs" in s for s in short.values())


def test_a_candidate_list_is_shown_when_only_it_tells_variants_apart_and_a_default_variant_is_bare():
    a, b, c = {"lr": [0.1, 0.01]}, {"lr": [1.0]}, {}
    assert short_labels([("sgd", a), ("sgd", b), ("sgd", c)]) == {
        "sgd (lr=0.01/0.1)": "sgd[lr=0.01/0.1]", "sgd (lr=1.0)": "sgd[lr=1.0]", "sgd": "sgd"}


def test_two_different_grids_never_get_the_same_short_label():
    rng = np.random.default_rng(0)
    keys, values = ["a", "b", "c", "d", "e"], [[1], [2], [1, 2], ["x"], ["1"], [True]]
    for _ in range(300):
        variants = []
        for _ in range(rng.integers(2, 9)):
            grid = {k: values[rng.integers(len(values))] for k in keys if rng.random() < 0.6}
            variants.append((str(rng.choice(["p", "q"])), grid))
        short = short_labels(variants)
        assert set(short) == {label(n, g) for n, g in variants}  # one entry per full label, i.e. per row
        assert len(set(short.values())) == len(short), short


def test_many_varying_parameters_are_all_shown_rather_than_searched():
    variants = [("wide", {f"k{i:02d}": [int(bit)] for i, bit in enumerate(f"{v:014b}")}) for v in (1, 2, 4, 2 ** 13)]
    short = short_labels(variants)
    assert len(set(short.values())) == 4
    assert all(s.startswith("wide[") for s in short.values())


# --- a page before and after: only the labels change --------------------------------------------

def put(store, name, grid, n, seed, score):
    store.put({"cell_id": f"{label(name, grid)}-{n}-{seed}", "task": "toy", "task_params": {}, "task_version": "1",
               "learner": name, "learner_params": grid, "learner_version": "1", "n": n, "seed": seed,
               "n_test": 100, "val_fraction": 0.2, "status": "ok", "metric": "rel_mse", "test_score": score,
               "chosen_params": {"lr": 0.01}, "seconds": 2.0})


@pytest.fixture
def rows(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    rng = np.random.default_rng(1)
    for (name, grid), n, seed in itertools.product(VARIANTS, (100, 400), range(2)):
        put(store, name, grid, n, seed, float(rng.uniform(0.01, 1.0)))
    return store.rows()


def page_of(rows, long_labels=False, monkeypatch=None):
    """The toy page, as this version writes it, or with every row labelled by its full label as
    before (the short-label step made the identity)."""
    if long_labels:
        monkeypatch.setattr(leaderboard, "shown_labels", lambda v: {c.label: c.label for c in v.curves.values()})
    (v,) = curves.collect(rows)["toy"]
    return leaderboard.page("toy", [v])[0]


def legend_of(md):
    """short label → full label, from the legend's ``- `short`: `full` `` lines."""
    out = {}
    for line in md.splitlines():
        if line.startswith("- `"):
            short, full = line[3:].split("`: `", 1)
            out[short] = full.rstrip("`")
    return out


def test_rows_carry_short_labels_the_legend_gives_each_full_grid_and_no_number_changes(rows, monkeypatch):
    new = page_of(rows)
    old = page_of(rows, long_labels=True, monkeypatch=monkeypatch)
    new_tables, old_tables = gfm_tables(new), gfm_tables(old)
    assert len(new_tables) == len(old_tables) == 2  # the results, the chosen hyper-parameters
    legend = legend_of(new)
    assert legend_of(old) == {}  # full labels need no legend
    for new_table, old_table in zip(new_tables, old_tables):
        assert len(new_table) == len(old_table) == 1 + len(VARIANTS)
        assert new_table[0] == old_table[0]  # the same headers
        for new_row, old_row in zip(new_table[1:], old_table[1:]):
            assert new_row[1:] == old_row[1:]  # every number, bold mark and note exactly as before
            short, full = new_row[0], old_row[0]
            assert legend.get(short, short) == full  # the legend says which grid the short label is
            assert len(short) <= 40 and (short == full == "ntk" or short in legend)
    # the legend holds each variant's grid once, under the results table and before the plot
    assert sorted(legend.values()) == sorted(label(n, g) for n, g in VARIANTS if g)
    assert new.index("| three_layer_sgd[train=hidden,width=500]") < new.index("- `three_layer_sgd[") < new.index("![")
    assert new.count("- `two_layer_sgd[train=last,width=50]`") == 1


def test_the_plots_legend_uses_the_tables_short_labels(rows):
    import matplotlib.pyplot as plt

    (v,) = curves.collect(rows)["toy"]
    fig = plots.figure(v)
    try:
        texts = [t.get_text().replace("\n", "") for t in fig.axes[0].get_legend().get_texts()]
    finally:
        plt.close(fig)
    table = gfm_tables(leaderboard.table(v))[0]
    assert texts[:len(VARIANTS)] == [r[0] for r in table[1:]]


def test_bench_show_and_exports_use_short_labels_and_keep_the_full_grid(rows):
    short = export.row_labels(rows)
    records = [export.record(r, [], short) for r in rows]
    by_label = {rec["label"]: rec["learner_params"] for rec in records}
    assert by_label["three_layer_sgd[train=last,width=100]"] == fig1a("three_layer_sgd", "last", 100)[1]
    assert by_label["ntk"] == {}
    csv = export.dumps(records, "csv")
    assert "three_layer_sgd[train=last,width=100]" in csv and '""lr"": [0.01, 0.02, 0.04]' in csv
    assert json.loads(export.dumps(records, "json"))[0]["label"] in by_label


# --- verdict pages -----------------------------------------------------------------------------

def test_a_verdict_names_variants_told_apart_by_candidate_lists_by_short_label_with_a_legend():
    a, b = {"lr": [0.1, 0.2], "width": [64]}, {"lr": [0.3, 0.4], "width": [64]}
    pts = [Point("toy", "toy", {}, "sgd", label("sgd", g), {k: v[0] for k, v in g.items() if len(v) == 1}, n, seed,
                 0.5 / n ** 0.5 * (1 + 0.1 * seed), grid=g)
           for g in (a, b) for n in (100, 200, 400) for seed in range(2)]
    result = Slope(learner="sgd", at_most=0.0, text="t", source="s").evaluate(pts)
    whats = {c.what for c in result.checks}
    assert whats == {"slope of log sgd[lr=0.1/0.2] vs log N", "slope of log sgd[lr=0.3/0.4] vs log N"}
    assert result.grids == {label("sgd", a): "sgd[lr=0.1/0.2]", label("sgd", b): "sgd[lr=0.3/0.4]"}
    legend = legend_of(leaderboard.grid_legend(result.grids))
    assert legend == {"sgd[lr=0.1/0.2]": "sgd (lr=0.1/0.2, width=64)", "sgd[lr=0.3/0.4]": "sgd (lr=0.3/0.4, width=64)"}


def test_a_trend_leaves_out_a_variant_its_claim_already_names():
    grid = {"epochs": [2000], "width": [1000]}
    pts = [Point("digits2", "digits2", {"label_noise": p}, "arora_gd", label("arora_gd", grid), {}, 200, seed,
                 0.1 + p + 0.01 * seed, grid=grid) for p in (0.0, 0.5, 1.0) for seed in range(3)]
    result = Trend(learner="arora_gd", metric="test_score", text="t", source="s").evaluate(pts)
    assert [c.condition for c in result.checks] == ["digits2"]  # was "digits2, arora_gd (epochs=2000, width=1000)"
    assert result.grids == {}
