"""conceptbench harness: the framework. It knows no task or learner; plugins bring them.

Public API for plugin authors::

    from harness import hookimpl, Task, Learner, Suite, Problem, Selection, Diverged
"""

from .errors import BenchError, Diverged
from .hookspecs import hookimpl
from .learners import Learner, Model, Selection, score
from .suites import Suite
from .tasks import Problem, Task

__all__ = ["BenchError", "Diverged", "Learner", "Model", "Problem", "Selection", "Suite", "Task",
           "hookimpl", "score"]
