"""What the course's notebooks call, built on the core: a student need not read it.

``rnn_learner.py`` (``RNNLearner``: the reference example's learner), ``callbacks.py``,
``losses.py``, ``evaluate.py`` (free-run scores), ``run.py`` (windows through a learner's own
step), ``lens.py`` (the gradient by lag), ``bias.py``, ``compare.py``, ``plots.py``,
``style.py``, ``claims.py``, ``table.py``, ``progress.py``, ``saving.py``, ``memory/``,
``widgets/`` (the lab), ``checks/`` (the exercises' self-checks).
"""

from . import checks, memory, plots, widgets

__all__ = ["checks", "memory", "plots", "widgets"]
