"""Memory of one student's kernel before it runs anything: Python with the kit imported.

    .venv/bin/python benchmarks/kernel_memory.py

Prints the resident memory of this process before and after ``import tbptt_kit`` (which
brings torch, numpy, scipy, matplotlib, ipywidgets). A notebook adds its data and models on
top: `make course` measures each notebook's peak (README, "The course"). For sizing a
JupyterHub: docs/lecturers/hub.md.
"""

import psutil

process = psutil.Process()
before = process.memory_info().rss
import matplotlib.pyplot  # noqa: E402, F401

import tbptt_kit  # noqa: E402, F401

after = process.memory_info().rss
print(f"python alone: {before / 2**20:.0f} MiB; with tbptt_kit imported: {after / 2**20:.0f} MiB")
