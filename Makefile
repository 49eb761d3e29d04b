# Two commands set everything up on a fresh machine with Python 3.11 and the package index:
#   make demo   imports samples/relations.csv into the built-in sandbox
#   make test   runs the whole test suite (lint, format, types, tests)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/relimport run samples/relations.csv

test: $(STAMP)
	scripts/check

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
