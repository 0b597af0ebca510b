"""The public plugin API: what a task, a learner or a suite is written against (the base
classes with their default behaviour, hooks, errors, the epoch reporter, diagnostics).
Plugins import it through :mod:`harness`; nothing here imports another layer."""
