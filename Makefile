# The two commands of the README: `make demo` and `make test`. Both set up the machine first (idempotent, see
# scripts/setup_env.sh: system packages, then a .venv with `pip install -e .[dev]`).
VENV ?= .venv
export VENV

.PHONY: setup demo lint format transformers-tests test

setup:
	bash scripts/setup_env.sh

## Main job: build the embedded corpus, score the log-mel baselines, pre-train a tiny AaSP, evaluate it, reload a
## fine-tune through pipeline, draw figures, print the report. Every step reruns (-B), two at a time (-j2); one target
## per step in demo/Makefile, their options in demo/configs/. `make demo CORPUS_SEED=7`: every step on that corpus.
demo: setup
	$(MAKE) --no-print-directory -C demo -B -j2 PYTHON=$(abspath $(VENV))/bin/python

## Lint: ruff's checks and its formatter in check mode (configuration in pyproject.toml).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## Apply the formatter and ruff's safe fixes.
format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## transformers' common model tests (ModelTesterMixin, ConfigTester; tests/test_transformers_common.py runs them on
## AaSP) are in the sdist of the installed transformers, not in its wheel: download it with pip and extract them into
## .cache/transformers-tests/<version>/ (once per version; fails with a message if it cannot).
transformers-tests: setup
	$(VENV)/bin/python tests/fetch_transformers_tests.py

## Test suite: lint first, then pytest (CPU, under 15 minutes on 2 cores). What CI runs.
test: lint transformers-tests
	$(VENV)/bin/python -m pytest
