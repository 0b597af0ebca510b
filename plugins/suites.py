"""Built-in benchmark suites."""

from harness import Suite, hookimpl

QUICK = Suite(
    name="quick",
    description="sin3 learning curves of the Fig. 1 methods in about a minute on 2 cores (the README's default)",
    tasks={"sin3": {}},
    learners={
        # Narrower and shorter than the paper-scale defaults (width 1000, 100–200 epochs) to fit
        # the budget; three_layer_alg1 gets one learning rate and 100 rounds (≈ 4 s a cell at
        # N = 800 on its own), too few for it to learn sin3 (README, "three_layer_alg1 on sin3").
        "three_layer_sgd": {"width": [128], "epochs": [60]},
        "two_layer_sgd": {"width": [128], "epochs": [60]},
        "three_layer_alg1": {"width": [128], "epochs": [100], "lr": [0.3]},
        "ntk": {},
        "random_features": {"width": [100, 1000]},
        "kernel_ridge": {},
    },
    ns=(100, 200, 400, 800),
    seeds=3,
    n_test=5000,
)


@hookimpl
def register_suites(register):
    register(QUICK)
