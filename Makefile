# Two commands for a laptop:  make install  (once)  and  make lab.
# `make test` is what CI runs.  Override PYTHON or TORCH_SPEC if you need to,
# e.g. make install TORCH_SPEC="torch"  (a CUDA build, for a GPU box)

PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
# The CPU-only build from PyTorch's CPU index when it answers (Linux, Windows), else the
# plain version from the default index (tools/torch_spec.py; tested in test_install.py).
TORCH_SPEC ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# + nbgrader, the [grade] extra (make test, release and autograde need it)
GRADE_STAMP := $(VENV)/.installed-grade

.PHONY: install test lab e2e course bench lint format clean site repo-url release autograde executed mutation

install: $(STAMP)

# Torch goes in first and pinned: an unpinned torch in an empty venv pulls a
# multi-GB CUDA build.  The package's own range (torch>=2.2) is then satisfied.
# TORCH_SPEC is worked out only here, when torch still has to be installed.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q \
		$(or $(TORCH_SPEC),$$($(PYTHON) tools/torch_spec.py $(TORCH_VERSION)))
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

# Unit tests, then every notebook under nbval in smoke mode (small data, one epoch).
# The grading tests need nbgrader (the [grade] extra).  TEST_JOBS pytest processes share the
# work (pytest-xdist), a file at a time, so a notebook's cells stay in one kernel: on the
# 2-core CI machine two take 5 minutes where one took 9.  make test TEST_JOBS=0: one process.
TEST_JOBS ?= 2
XDIST = $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)
test: install $(GRADE_STAMP)
	$(PY) -m pytest -q $(XDIST)
	TBPTT_KIT_SMOKE=1 $(PY) -m pytest -q $(XDIST) --nbval-lax --nbval-current-env notebooks

# Every notebook at full settings, each in its own kernel: a table of seconds and peak
# memory in course-run/timings.md.  Fails beyond 15 minutes in total or 1 GB per notebook.
course: install
	$(PY) benchmarks/run_course.py

# Graded assignments with nbgrader (the [grade] extra; see docs/lecturers/assignments.md).
# release: the students' version in release/tbptt/ (no solutions, no hidden tests);
#   every notebook with exercises, or some: make release NOTEBOOKS="01 04".
# autograde: grades SUBMITTED/<student>/*.ipynb, writes grading/grades.csv.
SUBMITTED ?= submitted

$(GRADE_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[test,grade]"
	touch $(GRADE_STAMP)

release: install $(GRADE_STAMP)
	$(PY) tools/grade.py release $(NOTEBOOKS)

autograde: install $(GRADE_STAMP)
	$(PY) tools/grade.py autograde $(SUBMITTED)

# Pre-executed copies of every notebook (full settings, projector-sized figures) in
# executed/ (git-ignored), with executed/timings.md: seconds and peak memory of each.
executed: install
	TBPTT_KIT_LECTURE=1 $(PY) benchmarks/run_course.py --out executed --no-limits

# Browser tests: every notebook run in JupyterLab 4 in headless Chromium (Debian's),
# driven by Playwright (tests/e2e/).  Installs Chromium with apt-get when it is
# missing, which needs root (CI runs as root; on a laptop: sudo apt-get install chromium).
E2E_CHROMIUM ?= /usr/bin/chromium
E2E_STAMP := $(VENV)/.installed-e2e

e2e: install $(E2E_STAMP)
	test -x $(E2E_CHROMIUM) || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	TBPTT_E2E=1 E2E_CHROMIUM=$(E2E_CHROMIUM) $(VENV)/bin/pytest tests/e2e -q

$(E2E_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[test,e2e,docs]"
	touch $(E2E_STAMP)

# The executed static site of the course (Sphinx + myst-nb, config in docs/conf.py): every
# notebook run at full settings, cached in build/jupyter_cache/ (a change to tbptt_kit/ starts
# a fresh cache).  Open build/site/index.html, or serve build/site/ from any static host.
# `make site SMOKE=1` builds it in smoke mode into build/site-smoke/ (what make e2e checks).
# A cell the kernel leaves alone (not started, or no reply) is given up after 2 minutes and
# its notebook runs once more; a second stall, or a cell still running after 10 minutes,
# ends the build. The terminal names the notebook and the cell (docs/conf.py).
SITE_DIR := build/site$(if $(SMOKE),-smoke)
DOCS_STAMP := $(VENV)/.installed-docs

site: install $(DOCS_STAMP)
	$(if $(SMOKE),TBPTT_KIT_SMOKE=1) $(VENV)/bin/sphinx-build -b html -q -E -j auto -c docs . $(SITE_DIR)
	@echo "site: $(SITE_DIR)/index.html ($$(du -sh $(SITE_DIR) | cut -f1))"

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[test,docs]"
	touch $(DOCS_STAMP)

# Re-point every badge and launch link (README, notebooks, site) at a fork:
#   make repo-url REPO=someone/fork     (without REPO: print the address and check the links)
repo-url:
	$(PYTHON) tools/repo_url.py $(REPO)

# Mutation testing of the core modules with mutmut (tools/mutation.py, benchmarks/mutation.md):
# a seeded sample of mutants per module, the score per module (9 min quiet on 2 cores, 42 min
# under load 8; figures in benchmarks/mutation.md);
# not part of make test.  make mutation MUTATION_ARGS="--per-module 0" runs every mutant.
MUTATION_STAMP := $(VENV)/.installed-mutation
MUTATION_ARGS ?=

mutation: install $(MUTATION_STAMP)
	$(PY) tools/mutation.py $(MUTATION_ARGS)

$(MUTATION_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e ".[test,mutation]"
	touch $(MUTATION_STAMP)

# As root (a Docker container, a cloud VM, CI) Jupyter refuses to start without --allow-root.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: install
	$(VENV)/bin/jupyter lab $(LAB_ROOT_FLAG) notebooks/

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build mutants
