"""``python -m tbptt_kit ...``: the command line (``tbptt_kit/tooling/train.py``)."""

import sys

from .tooling.train import main

sys.exit(main())
