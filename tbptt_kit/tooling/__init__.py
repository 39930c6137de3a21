"""The tooling around the course: the command line (``train.py``, ``python -m tbptt_kit``),
several processes (``distributed.py``), torch's threads on shared machines (``threads.py``),
smoke mode for CI (``smoke.py``) and grading with nbgrader (``grading.py``)."""
