"""Built-in benchmark suites."""

from harness import Suite, hookimpl

QUICK = Suite(
    name="quick",
    description="sin3 learning curves in about a minute on 2 cores (the README's default benchmark)",
    tasks={"sin3": {}},
    learners={
        # Narrower and shorter than the paper-scale default (width 1000, 100 epochs) to fit the budget.
        "three_layer_sgd": {"width": [128], "epochs": [60]},
        "kernel_ridge": {},
    },
    ns=(100, 200, 400, 800),
    seeds=3,
    n_test=5000,
)


@hookimpl
def register_suites(register):
    register(QUICK)
