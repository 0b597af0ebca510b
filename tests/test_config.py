"""Runs as files: `bench run --config run.toml` plans exactly the cells of the equivalent command
line, suites load from TOML files (a directory, a plugin) and print back as TOML, and every bad
file is one line naming the key and its line."""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
import textwrap

import pytest
from conftest import ROOT, one_line_error
from suite_plugin import install, section

import harness
from harness.cli import run_config
from harness.cli.run import CONFIG_OPTIONS
from harness.cli.run import run as run_command
from harness.execution.registry import load_registry
from harness.execution.summary import RunSummary
from harness.reporting import suite_pages
from harness.suites import toml
from harness.suites.suite import suite_from_toml, suite_to_toml
from harness.suites.toml import tomllib

BUILTIN_SUITES = ("quick", "allen-zhu-fig1", "allen-zhu-fig1a", "allen-zhu-fig1b", "allen-zhu-fig2", "zou-gu-deep", "teacher-nets", "li-liang-mixtures", "arora-random-labels")


@pytest.fixture
def planned(monkeypatch):
    """Replace training by a recorder: ``planned()`` returns the cells of the last `bench run`."""
    seen: list = []

    def execute(cells, store, **kwargs):
        seen[:] = cells
        return RunSummary(planned=len(cells), skipped=len(cells))

    monkeypatch.setattr("harness.cli.run.execute", execute)
    return lambda: list(seen)


