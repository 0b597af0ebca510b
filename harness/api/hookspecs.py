"""The whole plugin API of conceptbench: pluggy hook specifications.

A plugin is a module exposed in the ``conceptbench`` entry-point group of its distribution::

    [project.entry-points.conceptbench]
    my_plugin = "my_package.plugin"

and implements any of the hooks below with ``@harness.hookimpl``. Each hook receives a
``register`` callback; call it once per object. Names must be unique across all plugins.
"""

import pluggy

hookspec = pluggy.HookspecMarker("conceptbench")
hookimpl = pluggy.HookimplMarker("conceptbench")


@hookspec
def register_tasks(register):
    """Register tasks: call ``register(task)`` with a :class:`harness.Task` instance for each."""


@hookspec
def register_learners(register):
    """Register learners: call ``register(learner)`` with a :class:`harness.Learner` instance for each."""


@hookspec
def register_suites(register):
    """Register named benchmark suites: call ``register(suite)`` with a :class:`harness.Suite`."""
