"""The `bench` command: bad input gets one line and a non-zero exit; re-runs train nothing."""

import os
import subprocess
import sys

import pytest

from conftest import one_line_error

FAST = ["--learner", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "-p", "alpha_per_n=1e-6,1e-3",
        "--n-test", "200", "--seeds", "2", "--jobs", "1"]

# Keeps the runs short should a check be missing (the old code trained these).
TINY = ["--n", "10", "--seeds", "1", "--n-test", "20", "--jobs", "1", "--no-leaderboard"]


@pytest.mark.parametrize("args, words", [
    (["run", "--task", "sin4", "--learner", "kernel_ridge"], "unknown task 'sin4' — did you mean 'sin3'"),
    (["run", "--task", "sin3", "--learner", "kernel_rige"], "unknown learner 'kernel_rige' — did you mean"),
    (["run", "--suite", "quik"], "unknown suite 'quik' — did you mean 'quick'"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--n", "0"], "N must be a positive integer"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--n", "-5"], "N must be a positive integer"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--n", "1"], "too small"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--ns", "100,x"], "'x' is not an integer"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--n", "abc"], "'abc' is not a valid integer"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--ns", ","], "--ns ',' holds no size; write e.g."),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--ns", ""], "--ns '' holds no size"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--ns", "100,,200"], "has an empty size between commas"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--ns", "100,200,"], "has an empty size between commas"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--seeds", "0"], "--seeds must be a positive"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--jobs", "0"], "--jobs must be a positive"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "-p", "lr"], "malformed --param"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "-p", "lr=0.1"], "has a parameter 'lr'"),
    (["run", "--task", "sin3", "--learner", "ntk", "-p", "foo.depth=3"],
     "--param 'foo.depth=3': 'foo' is not a selected task or learner (selected: sin3, ntk)"),
    (["run", "--task", "sin3", "--learner", "ntk", "-p", "nkt.depth=3"], "did you mean 'ntk'?"),
    (["run", "-t", "sin3", "-l", "three_layer_sgd", "-p", "lr=0.1", "-p", "lr=0.3", "-p", "epochs=1", *TINY],
     "--param lr is given twice (lr=0.1 and lr=0.3); give all candidates once: -p lr=0.1,0.3"),
    (["run", "-t", "sin3", "-l", "three_layer_sgd", "-p", "lr=0.1", "-p", "three_layer_sgd.lr=0.3", "-p", "epochs=1",
      *TINY], "--param three_layer_sgd.lr is given twice (lr=0.1 and three_layer_sgd.lr=0.3)"),
    (["run", "--task", "poly", "--learner", "kernel_ridge", "-p", "degrees=[1,2", *TINY], "unbalanced brackets"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--val-fraction", "1.5"], "--val-fraction"),
    (["run", "--task", "sin3", "--learner", "three_layer_sgd", "-p", "lr=-1"], "lr must be a positive number"),
    (["run", "--task", "sin3", "--learner", "two_layer_sgd", "-p", "train_bias=maybe"], "true or false"),
    (["run", "--task", "sin3", "--learner", "two_layer_sgd", "-p", "train_output=false"], "replaced by train"),
    (["run", "--task", "sin3", "--learner", "two_layer_sgd", "-p", "train=hidden,last"], "one value per run"),
    (["run", "--task", "sin3", "--learner", "kernel_ridge", "--preset", "allen-zhu"], "declares preset"),
    (["run", "--task", "sin3", "--learner", "ntk", "-p", "depth=1"], "depth must be an integer ≥ 2"),
    (["run", "--task", "sin3", "--learner", "random_features", "-p", "bias=1.5"], "bias must be a number in"),
    (["run", "--task", "sin3", "--learner", "two_layer_sgd", "--device", "gpu"], "not a torch device"),
    (["run", "--task", "sin3"], "say what to run"),
    (["run", "--bogus"], "No such option"),
    (["leaderboard", "--store", "/nonexistent/x.sqlite"], "no result store"),
])
def test_bad_input_gets_one_line_and_nonzero_exit(bench, args, words):
    code, out, err = bench(*args)
    assert code != 0
    assert words in one_line_error(err)


