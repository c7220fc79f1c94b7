# bertmini: the course website and its tests. See README.md.
#
#   make book    build the website into _build/html (executes notebooks, with a cache)
#   make lint    ruff: the lint rules and the formatter's layout (pyproject.toml), checked
#   make test    every test (lint first): unit tests, each notebook under nbval (executed once), the website
#                built from those executions with warnings as errors, and the offline browser check
#   make lab     JupyterLab on the course's virtual environment
#   make clean   remove build outputs (make distclean also removes .venv and node_modules)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.bertmini-installed
NODE_STAMP := node_modules/.bertmini-installed
EXECUTED := _build/executed
STAGE := _build/stage
PYTEST := $(BIN)/python -m pytest -ra
JUPYTER_BOOK := $(BIN)/jupyter-book
HAVE_NPM := $(shell command -v npm 2>/dev/null)
# Extra `jupyter lab` options, e.g. `make lab LAB_ARGS=--no-browser`; root (a container) needs --allow-root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root)

# make test trains the chapter-5 model from scratch in its own cache, so CI proves the whole path
# (a reader's make book keeps ~/.cache/bertmini between runs).
TEST_CACHE := $(CURDIR)/_build/test-cache
# make test's per-cell limit is only a hang guard, far above any time budget (the chapters' budgets
# are measured by benchmarks/bench_book.py); make book has no per-cell limit (_config.yml).
CELL_HANG_GUARD ?= 3600
# Notebooks run with the network cut off (loopback only) where the machine allows a network
# namespace (root, as in CI); elsewhere they run as they are and pytest-socket guards the unit tests.
OFFLINE := $(shell unshare -n true 2>/dev/null && command -v ip >/dev/null && echo book/offline.sh)

.PHONY: book test lint lab clean distclean setup assets student bench

setup: $(INSTALLED) assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when the dependencies change. The lock (constraints.txt) pins every version.
$(INSTALLED): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -c constraints.txt -e '.[book,dev,lab]'
	touch $@

# MathJax, require.js, the widget manager, d3 and jQuery for the offline site (package-lock.json).
ifeq ($(HAVE_NPM),)
assets:
	@echo "WARNING: npm not found; the website will load its JavaScript from CDNs and not work offline." >&2
	@echo "         Install Node.js and npm, then run make again." >&2
else
assets: $(NODE_STAMP)
endif

$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

book: setup
	$(JUPYTER_BOOK) build .

# Each notebook runs once, under nbval, in a fresh kernel; tests/nbcapture.py keeps the executed
# notebooks (outputs and widget state) and the site is built from them with execution off.
# book/stage.py refuses a notebook that failed or changed since it was executed.
lint: setup
	$(BIN)/ruff check bertmini tests benchmarks book
	$(BIN)/ruff format --check bertmini tests benchmarks book

test: setup lint
	$(PYTEST) tests --ignore=tests/test_site.py
	rm -rf $(EXECUTED) $(TEST_CACHE)
	BERTMINI_CACHE=$(TEST_CACHE) $(OFFLINE) $(PYTEST) -p tests.nbcapture --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_HANG_GUARD) \
		--nbcapture-dir=$(EXECUTED) chapters
	$(BIN)/python book/stage.py --executed $(EXECUTED) --stage $(STAGE)
	$(JUPYTER_BOOK) build $(STAGE) --path-output . --all -W --keep-going
	BERTMINI_REQUIRE_SITE=1 $(PYTEST) tests/test_site.py

# Student notebooks (solutions removed) in _build/student, the full ones in _build/instructor.
student: setup
	$(BIN)/python book/editions.py --out _build

# Benchmarks against transformers and the book's execution times: writes benchmarks/RESULTS.md.
bench: setup
	$(BIN)/python benchmarks/run_all.py

lab: setup
	$(BIN)/python -m ipykernel install --user --name bertmini --display-name "Python (bertmini)"
	$(BIN)/jupyter lab $(LAB_ARGS) chapters

clean:
	rm -rf _build
	find chapters tests book bertmini -depth \( -name .ipynb_checkpoints -o -name __pycache__ \) \
		-exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules
