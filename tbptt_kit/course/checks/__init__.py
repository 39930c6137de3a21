"""The course's exercises, one module per notebook (``nb01`` ... ``nb10``): each exercise is
defined once (its cases, its own reference, what its usual mistakes look like), and both its
self-check (``checks.check_...``, in the notebook) and its graded test (``checks.graded``,
in grading/tests/) run from that one definition (``core.py``).

``lstm.py`` is the float64 LSTM the references of notebooks 04 and 06 differentiate by hand;
``verify.py`` is the graded test's clean process. Importing this package takes the grader's
snapshot of what it uses (``tbptt_kit.tooling.grading``), before any cell of a student's.
"""

from ...tooling import grading  # noqa: F401  (its snapshot, now)
from . import nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10
from .core import EXERCISES, NOT_DONE, RIGHT, WRONG, Verdict, graded
from .nb01 import *  # noqa: F403
from .nb02 import *  # noqa: F403
from .nb03 import *  # noqa: F403
from .nb04 import *  # noqa: F403
from .nb05 import *  # noqa: F403
from .nb06 import *  # noqa: F403
from .nb07 import *  # noqa: F403
from .nb08 import *  # noqa: F403
from .nb09 import *  # noqa: F403
from .nb10 import *  # noqa: F403

__all__ = [
    "EXERCISES",
    "NOT_DONE",
    "RIGHT",
    "WRONG",
    "Verdict",
    "graded",
    *nb01.__all__,
    *nb02.__all__,
    *nb03.__all__,
    *nb04.__all__,
    *nb05.__all__,
    *nb06.__all__,
    *nb07.__all__,
    *nb08.__all__,
    *nb09.__all__,
    *nb10.__all__,
]
