"""Plugin loading: built-ins through entry points, broken plugins named and isolated."""

import pytest

from conftest import one_line_error
from harness.errors import BenchError, PluginError
from harness.registry import load_registry

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
    monkeypatch.setenv("CONCEPTBENCH_PLUGINS", "sin3,kernel_ridge")
    reg = load_registry()
    assert set(reg.tasks) == {"sin3"} and set(reg.learners) == {"kernel_ridge"} and not reg.problems


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
