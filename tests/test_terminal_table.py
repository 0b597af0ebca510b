"""The table `bench run` prints at its end (harness/reporting/terminal.py): learner × N, mean ± std
over seeds, at most 100 columns, failed seeds and worse-than-the-mean cells marked."""

import math

from harness.reporting.terminal import terminal_table


def row(learner, n, seed, score, *, status="ok", params=None, task="sin3", cell_id=None, metric="rel_mse"):
    """A store row as Store.rows() returns it, with only what the table reads."""
    return {"cell_id": cell_id or f"{learner}-{n}-{seed}", "task": task, "task_params": {}, "task_version": "1",
            "n_test": 5000, "val_fraction": 0.2, "label_noise": 0.0, "input_transform": None,
            "select_on": "validation", "label_sigma": 0.0, "corrupt_test": 0, "learner": learner,
            "learner_params": params or {}, "n": n, "seed": seed, "created_at": "2026-12-04T00:00:00+00:00",
            "status": status, "metric": metric, "test_score": score if status == "ok" else None, "seconds": 1.0,
            "chosen_params": {}, "learner_grid": {}, "edges": []}


def cells_of(text, learner):
    """The cells of ``learner``'s line, split on the table's two-space gaps."""
    line = next(l for l in text.splitlines() if l.startswith(learner + " "))
    return [c.strip() for c in line[len(learner):].split("  ") if c.strip()]


def test_mean_and_population_std_over_seeds_per_n():
    rows = [row("ntk", 100, s, x) for s, x in enumerate([0.1, 0.2, 0.3])]
    rows += [row("ntk", 200, s, x) for s, x in enumerate([0.04, 0.05, 0.06])]
    text = terminal_table(rows)
    std = math.sqrt(((0.1 - 0.2) ** 2 + 0 + (0.3 - 0.2) ** 2) / 3)  # population std: 0.0816…
    assert cells_of(text, "ntk") == [f"0.2 ± {std:.3g}", "0.05 ± 0.00816"]
    assert "N=100" in text and "N=200" in text and "mean ± std over 3 seeds" in text
    assert "relative test MSE" in text.splitlines()[1]


def test_failed_seeds_are_counted_and_worse_than_the_mean_is_marked():
    rows = [row("ntk", 100, 0, 1.2), row("ntk", 100, 1, 1.4), row("ntk", 100, 2, None, status="failed")]
    text = terminal_table(rows)
    assert cells_of(text, "ntk") == ["1.3 ± 0.1 † (2/3)"]
    assert "† worse than predicting the mean" in text and "(k/m) only k of m seeds" in text


def test_only_keeps_the_runs_own_cells():
    rows = [row("ntk", 100, 0, 0.5, cell_id="mine"), row("kernel_ridge", 100, 0, 0.7, cell_id="other")]
    text = terminal_table(rows, only={"mine"})
    assert "ntk" in text and "kernel_ridge" not in text
    assert terminal_table(rows, only=set()) == ""


def test_fits_100_columns_with_many_n_and_long_labels():
    ns = [100, 200, 500, 1000, 2000, 5000, 10000, 20000]
    long = {"width": [1000, 2000], "lr": [0.0001, 0.0002, 0.0005], "init": ["paper"], "train": ["hidden"]}
    rows = [row(learner, n, s, 0.0123456 / n * (1 + s), params=p)
            for learner, p in [("three_layer_sgd", long), ("three_layer_sgd", {}), ("ntk", {})]
            for n in ns for s in range(3)]
    text = terminal_table(rows)
    assert max(len(line) for line in text.splitlines()) <= 100
    for n in ns:  # every N is shown, in a second block when the first is full
        assert f"N={n}" in text
    assert sum(line.startswith("learner") for line in text.splitlines()) >= 2


def test_one_table_per_task_and_classification_says_error():
    rows = [row("ntk", 100, 0, 0.3), row("ntk", 100, 0, 0.25, task="parity", metric="error")]
    text = terminal_table(rows)
    assert text.index("parity") < text.index("sin3")
    assert "test 0-1 error" in text


def test_bench_run_prints_the_table_at_its_end(bench, tmp_path):
    fixed = ["-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p", "alpha_per_n=1e-6,1e-3"]  # a small grid: fast
    code, out, _ = bench("run", "--task", "sin3", "--learner", "kernel_ridge", *fixed, "--n", "20", "--n", "40",
                         "--seeds", "2", "--n-test", "100", "--jobs", "1", "--out", str(tmp_path / "lb"))
    assert code == 0
    lines = out.rstrip().splitlines()
    header = next(i for i, l in enumerate(lines) if l.startswith("learner "))
    assert "N=20" in lines[header] and "N=40" in lines[header]
    assert lines[header + 1].startswith("kernel_ridge") and "±" in lines[header + 1]
    assert header + 1 >= len(lines) - 2  # the table is the end of the output (a note line may follow)
