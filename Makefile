# The two commands a user needs are `make up` and `make test`; everything else supports them.
# Downloads (Node, OpenClaw packages, wheels, base images) are cached outside the clone, in $(CACHE).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CACHE ?= $(or $(OPENCLAW_PAIRING_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/openclaw-pairing)
export OPENCLAW_PAIRING_CACHE := $(CACHE)

.PHONY: help venv node docker images up down test test-unit test-integration test-e2e test-compat lint fmt bench clean

help:
	@echo "make up          run gateway + identity-init + pairing sidecar + example agent (docker compose)"
	@echo "make down        stop it (volumes are kept; 'make down V=1' removes them)"
	@echo "make test        provision everything and run the whole suite against the real gateway and Docker"
	@echo "make test-unit   fast unit tests only (no Docker, no Node)"
	@echo "make test-soak   the reliability suite at soak sizes (long; writes RELIABILITY.md)"
	@echo "make test-compat every monthly OpenClaw release 2026.2-2026.9: writes docs/compatibility.md"
	@echo "make lint        ruff + mypy --strict"
	@echo "make bench       benchmarks side by side with the approach users have today"

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

node:
	scripts/provision-node.sh

docker:
	scripts/docker-engine.sh ensure
	scripts/docker-engine.sh compose

images: venv docker
	scripts/build-images.sh

# `make up OPENCLAW_VERSION=<release>`: images for that release, and up.sh writes it into compose/.env.
up: venv docker images
	scripts/up.sh

down:
	scripts/down.sh $(if $(V),--volumes,)

test: venv
	scripts/run-tests.sh $(ARGS)

# Not part of `make test`: the real npm release of every month (tests/harness/releases.py), ~1 min each.
test-compat: venv
	scripts/run-compat.sh $(ARGS)

# The reliability suite (tests/reliability) at soak sizes: longer floods, more churn, every kill -9 step,
# a gateway frozen for minutes. Writes its table into RELIABILITY.md (section make-test-soak).
test-soak: venv
	RELIABILITY_SOAK=1 scripts/run-tests.sh tests/reliability $(ARGS)

test-unit: venv
	$(BIN)/pytest -q tests/unit $(ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# run-bench.sh provisions Node and OpenClaw itself (once; no `node` prerequisite, which did it twice).
bench: venv $(VENV)/.bench-installed
	scripts/run-bench.sh $(ARGS)
$(VENV)/.bench-installed: pyproject.toml
	$(BIN)/pip install -q -e '.[dev,bench]'
	@touch $@

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