def write(tmp_path, text: str, name: str = "run.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def ids(cells) -> set[str]:
    return {c.cell_id for c in cells}


# --- the same cells as the command line ----------------------------------------------------------

EQUIVALENT = [
    (["-t", "sin3", "-l", "three_layer_sgd"],  # the flagship: every default
     """
     tasks = ["sin3"]
     learners = ["three_layer_sgd"]
     """),
    (["-t", "sin3", "-l", "three_layer_sgd", "-l", "kernel_ridge", "-p", "three_layer_sgd.width=128",
      "-p", "epochs=60", "-p", "lr=0.01,0.03", "--ns", "100,200", "--seeds", "2", "--n-test", "500",
      "--label-noise", "0.1", "--val-fraction", "0.25", "--zou-gu-mu", "0.5", "--select-on", "test"],
     """
     ns = [100, 200]
     seeds = 2
     n_test = 500
     label_noise = 0.1
     val_fraction = 0.25
     zou_gu_mu = 0.5
     select_on = "test"

     [learners.three_layer_sgd]
     width = 128
     epochs = [60]
     lr = [0.03, 0.01]          # order does not matter: a grid is canonical

     [learners.kernel_ridge]

     [tasks.sin3]
     """),
    (["-t", "mixtures", "-t", "poly", "-l", "ntk", "-p", "k=2,3", "-p", "mixtures.d=5", "-p", "degrees=[1,2],[2,4]",
      "-p", "depth=2"],  # task sweeps (a cartesian product) and tuple values
     """
     [tasks.mixtures]
     k = [2, 3]
     d = 5
     [tasks.poly]
     degrees = [[1, 2], [2, 4]]
     [learners.ntk]
     depth = [2]
     """),
    (["-t", "sin3", "-l", "three_layer_sgd", "-l", "two_layer_ntk", "-l", "ntk", "--preset", "allen-zhu",
      "-p", "width=500", "-p", "two_layer_ntk.train_bias=false"],  # a preset, and -p on top of it
     """
     tasks = ["sin3"]
     preset = "allen-zhu"
     [learners.three_layer_sgd]
     width = [500]
     [learners.two_layer_ntk]
     width = [500]
     train_bias = false
     [learners.ntk]
     """),
    (["-t", "sin3", "-l", "all", "--n", "50"],
     """
     tasks = ["sin3"]
     learners = ["all"]
     ns = [50]
     """),
    (["--suite", "allen-zhu-fig1", "--scale", "paper", "--yes"],  # hours: past the estimate's gate
     """
     suite = "allen-zhu-fig1"
     scale = "paper"
     yes = true
     """),
]


@pytest.mark.parametrize("args, toml", EQUIVALENT, ids=["flagship", "options", "sweeps", "preset", "all", "suite"])
def test_a_run_file_plans_the_cells_of_its_command_line(bench, planned, tmp_path, args, toml):
    code, _, err = bench("run", *args, "--no-leaderboard")
    assert code == 0, err
    by_cli = planned()
    code, _, err = bench("run", "--config", write(tmp_path, toml), "--no-leaderboard")
    assert code == 0, err
    assert by_cli and ids(planned()) == ids(by_cli)


def test_a_run_file_trains_and_stores_the_same_cells(bench, tmp_path):
    """End to end, without the recorder: two stores, one filled by the file, one by the options."""
    toml = write(tmp_path, """
        # a tiny grid: kernel ridge on two task variants
        ns = [20, 40]
        seeds = 2
        n_test = 50
        label_noise = 0.1
        jobs = 1
        store = "%s"
        no_leaderboard = true

        [tasks.mixtures]
        k = [2, 3]
        d = 4

        [learners.kernel_ridge]
        kernel = "rbf"
        alpha_per_n = [1e-6, 1e-3]
        """ % (tmp_path / "file.sqlite"))
    code, out, err = bench("run", "--config", toml)
    assert code == 0 and "Ran 8 of 8 cells" in out, err
    code, out, err = bench("run", "-t", "mixtures", "-l", "kernel_ridge", "-p", "k=2,3", "-p", "d=4", "-p", "kernel=rbf",
                           "-p", "alpha_per_n=1e-6,1e-3", "--ns", "20,40", "--seeds", "2", "--n-test", "50",
                           "--label-noise", "0.1", "--jobs", "1", "--store", str(tmp_path / "cli.sqlite"),
                           "--no-leaderboard")
    assert code == 0 and "Ran 8 of 8 cells" in out, err
    stored = [{r[0] for r in sqlite3.connect(tmp_path / f).execute("SELECT cell_id FROM cells")}
              for f in ("file.sqlite", "cli.sqlite")]
    assert len(stored[0]) == 8 and stored[0] == stored[1]
    # the run file again: everything is in its store
    code, out, _ = bench("run", "--config", toml)
    assert code == 0 and "Nothing to train: all 8 cells are already in" in out


def test_options_on_the_command_line_override_the_file(bench, planned, tmp_path):
    toml = write(tmp_path, """
        tasks = ["sin3"]
        ns = [100, 200]
        seeds = 3
        [learners.three_layer_sgd]
        width = [128]
        epochs = [60]
        """)
    code, _, err = bench("run", "--config", toml, "--seeds", "1", "--n", "300", "-p", "width=64", "--no-leaderboard")
    assert code == 0, err
    cells = planned()
    assert {c.seed for c in cells} == {0} and {c.n for c in cells} == {300}
    assert cells and all(c.learner.overrides == {"width": [64], "epochs": [60]} for c in cells)


@pytest.mark.parametrize("flag", [["--task", "sin3"], ["--learner", "ntk"], ["--suite", "quick"]])
def test_what_to_run_comes_from_the_file_alone(bench, tmp_path, flag):
    toml = write(tmp_path, 'tasks = ["sin3"]\nlearners = ["ntk"]\n')
    code, _, err = bench("run", "--config", toml, *flag)
    assert code == 2 and f"{flag[0]} with --config: {toml} says what to run; edit its" in one_line_error(err)


def test_every_run_option_has_a_key():
    """Anything the command line can say, a file can: each option maps to a checked key."""
    covered = {"config_path", "ns_csv", "params"}  # the file itself; ns; the [tasks.X]/[learners.X] tables
    keys = set(toml.RUN_KEYS) | set(run_config.OBJECT_KEYS)
    reverse = {v: k for k, v in CONFIG_OPTIONS.items()}
    for param in run_command.params:
        if param.name not in covered:
            assert reverse.get(param.name, param.name) in keys, f"bench run {param.opts[0]} has no run-file key"


# --- errors: one line, the file, the key's line ---------------------------------------------------

BAD_RUN_FILES = [
    ('tasks = ["sin3"]\nlearners = ["ntk"]\nseed = 3\n', "run.toml:3: unknown key 'seed' — did you mean 'seeds'?"),
    ('tasks = ["sin3"]\nseeds = "3"\n', 'run.toml:2: seeds must be an integer, got a string ("3"); write e.g. seeds = 3'),
    ('seeds = 0\n', "run.toml:1: seeds must be a positive integer, got 0"),
    ('jobs = 1.5\n', "run.toml:1: jobs must be an integer, got a float (1.5)"),
    ('ns = [100, "x"]\n', 'run.toml:1: ns must be a list of positive integers, got a list holding a string ("x")'),
    ('ns = 100\n', "run.toml:1: ns must be a list of positive integers, got an integer (100); write e.g. ns = [100"),
    ('# sizes\n\nns = [100, 0]\n', "run.toml:3: ns: N must be a positive integer, got 0"),
    ('label_noise = "lots"\n', 'run.toml:1: label_noise must be a number, got a string ("lots")'),
    ('force = "yes"\n', 'run.toml:1: force must be true or false, got a string ("yes")'),
    ('select_on = "tst"\n', "run.toml:1: select_on must be one of validation, test, got a string (\"tst\") — "
                            "did you mean 'test'?"),
    ('tasks = "sin3"\n', 'run.toml:1: tasks must be a list of names or tables of parameters, got a string ("sin3")'),
    ('tasks = []\n', "run.toml:1: tasks must name at least one task, got an empty list"),
    ('tasks = ["sin3"]\n[learners]\nntk = 3\n', "run.toml:3: learners.ntk must be a table, got an integer (3)"),
    ('tasks = ["sin3"]\n[learners.ntk]\ndepth = []\n', "run.toml:3: learners.ntk.depth = [] gives no value"),
    ('tasks = ["sin3"]\n[learners.ntk]\ndepth = { a = 1 }\n', "run.toml:3: learners.ntk.depth must be a value or a "
                                                               "list of values"),
    ('suite = "quick"\n\nseeds = 5\n', "run.toml:3: seeds would change the grid of suite 'quick'"),
    ('scale = "paper"\n', "run.toml:1: scale chooses a suite's scale; give suite = NAME too"),
    ('tasks = ["sin3"]\nseeds = 2\n', "run.toml does not say what to run: it has no learners; write"),
    ('# nothing\n', "run.toml does not say what to run: it has no tasks and no learners"),
]


@pytest.mark.parametrize("text, words", BAD_RUN_FILES)
def test_a_bad_run_file_is_one_line_naming_the_key_and_its_line(bench, tmp_path, text, words):
    toml = write(tmp_path, text)
    code, _, err = bench("run", "--config", toml)
    assert code == 2
    assert one_line_error(err) .startswith(f"error: {toml[:-len('run.toml')]}")
    assert words in one_line_error(err)
    assert "Plan:" not in err  # nothing planned, nothing trained


BAD_NAMES = [  # checked against the registry, still with the line
    ('tasks = ["sin4"]\nlearners = ["ntk"]\n', "run.toml:1: unknown task 'sin4' — did you mean 'sin3'?"),
    ('tasks = ["sin3"]\n\n[learners.kernel_rige]\n', "run.toml:3: unknown learner 'kernel_rige' — did you mean "
                                                      "'kernel_ridge'?"),
    ('learners = ["ntk"]\n[tasks.mixtures]\nk = 2\ndelt = 0.5\n',
     "run.toml:4: task 'mixtures' has no parameter 'delt' — did you mean 'delta'?"),
    ('tasks = ["sin3"]\n[learners.kernel_ridge]\nkernel = "rbf"\nalpha_pre_n = [1e-3]\n',
     "run.toml:4: learner 'kernel_ridge' has no parameter 'alpha_pre_n' — did you mean 'alpha_per_n'?"),
    ('tasks = ["sin3"]\n[learners.two_layer_sgd]\ntrain_output = false\n',
     "run.toml:3: learner 'two_layer_sgd': train_output was replaced by train"),
    ('tasks = ["sin3"]\n[learners.ntk]\ndepth = [1]\n', "learner 'ntk': depth must be an integer ≥ 2"),
    ('tasks = ["sin3"]\nlearners = ["kernel_ridge"]\npreset = "allen-zhu"\n', "declares preset 'allen-zhu'"),
]


@pytest.mark.parametrize("text, words", BAD_NAMES)
def test_unknown_names_and_parameters_in_a_run_file_are_one_line(bench, tmp_path, text, words):
    code, _, err = bench("run", "--config", write(tmp_path, text))
    assert code == 2 and words in one_line_error(err) and "Plan:" not in err


def test_a_toml_syntax_error_is_one_line_with_tomllibs_line_and_column(bench, tmp_path):
    text = 'tasks = ["sin3"]\nlearners = ["ntk"]\nseeds = \n'
    with pytest.raises(tomllib.TOMLDecodeError) as exc:  # where tomllib itself puts the error
        tomllib.loads(text)
    line, column = re.search(r"line (\d+), column (\d+)", str(exc.value)).groups()
    code, _, err = bench("run", "--config", write(tmp_path, text))
    assert code == 2
    assert re.match(rf"error: \S*run.toml:{line}:{column}: not valid TOML: Invalid value; see https://toml.io$",
                    one_line_error(err))


def test_a_missing_run_file_is_one_line(bench, tmp_path):
    code, _, err = bench("run", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "cannot read run file" in one_line_error(err) and "No such file" in one_line_error(err)


def test_key_lines_track_tables_arrays_of_tables_and_values_that_span_lines():
    text = textwrap.dedent('''
        # a comment with key = 1 and [brackets]
        name = "a # not a comment = [x"
        caveats = [
            "one ] with a bracket",
            "two",
        ]
        notes = """
        [not.a.table]
        fake = 1
        """
        "quoted key" = 1
        dotted.inner = 2      # 12

        [tasks.sin3]
        [[learners.a]]
        width = [1]           # 16
        [[learners.a]]
        width = [
          2,
        ]
        lr = [0.1]            # 21
        [scales.paper]
        ns = [1]
        [[scales.paper.learners.b]]
        x = { y = 1 }         # 25
        [[claims]]
        kind = "ordering"
        [[claims]]
        'literal' = 'a'       # 29
    ''')
    lines = toml.key_lines(text)
    assert tomllib.loads(text)  # valid TOML
    expected = {("name",): 3, ("caveats",): 4, ("notes",): 8, ("quoted key",): 12, ("dotted", "inner"): 13,
                ("tasks", "sin3"): 15, ("learners", "a", 0): 16, ("learners", "a", 0, "width"): 17,
                ("learners", "a", 1): 18, ("learners", "a", 1, "width"): 19, ("learners", "a", 1, "lr"): 22,
                ("scales", "paper"): 23, ("scales", "paper", "ns"): 24, ("scales", "paper", "learners", "b", 0): 25,
                ("scales", "paper", "learners", "b", 0, "x"): 26, ("claims", 0, "kind"): 28,
                ("claims", 1, "literal"): 30}
    assert {k: lines.get(k) for k in expected} == expected
    assert not any(k[0] in ("not", "fake") for k in lines)  # nothing read inside the multi-line string
    src = toml.TomlFile("f.toml", {}, lines)
    assert src.line(("scales", "paper", "learners", "b", 0, "x", "y")) == 26  # inside an inline table


# --- suites as TOML files -----------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILTIN_SUITES)
def test_every_builtin_suite_prints_as_toml_that_loads_back_as_the_same_suite(bench, name):
    code, out, err = bench("suite", "show", name)
    assert code == 0, err
    suite = load_registry().suites[name]
    back = suite_from_toml(toml.TomlFile.parse(out, f"{name}.toml"))
    assert back == suite
    assert back.claims == suite.claims
    reg = load_registry()
    for scale in suite.scale_names:  # the same cells at every scale
        assert ids(suite_pages.cells(reg, back.at(scale))) == ids(suite_pages.cells(reg, suite.at(scale)))


def test_the_toml_writer_reads_back_with_tomllib():
    doc = {"s": 'quote " backslash \\ tab \t newline \n unicode ⁻ᵏ', "key with space": 1, "f": [1e-10, 0.1, 2.5e-05],
           "inf": float("inf"), "b": [True, False], "nested": [[1, 2], [3]], "long": ["x" * 40] * 4,
           "t": {"u": {}, "v": {"w": 1}}, "aot": [{"a": 1, "c": {"d": "e"}}, {}], "none": None}
    back = tomllib.loads(toml.dumps(doc))
    assert back == {k: v for k, v in doc.items() if k != "none"}


@pytest.fixture
def toy(fake_plugin, monkeypatch):
    install(fake_plugin, monkeypatch)


def toy_a_as_file(name: str = "toy-file") -> str:
    """The toy plugin's Python suite toy-a, printed as a suite file under another name."""
    text = suite_to_toml(load_registry().suites["toy-a"])
    return text.replace('name = "toy-a"', f'name = "{name}"', 1)


def test_a_suite_file_in_conceptbench_suites_runs_like_the_python_suite(toy, bench, tmp_path, monkeypatch):
    folder = tmp_path / "suites"
    folder.mkdir()
    (folder / "toy.toml").write_text(toy_a_as_file())
    (folder / "README.txt").write_text("not a suite")  # only *.toml files are read
    monkeypatch.setenv("CONCEPTBENCH_SUITES", os.pathsep.join([str(tmp_path / "missing"), str(folder)]))
    code, out, err = bench("suite", "list")
    assert "toy-file" in out and "CONCEPTBENCH_SUITES: no suite file or directory at" in err
    monkeypatch.setenv("CONCEPTBENCH_SUITES", str(folder))
    lb = tmp_path / "lb"
    code, out, err = bench("run", "--suite", "toy-file", "--jobs", "1", "--out", str(lb))
    assert code == 0, err
    reg = load_registry()
    stored = {r[0] for r in sqlite3.connect(tmp_path / "store.sqlite").execute("SELECT cell_id FROM cells")}
    assert stored == ids(suite_pages.cells(reg, reg.suites["toy-a"].at()))  # exactly the Python suite's cells
    verdict = (lb / "toy-file" / "verdict.md").read_text()
    assert "ridge < mean on line" in verdict and section(verdict, "Claim 1:")


def test_a_plugin_registers_suite_files_by_path_or_by_load_suite_toml(fake_plugin, bench, tmp_path, monkeypatch):
    data = tmp_path / "plugin_suites"
    data.mkdir()
    install(fake_plugin, monkeypatch)
    (data / "a.toml").write_text(toy_a_as_file("from-path"))
    (data / "b.toml").write_text(toy_a_as_file("from-loader"))
    fake_plugin("filesuites", f'''
        from pathlib import Path
        from harness import hookimpl, load_suite_toml

        @hookimpl
        def register_suites(register):
            register(Path({str(data / "a.toml")!r}))
            register(load_suite_toml({str(data / "b.toml")!r}))
        ''')
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,toysuites,filesuites")
    reg = load_registry()
    assert not reg.problems
    assert {"from-path", "from-loader"} <= set(reg.suites)
    assert reg.origin("suite", "from-path").plugin == "filesuites"
    code, out, err = bench("run", "--suite", "from-path", "--jobs", "1", "--no-leaderboard")
    assert code == 0 and "Ran 12 of 12 cells" in out, err


def test_a_suite_file_whose_name_is_taken_is_one_line(toy, bench, tmp_path, monkeypatch):
    (tmp_path / "clash.toml").write_text(toy_a_as_file("toy-a"))
    monkeypatch.setenv("CONCEPTBENCH_SUITES", str(tmp_path / "clash.toml"))
    code, _, err = bench("run", "--suite", "toy-a", "--jobs", "1")
    assert code == 2
    assert one_line_error(err) == (f"error: suite 'toy-a' in {tmp_path / 'clash.toml'} has the name of a suite from "
                                   f"plugin 'toysuites (toysuites 0.1)'; rename one (name = \"...\" in the file)")


BAD_SUITE_FILES = [
    ("seeds = 3\n", 'suite.toml: a suite file needs name = ... (it has seeds)'),
    ('name = "x"\ndescription = "d"\nns = [10]\nsedes = 2\n[tasks.line]\n[learners.ridge]\n',
     "suite.toml:4: unknown key 'sedes' in a suite file — did you mean 'seeds'?"),
    ('name = "x"\ndescription = "d"\nns = [10]\n[tasks.line]\n[learners.ridge]\n[scales.paper]\nnss = [20]\n',
     "suite.toml:7: unknown key 'nss' in [scales.paper] — did you mean 'ns'?"),
    ('name = "x"\ndescription = "d"\nns = [10]\n[tasks.line]\n[learners.ridge]\nalpha = []\n',
     "suite.toml:6: learners.ridge.alpha = [] gives no value"),
    ('name = "x"\ndescription = "d"\nns = [10]\n[tasks.line]\n[learners.ridge]\n[[claims]]\nlearners = ["ridge"]\n',
     'suite.toml:6: claims[1] needs kind = "beats" or "ordering"'),
    ('name = "x"\ndescription = "d"\nns = [10]\n[tasks.line]\n[learners.ridge]\n[[claims]]\nkind = "slope"\n'
     'learner = "ridge"\nat_most = 0\nat_least = 1\ntext = "t"\nsource = "s"\n',
     "suite.toml:6: claims[1]: a Slope needs exactly one of at_most= and at_least="),
    ('name = "x"\ndescription = "d"\nns = [10]\n[tasks.line]\n[learners.ridge]\n[[claims]]\nkind = "ordering"\n'
     'learners = ["ridge", "mean"]\ntext = "t"\nsource = "s"\nwhen = 1\n',
     "suite.toml:11: unknown key 'when' in an ordering claim"),
    ('name = "x"\ndescription = "d"\nns = [10]\n[tasks.line]\n[learners.ridge]\n[[claims]]\nkind = "ordering"\n'
     'learners = ["ridge", "mean"]\ntext = "t"\nsource = "s"\n',
     "suite.toml: claim 'ridge < mean' names learner 'mean', which suite 'x' does not run at scale 'small'"),
]


@pytest.mark.parametrize("text, words", BAD_SUITE_FILES)
def test_a_bad_suite_file_is_one_line_naming_the_key_and_its_line(toy, bench, tmp_path, monkeypatch, text, words):
    (tmp_path / "suite.toml").write_text(text)
    with pytest.raises(harness.BenchError) as exc:
        harness.load_suite_toml(tmp_path / "suite.toml")
    assert words in str(exc.value) and "\n" not in str(exc.value)
    monkeypatch.setenv("CONCEPTBENCH_SUITES", str(tmp_path))
    code, out, err = bench("suite", "list")  # the other suites still load; the problem is said once
    assert code == 1 and words in one_line_error(err) and "toy-a" in out


# --- docs/suites.md, "Runs as files" (moved there from the README, issue 27 item 5) -------------

def runs_as_files_section() -> str:
    """docs/suites.md's "Runs as files" section: up to the next ``## `` heading or the page's end."""
    page = (ROOT / "docs" / "suites.md").read_text()
    return re.search(r"^## Runs as files\n(.*?)(?=^## |\Z)", page, re.S | re.M).group(1)


def test_docs_show_every_builtin_suite_as_bench_suite_show_prints_it(bench):
    blocks = dict(re.findall(r"<summary><code>bench suite show (\S+)</code></summary>\n\n```toml\n(.*?)```",
                             runs_as_files_section(), re.S))
    assert set(blocks) == set(BUILTIN_SUITES) == set(load_registry().suites)
    for name, block in blocks.items():
        code, out, _ = bench("suite", "show", name)
        assert code == 0 and block == out, f"docs/suites.md's {name} block is stale: paste `bench suite show {name}`"


def test_the_docs_run_files_are_their_commands(bench, planned, tmp_path):
    """Each run file in docs/suites.md says the command it equals in its first comment lines."""
    blocks = re.findall(r"```toml\n# the same cells as: ([^\n]*\n(?:#   [^\n]*\n)*)(.*?)```", runs_as_files_section(), re.S)
    assert len(blocks) == 2 and blocks[0][0].strip() == "bench run --task sin3 --learner three_layer_sgd"
    for command, body in blocks:
        args = shlex.split(command.replace("#", " "))
        assert args[:2] == ["bench", "run"]
        code, _, err = bench("run", "--config", write(tmp_path, body), "--no-leaderboard")
        assert code == 0, err
        from_file = planned()
        code, _, err = bench(*args[1:], "--no-leaderboard")
        assert code == 0 and from_file and ids(from_file) == ids(planned()), command


def test_the_docs_list_every_run_file_key():
    text = runs_as_files_section()
    for key in [*toml.RUN_KEYS, *run_config.OBJECT_KEYS]:
        assert f"`{key}`" in text, f"docs/suites.md 'Runs as files' does not list the key {key}"
