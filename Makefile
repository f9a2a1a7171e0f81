# sentiment-mlops: `make run` and `make test` work on a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck bench train serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: install, train on the built-in corpus, register the version, point an empty staging alias at it,
## and serve staging on http://$(HOST):$(PORT) (web UI at /, API docs at /docs)
run: $(VENV)/.installed
	$(BIN)/sentiment-mlops train
	$(BIN)/sentiment-mlops serve --env staging --bootstrap --host $(HOST) --port $(PORT)

## test: install with dev extras, lint, run the whole suite with coverage (fails under 85%)
test: $(VENV)/.installed-dev lint
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=xml:coverage.xml

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy src

## bench: speed benchmarks, each against its baseline in the same run
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/scorer.py
	$(BIN)/python benchmarks/serving.py

clean:
	rm -rf $(VENV) .pytest_cache .coverage coverage.xml
