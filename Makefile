# Lifecycle: developer tasks. GNU make; `make help` lists the targets.
# Quickstart: `make run` (the app on http://127.0.0.1:8000/) and `make test`.
# Everything runs without a terminal (CI=true) and installs what is missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# ydata-profiling (the B1 anchor) needs pandas<3 and numpy<2.4, so it cannot share
# the project's virtualenv: it gets one of its own, used only by bench/.
YDATA_VENV := .venv-ydata
YDATA_STAMP := $(YDATA_VENV)/.installed-stamp
# FLAML (the B5 anchor) with LightGBM and xgboost: heavy, and not a dependency of
# the app, so it gets a virtualenv of its own too.
FLAML_VENV := .venv-flaml
FLAML_STAMP := $(FLAML_VENV)/.installed-stamp
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-stamp

PORT ?= 8000
HOST ?= 127.0.0.1
REDIS_URL ?= redis://127.0.0.1:6390/0
TEST_REDIS_URL ?= redis://127.0.0.1:6391/15
PYTEST_ARGS ?=
NAME ?=

export HOST PORT REDIS_URL TEST_REDIS_URL PYTEST_ARGS
export DEBIAN_FRONTEND := noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONUNBUFFERED := 1

.PHONY: help venv redis redis-stop run test lint format bench bench-venv clean

help: ## Show this help
	@echo "Lifecycle: make TARGET [VAR=value ...]"
	@echo
	@grep -hE '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'
	@echo
	@echo "Variables: HOST=$(HOST) PORT=$(PORT) REDIS_URL=$(REDIS_URL)"
	@echo "           TEST_REDIS_URL=$(TEST_REDIS_URL) PYTEST_ARGS='$(PYTEST_ARGS)' NAME=(bench name, e.g. b1)"
	@echo "See docs/operations.md."

venv: $(STAMP) ## Create .venv and install the project with the locked versions

# Re-installs only when pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt
	@if [ ! -x $(BIN)/python ]; then \
		if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
			echo "python3 lacks venv/ensurepip: installing Debian's python3-venv"; \
			bin/apt-install python3-venv; \
		fi; \
		echo "Creating $(VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[dev]'
	@touch $@

redis: $(STAMP) ## Make sure Redis answers at REDIS_URL (else start a private one)
	@$(BIN)/python bin/redisctl.py ensure "$(REDIS_URL)" >/dev/null

redis-stop: ## Stop the private redis-server on REDIS_URL's port, if one runs
	@$(PYTHON) bin/redisctl.py stop "$(REDIS_URL)"

run: $(STAMP) ## Run the app: redis, migrate, seed_demo, worker, reconciler, gunicorn
	@bin/run-all

test: $(STAMP) ## Lint, migration check, pytest on SQLite (and PostgreSQL if it answers)
	@bin/test-all

lint: $(STAMP) ## ruff check + ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench-venv: $(STAMP) $(YDATA_STAMP) $(FLAML_STAMP) $(MLFLOW_STAMP) ## Install the benchmark anchors (.venv-ydata, .venv-flaml, .venv-mlflow)

$(YDATA_STAMP): bench/requirements-ydata.txt
	@[ -x $(YDATA_VENV)/bin/python ] || $(PYTHON) -m venv $(YDATA_VENV)
	$(YDATA_VENV)/bin/python -m pip install -q --upgrade pip
	$(YDATA_VENV)/bin/python -m pip install -q -r bench/requirements-ydata.txt
	@touch $@

$(FLAML_STAMP): bench/requirements-flaml.txt
	@[ -x $(FLAML_VENV)/bin/python ] || $(PYTHON) -m venv $(FLAML_VENV)
	$(FLAML_VENV)/bin/python -m pip install -q --upgrade pip
	$(FLAML_VENV)/bin/python -m pip install -q -r bench/requirements-flaml.txt
	@touch $@

$(MLFLOW_STAMP): bench/requirements-mlflow.txt
	@[ -x $(MLFLOW_VENV)/bin/python ] || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install -q --upgrade pip
	$(MLFLOW_VENV)/bin/python -m pip install -q -r bench/requirements-mlflow.txt
	@touch $@

bench: bench-venv ## Run benchmarks (all, or NAME=b1) and update docs/benchmarks.md
	@scripts=$$(ls bench/$(if $(NAME),$(NAME)_,b[0-9]*_)*.py 2>/dev/null || true); \
	if [ -z "$$scripts" ]; then echo "no benchmark matches NAME='$(NAME)'" >&2; exit 1; fi; \
	for s in $$scripts; do \
		echo "==> $$s"; \
		YDATA_PYTHON=$(YDATA_VENV)/bin/python FLAML_PYTHON=$(FLAML_VENV)/bin/python \
			$(BIN)/python $$s; \
	done

clean: ## Remove runtime state in var/ (database, media, bench data); keeps .venv
	@$(PYTHON) bin/redisctl.py stop-all
	rm -rf var/
	find . -path ./$(VENV) -prune -o -path ./$(YDATA_VENV) -prune \
		-o -path ./$(FLAML_VENV) -prune -o -path ./$(MLFLOW_VENV) -prune -o \
		-name __pycache__ -type d -print0 | xargs -0 rm -rf
	rm -rf .pytest_cache .ruff_cache .hypothesis
