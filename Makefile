# The two commands of the README: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: run test install
install: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/ksqlpy

test: $(VENV)/.installed
	$(PY) -m pytest -q
