"""Self-checks for the course's exercises, one module per notebook (``nb01`` ... ``nb10``).

Each check calls the student's function on cases whose answers the kit computes, and
returns a verdict that names the misconception where it can. ``core.py`` has the pieces
all checks share. Notebooks call them as ``checks.check_...``. Each module's ``__all__``
names what it exports: the checks, the verdicts, and notebook 04's exercise setup.
"""

from . import core, nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb09, nb10
from .core import *  # noqa: F403
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
    *core.__all__,
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
