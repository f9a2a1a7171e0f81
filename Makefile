# sentiment-mlops: `make run` and `make test` work on a fresh clone with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-deploy lint typecheck bench train serve clean image cluster

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

## test: install with dev extras, lint, type-check the package (mypy src), run the whole suite with coverage
## (fails under 85%) on two pytest-xdist workers (one per core here; each test file stays on one worker, so
## its module fixtures are built once); the slow deployment tests (docker, act, cluster) are left to test-deploy
test: $(VENV)/.installed-dev lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not docker and not act and not cluster" --cov --cov-report=term --cov-report=xml:coverage.xml

## test-deploy: the image built and run, the workflows run through act, replicas behind HAProxy, the
## scale-out topology (slow)
test-deploy: $(VENV)/.installed-dev
	$(BIN)/python -m pytest tests/e2e -m "docker or act or cluster" -p no:cacheprovider -o addopts="--strict-markers" -rP

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks deploy
	$(BIN)/actionlint .github/workflows/*.yml

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy src

## bench: speed benchmarks, each against its baseline in the same run (BENCH_ROWS: rows of the out-of-core
## training benchmark, e.g. make bench BENCH_ROWS=500000 for a quick run)
BENCH_ROWS ?= 5000000
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/prediction_ids.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/dashboard_load.py
	$(BIN)/python benchmarks/scorer.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/batch_scoring.py
	$(BIN)/python benchmarks/replay.py
	$(BIN)/python benchmarks/shadow.py
	$(BIN)/python benchmarks/train_out_of_core.py --rows $(BENCH_ROWS)
	$(BIN)/python benchmarks/serving.py --workers-rounds 3
	$(BIN)/python benchmarks/loop.py

## image: build the Docker image, labelled with the git revision (makes a local python:3.11-slim base
## with debootstrap first when no registry is reachable: deploy/docker/make-base.sh)
IMAGE ?= sentiment-mlops:latest
DOCKER ?= $(firstword $(wildcard /usr/bin/docker) docker)
GIT_REVISION = $(shell git rev-parse HEAD 2>/dev/null || echo unknown)$(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo -dirty)
image:
	DOCKER=$(DOCKER) deploy/docker/make-base.sh
	DOCKER_BUILDKIT=0 $(DOCKER) build --network host --build-arg GIT_REVISION=$(GIT_REVISION) -t $(IMAGE) .

## cluster: on loopback, an MLflow server on PostgreSQL, two serve replicas on the PostgreSQL prediction
## store and HAProxy in front on http://127.0.0.1:8080 (deploy/local/up.sh; Ctrl-C stops it all)
cluster: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" deploy/local/up.sh

clean:
	rm -rf $(VENV) .pytest_cache .coverage coverage.xml
