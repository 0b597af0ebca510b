"""conceptbench harness: the framework. It knows no task or learner; plugins bring them.

The public API — everything a plugin needs, imported as ``from harness import ...`` (plugins must
not import from ``harness.<module>``; those are internals)::

    hookimpl    marks a plugin's hook implementations (the hooks: harness/hookspecs.py)
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
    Ordering    a suite's claim "a < b < c in test error", checked per N with paired intervals
    Slope       a suite's claim on the slope of log error against log N (or log width)
    Beats       a suite's claim "a < each of b, c, ..." in test error, per N
    Threshold   a suite's claim "mean error at the largest N < level", with its interval
    BenchError  raise it with a one-line message the user can act on
    Diverged    raise it when training produced NaN/inf; the configuration is skipped
"""

from .errors import BenchError, Diverged
from .hookspecs import hookimpl
from .learners import Learner, Model, Selection, is_int, is_number, score
from .search import Search
from .suites import Scale, Suite
from .tasks import FiniteTask, Problem, Task
from .verdict import Beats, Ordering, Slope, Threshold

__all__ = ["Beats", "BenchError", "Diverged", "FiniteTask", "Learner", "Model", "Ordering", "Problem", "Scale",
           "Search", "Selection", "Slope", "Suite", "Task", "Threshold", "hookimpl", "is_int", "is_number", "score"]
