"""Plugin loading: built-ins through entry points, broken plugins named and isolated."""

import pytest

from conftest import one_line_error
from harness.api.errors import BenchError, PluginError
from harness.execution.registry import load_registry

GOOD = """
from harness import Task, hookimpl
import numpy as np

class Line(Task):
    name, kind, description = "{name}", "regression", "y = x1"
    def sample(self, n, rng):
        X = rng.standard_normal((n, 2))
        return X, X[:, 0].copy()

@hookimpl
def register_tasks(register):
    register(Line())
"""


def test_builtins_come_through_the_entry_points():
    reg = load_registry()
    assert {"sin3"} <= set(reg.tasks) and {"three_layer_sgd", "kernel_ridge"} <= set(reg.learners)
    assert reg.origin("task", "sin3").dist == "conceptbench"
    assert "quick" in reg.suites and not reg.problems


def test_a_plugin_that_fails_to_import_is_named_and_others_still_load(fake_plugin):
    fake_plugin("cb_broken_import", "import no_such_module_here\n")
    fake_plugin("cb_good", GOOD.format(name="line"))
    reg = load_registry()
    assert "line" in reg.tasks and "sin3" in reg.tasks
    (problem,) = reg.problems
    assert "cb_broken_import" in problem and "ModuleNotFoundError" in problem


def test_a_raising_hook_and_a_bad_object_are_named(fake_plugin):
    fake_plugin("cb_raises", """
        from harness import hookimpl
        @hookimpl
        def register_tasks(register):
            raise RuntimeError("cannot build task")
        """)
    fake_plugin("cb_bad_object", """
        from harness import hookimpl
        @hookimpl
        def register_learners(register):
            register(object())
        """)
    problems = " | ".join(load_registry().problems)
    assert "plugin 'cb_raises" in problems and "raised in register_tasks: RuntimeError: cannot build task" in problems
    assert "plugin 'cb_bad_object" in problems and "not a harness.Learner" in problems


def test_duplicate_names_name_both_plugins_and_the_name_is_unusable(fake_plugin):
    fake_plugin("cb_one", GOOD.format(name="twin"))
    fake_plugin("cb_two", GOOD.format(name="twin"))
    reg = load_registry()
    assert any("'twin'" in p and "cb_one" in p and "cb_two" in p for p in reg.problems)
    with pytest.raises(PluginError, match="registered by both"):
        reg.get("task", "twin")


def test_env_var_limits_which_plugins_load(fake_plugin, monkeypatch):
    fake_plugin("cb_broken_import", "raise ImportError('nope')\n")
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "-builtin,sin3,kernel_ridge")
    reg = load_registry()
    assert set(reg.tasks) == {"sin3"} and set(reg.learners) == {"kernel_ridge"} and not reg.problems


@pytest.mark.parametrize("value, tasks", [
    ("mine", {"sin3", "line"}),             # built-ins are not dropped unless asked
    ("builtin,mine", {"sin3", "line"}),
    ("mine-dist", {"sin3", "line"}),        # a distribution name works too
    ("-builtin,mine", {"line"}),
    ("-builtin,sin3", {"sin3"}),
])
def test_env_var_keeps_the_builtins_unless_told(fake_plugin, monkeypatch, value, tasks):
    fake_plugin("mine", GOOD.format(name="line"), dist="mine-dist")
    fake_plugin("cb_other", GOOD.format(name="other"))
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", value)
    reg = load_registry()
    assert {"sin3", "line", "other"} & set(reg.tasks) == tasks and not reg.problems


def test_env_var_naming_no_installed_plugin_is_a_problem_with_a_suggestion(fake_plugin, monkeypatch, bench):
    fake_plugin("mine", GOOD.format(name="line"))
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "mnie")
    reg = load_registry()
    (problem,) = reg.problems
    assert problem.startswith("CONCEPTBENCH_PLUGINS names 'mnie', which is not an installed plugin — did you "
                              "mean 'mine'? Installed: ")
    assert "sin3" in reg.tasks and "line" not in reg.tasks
    code, _, err = bench("list")
    assert code == 1 and one_line_error(err) == f"error: {problem}"


def test_a_misspelled_hook_is_a_problem_naming_plugin_and_hook(fake_plugin, bench):
    fake_plugin("mine", """
        from harness import hookimpl
        from cb_good import Line
        @hookimpl
        def register_task(register):
            register(Line())
        """, dist="mine-dist")
    fake_plugin("cb_good", GOOD.format(name="line"))
    reg = load_registry()
    (problem,) = reg.problems
    assert problem.startswith("plugin 'mine (mine-dist 0.1)' implements unknown hook 'register_task' — did you "
                              "mean 'register_tasks'?")
    assert "line" in reg.tasks and "sin3" in reg.tasks
    code, out, err = bench("list")
    assert code == 1 and "line" in out and one_line_error(err) == f"error: {problem}"


def test_hooks_are_called_by_pluggy_so_a_wrapper_implementation_runs(fake_plugin):
    # Called as a plain function, a wrapper only returns a generator and registers nothing.
    fake_plugin("cb_wrapper", GOOD.replace("@hookimpl\n", "@hookimpl(wrapper=True)\n").format(name="line")
                + "    return (yield)\n")
    reg = load_registry()
    assert "line" in reg.tasks and not reg.problems


def test_each_problem_is_printed_once(fake_plugin, bench):
    fake_plugin("cb_one", GOOD.format(name="twin"))
    fake_plugin("cb_two", GOOD.format(name="twin"))
    fake_plugin("cb_broken_import", "import no_such_module_here\n")
    fake_plugin("cb_typo", "from harness import hookimpl\n@hookimpl\ndef register_learner(register):\n    pass\n")
    problems = load_registry().problems
    assert len(problems) == 3
    small = ("--ns", "10", "--seeds", "1", "--no-leaderboard")
    for args in [("list",), ("run", "-t", "twin", "-l", "kernel_ridge", *small),
                 ("run", "-t", "sin3", "-l", "cb_typo_learner", *small)]:
        code, _, err = bench(*args)
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert code != 0 and len(lines) == len(set(lines)), (args, err)
        assert all(f"error: {p}" in lines for p in problems), (args, err)


def test_unknown_names_suggest_the_closest():
    with pytest.raises(BenchError, match="unknown task 'sin4' — did you mean 'sin3'"):
        load_registry().get("task", "sin4")


def test_bench_list_reports_broken_plugin_in_one_line_and_exits_nonzero(fake_plugin, bench):
    fake_plugin("cb_raises", """
        from harness import hookimpl
        @hookimpl
        def register_learners(register):
            raise ValueError("bad config")
        """)
    code, out, err = bench("list")
    assert code != 0 and "sin3" in out and "three_layer_sgd" in out
    assert "cb_raises" in one_line_error(err)
