# The two commands of the README. Both set up the machine first (idempotent, see scripts/setup_env.sh).
VENV ?= .venv
export VENV

.PHONY: setup demo test

setup:
	bash scripts/setup_env.sh

## Main job: build the embedded corpus, pre-train a tiny AaSP, evaluate, reload through pipeline, draw figures.
demo: setup
	$(VENV)/bin/aasp-demo --config configs/demo.yaml

## Test suite (CPU, under 15 minutes on 2 cores).
test: setup
	$(VENV)/bin/python -m pytest
