# Each command sets up what it needs on a fresh machine with Python 3.11 and the package index:
#   make demo   imports samples/relations.csv into the built-in sandbox
#   make test   runs the whole test suite (lint, format, types, tests)
#   make bench  runs the benchmarks (several minutes): bench/out/results.md and results.json
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/relimport run samples/relations.csv

test: $(STAMP)
	scripts/check

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