def test_unwritable_output_directory_fails_before_training(bench, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = bench("run", "--task", "sin3", *FAST, "--n", "20", "--out", str(blocker / "lb"))
    assert code != 0 and "cannot write leaderboards" in one_line_error(err)
    assert "[1/" not in err  # nothing was trained


def test_corrupted_store_gets_one_line(bench, tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 500)
    code, _, err = bench("run", "--task", "sin3", *FAST, "--n", "20", "--store", str(bad),
                         "--out", str(tmp_path / "lb"))
    assert code != 0 and "not a readable conceptbench database" in one_line_error(err)


def test_second_run_trains_nothing_and_says_so(bench, tmp_path):
    args = ["run", "--task", "sin3", *FAST, "--ns", "20,40", "--out", str(tmp_path / "lb")]
    code, out, err = bench(*args)
    assert code == 0 and "Ran 4 of 4 cells" in out and err.count("rel_mse=") == 4
    assert (tmp_path / "lb" / "sin3.md").exists() and (tmp_path / "lb" / "sin3.png").exists()
    code, out, err = bench(*args)
    assert code == 0 and "Nothing to train: all 4 cells are already in" in out
    assert "rel_mse=" not in err  # no cell ran


def test_show_prints_stored_results(bench, tmp_path):
    bench("run", "--task", "sin3", *FAST, "--n", "30", "--out", str(tmp_path / "lb"))
    code, out, _ = bench("show", "--task", "sin3")
    table, _, legend = out.partition("learners by short name")  # short labels, then their full grids
    assert code == 0 and table.count("kernel_ridge") == 2 and "test rel_mse" in table.splitlines()[0]
    assert "  kernel_ridge: kernel_ridge (alpha_per_n=" in legend
    code, out, _ = bench("show", "--task", "sin3", "--verbose")  # each cell's chosen values under its line
    assert code == 0 and out.count("chosen: alpha_per_n=") == 2


def test_help_on_every_command(bench):
    for cmd in ("run", "list", "leaderboard", "show"):
        code, out, _ = bench(cmd, "--help")
        assert code == 0 and "Usage: bench" in out


def test_real_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "--task", "nope", "--learner", "kernel_ridge"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_show_exports_one_record_per_cell_as_csv_or_json(bench, tmp_path):
    import csv
    import json as jsonlib

    from harness.storage.store import Store

    args = ("run", "-t", "sin3", "-l", "kernel_ridge", "-p", "kernel=rbf", "-p", "gamma_scale=1.0", "--ns", "30,40",
            "--seeds", "2", "--n-test", "50", "--jobs", "1", "--no-leaderboard")
    assert bench(*args)[0] == 0
    stored = {r["cell_id"]: r for r in Store(tmp_path / "store.sqlite").rows()}
    code, out, _ = bench("show", "--format", "csv")
    records = list(csv.DictReader(out.splitlines()))
    assert code == 0 and len(records) == 4 == len(stored)
    for rec in records:
        row = stored[rec["cell_id"]]
        assert float(rec["test_score"]) == row["test_score"] and int(rec["n"]) == row["n"]
        assert float(rec["metric_mse"]) == row["metrics"]["mse"]
        assert float(rec["chosen_alpha_per_n"]) == row["chosen_params"]["alpha_per_n"]
    code, _, err = bench("show", "--format", "json", "--output", str(tmp_path / "cells.json"))
    data = jsonlib.loads((tmp_path / "cells.json").read_text())
    assert code == 0 and "4 cell(s) written" in err
    assert {d["cell_id"]: d["test_score"] for d in data} == {k: r["test_score"] for k, r in stored.items()}
    code, _, err = bench("show", "--format", "csv", "--output", str(tmp_path / "no" / "such" / "dir.csv"))
    assert code != 0 and "cannot write" in one_line_error(err)


@pytest.mark.parametrize("args", [["--help"], ["list"]])
def test_bench_help_and_list_import_no_heavy_library(args):
    # `bench list` loads every built-in plugin module: one with torch or scikit-learn at its top
    # fails here. benchmarks/cli_startup.md has the times this buys.
    code = (f"import sys; from harness.cli import main; main({args!r}); "
            "print(sorted(m for m in ('sklearn', 'scipy', 'torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "CONCEPTBENCH_PLUGINS": "builtin"}).stdout
    assert out.strip().splitlines()[-1] == "[]"


# --- `bench list` width, --help examples, the README's commands (issue #15, items 4 and 7) ---

import shlex  # noqa: E402

import click  # noqa: E402

from conftest import ROOT  # noqa: E402
from harness.cli.app import cli


def _commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    """(path, command) for the group itself and every command and sub-command under it."""
    yield path, group
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


@pytest.fixture
def dry_parse(monkeypatch):
    """``dry_parse("bench run -t sin3")`` parses a command line with the real click CLI — every
    option, type and choice checked, the sub-command resolved — and runs nothing: each command's
    body is replaced by a no-op. Raises click.UsageError (or BadParameter) on a bad line."""
    for _, cmd in _commands():
        monkeypatch.setattr(cmd, "callback", lambda **kwargs: 0)

    def parse(line: str) -> None:
        words = shlex.split(line, comments=True)
        assert words[0] in ("bench", ".venv/bin/bench"), line
        cli.main(args=words[1:], prog_name="bench", standalone_mode=False)

    return parse


def test_dry_parse_rejects_a_bad_line(dry_parse):
    dry_parse("bench run -t sin3 -l ntk --ns 100,200 --seeds 2")
    for bad in ("bench run --nss 100", "bench show --format xml", "bench run --seeds two", "bench lsit"):
        with pytest.raises(click.UsageError):
            dry_parse(bad)


def test_every_command_help_ends_with_examples_that_parse(bench, dry_parse):
    seen = 0
    for path, _ in _commands():
        code, out, _ = bench(*path, "--help")
        assert code == 0, path
        lines = out.rstrip().splitlines()
        start = max(i for i, l in enumerate(lines) if l.strip() in ("Example:", "Examples:"))
        examples = [l.strip() for l in lines[start + 1:]]
        assert examples and all(e.startswith(" ".join(("bench", *path))) for e in examples), (path, examples)
        for example in examples:
            dry_parse(example)
        seen += 1
    assert seen >= 7  # bench, run, list, suite, suite list, leaderboard, show (and any added since)


def _command_lines(page: str) -> list[str]:
    """Each command in the fenced bash blocks of ``page`` (relative to the repository), one per
    line, with backslash continuations joined and ``&&`` chains split."""
    from markdown_it import MarkdownIt

    out = []
    for token in MarkdownIt().parse((ROOT / page).read_text()):
        if token.type == "fence" and token.info.strip() == "bash":
            for line in token.content.replace("\\\n", " ").splitlines():
                out += [part.strip() for part in line.split("&&") if part.strip()]
    return out


@pytest.mark.parametrize("page, count", [("README.md", 14), ("docs/usage.md", 19), ("docs/suites.md", 6),
                                         ("docs/tasks-and-learners.md", 2), ("docs/plugins.md", 6)])
def test_documented_bench_lines_parse_and_run_as_written_after_set_up(dry_parse, page, count):
    lines = _command_lines(page)
    benches = [i for i, cmd in enumerate(lines) if cmd.split()[0] in ("bench", ".venv/bin/bench")]
    assert len(benches) >= count, lines  # the extraction found the page's examples
    for i in benches:
        dry_parse(lines[i])
    # a bare `bench` works only in the activated environment: it comes after the page says so
    activate = lines.index("source .venv/bin/activate")
    assert all(i > activate for i in benches if lines[i].startswith("bench "))


def test_bench_list_fits_100_columns_and_verbose_shows_everything(bench, fake_plugin):
    long_text = "a description long enough that no 100-column listing can hold it in one line " * 3
    fake_plugin("cb_wordy", f"""
        from harness import Task, hookimpl
        class Wordy(Task):
            name, kind, description = "wordy", "regression", {long_text!r}
            def __init__(self, scale=1.0):
                super().__init__(scale=scale)
            def sample(self, n, rng):
                X = rng.standard_normal((n, 2))
                return X, X[:, 0]
        @hookimpl
        def register_tasks(register):
            register(Wordy())
        """, dist="wordy-dist")
    from harness.execution.registry import load_registry

    reg = load_registry()
    code, out, _ = bench("list")
    assert code == 0 and max(map(len, out.splitlines())) <= 100
    wordy = next(l for l in out.splitlines() if l.startswith("wordy "))
    assert wordy.endswith("…") and long_text[:30] in wordy and "cb_wordy" in wordy
    for name, task in reg.tasks.items():  # every name listed, its description cut only if too long
        line = next(l for l in out.splitlines() if l.startswith(name + " "))
        assert task.description[:20] in line and (task.description in line or line.endswith("…"))
    code, out, _ = bench("list", "--verbose")  # wrapped at 100 columns: compare with the line breaks undone
    assert code == 0 and max(map(len, out.splitlines())) <= 100
    joined = " ".join(out.split())
    assert " ".join(long_text.split()) in joined and "scale=1.0" in joined and "wordy-dist 0.1" in joined
    for lr in reg.learners.values():
        assert " ".join(lr.description.split()) in joined
    assert "ridge_per_n∈{1e-10, 1e-09" in joined  # the grids, in full


def test_license_is_mit_in_the_file_and_the_package_metadata():
    import tomllib

    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "conceptbench contributors" in text
    assert "Permission is hereby granted, free of charge" in text
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] in ("MIT", {"text": "MIT"})
