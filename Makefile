# The two commands of the README: `make demo` and `make test`. Both set up the machine first (idempotent, see
# scripts/setup_env.sh: system packages, then a .venv with `pip install -e .[dev]`).
VENV ?= .venv
export VENV

.PHONY: setup demo lint format transformers-tests test test-fast

setup:
	bash scripts/setup_env.sh

## Main job: build the embedded corpus, score the log-mel baselines, pre-train a tiny AaSP, evaluate it, reload a
## fine-tune through pipeline, draw figures, print the report. Every step reruns (-B), two at a time (-j2); one target
## per step in demo/Makefile, their options in demo/configs/. `make demo CORPUS_SEED=7`: every step on that corpus.
demo: setup
	$(MAKE) --no-print-directory -C demo -B -j2 PYTHON=$(abspath $(VENV))/bin/python

## Lint: ruff's checks, its formatter in check mode and pyright in basic mode on the package (configuration in
## pyproject.toml; pyright fetches its npm package at its first run).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright --pythonpath $(VENV)/bin/python

## Apply the formatter and ruff's safe fixes.
format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## transformers' common model tests (ModelTesterMixin, ConfigTester; tests/test_transformers_common.py runs them on
## AaSP) are in the sdist of the installed transformers, not in its wheel: download it with pip and extract them into
## .cache/transformers-tests/<version>/ (once per version; fails with a message if it cannot).
transformers-tests: setup
	$(VENV)/bin/python tests/fetch_transformers_tests.py

## Test suite: lint first, then every test (CPU, under 15 minutes on 2 cores). What CI runs.
test: lint transformers-tests
	$(VENV)/bin/python -m pytest

## Fast tier while working: the tests not marked `integration` (no subprocesses, packaging, end-to-end or script
## runs); under 3 minutes on 2 cores. No lint.
test-fast: setup transformers-tests
	$(VENV)/bin/python -m pytest -m "not integration"
