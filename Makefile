PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-full lint bench clean

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(PY) examples/readme.py
	$(VENV)/bin/torch2jax check

LINTED := $(wildcard src tests examples benchmarks)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

test: $(VENV)/.installed lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

test-full: $(VENV)/.installed lint
	T2J_FULL=1 $(VENV)/bin/pytest -q -n 2 --dist loadfile

bench: $(VENV)/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info
