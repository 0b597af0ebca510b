"""conceptbench harness: the framework. It knows no task or learner; plugins bring them.

The public API — everything a plugin needs, imported as ``from harness import ...`` (plugins must
not import from ``harness.<module>``; those are internals)::

    hookimpl    marks a plugin's hook implementations (the hooks: harness/api/hookspecs.py)
    Task        a distribution over labelled points: subclass it, implement sample(n, rng)
    FiniteTask  a Task backed by a fixed dataset: implement load()
    Problem     what a learner is told about the task besides the data (kind, d, n_classes)
    Learner     a learning method: subclass it, declare `parameters`, implement fit()
    Model       what Learner.fit returns: anything with .predict(X)
    Selection   the outcome of hyper-parameter selection, returned by Learner.fit_select
    score       the selection score (MSE or 0-1 error), for a learner's own fit_select
    is_int      a check for integer candidates, for Learner.require in check_params
    is_number   a check for real candidates in a range, for Learner.require
    Search      declares how far selection may extend a numeric axis whose winner is on its edge
    Suite       a named benchmark grid, registered by register_suites
    Scale       one size of a suite (small, paper, ...): its Ns, seeds, test set and overrides
    load_suite_toml  reads a suite file (TOML) into a Suite, for a plugin to register
    Ordering    a suite's claim "a < b < c in test error", checked per N with paired intervals
    Slope       a suite's claim on the slope of log error against log N (or log width)
    Beats       a suite's claim "a < each of b, c, ..." in test error, per N
    Threshold   a suite's claim "mean error at the largest N < level", with its interval
    WidthNeeded a suite's claim on how the width needed for a small training loss grows with N
    Trend       a suite's claim "a quantity grows (or shrinks) with a condition such as label noise p"
    Tracks      a suite's claim "quantity A tracks quantity B across a condition's values" (correlation)
    BenchError  raise it with a one-line message the user can act on
    Diverged    raise it when training produced NaN/inf; the configuration is skipped
    training_curve    a Model's diagnostics from its per-epoch training loss: curve, epochs to threshold
    arora_kernel      H∞ of Arora et al. 2019 (the infinite-width two-layer ReLU Gram matrix)
    arora_complexity  Arora et al.'s complexity measure sqrt(2 yᵀ(H∞)⁻¹y / n)
    report_epoch  call it once per epoch of a training loop: the run's progress bar shows it
    training_checkpoint  a training loop's checkpoint in the running cell: restore, save when due, finish
"""

from harness.api.diagnostics import arora_complexity, arora_kernel, training_curve
from harness.api.checkpoints import training_checkpoint
from harness.api.epochs import report_epoch
from harness.api.errors import BenchError, Diverged
from harness.api.hookspecs import hookimpl
from harness.api.learners import Learner, Model, Selection, is_int, is_number, score
from harness.api.search import Search
from harness.api.tasks import FiniteTask, Problem, Task
from harness.suites.claims import Beats, Ordering, Slope, Threshold
from harness.suites.suite import Scale, Suite, load_suite_toml
from harness.suites.sweeps import Tracks, Trend, WidthNeeded

__all__ = ["Beats", "BenchError", "Diverged", "FiniteTask", "Learner", "Model", "Ordering", "Problem", "Scale",
           "Search", "Selection", "Slope", "Suite", "Task", "Threshold", "Tracks", "Trend", "WidthNeeded",
           "arora_complexity", "arora_kernel", "hookimpl", "is_int", "is_number", "load_suite_toml",
           "report_epoch", "score", "training_checkpoint", "training_curve"]
